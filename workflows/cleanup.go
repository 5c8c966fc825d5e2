package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
)

// cleanupTest removes what a test failover recreated: every vApp and VM whose
// recovery was started (except a VM that was already in the pool before the
// test and was not reported recovered: it is not ours) and every SR our DR
// tasks introduced.
func (r *run) cleanupTest(ctx workflow.Context) {
	in := &activities.CleanupInput{Site: r.target}
	ours := func(uuid string, existed bool) bool { return r.recovered[uuid] || !existed }
	var beforeVMs map[string]string
	var beforeVApps []string
	if r.before != nil {
		beforeVMs, beforeVApps = r.before.VMs, r.before.VApps
		// Networks the recovery created since are ours to remove too.
		in.BaselineNetworks = r.before.Networks
	}
	if r.selected != nil {
		for _, u := range r.selected.Units {
			if !r.attempted[u.UUID] {
				continue
			}
			if u.Kind == activities.KindVApp && ours(u.UUID, slices.Contains(beforeVApps, u.UUID)) {
				in.VAppUUIDs = append(in.VAppUUIDs, u.UUID)
			}
			for _, vm := range u.VMs {
				_, existed := beforeVMs[vm.UUID]
				if ours(vm.UUID, existed) {
					in.VMUUIDs = append(in.VMUUIDs, vm.UUID)
				}
			}
		}
	}
	for _, t := range r.drTasks {
		for _, sr := range t.IntroducedSRs {
			in.SRUUIDs = appendNew(in.SRUUIDs, sr.UUID)
		}
	}
	if len(in.VAppUUIDs)+len(in.VMUUIDs)+len(in.SRUUIDs) == 0 {
		return // nothing was recreated
	}
	var res activities.CleanupResult
	actx := withActivity(ctx, optCleanup, fmt.Sprintf("clean up %s, %s and %s at site %s",
		plural(len(in.VAppUUIDs), "vApp"), plural(len(in.VMUUIDs), "VM"), plural(len(in.SRUUIDs), "SR"), r.target))
	// The VMs and vApps go in chunks of PageSize (no payload grows with the
	// plan), the SRs and networks with the last one, once no VM uses them.
	for _, part := range cleanupChunks(in) {
		var pr activities.CleanupResult
		if err := workflow.ExecuteActivity(actx, acts.CleanupTest, part).Get(ctx, &pr); err != nil {
			r.leftovers = append(r.leftovers, fmt.Sprintf("The cleanup at site %s failed: %s; remove the test's VMs, vApps and SRs by hand.", r.target, strings.TrimSuffix(errorText(err), ".")))
			return
		}
		res.Removed = append(res.Removed, pr.Removed...)
		res.Leftovers = append(res.Leftovers, pr.Leftovers...)
	}
	r.leftovers = append(r.leftovers, res.Leftovers...)
	for _, uuid := range in.VMUUIDs {
		if o := r.vm(uuid); o != nil {
			o.State = StateCleanedUp
		}
	}
	for _, uuid := range in.VAppUUIDs {
		if o := r.vapp(uuid); o != nil {
			o.State = StateCleanedUp
		}
	}
	r.event(ctx, "Cleaned up %s, %s and %s.", plural(len(in.VAppUUIDs), "vApp"), plural(len(in.VMUUIDs), "VM"), plural(len(in.SRUUIDs), "SR"))
}

// cleanupChunks splits a cleanup into calls of at most PageSize VMs and
// vApps; the last call also removes the SRs and networks. A cleanup that
// fits is one call, as it always was.
func cleanupChunks(in *activities.CleanupInput) []*activities.CleanupInput {
	if len(in.VAppUUIDs)+len(in.VMUUIDs) <= PageSize {
		return []*activities.CleanupInput{in}
	}
	var out []*activities.CleanupInput
	for k := 0; k < len(in.VAppUUIDs); k += PageSize {
		out = append(out, &activities.CleanupInput{Site: in.Site, VAppUUIDs: in.VAppUUIDs[k:min(k+PageSize, len(in.VAppUUIDs))]})
	}
	for k := 0; k < len(in.VMUUIDs); k += PageSize {
		out = append(out, &activities.CleanupInput{Site: in.Site, VMUUIDs: in.VMUUIDs[k:min(k+PageSize, len(in.VMUUIDs))]})
	}
	out = append(out, &activities.CleanupInput{Site: in.Site, SRUUIDs: in.SRUUIDs, BaselineNetworks: in.BaselineNetworks})
	return out
}

