package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// recoverBeat is Recover's heartbeat. Done lists the units recovered so far;
// Task is the XAPI task of the recover call in flight for Unit (it keeps
// running in XAPI when the worker dies); Foreign lists the foreign sessions
// the attempt opened, which a retry logs out once the task is over.
type recoverBeat struct {
	Done    []RecoveredUnit `json:"done,omitempty"`
	Unit    string          `json:"unit,omitempty"`
	Task    string          `json:"task,omitempty"`
	Foreign []string        `json:"foreign,omitempty"`
}

// Recover recovers one vApp or a batch of standalone VMs.
//
// Each unit is recovered through the foreign session of its own metadata VDI
// (opened once per VDI, always logged out) with force=true, which the
// prechecks made safe; right before the call the target is checked again,
// since force=true silently skips a same-UUID VM that is not halted. A unit
// whose VMs are all in the target with a version above the metadata's (and,
// for a vApp, linked to it) was recovered by an earlier attempt: Already. A
// retry after a worker crash first waits for the recover task the crashed
// attempt left running, so a VM is never recovered twice.
func (a *Activities) Recover(ctx context.Context, in *RecoverInput) (*RecoverResult, error) {
	// The tracker starts with the earlier attempt's details, so that a
	// worker dying while this attempt logs in or waits for that attempt's
	// task leaves them to the next attempt.
	var prev recoverBeat
	resumed := previousHeartbeat(ctx, &prev)
	tr := newTracker(ctx, prev)
	stop := tr.keepAlive(a.lim.heartbeatEvery)
	defer stop()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	done := map[string]RecoveredUnit{}
	if resumed {
		for _, d := range prev.Done {
			done[d.UUID] = d
		}
		if prev.Task != "" {
			if _, found, err := a.awaitStaleTask(ctx, c, xapi.Ref(prev.Task)); found {
				a.log.Info("an earlier attempt's recover task finished", zap.String("site", c.site), zap.String("unit", prev.Unit), zap.Error(err))
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		for _, f := range prev.Foreign {
			a.logoutForeign(ctx, c, c.s.NewForeignSession(xapi.ForeignRef(f), ""))
		}
	}
	tr.update(func(b *recoverBeat) { *b = recoverBeat{Done: prev.Done} })

	sessions := map[string]*xapi.ForeignSession{}
	defer func() {
		for _, fs := range sessions {
			a.logoutForeign(ctx, c, fs)
		}
	}()
	out := &RecoverResult{Units: []RecoveredUnit{}}
	for _, u := range in.Units {
		if d, ok := done[u.UUID]; ok {
			out.Units = append(out.Units, d)
			continue
		}
		fs, ok := sessions[u.SourceVDI]
		if !ok {
			fs, err = openVDI(ctx, c, u.SourceVDI)
			if err != nil {
				if isTransient(ctx, err) {
					return nil, classify(ctx, err, fmt.Sprintf("opening metadata VDI %s at site %s failed", u.SourceVDI, c.site), "")
				}
				out.Units = append(out.Units, failedUnit(u, sentence(fmt.Sprintf("%s cannot be recovered: its metadata VDI %s cannot be opened at site %s", unitLabel(u), u.SourceVDI, c.site),
					reason(err), "re-run so the scan finds the current metadata")))
				continue
			}
			sessions[u.SourceVDI] = fs
			tr.update(func(b *recoverBeat) { b.Foreign = append(b.Foreign, string(fs.Ref())) })
		}
		ru, err := a.recoverUnit(ctx, c, fs, owner{in.Plan, in.Mode}, u, tr)
		if err != nil {
			return nil, err
		}
		if ru.Error == "" {
			tr.update(func(b *recoverBeat) { b.Done = append(b.Done, ru) })
		}
		out.Units = append(out.Units, ru)
	}
	return out, nil
}

func failedUnit(u Unit, msg string) RecoveredUnit {
	return RecoveredUnit{UUID: u.UUID, Kind: u.Kind, Error: msg}
}

// metaVM is one VM of a unit as the metadata has it.
type metaVM struct {
	uuid    string
	name    string
	version int64
}

// recoverUnit recovers one unit; the error is only for infrastructure
// failures (the batch stops and is retried), per-unit failures are in
// RecoveredUnit.Error.
func (a *Activities) recoverUnit(ctx context.Context, c *conn, fs *xapi.ForeignSession, o owner, u Unit, tr *tracker[recoverBeat]) (RecoveredUnit, error) {
	label := unitLabel(u)
	transient := func(err error, doing string) error {
		return classify(ctx, err, fmt.Sprintf("%s %s at site %s failed", doing, label, c.site), "")
	}
	ref, err := foreignUnit(ctx, fs, u)
	if err != nil {
		if isTransient(ctx, err) {
			return RecoveredUnit{}, transient(err, "looking up")
		}
		return failedUnit(u, fmt.Sprintf("%s is no longer in metadata VDI %s: re-run so the scan finds the current metadata.", label, u.SourceVDI)), nil
	}
	vms, err := unitMetadataVMs(ctx, fs, u, ref)
	if err != nil {
		if isTransient(ctx, err) {
			return RecoveredUnit{}, transient(err, "reading the metadata of")
		}
		return failedUnit(u, sentence(label+" cannot be read from its metadata", reason(err), "re-run the scan")), nil
	}
	st, err := targetState(ctx, c, u, vms)
	if err != nil {
		return RecoveredUnit{}, transient(err, "checking")
	}
	if st.recovered() {
		// An earlier attempt or run recovered it (the precheck adopted it, or
		// the attempt died before marking it): make sure it is marked.
		if err := a.markRecovered(ctx, c, o, u, st, false); err != nil && isTransient(ctx, err) {
			return RecoveredUnit{}, transient(err, "marking")
		}
		return RecoveredUnit{UUID: u.UUID, Kind: u.Kind, VMUUIDs: uuidsOf(vms), Already: true, RecoveredAt: time.Now().UTC()}, nil
	}
	if busy := st.notHalted(); len(busy) > 0 {
		return failedUnit(u, fmt.Sprintf("%s was not recovered: %s at site %s with the same UUID, and recovery would silently skip it; shut it down or exclude it from the plan, then re-run.",
			label, strings.Join(busy, ", "), c.site)), nil
	}
	pctx := xapi.WithProgress(ctx, func(task xapi.Ref, _ float64) {
		tr.update(func(b *recoverBeat) { b.Unit, b.Task = u.UUID, string(task) })
	})
	if u.Kind == KindVApp {
		err = fs.RecoverVMAppliance(pctx, ref, c.s, true)
	} else {
		err = fs.RecoverVM(pctx, ref, c.s, true)
	}
	tr.update(func(b *recoverBeat) { b.Unit, b.Task = "", "" })
	if err != nil {
		switch {
		case isTransient(ctx, err):
			return RecoveredUnit{}, transient(err, "recovering")
		case xapi.IsCode(err, xapi.CodeVMRequiresSR):
			return failedUnit(u, label+" "+missingStorage(ctx, c, fs, u, ref, err)+"."), nil
		}
		return failedUnit(u, sentence(label+" could not be recovered at site "+c.site, reason(err), "fix the cause, then re-run")), nil
	}
	st, err = targetState(ctx, c, u, vms)
	if err != nil {
		return RecoveredUnit{}, transient(err, "verifying")
	}
	if !st.recovered() {
		return failedUnit(u, fmt.Sprintf("%s was reported recovered but %s at site %s: check the pool's XAPI log, then re-run.", label, st.why(), c.site)), nil
	}
	// Right after the recovery, so a re-run of the plan adopts the copy.
	if err := a.markRecovered(ctx, c, o, u, st, true); err != nil && isTransient(ctx, err) {
		return RecoveredUnit{}, transient(err, "marking")
	}
	a.log.Info("recovered", zap.String("site", c.site), zap.String("kind", u.Kind), zap.String("uuid", u.UUID), zap.String("name", u.Name))
	return RecoveredUnit{UUID: u.UUID, Kind: u.Kind, VMUUIDs: uuidsOf(vms), RecoveredAt: time.Now().UTC()}, nil
}

// unitMetadataVMs lists the real VMs of a unit in its metadata.
func unitMetadataVMs(ctx context.Context, fs *xapi.ForeignSession, u Unit, ref xapi.ForeignRef) ([]metaVM, error) {
	if u.Kind != KindVApp {
		vm, err := fs.GetVMRecord(ctx, ref)
		if err != nil {
			return nil, err
		}
		return []metaVM{{vm.UUID, vm.NameLabel, vm.Version}}, nil
	}
	app, err := fs.GetVMApplianceRecord(ctx, ref)
	if err != nil {
		return nil, err
	}
	var out []metaVM
	for _, r := range app.VMs {
		vm, err := fs.GetVMRecord(ctx, r)
		if err != nil {
			return nil, err
		}
		if vm.IsRealVM() {
			out = append(out, metaVM{vm.UUID, vm.NameLabel, vm.Version})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uuid < out[j].uuid })
	return out, nil
}

func uuidsOf(vms []metaVM) []string {
	out := make([]string, 0, len(vms))
	for _, vm := range vms {
		out = append(out, vm.uuid)
	}
	return out
}

// unitState is the target's view of a unit's VMs.
type unitState struct {
	vms     []metaVM
	present map[string]xapi.VM
	isVApp  bool
	app     xapi.Ref // target appliance with the unit's UUID, or ""
}

func targetState(ctx context.Context, c *conn, u Unit, vms []metaVM) (*unitState, error) {
	st := &unitState{vms: vms, present: map[string]xapi.VM{}, isVApp: u.Kind == KindVApp}
	for _, vm := range vms {
		ref, err := c.s.GetVMByUUID(ctx, vm.uuid)
		if gone(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		rec, err := c.s.GetVMRecord(ctx, ref)
		if gone(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st.present[vm.uuid] = rec
	}
	if st.isVApp {
		ref, err := c.s.GetVMApplianceByUUID(ctx, u.UUID)
		switch {
		case err == nil:
			st.app = ref
		case !gone(err):
			return nil, err
		}
	}
	return st, nil
}

// recovered: every VM is there with a version above the metadata's (recover
// bumps it) and, for a vApp, the vApp is there with the VMs linked to it.
func (s *unitState) recovered() bool { return s.why() == "" }

func (s *unitState) why() string {
	if s.isVApp && s.app == "" {
		return "the vApp is not there"
	}
	for _, vm := range s.vms {
		rec, ok := s.present[vm.uuid]
		switch {
		case !ok:
			return fmt.Sprintf("VM %s is not there", q(vm.name, vm.uuid))
		case rec.Version <= vm.version:
			return fmt.Sprintf("VM %s still has version %d (the metadata's is %d)", q(vm.name, vm.uuid), rec.Version, vm.version)
		case s.isVApp && rec.Appliance != s.app:
			return fmt.Sprintf("VM %s is not linked to the vApp", q(vm.name, vm.uuid))
		}
	}
	return ""
}

// notHalted lists same-UUID VMs that are not halted and not already newer
// than the metadata: force=true would skip them without a word.
func (s *unitState) notHalted() []string {
	var out []string
	for _, vm := range s.vms {
		rec, ok := s.present[vm.uuid]
		if ok && rec.PowerState != xapi.PowerHalted && rec.Version <= vm.version {
			out = append(out, fmt.Sprintf("VM %s is %s", q(vm.name, vm.uuid), rec.PowerState))
		}
	}
	return out
}
