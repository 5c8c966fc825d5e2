package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// rerunAdopts is the next step of a VM that did not start: a re-run adopts
// what this run recovered (docs/reruns.md) and starts the rest.
const rerunAdopts = "fix the cause, then run the plan again: it adopts the VMs this run recovered and starts them"

// startJob is one child workflow of the start step.
type startJob struct {
	id     string
	label  string
	vapps  []string // the vApps' UUIDs, for a job of vApps
	chains []StartChain
}

func (j startJob) widest() int {
	w := 0
	for _, ch := range j.chains {
		for _, s := range ch.Steps {
			w = max(w, len(s))
		}
	}
	return w
}

func (j startJob) size() int {
	n := 0
	j.each(func(VMRef) { n++ })
	return n
}

func (j startJob) each(fn func(VMRef)) {
	for _, ch := range j.chains {
		for _, s := range ch.Steps {
			for _, vm := range s {
				fn(vm)
			}
		}
	}
}

// startJobs returns the children that start one priority group: one per vApp
// (its recovered VMs by order) or, in plans of many vApps, one per few vApps
// of up to BatchSize VMs; and one per batch of its recovered standalone VMs.
//
// widen multiplies batch_size for the children's size: since one StartBatch
// activity runs a whole child (start-chains), a child costs Temporal the
// same whatever it holds, and at 10,000 VMs 116 children of 50 standalone
// VMs kept the last group's starts waiting for Temporal to run them
// (make bench); runs from start-wide take four times batch_size per child.
func (r *run) startJobs(group int, packAll bool, widen int) []startJob {
	var jobs, batches []startJob
	var standalone []VMRef
	batch := r.plan.Limits().BatchSize * max(widen, 1)
	pack := packAll || r.packVApps()
	var packed *startJob
	packedVMs, n := 0, 0
	for _, u := range r.selected.Units {
		if u.Group != group {
			continue
		}
		var ready []activities.VMInfo
		for _, vm := range u.VMs {
			if o := r.vm(vm.UUID); o != nil && o.State == StateRecovered {
				ready = append(ready, vm)
			}
		}
		if len(ready) == 0 {
			continue
		}
		if u.Kind == activities.KindVM {
			standalone = append(standalone, VMRef{UUID: ready[0].UUID, Name: ready[0].Name})
			continue
		}
		chain := StartChain{Label: "vApp '" + u.Name + "'"}
		for _, step := range startSteps(ready) {
			var refs []VMRef
			for _, vm := range step {
				refs = append(refs, VMRef{UUID: vm.UUID, Name: vm.Name})
			}
			chain.Steps = append(chain.Steps, refs)
		}
		if !pack {
			jobs = append(jobs, startJob{id: "start/vapp-" + u.UUID, label: chain.Label, vapps: []string{u.UUID}, chains: []StartChain{chain}})
			continue
		}
		if packed == nil || packedVMs+len(ready) > batch {
			n++
			jobs = append(jobs, startJob{id: fmt.Sprintf("start/group-%d-vapps-%d", group, n)})
			packed, packedVMs = &jobs[len(jobs)-1], 0
		}
		packed.vapps = append(packed.vapps, u.UUID)
		packed.chains = append(packed.chains, chain)
		packedVMs += len(ready)
	}
	for i := range jobs {
		switch {
		case len(jobs[i].chains) > 1:
			jobs[i].label = fmt.Sprintf("%s of group %s", plural(len(jobs[i].chains), "vApp"), orText(groupName(r.selected, group), RestGroup))
		case jobs[i].label == "":
			jobs[i].label = jobs[i].chains[0].Label
		}
	}
	for k := 0; k < len(standalone); k += batch {
		end := min(k+batch, len(standalone))
		label := fmt.Sprintf("%s of group %s", plural(end-k, "VM"), groupName(r.selected, group))
		batches = append(batches, startJob{
			id:     fmt.Sprintf("start/group-%d-vms-%d", group, k/batch+1),
			label:  label,
			chains: []StartChain{{Label: label, Steps: [][]VMRef{standalone[k:end]}}},
		})
	}
	return append(jobs, batches...)
}

// startWiden is how many batch_size a start child holds (start-wide).
const startWiden = 4

// maxStartChildren bounds the start children in flight: every VM that may
// start is scheduled at once and the StartVM activities share the site's
// start slots, so this only keeps the pending children of one run far below
// Temporal's limit of 2,000.
const maxStartChildren = 500

