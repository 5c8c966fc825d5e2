package activities

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// cleanupBeat is CleanupTest's heartbeat. Cleanup is idempotent by UUID, so
// a retry simply starts over; the count only shows progress.
type cleanupBeat struct {
	Removed int `json:"removed"`
}

// cleaner accumulates CleanupTest's outcome.
type cleaner struct {
	a   *Activities
	c   *conn
	out *CleanupResult
	tr  *tracker[cleanupBeat]
	// handled holds the VMs already dealt with: a vApp's members are in the
	// input's VMs too, and a second try after a failure would report a
	// leftover that is not there (or the same one twice).
	handled map[xapi.Ref]bool
}

func (k *cleaner) removed(format string, args ...any) {
	k.out.Removed = append(k.out.Removed, fmt.Sprintf(format, args...))
	k.tr.update(func(b *cleanupBeat) { b.Removed++ })
}

func (k *cleaner) leftover(err error, what, next string) {
	k.out.Leftovers = append(k.out.Leftovers, sentence(what, reason(err), next))
}

// CleanupTest removes what a test failover recreated (runbook step
// 11, docs/xapi-dr.md): vApps are hard-shut-down when allowed and none of their VMs is
// suspended; every VM is hard-shut-down if running or paused, while a
// suspended VM is destroyed directly (hard_shutdown would delete its suspend
// VDI on the DR copy); snapshots go before their VM; VDIs are never
// destroyed. Then each SR's PBDs are unplugged (other hosts first, the
// master last) and the SR forgotten; then networks recovery created
// (other_config import_task, not in the baseline, no VIFs) are destroyed —
// only when a baseline is given, so a cleanup never touches networks an
// earlier real failover created. Per-object failures are leftovers;
// infrastructure failures fail the activity, which a retry resumes.
func (a *Activities) CleanupTest(ctx context.Context, in *CleanupInput) (*CleanupResult, error) {
	tr := newTracker(ctx, cleanupBeat{})
	stop := tr.keepAlive(a.lim.heartbeatEvery)
	defer stop()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	k := &cleaner{a: a, c: c, out: &CleanupResult{Removed: []string{}}, tr: tr, handled: map[xapi.Ref]bool{}}
	fail := func(err error, what string) (*CleanupResult, error) {
		return nil, classify(ctx, err, what+" at site "+c.site+" failed", "the cleanup is retried")
	}
	for _, uuid := range in.VAppUUIDs {
		if err := k.vapp(ctx, uuid); err != nil {
			return fail(err, "cleaning up vApp "+uuid)
		}
	}
	for _, uuid := range in.VMUUIDs {
		ref, err := c.s.GetVMByUUID(ctx, uuid)
		if gone(err) {
			continue
		}
		if err == nil {
			err = k.vm(ctx, ref)
		}
		if err != nil {
			return fail(err, "cleaning up VM "+uuid)
		}
	}
	_, pool, err := c.s.GetPool(ctx)
	if err != nil {
		return fail(err, "reading the pool")
	}
	for _, uuid := range in.SRUUIDs {
		if err := k.sr(ctx, uuid, pool.Master); err != nil {
			return fail(err, "detaching SR "+uuid)
		}
	}
	if len(in.BaselineNetworks) > 0 {
		if err := k.networks(ctx, in.BaselineNetworks); err != nil {
			return fail(err, "removing the networks recovery created")
		}
	}
	return k.out, nil
}

// vapp shuts a vApp down, destroys its VMs, then the vApp record.
func (k *cleaner) vapp(ctx context.Context, uuid string) error {
	s := k.c.s
	ref, err := s.GetVMApplianceByUUID(ctx, uuid)
	if gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	app, err := s.GetVMApplianceRecord(ctx, ref)
	if gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	label := "vApp " + q(app.NameLabel, uuid)
	suspended := false
	for _, m := range app.VMs {
		if vm, err := s.GetVMRecord(ctx, m); err == nil && vm.PowerState == xapi.PowerSuspended {
			suspended = true
		}
	}
	// The vApp's hard_shutdown would hard-shut-down a suspended member too,
	// deleting its suspend image: then the members are handled one by one.
	if !suspended && slices.Contains(app.AllowedOperations, "hard_shutdown") {
		if err := s.HardShutdownVMAppliance(ctx, ref); err != nil && isTransient(ctx, err) {
			return err
		}
	}
	for _, m := range app.VMs {
		if err := k.vm(ctx, m); err != nil {
			return err
		}
	}
	if err := s.DestroyVMAppliance(ctx, ref); err != nil && !gone(err) {
		if isTransient(ctx, err) {
			return err
		}
		k.leftover(err, label+" could not be destroyed at site "+k.c.site, "destroy it by hand (xe appliance-destroy uuid="+uuid+")")
		return nil
	}
	k.removed("%s (%s) destroyed.", label, uuid)
	return nil
}

