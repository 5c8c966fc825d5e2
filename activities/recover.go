package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// recoverBeat is Recover's heartbeat. Done lists the units recovered so far;
// InFlight maps each unit being recovered to the XAPI task of its recover
// call (it keeps running in XAPI when the worker dies); Foreign lists the
// foreign sessions the attempt opened, which a retry logs out once the tasks
// are over. Unit and Task are the one unit in flight of an attempt made
// before Parallel existed, read on resume only.
type recoverBeat struct {
	Done     []RecoveredUnit   `json:"done,omitempty"`
	InFlight map[string]string `json:"in_flight,omitempty"`
	Unit     string            `json:"unit,omitempty"`
	Task     string            `json:"task,omitempty"`
	Foreign  []string          `json:"foreign,omitempty"`
}

// staleTasks are the recover tasks an earlier attempt left in flight.
func (b recoverBeat) staleTasks() map[string]string {
	out := map[string]string{}
	for u, t := range b.InFlight {
		out[u] = t
	}
	if b.Task != "" {
		out[b.Unit] = b.Task
	}
	return out
}

// Recover recovers one vApp or a batch of units, Parallel of them at once.
//
// Each unit is recovered through the foreign session of its own metadata VDI
// (the worker's cached one, see foreign.go) with force=true, which the
// prechecks made safe; the target is checked again first (one event.from
// for the whole call, see vmview.go), since force=true silently skips a
// same-UUID VM that is not halted, and once more after the last unit. A
// unit whose VMs are all in the target with a version above the
// metadata's (and, for a vApp, linked to it) was recovered by an earlier
// attempt: Already. A retry after a worker crash first waits for the
// recover task the crashed attempt left running, so a VM is never
// recovered twice.
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
	parallel := max(in.Parallel, 1)
	if in.Slots > 0 {
		parallel = len(in.Units) // each unit waits for a shared slot
	}
	done := map[string]RecoveredUnit{}
	if resumed {
		for _, d := range prev.Done {
			done[d.UUID] = d
		}
		stale := prev.staleTasks()
		units := make([]string, 0, len(stale))
		for u := range stale {
			units = append(units, u)
		}
		sort.Strings(units)
		forEachLimited(ctx, len(units), parallel, func(i int) error {
			if _, found, err := a.awaitStaleTask(ctx, c, xapi.Ref(stale[units[i]])); found {
				a.logger(ctx).Info("an earlier attempt's recover task finished", zap.String("site", c.site), zap.String("unit", units[i]), zap.Error(err))
			}
			return nil
		})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for _, f := range prev.Foreign {
			// A dead worker's sessions; this worker's own stay cached.
			if !a.foreign.holds(xapi.ForeignRef(f)) {
				a.logoutForeign(ctx, c, c.s.NewForeignSession(xapi.ForeignRef(f), ""))
			}
		}
	}
	tr.update(func(b *recoverBeat) { *b = recoverBeat{Done: prev.Done} })

	target, err := a.view(c).sync(ctx, c.s)
	if err != nil {
		return nil, classify(ctx, err, "reading the VMs at site "+c.site+" failed", "")
	}
	o := owner{in.Plan, in.Mode}
	out := &RecoverResult{Units: make([]RecoveredUnit, len(in.Units))}
	// Each unit this attempt recovers is checked and marked while the others
	// recover (checkRecovered): checked at the end of the batch, one read of
	// every VM and thousands of marks came after the last recovery at 10,000
	// VMs, on every child at once.
	checks := make(chan unitCheck, len(in.Units))
	checked := make(chan error, 1)
	go func() { checked <- a.checkRecovered(ctx, c, o, out, checks) }()
	// The first failure that stops the batch (the retry resumes it): units
	// not begun by then are left to the retry, those in flight finish.
	var stopMu sync.Mutex
	var stopErr error
	halt := func(err error) error {
		stopMu.Lock()
		defer stopMu.Unlock()
		if stopErr == nil {
			stopErr = err
		}
		return err
	}
	// With shared slots, every unit not done yet queues at once, in the
	// order given (the heaviest first); place[i] is unit i's in the queue.
	var queue recoverQueue
	place := make([]int, len(in.Units))
	if in.Slots > 0 {
		n := 0
		for i, u := range in.Units {
			if _, ok := done[u.UUID]; !ok {
				place[i] = n
				n++
			}
		}
		run := in.Plan + "/" + string(in.Mode)
		if queue, err = a.queueRecoveries(ctx, c, run, in.Group, in.FirstGroup, in.Slots, n); err != nil {
			return nil, err
		}
	}
	forEachLimited(ctx, len(in.Units), parallel, func(i int) error {
		u := in.Units[i]
		if d, ok := done[u.UUID]; ok {
			out.Units[i] = d
			return nil
		}
		stopMu.Lock()
		stopped := stopErr != nil
		stopMu.Unlock()
		if stopped {
			if in.Slots > 0 {
				queue.drop(place[i])
			}
			return nil
		}
		release := func() {}
		if in.Slots > 0 {
			var err error
			if release, err = queue.wait(ctx, place[i]); err != nil {
				return nil // ctx is done: the retry resumes the unit
			}
		}
		var ru RecoveredUnit
		var vms []metaVM
		opened := false
		err := a.withForeign(ctx, c, u.SourceVDI, "", false, func(e *foreignDB) error {
			opened = true
			tr.update(func(b *recoverBeat) {
				if !slices.Contains(b.Foreign, string(e.fs.Ref())) {
					b.Foreign = append(b.Foreign, string(e.fs.Ref()))
				}
			})
			var err error
			ru, vms, err = a.recoverUnit(ctx, c, e, o, u, target, tr)
			return err
		})
		release()
		var ae *temporal.ApplicationError
		switch {
		case err == nil:
		case !opened && isTransient(ctx, err):
			return halt(classify(ctx, err, fmt.Sprintf("opening metadata VDI %s at site %s failed", u.SourceVDI, c.site), ""))
		case !opened:
			ru = failedUnit(u, sentence(fmt.Sprintf("%s cannot be recovered: its metadata VDI %s cannot be opened at site %s", unitLabel(u), u.SourceVDI, c.site),
				reason(err), "re-run so the scan finds the current metadata"))
		case errors.As(err, &ae) || ctx.Err() != nil:
			return halt(err)
		default:
			return halt(classify(ctx, err, fmt.Sprintf("recovering %s at site %s failed", unitLabel(u), c.site), ""))
		}
		if ru.Error == "" {
			tr.update(func(b *recoverBeat) { b.Done = append(b.Done, ru) })
		}
		out.Units[i] = ru
		if ru.Error == "" && !ru.Already {
			checks <- unitCheck{i, u, vms, time.Now()}
		}
		return nil
	})
	if in.Slots > 0 {
		queue.dropRest()
	}
	close(checks)
	cerr := <-checked
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if stopErr != nil {
		return nil, stopErr
	}
	if cerr != nil {
		return nil, cerr
	}
	return out, nil
}