// start starts the recovered VMs group by group. Inside a group every vApp and
// batch starts at once; their StartVM activities share the site's start
// slots (activities/slots.go) as they free up, capped by the plan's
// concurrency.start. The next group starts when every VM of this one
// returned. A group whose VMs failed to start does not hold back the next: in
// a disaster, starting what can start matters more (the failures fail the
// run at the end).
func (r *run) start(ctx workflow.Context) error {
	if r.startMode == plan.StartNone {
		r.event(ctx, "Start mode none: the recovered VMs are left halted.")
		return nil
	}
	if r.overlap != nil {
		// The groups began to start during recovery (recoverAndStart).
		if err := workflow.Await(ctx, func() bool { return r.overlap.done }); err != nil {
			r.awaitOverlap(ctx)
			return err
		}
		return r.overlap.err
	}
	// Runs begun before the start slots were shared gave each child a fixed
	// share of concurrency.start; they replay that way.
	shared := workflow.GetVersion(ctx, "shared-start-slots", workflow.DefaultVersion, 1) == 1
	widen := 1
	if workflow.GetVersion(ctx, "start-wide", workflow.DefaultVersion, 1) == 1 {
		widen = startWiden
	}
	if shared && workflow.GetVersion(ctx, "start-staged", workflow.DefaultVersion, 1) == 1 {
		if job, groups, ok := r.stagedJob(0, widen); ok {
			r.event(ctx, "Starting groups %s in turn: one start job of %s.", strings.Join(groups, ", "), plural(job.size(), "VM"))
			return r.runStartJobs(ctx, []startJob{job}, shared)
		}
	}
	for g := range r.selected.Groups {
		if err := r.startGroup(ctx, g, shared, widen); err != nil {
			return err
		}
	}
	return nil
}

// startGroup starts the recovered VMs of group g and waits for them. Runs
// with shared slots pack the group's vApps into children of up to
// batch_size x widen VMs: a child's start costs more than a vApp's order
// step, and the chains of one child run side by side.
func (r *run) startGroup(ctx workflow.Context, g int, shared bool, widen int) error {
	jobs := r.startJobs(g, shared, widen)
	if len(jobs) == 0 {
		return nil
	}
	r.event(ctx, "Starting group %s: %s.", orText(groupName(r.selected, g), RestGroup), plural(len(jobs), "start job"))
	return r.runStartJobs(ctx, jobs, shared)
}

// startAsRecovered starts the groups in turn, each once ready says its
// units are recovered, while later groups are still being recovered
// (recoverAndStart). When every group left is recovered and their VMs fit
// in one child, they start in that one child, in turn (stagedJob).
func (r *run) startAsRecovered(ctx workflow.Context, shared bool, widen int, ready func(g int) bool) error {
	groups := len(r.selected.Groups)
	for g := 0; g < groups; g++ {
		if err := workflow.Await(ctx, func() bool { return ready(g) }); err != nil {
			return err
		}
		rest := true
		for h := g; h < groups; h++ {
			rest = rest && ready(h)
		}
		if rest {
			if job, names, ok := r.stagedJob(g, widen); ok {
				r.event(ctx, "Starting groups %s in turn: one start job of %s.", strings.Join(names, ", "), plural(job.size(), "VM"))
				return r.runStartJobs(ctx, []startJob{job}, shared)
			}
		}
		if err := r.startGroup(ctx, g, shared, widen); err != nil {
			return err
		}
	}
	return nil
}

// stagedJob is the start of the groups from group from on as one child:
// every group's chains, group after group (StartChain.Stage), in one
// StartBatch activity. Each group then follows the one before as soon as
// its last boot returned, where a child per group cost each group a
// child's end and the next one's start, the longest wait between two
// groups (make bench, 100 VMs: about 50 ms per group). ok is false when
// their recovered VMs do not fit in one child (batch_size x startWiden) or
// there is one group only. groups names the groups started, in turn.
func (r *run) stagedJob(from, widen int) (job startJob, groups []string, ok bool) {
	job = startJob{id: fmt.Sprintf("start/groups-%d", from)}
	if from == 0 {
		job.id = "start/groups"
	}
	for g := from; g < len(r.selected.Groups); g++ {
		jobs := r.startJobs(g, true, widen)
		if len(jobs) == 0 {
			continue
		}
		for _, j := range jobs {
			job.vapps = append(job.vapps, j.vapps...)
			for _, ch := range j.chains {
				ch.Stage = len(groups)
				job.chains = append(job.chains, ch)
			}
		}
		groups = append(groups, orText(groupName(r.selected, g), RestGroup))
	}
	if len(groups) < 2 || job.size() > r.plan.Limits().BatchSize*max(widen, 1) {
		return startJob{}, nil, false
	}
	job.label = fmt.Sprintf("%s of groups %s in turn", plural(job.size(), "VM"), strings.Join(groups, ", "))
	return job, groups, true
}