// vm shuts a VM down unless it is suspended, destroys its snapshots, then
// the VM record. VM.destroy removes VBD/VIF records, never VDIs.
func (k *cleaner) vm(ctx context.Context, ref xapi.Ref) error {
	if k.handled[ref] {
		return nil
	}
	k.handled[ref] = true
	s := k.c.s
	vm, err := s.GetVMRecord(ctx, ref)
	if gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	label := "VM " + q(vm.NameLabel, vm.UUID)
	if vm.PowerState == xapi.PowerRunning || vm.PowerState == xapi.PowerPaused {
		if err := s.HardShutdownVM(ctx, ref); err != nil {
			if isTransient(ctx, err) {
				return err
			}
			if now, rerr := s.GetVMRecord(ctx, ref); rerr != nil || now.PowerState != xapi.PowerHalted {
				k.leftover(err, label+" could not be shut down at site "+k.c.site, "shut it down and destroy it by hand, never its disks")
				return nil
			}
		}
	}
	for _, snap := range vm.Snapshots {
		if err := s.DestroyVM(ctx, snap); err != nil && !gone(err) {
			if isTransient(ctx, err) {
				return err
			}
			k.leftover(err, "a snapshot of "+label+" could not be destroyed at site "+k.c.site, "destroy it by hand, never its disks")
		}
	}
	if err := s.DestroyVM(ctx, ref); err != nil && !gone(err) {
		if isTransient(ctx, err) {
			return err
		}
		k.leftover(err, label+" could not be destroyed at site "+k.c.site, "destroy it by hand (xe vm-destroy uuid="+vm.UUID+"), never its disks")
		return nil
	}
	k.removed("%s (%s) destroyed, its disks kept.", label, vm.UUID)
	return nil
}

// sr unplugs every attached PBD of an SR, the master's last, and forgets it.
func (k *cleaner) sr(ctx context.Context, uuid string, master xapi.Ref) error {
	s := k.c.s
	ref, err := s.GetSRByUUID(ctx, uuid)
	if gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sr, err := s.GetSRRecord(ctx, ref)
	if gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	label := "SR " + q(sr.NameLabel, uuid)
	type pbd struct {
		ref    xapi.Ref
		master bool
	}
	var attached []pbd
	for _, p := range sr.PBDs {
		rec, err := s.GetPBDRecord(ctx, p)
		if gone(err) {
			continue
		}
		if err != nil {
			return err
		}
		if rec.CurrentlyAttached {
			attached = append(attached, pbd{p, rec.Host == master})
		}
	}
	sort.SliceStable(attached, func(i, j int) bool { return !attached[i].master && attached[j].master })
	for _, p := range attached {
		if err := s.UnplugPBD(ctx, p.ref); err != nil && !gone(err) {
			if isTransient(ctx, err) {
				return err
			}
			what := label + " could not be detached at site " + k.c.site
			if users := k.diskUsers(ctx, err); len(users) > 0 {
				// PBD.unplug refuses while a VM uses a disk of the SR
				// (VDI_IN_USE [vdis]): name the VMs, the operator's next step.
				why, next := users[0]+" still uses a disk on it", "shut it down"
				if len(users) > 1 {
					why, next = strings.Join(users, ", ")+" still use disks on it", "shut them down"
				}
				k.out.Leftovers = append(k.out.Leftovers, sentence(what, why+" ("+xapi.CodeVDIInUse+")",
					next+", then detach and forget the SR by hand (xe sr-forget uuid="+uuid+" once unplugged), its data untouched"))
				return nil
			}
			k.leftover(err, what, "check no VM still uses it, then detach and forget it by hand")
			return nil
		}
	}
	if err := s.ForgetSR(ctx, ref); err != nil && !gone(err) {
		if isTransient(ctx, err) {
			return err
		}
		k.leftover(err, label+" could not be forgotten at site "+k.c.site, "forget it by hand (xe sr-forget uuid="+uuid+"); its data is untouched")
		return nil
	}
	k.removed("%s (%s) detached and forgotten, its data kept.", label, uuid)
	return nil
}

// diskUsers names the VMs that hold the disks of a VDI_IN_USE error
// ("VM 'a' (uuid)"), none for another error or when they cannot be read.
func (k *cleaner) diskUsers(ctx context.Context, err error) []string {
	xe, ok := xapi.AsError(err)
	if !ok || xe.Code != xapi.CodeVDIInUse {
		return nil
	}
	s := k.c.s
	var names []string
	seen := map[xapi.Ref]bool{}
	for _, v := range xe.Params {
		vdi, err := s.GetVDIRecord(ctx, xapi.Ref(v))
		if err != nil {
			continue
		}
		for _, b := range vdi.VBDs {
			vbd, err := s.GetVBDRecord(ctx, b)
			if err != nil || !vbd.CurrentlyAttached || seen[vbd.VM] {
				continue
			}
			seen[vbd.VM] = true
			if vm, err := s.GetVMRecord(ctx, vbd.VM); err == nil {
				names = append(names, fmt.Sprintf("VM %s (%s)", q(vm.NameLabel, vm.UUID), vm.UUID))
			}
		}
	}
	return names
}

// networks destroys the networks recovery created since the baseline.
func (k *cleaner) networks(ctx context.Context, baseline []string) error {
	s := k.c.s
	nets, err := s.GetAllNetworkRecords(ctx)
	if err != nil {
		return err
	}
	refs := make([]xapi.Ref, 0, len(nets))
	for ref := range nets {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return nets[refs[i]].UUID < nets[refs[j]].UUID })
	for _, ref := range refs {
		n := nets[ref]
		if slices.Contains(baseline, n.UUID) || n.OtherConfig["import_task"] == "" {
			continue
		}
		label := "network " + q(n.NameLabel, n.UUID)
		if len(n.VIFs) > 0 {
			k.out.Leftovers = append(k.out.Leftovers, fmt.Sprintf("%s was created by the recovery but still has VIFs at site %s; destroy it by hand once unused.", label, k.c.site))
			continue
		}
		if _, err := s.Call(ctx, "network.destroy", string(ref)); err != nil && !gone(err) {
			if isTransient(ctx, err) {
				return err
			}
			k.leftover(err, label+", created by the recovery, could not be destroyed at site "+k.c.site, "destroy it by hand (xe network-destroy uuid="+n.UUID+")")
			continue
		}
		k.removed("%s (%s), created by the recovery, destroyed.", label, n.UUID)
	}
	return nil
}
