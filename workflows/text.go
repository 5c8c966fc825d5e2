package workflows

import (
	"fmt"
	"strings"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// Words the runbook's steps write into events, reports and errors: names,
// plurals, defaults for what was left empty. One home for them, so every step
// says a thing the same way.

// storageName names storage target i of a plan for a reader.
func storageName(st plan.StorageTarget, i int) string {
	if st.Name != "" {
		return st.Name
	}
	if id := st.DeviceConfig["SCSIid"]; id != "" {
		return id
	}
	return fmt.Sprintf("#%d", i+1)
}

// writef formats into b. fmt.Fprintf would do, but workflowcheck cannot tell
// a strings.Builder from I/O and flags it; Sprintf is pure.
func writef(b *strings.Builder, format string, args ...any) {
	b.WriteString(fmt.Sprintf(format, args...))
}

// plural returns "n thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", thing)
	}
	return fmt.Sprintf("%d %ss", n, strings.TrimSuffix(thing, "s"))
}

// firstOf joins the first n items and says how many more there are.
func firstOf(items []string, n int) string {
	trim := func(s string) string { return strings.TrimSuffix(s, ".") }
	var parts []string
	for i, it := range items {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(items)-n))
			break
		}
		parts = append(parts, trim(it))
	}
	return strings.Join(parts, "; ")
}

func orUnknown(s string) string { return orText(s, "someone unnamed") }

func orText(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// maxDetailVMs bounds the VMs a child's details name: the details are kept in
// the parent's history once per child, and the child's input lists them all.
const maxDetailVMs = 50

// vmDetails is a child's static details: its VMs, one a line (markdown), the
// first maxDetailVMs of them.
func vmDetails(vms []VMRef) string {
	var b strings.Builder
	writef(&b, "%s:\n", plural(len(vms), "VM"))
	for i, vm := range vms {
		if i == maxDetailVMs {
			writef(&b, "- and %d more (the input lists them all)\n", len(vms)-maxDetailVMs)
			break
		}
		writef(&b, "- %s (%s)\n", orText(vm.Name, "unnamed"), vm.UUID)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