// runStartJobs runs the start children of jobs side by side and records
// each VM's outcome.
func (r *run) runStartJobs(ctx workflow.Context, jobs []startJob, shared bool) error {
	paused := r.startMode == plan.StartPaused
	weight, limit := func(int) int { return 1 }, maxStartChildren
	if !shared {
		weight, limit = func(i int) int { return jobs[i].widest() }, r.plan.Limits().Start
	}
	return runLimited(ctx, len(jobs), weight, limit,
		func(i, slots int) workflow.Future {
			job := jobs[i]
			job.each(func(vm VMRef) { r.vm(vm.UUID).State = StateStarting })
			in := &StartVMsInput{Site: r.target, Paused: paused, Chains: job.chains, Slots: r.plan.Concurrency.Start,
				Spread: r.plan.StartPlacement() == plan.PlacementSpread}
			if !shared {
				in = &StartVMsInput{Site: r.target, Paused: paused, Label: job.label, Steps: job.chains[0].Steps, Parallel: slots}
			}
			var vms []VMRef
			job.each(func(vm VMRef) { vms = append(vms, vm) })
			cctx := withChild(ctx, job.id, "start "+job.label, vmDetails(vms))
			return workflow.ExecuteChildWorkflow(cctx, StartVMsWorkflowName, in)
		},
		func(i int, f workflow.Future) {
			var res StartVMsResult
			err := f.Get(ctx, &res)
			r.applyStart(ctx, jobs[i], &res, err)
			r.updateDetails(ctx)
		})
}

func (r *run) applyStart(ctx workflow.Context, job startJob, res *StartVMsResult, err error) {
	for _, uuid := range job.vapps {
		defer r.rollUpVApp(uuid)
	}
	if err != nil {
		job.each(func(vm VMRef) {
			o := r.vm(vm.UUID)
			if ctx.Err() != nil {
				o.State, o.Error = StateFailed, "start interrupted by the abort"
				return
			}
			o.State, o.Error = StateFailed, errorText(err)
			r.fail(ctx, "VM '%s' could not be started: %s; %s.", vm.Name, strings.TrimSuffix(errorText(err), "."), activities.NextStep(err, rerunAdopts))
		})
		return
	}
	for _, v := range res.VMs {
		o := r.vm(v.UUID)
		if o == nil {
			continue
		}
		switch {
		case v.Skipped:
			o.State, o.Error = StateSkipped, v.Error
			r.fail(ctx, "VM '%s' of %s was not started: %s.", o.Name, job.label, v.Error)
		case v.Error != "":
			o.State, o.Error = StateFailed, v.Error
			r.fail(ctx, "VM '%s' could not be started: %s; %s.", o.Name, strings.TrimSuffix(v.Error, "."), activities.NextStepFor(v.Code, rerunAdopts))
		default:
			r.setStarted(o, v.PowerState, v.StartedAt)
		}
	}
}

// rollUpVApp sets a vApp's state from its VMs once its start job ended:
// running (or paused) when every VM is, failed when any is not. Its start
// time and RTO are those of its last VM to start.
func (r *run) rollUpVApp(uuid string) {
	o := r.vapp(uuid)
	if o == nil {
		return
	}
	var members []*ObjectState
	for _, u := range r.selected.Units {
		if u.UUID == uuid {
			for _, vm := range u.VMs {
				if v := r.vm(vm.UUID); v != nil {
					members = append(members, v)
				}
			}
		}
	}
	states := map[string]int{}
	for _, v := range members {
		states[v.State]++
		if v.StartedAt != nil && (o.StartedAt == nil || v.StartedAt.After(*o.StartedAt)) {
			t := *v.StartedAt
			o.StartedAt = &t
			o.RTO = v.RTO
		}
	}
	switch {
	case states[StateRunning] == len(members):
		o.State, o.Error = StateRunning, ""
	case states[StatePaused] == len(members):
		o.State, o.Error = StatePaused, ""
	default:
		o.State = StateFailed
		o.Error = fmt.Sprintf("%d of %s did not start", len(members)-states[StateRunning]-states[StatePaused], plural(len(members), "VM"))
	}
}