// destroyDRTasks destroys the run's DR tasks (all modes). After a failover
// this forgets the SRs no recovered VM uses; those in use stay.
func (r *run) destroyDRTasks(ctx workflow.Context) {
	if len(r.drTasks) == 0 && len(r.introducing) == 0 {
		return
	}
	var uuids []string
	for _, t := range r.drTasks {
		uuids = append(uuids, t.UUID)
	}
	what := plural(len(uuids), "DR task")
	if len(r.introducing) > 0 {
		// Introduce did not end well: it may have created a DR task it could
		// not report; the activity finds it by the SRs it introduced.
		also := fmt.Sprintf("any DR task that introduced one of the %s Introduce was asked for", plural(len(r.introducing), "SR"))
		if len(uuids) == 0 {
			what = also
		} else {
			what += " and " + also
		}
	}
	actx := withActivity(ctx, optDestroyDR, fmt.Sprintf("destroy %s at site %s", what, r.target))
	in := &activities.DestroyDRTasksInput{Site: r.target, DRTaskUUIDs: uuids, SRUUIDs: r.introducing}
	if err := workflow.ExecuteActivity(actx, acts.DestroyDRTasks, in).Get(ctx, nil); err != nil {
		msg := fmt.Sprintf("The DR tasks at site %s (%s) could not be destroyed: %s; destroy them with `xe drtask-destroy uuid=…`.", r.target, what, strings.TrimSuffix(errorText(err), "."))
		r.leftovers = append(r.leftovers, msg)
		r.warn(ctx, "%s", msg)
		return
	}
	r.event(ctx, "Destroyed %s.", what)
}

// inventoryAfter compares the test pool with its inventory before the test;
// every difference is a leftover.
func (r *run) inventoryAfter(ctx workflow.Context) {
	if r.before == nil {
		return
	}
	after, err := r.inventory(ctx)
	if err != nil {
		r.leftovers = append(r.leftovers, fmt.Sprintf("The inventory of the pool at site %s after cleanup failed: %s; check by hand that the test left nothing behind.", r.target, strings.TrimSuffix(errorText(err), ".")))
		return
	}
	diff := inventoryDiff(r.baselineForDiff(), after, r.vmName)
	r.leftovers = append(r.leftovers, diff...)
	if len(diff) == 0 {
		r.event(ctx, "The pool at site %s is exactly as it was before the test.", r.target)
	}
}

func (r *run) vmName(uuid string) string {
	if o := r.vm(uuid); o != nil {
		return fmt.Sprintf("VM '%s' (%s)", o.Name, uuid)
	}
	return "VM " + uuid
}

// inventoryDiff describes every difference between two inventories, sorted.
func inventoryDiff(before, after *activities.Inventory, vmName func(string) string) []string {
	var out []string
	for _, uuid := range sortedKeys(after.VMs) {
		was, existed := before.VMs[uuid]
		switch {
		case !existed:
			out = append(out, fmt.Sprintf("%s is still in the pool (%s).", vmName(uuid), after.VMs[uuid]))
		case was != after.VMs[uuid]:
			out = append(out, fmt.Sprintf("%s was %s before the test and is %s now.", vmName(uuid), was, after.VMs[uuid]))
		}
	}
	for _, uuid := range sortedKeys(before.VMs) {
		if _, ok := after.VMs[uuid]; !ok {
			out = append(out, fmt.Sprintf("%s was in the pool before the test and is gone.", vmName(uuid)))
		}
	}
	for _, k := range []struct {
		what          string
		before, after []string
	}{
		{"vApp", before.VApps, after.VApps},
		{"SR", before.SRs, after.SRs},
		{"Network", before.Networks, after.Networks},
		{"DR task", before.DRTasks, after.DRTasks},
	} {
		for _, uuid := range slices.Sorted(slices.Values(k.after)) {
			if !slices.Contains(k.before, uuid) {
				out = append(out, fmt.Sprintf("%s %s is still in the pool.", k.what, uuid))
			}
		}
		for _, uuid := range slices.Sorted(slices.Values(k.before)) {
			if !slices.Contains(k.after, uuid) {
				out = append(out, fmt.Sprintf("%s %s was in the pool before the test and is gone.", k.what, uuid))
			}
		}
	}
	if before.PoolUUID != after.PoolUUID {
		out = append(out, fmt.Sprintf("The pool's UUID changed from %s to %s during the test.", before.PoolUUID, after.PoolUUID))
	}
	return out
}
