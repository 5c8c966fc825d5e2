package workflows

import (
	"fmt"
	"sort"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// recoverJob is one child workflow of the recover step: one vApp, or a batch
// of standalone VMs of one group and one metadata VDI.
type recoverJob struct {
	id    string
	units []SelectedUnit
}

func (r *run) recoverJobs() []recoverJob {
	return r.recoverJobsOf(r.plan.Limits().BatchSize, r.packVApps())
}

// balancedRecoverBatch is the batch size of recovery that keeps the lanes
// (concurrency.recover) even: a child recovers its units one after another,
// so a batch of 50 standalone VMs started last would still run when every
// other lane is done.
//
// Runs before recover-lanes made about two batches per lane of at most
// batch_size VMs. At 10,000 VMs that was five rounds of equal batches whose
// lanes all changed child at once, the pool's database lock idle for
// seconds while 40 children ended and 40 began; and each change of child
// costs Temporal more than a small unit's recovery. From recover-lanes on,
// one batch per lane (up to ten times batch_size VMs, far below any payload
// limit); the longest first, so the few partial batches of a group's or a
// metadata VDI's end fill in.
func (r *run) balancedRecoverBatch(lanes bool) int {
	lim := r.plan.Limits()
	if lanes {
		return min(10*lim.BatchSize, max(1, (len(r.vms)+lim.Recover-1)/lim.Recover))
	}
	return min(lim.BatchSize, max(1, (len(r.vms)+2*lim.Recover-1)/(2*lim.Recover)))
}

// laneJobs deals the units out to children that recover parallel units at
// once each, concurrency.recover in flight in all, so that each child takes
// about as long: the units by weight, each to the child with the least
// weight so far (LPT). A unit weighs its VMs plus a quarter of one: each VM
// takes its turn at the pool's database lock, but a standalone VM also
// costs a call and a task of its own, where a vApp's VMs follow each other
// inside one import. Inside a child the next unit goes to the first of its
// lanes that is free, so the lanes even out themselves. A child recovers
// its units whatever their group or metadata VDI.
//
// Before recover-even-lanes, jobs were cut per group and metadata VDI, a
// child per lane, its units one after another: at 10,000 VMs that made 185
// children of 39 to 250 VMs on 40 lanes, each lane waiting for Temporal
// between its children and the last small ones running alone for seconds
// at the end; and the 40 children of a small plan took Temporal a second to
// start, longer than their recovery. Children hold at most 10 × batch_size
// VMs, so no child's input grows with the plan.
func (r *run) laneJobs(perChild int) (jobs []recoverJob, parallel int) {
	units := r.selected.Units
	lim := r.plan.Limits()
	n := (lim.Recover + perChild - 1) / perChild
	parallel = max(1, lim.Recover/n)
	if need := r.childrenFor(units); need > n {
		n, parallel = need, max(1, lim.Recover/need)
	}
	return r.dealUnits(units, min(n, len(units)), "recover/lane-"), parallel
}

// childrenFor is how many children units need so that none holds more than
// ten times batch_size VMs (no child's input grows with the plan).
func (r *run) childrenFor(units []SelectedUnit) int {
	total := 0
	for _, u := range units {
		total += len(u.VMs)
	}
	perJob := 10 * r.plan.Limits().BatchSize
	return (total + perJob - 1) / perJob
}

// dealUnits deals units to n children by weight, each to the child with the
// least weight so far (LPT), the children named prefix and their rank.
func (r *run) dealUnits(units []SelectedUnit, n int, prefix string) []recoverJob {
	if n < 1 || len(units) == 0 {
		return nil
	}
	order := make([]int, len(units))
	for i := range order {
		order[i] = i
	}
	weight := func(u SelectedUnit) int { return 4*len(u.VMs) + 1 }
	sort.SliceStable(order, func(a, b int) bool { return weight(units[order[a]]) > weight(units[order[b]]) })
	load := make([]int, n)
	member := make([][]int, n)
	for _, i := range order {
		best := 0
		for l := 1; l < n; l++ {
			if load[l] < load[best] {
				best = l
			}
		}
		load[best] += weight(units[i])
		member[best] = append(member[best], i)
	}
	jobs := make([]recoverJob, 0, n)
	for l, idx := range member {
		// The heaviest first inside a child too (they were dealt so), then
		// in selection order.
		job := recoverJob{id: fmt.Sprintf("%s%d", prefix, l+1)}
		for _, i := range idx {
			job.units = append(job.units, units[i])
		}
		jobs = append(jobs, job)
	}
	return jobs
}

// recoverUnitsPerChild is how many units a child of laneJobs recovered at
// once in runs before recover-one-child: fewer children for the same
// imports in flight (Temporal starts a child in tens of milliseconds, one
// after another). From recover-one-child on, one child holds every lane
// as long as no child holds more than ten times batch_size VMs: the eight
// children of 100 VMs took 60 ms to start one after another, and each
// vApp of the last ones began that much later.
const recoverUnitsPerChild = 5

// recoverJobsOf makes the children of up to batch VMs each; with pack,
// vApps share children too.
func (r *run) recoverJobsOf(batch int, pack bool) []recoverJob {
	var jobs []recoverJob
	n := 0
	units := r.selected.Units
	var packed []SelectedUnit
	packedVMs := 0
	flush := func() {
		if len(packed) > 0 {
			n++
			jobs = append(jobs, recoverJob{id: fmt.Sprintf("recover/vapps-%d", n), units: packed})
			packed, packedVMs = nil, 0
		}
	}
	for i := 0; i < len(units); {
		u := units[i]
		if u.Kind == activities.KindVApp {
			if !pack {
				jobs = append(jobs, recoverJob{id: "recover/vapp-" + u.UUID, units: units[i : i+1]})
			} else {
				if packedVMs > 0 && packedVMs+len(u.VMs) > batch {
					flush()
				}
				packed = append(packed, u)
				packedVMs += len(u.VMs)
			}
			i++
			continue
		}
		flush()
		// Standalone VMs of one group, sorted by metadata VDI, in batches.
		j := i
		for j < len(units) && units[j].Kind == activities.KindVM && units[j].Group == u.Group {
			j++
		}
		vms := append([]SelectedUnit(nil), units[i:j]...)
		sort.SliceStable(vms, func(a, b int) bool { return vms[a].SourceVDI < vms[b].SourceVDI })
		for k := 0; k < len(vms); {
			end := k
			for end < len(vms) && end-k < batch && vms[end].SourceVDI == vms[k].SourceVDI {
				end++
			}
			n++
			jobs = append(jobs, recoverJob{id: fmt.Sprintf("recover/vms-%d", n), units: vms[k:end]})
			k = end
		}
		i = j
	}
	flush()
	return jobs
}

// packVAppsAbove is the number of vApps above which several vApps share one
// child workflow (up to BatchSize VMs), so that the parent's history stays
// far below 10,000 events at 10,000 VMs; below it each vApp has its own
// child, which reads best in the Temporal UI.
const packVAppsAbove = 100

func (r *run) packVApps() bool {
	return r.vappUnits() > packVAppsAbove
}

func (r *run) vappUnits() int {
	n := 0
	for _, u := range r.selected.Units {
		if u.Kind == activities.KindVApp {
			n++
		}
	}
	return n
}

// recover recovers the selected units in child workflows, at most
// Limits().Recover at once. A unit that fails does not stop the others.
func (r *run) recover(ctx workflow.Context) error {
	jobs, parallel := r.recoverJobs(), 1
	overlap := false
	// Runs begun before recovery was balanced replay as they ran: batches
	// of batch_size in selection order.
	if workflow.GetVersion(ctx, "balanced-recover", workflow.DefaultVersion, 1) == 1 {
		lanes := workflow.GetVersion(ctx, "recover-lanes", workflow.DefaultVersion, 1) == 1
		pack := r.packVApps()
		if lanes {
			// More vApps than lanes: a child per vApp would leave the lanes
			// waiting for the parent to start the next one, each vApp's
			// recovery being shorter than Temporal's turn of a child.
			pack = r.vappUnits() > r.plan.Limits().Recover
		}
		jobs = r.recoverJobsOf(r.balancedRecoverBatch(lanes), pack)
		// The longest first (LPT): the lanes then end together.
		sort.SliceStable(jobs, func(a, b int) bool { return jobVMs(jobs[a]) > jobVMs(jobs[b]) })
		if lanes && workflow.GetVersion(ctx, "recover-even-lanes", workflow.DefaultVersion, 1) == 1 &&
			len(r.selected.Units) > r.plan.Limits().Recover {
			perChild := recoverUnitsPerChild
			if workflow.GetVersion(ctx, "recover-one-child", workflow.DefaultVersion, 1) == 1 {
				perChild = r.plan.Limits().Recover
			}
			jobs, parallel = r.laneJobs(perChild)
		}
		overlap = lanes && r.startMode != plan.StartNone && len(r.selected.VMs()) > r.plan.Limits().BatchSize*startWiden &&
			workflow.GetVersion(ctx, "recover-start-overlap", workflow.DefaultVersion, 1) == 1
	}
	if overlap {
		return r.recoverAndStart(ctx)
	}
	// concurrency.recover imports in flight: children at once × units each.
	atOnce := max(1, (r.plan.Limits().Recover+parallel-1)/parallel)
	return runLimited(ctx, len(jobs), func(int) int { return 1 }, atOnce,
		func(i, _ int) workflow.Future { return r.startRecoverJob(ctx, jobs[i], parallel, 0, 0, 0) },
		func(i int, f workflow.Future) { r.recoverJobDone(ctx, jobs[i], f) })
}

// startRecoverJob starts the child that recovers job, parallel units at
// once, or with slots > 0 each unit in one of the site's shared recovery
// slots, group's before later groups', first being the run's earliest
// group recovering (activities.RecoverInput.Slots, FirstGroup).
func (r *run) startRecoverJob(ctx workflow.Context, job recoverJob, parallel, slots, group, first int) workflow.Future {
	in := &activities.RecoverInput{Site: r.target, Plan: r.plan.Name, Mode: r.mode, Slots: slots, Group: group, FirstGroup: first}
	if parallel > 1 {
		in.Parallel = parallel
	}
	for _, u := range job.units {
		in.Units = append(in.Units, u.Unit)
		r.attempted[u.UUID] = true
		r.setUnitState(u, StateRecovering, "")
	}
	cctx := withChild(ctx, job.id, "recover "+describeUnits(in.Units), vmDetails(job.vms()))
	return workflow.ExecuteChildWorkflow(cctx, RecoverUnitsWorkflowName, in)
}

// recoverJobDone records the outcome of job's child.
func (r *run) recoverJobDone(ctx workflow.Context, job recoverJob, f workflow.Future) {
	var res activities.RecoverResult
	err := f.Get(ctx, &res)
	r.applyRecover(ctx, job, &res, err)
	r.updateDetails(ctx)
}

// recoverAndStart recovers the groups in their start order and starts each
// group as soon as its units are recovered and the group before it has
// started, while later groups are still being recovered (runs from
// recover-start-overlap). The first priority group's services then come back
// after their own recovery rather than after everyone's: at 10,000 VMs the
// recovery of every unit is most of the run. Each group's units are dealt to
// children of their own (dealUnits), all started at once; their imports
// share the site's recovery slots in the worker, concurrency.recover of them,
// a freed slot going to the earliest group waiting (activities.RecoverInput
// FirstGroup, and queueRecoveries in the worker).
// So a group's last imports run beside the next group's first ones and the
// master's database lock is never left idle between groups, where children
// with lanes of their own held them through their last unit.
//
// Only a plan larger than one start child (batch_size x startWiden VMs)
// overlaps: a smaller one starts in one child once recovered (stagedJob),
// and there the children of one recovery per group cost Temporal more than
// the overlap saves (make bench, 100 VMs: 5.5-5.6 s without, 5.7-5.9 with).
//
// The start step then waits for the starts still under way (start).
func (r *run) recoverAndStart(ctx workflow.Context) error {
	shared := workflow.GetVersion(ctx, "shared-start-slots", workflow.DefaultVersion, 1) == 1
	widen := 1
	if workflow.GetVersion(ctx, "start-wide", workflow.DefaultVersion, 1) == 1 {
		widen = startWiden
	}
	var jobs []recoverJob
	var groupOf []int
	left := make([]int, len(r.selected.Groups)) // recovery children still running, per group
	for g := range r.selected.Groups {
		var units []SelectedUnit
		for _, u := range r.selected.Units {
			if u.Group == g {
				units = append(units, u)
			}
		}
		// As few children as payloads allow: the slots, not the children,
		// bound the imports in flight.
		for _, j := range r.dealUnits(units, r.childrenFor(units), fmt.Sprintf("recover/group-%d-", g)) {
			jobs = append(jobs, j)
			groupOf = append(groupOf, g)
			left[g]++
		}
	}
	st := &overlapStart{}
	r.overlap = st
	workflow.Go(ctx, func(ctx workflow.Context) {
		st.err = r.startAsRecovered(ctx, shared, widen, func(g int) bool { return left[g] == 0 })
		st.done = true
	})
	slots := r.plan.Limits().Recover
	err := runLimited(ctx, len(jobs), func(int) int { return 1 }, maxRecoverChildren,
		func(i, _ int) workflow.Future {
			return r.startRecoverJob(ctx, jobs[i], 0, slots, groupOf[i], groupOf[0])
		},
		func(i int, f workflow.Future) {
			r.recoverJobDone(ctx, jobs[i], f)
			left[groupOf[i]]--
		})
	if err != nil {
		// Aborted: the starts in flight settle before cleanup begins.
		r.awaitOverlap(ctx)
	}
	return err
}

// maxRecoverChildren bounds the recovery children in flight when they share
// the site's slots: far below Temporal's 2,000 pending children.
const maxRecoverChildren = 500

// overlapStart is the starting of groups during recovery (recoverAndStart).
type overlapStart struct {
	done bool
	err  error
}

// awaitOverlap waits until the starts begun during recovery have ended,
// whatever ctx says: their children settle before the run goes on.
func (r *run) awaitOverlap(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	_ = workflow.Await(dctx, func() bool { return r.overlap.done })
}

// vms lists the job's VMs (a vApp's members, or the standalone VMs).
func (j recoverJob) vms() []VMRef {
	var out []VMRef
	for _, u := range j.units {
		for _, vm := range u.VMs {
			out = append(out, VMRef{UUID: vm.UUID, Name: vm.Name})
		}
	}
	return out
}

func jobVMs(j recoverJob) int {
	n := 0
	for _, u := range j.units {
		n += len(u.VMs)
	}
	return n
}

func (r *run) setUnitState(u SelectedUnit, state, errText string) {
	if o := r.vapp(u.UUID); o != nil {
		o.State, o.Error = state, errText
	}
	for _, vm := range u.VMs {
		if o := r.vm(vm.UUID); o != nil {
			o.State, o.Error = state, errText
		}
	}
}

func (r *run) applyRecover(ctx workflow.Context, job recoverJob, res *activities.RecoverResult, err error) {
	if err != nil {
		if ctx.Err() != nil {
			for _, u := range job.units {
				r.setUnitState(u, StateFailed, "recovery interrupted by the abort")
			}
			return
		}
		for _, u := range job.units {
			r.unitFailed(ctx, u, errorText(err))
		}
		return
	}
	results := map[string]activities.RecoveredUnit{}
	for _, ru := range res.Units {
		results[ru.UUID] = ru
	}
	for _, u := range job.units {
		ru, ok := results[u.UUID]
		switch {
		case !ok:
			r.unitFailed(ctx, u, "the recovery returned no result for it")
		case ru.Error != "":
			r.unitFailed(ctx, u, ru.Error)
		default:
			r.unitRecovered(ctx, u, ru)
		}
	}
}

func (r *run) unitFailed(ctx workflow.Context, u SelectedUnit, why string) {
	r.setUnitState(u, StateFailed, why)
	r.fail(ctx, "%s could not be recovered: %s.", describeUnit(u.Kind, u.Name), strings.TrimSuffix(why, "."))
}

func (r *run) unitRecovered(ctx workflow.Context, u SelectedUnit, ru activities.RecoveredUnit) {
	at := ru.RecoveredAt
	if at.IsZero() {
		at = workflow.Now(ctx)
	}
	vms := ru.VMUUIDs
	if len(vms) == 0 {
		for _, vm := range u.VMs {
			vms = append(vms, vm.UUID)
		}
	}
	if o := r.vapp(u.UUID); o != nil {
		r.setRecovered(o, at)
	}
	r.recovered[u.UUID] = true
	got := map[string]bool{}
	for _, uuid := range vms {
		got[uuid] = true
		r.recovered[uuid] = true
		if o := r.vm(uuid); o != nil {
			r.setRecovered(o, at)
		}
	}
	for _, vm := range u.VMs {
		if !got[vm.UUID] {
			o := r.vm(vm.UUID)
			o.State, o.Error = StateFailed, "not recovered with its vApp"
			r.fail(ctx, "VM '%s' of vApp '%s' was not recovered with its vApp.", vm.Name, u.Name)
		}
	}
}