// checkRecovered checks each unit recovered by this attempt as it comes: a
// read of the target (the site's view) that started after the unit's
// recovery ended says it is there, and it is then marked so a re-run adopts
// it (a crash before the mark leaves it to the retry's Already path). The
// reads are shared by every Recover of the site (shareRead), one at most
// checkGather after a check asks, and the last units, once every unit of
// this attempt is done, at once. A unit not there fails with its reason, in
// out. The first error that cannot wait for a retry is returned once every
// check has come (the rest left to the retry).
func (a *Activities) checkRecovered(ctx context.Context, c *conn, o owner, out *RecoverResult, checks <-chan unitCheck) error {
	var pending []unitCheck
	in := checks
	v := a.view(c)
	for in != nil || len(pending) > 0 {
		if len(pending) == 0 {
			ck, ok := <-in
			if !ok {
				break
			}
			pending = append(pending, ck)
		}
		within := checkGather
		if in == nil {
			within = 0
		}
		r := v.shareRead(c.s, within)
	wait:
		for {
			select {
			case ck, ok := <-in:
				if !ok {
					in = nil
					v.hurry(r)
					continue
				}
				pending = append(pending, ck)
			case <-r.done:
				break wait
			case <-ctx.Done():
				// The retry resumes.
				drain(in)
				return ctx.Err()
			}
		}
		// Units whose recovery ended before the read started; the others
		// wait for the next one.
		var batch, later []unitCheck
		for _, ck := range pending {
			if ck.done.Before(r.began) {
				batch = append(batch, ck)
			} else {
				later = append(later, ck)
			}
		}
		pending = later
		if r.err != nil {
			drain(in)
			return classify(ctx, r.err, "verifying the recovery at site "+c.site+" failed", "")
		}
		after := vmSnapshot{v}
		errs := forEachLimited(ctx, len(batch), markParallel, func(i int) error {
			ck := batch[i]
			st := stateIn(after, ck.u, ck.vms)
			if !st.recovered() {
				out.Units[ck.i] = failedUnit(ck.u, fmt.Sprintf("%s was reported recovered but %s at site %s: check the pool's XAPI log, then re-run.", unitLabel(ck.u), st.why(), c.site))
				return nil
			}
			if err := a.markRecovered(ctx, c, o, ck.u, st, true); err != nil && isTransient(ctx, err) {
				return classify(ctx, err, fmt.Sprintf("marking %s at site %s failed", unitLabel(ck.u), c.site), "")
			}
			return nil
		})
		if err := firstError(errs); err != nil {
			drain(in)
			return err
		}
	}
	return nil
}

