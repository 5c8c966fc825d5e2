package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
)

// Re-runs converge (docs/reruns.md): the precheck adopts the units an
// earlier run of this plan in this mode recovered from the same metadata.
// The run then treats them as any other unit: Recover finds them recovered
// (and reports them Already), the start step starts those not yet in the
// wanted state, a test failover's cleanup removes them. The report marks
// them adopted and the timeline says which they are.

// noteAdopted records the precheck's adopted units, and the VMs that are
// this plan's own copies from an earlier run.
func (r *run) noteAdopted(ctx workflow.Context, uuids, ownCopies []string) {
	for _, uuid := range ownCopies {
		r.adopted = appendNew(r.adopted, uuid)
	}
	if len(uuids) == 0 {
		return
	}
	adopted := map[string]bool{}
	for _, uuid := range uuids {
		adopted[uuid] = true
	}
	var names []string
	for _, u := range r.selected.Units {
		if !adopted[u.UUID] {
			continue
		}
		names = append(names, describeUnit(u.Kind, u.Name))
		if o := r.vapp(u.UUID); o != nil {
			o.Adopted = true
		}
		for _, vm := range u.VMs {
			if o := r.vm(vm.UUID); o != nil {
				o.Adopted = true
			}
			r.adopted = appendNew(r.adopted, vm.UUID)
		}
		if u.Kind == activities.KindVApp {
			r.adopted = appendNew(r.adopted, u.UUID)
		}
	}
	r.adoptedText = fmt.Sprintf("Adopted %s that an earlier %s of plan %s recovered at site %s from the same metadata: %s; they are not recovered again, only started as the plan says.",
		plural(len(names), "unit"), r.mode, r.plan.Name, r.target, strings.Join(names, ", "))
	r.event(ctx, "%s", r.adoptedText)
}

// baselineForDiff is the inventory a test failover's pool is compared with
// after cleanup: what was there before, less the copies an earlier test of
// the plan left behind (adopted, or recovered again), which this run's
// cleanup removed on purpose.
func (r *run) baselineForDiff() *activities.Inventory {
	if len(r.adopted) == 0 {
		return r.before
	}
	b := *r.before
	b.VMs = map[string]string{}
	for _, uuid := range sortedKeys(r.before.VMs) {
		if !slices.Contains(r.adopted, uuid) {
			b.VMs[uuid] = r.before.VMs[uuid]
		}
	}
	b.VApps = nil
	for _, uuid := range r.before.VApps {
		if !slices.Contains(r.adopted, uuid) {
			b.VApps = append(b.VApps, uuid)
		}
	}
	return &b
}
