package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// missingStorage explains a VM_REQUIRES_SR: which SRs the unit needs, named
// from the foreign database (the SR is missing from the target) or from the
// target (it is there but not attached). Local SRs cannot be recovered at
// all, which is said first.
func missingStorage(ctx context.Context, c *conn, fs *xapi.ForeignSession, u Unit, ref xapi.ForeignRef, verr error) string {
	type srName struct{ name, uuid string }
	var local, missing []srName
	seen := map[string]bool{}
	note := func(name, uuid string, shared bool) {
		if uuid == "" || seen[uuid] {
			return
		}
		seen[uuid] = true
		if shared {
			missing = append(missing, srName{name, uuid})
		} else {
			local = append(local, srName{name, uuid})
		}
	}
	var refs []xapi.ForeignRef
	var err error
	if u.Kind == KindVApp {
		refs, err = fs.GetSRsRequiredForVMApplianceRecovery(ctx, ref, c.s)
	} else {
		refs, err = fs.GetSRsRequiredForVMRecovery(ctx, ref, c.s)
	}
	if err == nil {
		for _, r := range refs {
			if sr, err := fs.GetSRRecord(ctx, r); err == nil {
				note(sr.NameLabel, sr.UUID, sr.Shared)
			}
		}
	}
	// VM_REQUIRES_SR's SR is a foreign ref when the SR is missing from the
	// target, a target ref when it is there but unplugged: try both.
	if xe, ok := xapi.AsError(verr); ok && xe.Param(1) != "" {
		p := xe.Param(1)
		if sr, err := fs.GetSRRecord(ctx, xapi.ForeignRef(p)); err == nil {
			note(sr.NameLabel, sr.UUID, sr.Shared)
		} else if sr, err := c.s.GetSRRecord(ctx, xapi.Ref(p)); err == nil {
			note(sr.NameLabel, sr.UUID, sr.Shared)
		}
	}
	names := func(l []srName) string {
		sort.Slice(l, func(i, j int) bool { return l[i].name < l[j].name })
		var out []string
		for _, s := range l {
			out = append(out, q(s.name, s.uuid))
		}
		return strings.Join(out, ", ")
	}
	switch {
	case len(local) == 1:
		return fmt.Sprintf("uses local storage %s, which cannot be recovered: exclude it from the plan or move its disks to replicated storage", names(local))
	case len(local) > 1:
		return fmt.Sprintf("uses local storage %s, which cannot be recovered: exclude it from the plan or move its disks to replicated storage", names(local))
	case len(missing) == 1:
		return fmt.Sprintf("needs SR %s which is not attached at site %s: add its storage to the plan or attach it, then re-run", names(missing), c.site)
	case len(missing) > 1:
		return fmt.Sprintf("needs SRs %s which are not attached at site %s: add their storage to the plan or attach them, then re-run", names(missing), c.site)
	}
	return fmt.Sprintf("needs storage that is not attached at site %s (XAPI could not name it): check the plan's storage covers every SR of its disks, then re-run", c.site)
}

// unitLabel names a unit: "vApp 'erp'" or "VM 'dns-01'".
func unitLabel(u Unit) string {
	if u.Kind == KindVApp {
		return "vApp " + q(u.Name, u.UUID)
	}
	return "VM " + q(u.Name, u.UUID)
}