// markParallel is how many units' marks one check sets at once: one short
// write each, like any API call. One after another, the last units' marks
// (every unit recovered within checkGather of the batch's end) took 0.3 s
// after the last import at 1,000 VMs, and held the group's start back.
const markParallel = 16

// drain waits for the rest of the checks (nil: none left), unchecked.
func drain(in <-chan unitCheck) {
	if in != nil {
		for range in {
		}
	}
}

// checkGather is how long a recovery check waits at most for the site's
// next shared read.
const checkGather = time.Second

// unitCheck is a unit recovered by this attempt, to check (out.Units[i]);
// done is when its recovery was seen to end.
type unitCheck struct {
	i    int
	u    Unit
	vms  []metaVM
	done time.Time
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
// RecoveredUnit.Error. It returns the unit's VMs as the metadata has them.
func (a *Activities) recoverUnit(ctx context.Context, c *conn, e *foreignDB, o owner, u Unit, target vmSnapshot, tr *tracker[recoverBeat]) (RecoveredUnit, []metaVM, error) {
	label := unitLabel(u)
	transient := func(err error, doing string) error {
		if foreignSessionRejected(err, e.fs) {
			return err // withForeign opens the database again
		}
		return classify(ctx, err, fmt.Sprintf("%s %s at site %s failed", doing, label, c.site), "")
	}
	recs, err := e.records(ctx)
	if err != nil {
		if isTransient(ctx, err) {
			return RecoveredUnit{}, nil, transient(err, "reading the metadata of")
		}
		return failedUnit(u, sentence(label+" cannot be read from its metadata", reason(err), "re-run the scan")), nil, nil
	}
	ref, vms, ok := unitMetadataVMs(recs, u)
	if !ok {
		return failedUnit(u, fmt.Sprintf("%s is no longer in metadata VDI %s: re-run so the scan finds the current metadata.", label, u.SourceVDI)), nil, nil
	}
	st := stateIn(target, u, vms)
	if st.recovered() {
		// An earlier attempt or run recovered it (the precheck adopted it, or
		// the attempt died before marking it): make sure it is marked.
		if err := a.markRecovered(ctx, c, o, u, st, false); err != nil && isTransient(ctx, err) {
			return RecoveredUnit{}, nil, transient(err, "marking")
		}
		return RecoveredUnit{UUID: u.UUID, Kind: u.Kind, VMUUIDs: uuidsOf(vms), Already: true, RecoveredAt: time.Now().UTC()}, vms, nil
	}
	if busy := st.notHalted(); len(busy) > 0 {
		return failedUnit(u, fmt.Sprintf("%s was not recovered: %s at site %s with the same UUID, and recovery would silently skip it; shut it down or exclude it from the plan, then re-run.",
			label, strings.Join(busy, ", "), c.site)), vms, nil
	}
	pctx := xapi.WithProgress(ctx, func(task xapi.Ref, _ float64) {
		// At once: a retry must wait for this task rather than recover the
		// unit a second time.
		tr.updateNow(func(b *recoverBeat) bool {
			if b.InFlight[u.UUID] == string(task) {
				return false
			}
			if b.InFlight == nil {
				b.InFlight = map[string]string{}
			}
			b.InFlight[u.UUID] = string(task)
			return true
		})
	})
	if u.Kind == KindVApp {
		err = e.fs.RecoverVMAppliance(pctx, ref, c.s, true)
	} else {
		err = e.fs.RecoverVM(pctx, ref, c.s, true)
	}
	tr.update(func(b *recoverBeat) { delete(b.InFlight, u.UUID) })
	if err != nil {
		switch {
		case isTransient(ctx, err):
			return RecoveredUnit{}, vms, transient(err, "recovering")
		case xapi.IsCode(err, xapi.CodeVMRequiresSR):
			return failedUnit(u, label+" "+missingStorage(ctx, c, e.fs, u, ref, err)+"."), vms, nil
		}
		return failedUnit(u, sentence(label+" could not be recovered at site "+c.site, reason(err), "fix the cause, then re-run")), vms, nil
	}
	a.logger(ctx).Info("recovered", zap.String("site", c.site), zap.String("kind", u.Kind), zap.String("uuid", u.UUID), zap.String("name", u.Name))
	return RecoveredUnit{UUID: u.UUID, Kind: u.Kind, VMUUIDs: uuidsOf(vms), RecoveredAt: time.Now().UTC()}, vms, nil
}

// unitMetadataVMs finds a unit in its foreign database and lists its real
// VMs (sorted by UUID); false when the unit is not there.
func unitMetadataVMs(recs *foreignRecords, u Unit) (xapi.ForeignRef, []metaVM, bool) {
	if u.Kind != KindVApp {
		ref, ok := recs.vms[u.UUID]
		if !ok {
			return "", nil, false
		}
		vm := recs.vmByRef[ref]
		return ref, []metaVM{{vm.UUID, vm.NameLabel, vm.Version}}, true
	}
	ref, ok := recs.apps[u.UUID]
	if !ok {
		return "", nil, false
	}
	var out []metaVM
	for _, r := range recs.appByRef[ref].VMs {
		if vm, ok := recs.vmByRef[r]; ok && vm.IsRealVM() {
			out = append(out, metaVM{vm.UUID, vm.NameLabel, vm.Version})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uuid < out[j].uuid })
	return ref, out, true
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
	present map[string]xapi.VMState
	refs    map[string]xapi.Ref // of the present VMs: no get_by_uuid needed
	isVApp  bool
	app     xapi.Ref // target appliance with the unit's UUID, or ""
}

// stateIn is the unit's state in a view of the target.
func stateIn(target vmSnapshot, u Unit, vms []metaVM) *unitState {
	st := &unitState{vms: vms, present: map[string]xapi.VMState{}, refs: map[string]xapi.Ref{}, isVApp: u.Kind == KindVApp}
	for _, vm := range vms {
		if ref, rec, ok := target.vm(vm.uuid); ok {
			st.present[vm.uuid], st.refs[vm.uuid] = rec, ref
		}
	}
	if st.isVApp {
		st.app = target.app(u.UUID)
	}
	return st
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
