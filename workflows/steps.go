package workflows

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// The runbook's steps live one file per row of the runbook table, as in
// activities/: probe.go, introduce.go, scan.go, select.go, precheck.go,
// recover.go, start.go, verify.go, reprotect.go and cleanup.go. Each step
// returns an error only when the run cannot go on; what fails for one object
// is recorded with r.fail and the run goes on with the others. This file holds
// what several steps share.

func storageName(st plan.StorageTarget, i int) string {
	if st.Name != "" {
		return st.Name
	}
	if id := st.DeviceConfig["SCSIid"]; id != "" {
		return id
	}
	return fmt.Sprintf("#%d", i+1)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	// The keys are sorted below, so the map's order does not leak out.
	//workflowcheck:ignore
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writef formats into b. fmt.Fprintf would do, but workflowcheck cannot tell
// a strings.Builder from I/O and flags it; Sprintf is pure.
func writef(b *strings.Builder, format string, args ...any) {
	b.WriteString(fmt.Sprintf(format, args...))
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func appendNew(list []string, s string) []string {
	if contains(list, s) {
		return list
	}
	return append(list, s)
}
