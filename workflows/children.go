package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
)

// Child workflows keep the parent's history small: the parent starts one child
// per vApp or per batch of standalone VMs and never runs a per-VM activity
// itself. Each child's history holds at most one Recover activity, or one
// StartVM activity per VM of its vApp / batch (≤ BatchSize).

// Child workflow type names (registered by Register).
const (
	RecoverUnitsWorkflowName = "LifeboatRecoverUnits"
	StartVMsWorkflowName     = "LifeboatStartVMs"
)

// RecoverUnits recovers one vApp or one batch of standalone VMs of the same
// metadata VDI with one Recover activity, so a retry resumes the whole batch
// idempotently (the activity checks by UUID before acting).
func RecoverUnits(ctx workflow.Context, in *activities.RecoverInput) (*activities.RecoverResult, error) {
	// The child answers the progress query with its units, all recovering
	// until its one activity returns (the parent then records the result).
	since := workflow.GetInfo(ctx).WorkflowStartTime
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (*RecoverUnitsProgress, error) {
		p := &RecoverUnitsProgress{Units: make([]UnitProgress, len(in.Units))}
		for i, u := range in.Units {
			p.Units[i] = UnitProgress{UUID: u.UUID, Name: u.Name, Kind: u.Kind, State: StateRecovering, Since: since}
		}
		return p, nil
	}); err != nil {
		return nil, err
	}
	ctx = withActivity(ctx, optRecover, fmt.Sprintf("recover %s", describeUnits(in.Units)))
	var res activities.RecoverResult
	if err := workflow.ExecuteActivity(ctx, acts.Recover, in).Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// RecoverUnitsProgress is a RecoverUnits child's answer to the progress query.
type RecoverUnitsProgress struct {
	Units []UnitProgress `json:"units"`
}

// UnitProgress is one vApp or standalone VM of a recovery child.
type UnitProgress struct {
	UUID  string    `json:"uuid"`
	Name  string    `json:"name"`
	Kind  string    `json:"kind"`
	State string    `json:"state"`
	Since time.Time `json:"since"`
}

// StartVMsInput asks a child to start the recovered VMs of one or more
// vApps and batches of standalone VMs.
type StartVMsInput struct {
	Site   string `json:"site"`
	Paused bool   `json:"paused"`
	// Chains run side by side; the steps of one chain run one after the
	// other, and the VMs of one step start in parallel (a vApp's VMs of one
	// order, or a batch of standalone VMs).
	Chains []StartChain `json:"chains,omitempty"`
	// Slots caps the VM starts in flight at the site (StartVMInput.Slots):
	// the start slots are shared by every child as they free up.
	Slots int `json:"slots,omitempty"`
	// Spread spreads the boots over the site's hosts (the plan's
	// start.placement; StartVMInput.Spread).
	Spread bool `json:"spread,omitempty"`

	// Label, Steps and Parallel are the single chain of a child started by
	// an earlier version (Parallel StartVM activities at once), kept so
	// that runs in flight replay.
	Label    string    `json:"label,omitempty"`
	Steps    [][]VMRef `json:"steps,omitempty"`
	Parallel int       `json:"parallel,omitempty"`
}

// StartChain is one vApp's VMs by order, or one batch of standalone VMs.
type StartChain = activities.StartChain

// chains returns the input's chains, the legacy single one included.
func (in *StartVMsInput) chains() []StartChain {
	if len(in.Chains) == 0 && len(in.Steps) > 0 {
		return []StartChain{{Label: in.Label, Steps: in.Steps}}
	}
	return in.Chains
}

// VMRef names a VM.
type VMRef = activities.VMRef

// StartVMsResult is one entry per VM of the input, in input order.
type StartVMsResult struct {
	VMs []VMStart `json:"vms"`
}

// VMStart is one VM's start outcome.
type VMStart struct {
	UUID       string    `json:"uuid"`
	PowerState string    `json:"power_state,omitempty"`
	StartedAt  time.Time `json:"started_at,omitempty"`
	Error      string    `json:"error,omitempty"`
	// Code is the error's code (activities.ErrorCode), for the next step.
	Code string `json:"code,omitempty"`
	// Skipped is set when an earlier order of the vApp failed to start, so
	// this VM was not started.
	Skipped bool `json:"skipped,omitempty"`
}

// StartVMsProgress is a StartVMs child's answer to the progress query: its
// result so far (the same JSON fields), each VM with its live state.
type StartVMsProgress struct {
	VMs []VMStartProgress `json:"vms"`
	// InActivity: one StartBatch activity starts every chain of the child,
	// so a VM shown starting may still wait for its order; the activity's
	// heartbeat (activities.StartProgress) says which (workflows/live).
	InActivity bool `json:"in_activity,omitempty"`
}

// VMStartProgress is one VM of a start child: recovered (waiting for its
// order), starting (its StartVM activity is in flight), running, paused,
// halted, failed or skipped.
type VMStartProgress struct {
	VMStart
	Name       string     `json:"name"`
	State      string     `json:"state"`
	StartingAt *time.Time `json:"starting_at,omitempty"`
}

// StartVMs starts the VMs of its chains (each a vApp by order, or a batch of
// standalone VMs) with one StartBatch activity that runs them all
// (activities.RunChains): a workflow task and an activity per order of each
// vApp were most of the start phase's time at thousands of VMs. The
// activity's heartbeat holds what it did, so a crash resumes where it was.
// When a VM of one order fails to start, later orders of its vApp are not
// started: order expresses a dependency (database before application).
//
// Runs begun earlier ran one StartBatch activity per step (start-batch) or
// one StartVM activity per VM, the chains in coroutines; they replay so.
func StartVMs(ctx workflow.Context, in *StartVMsInput) (*StartVMsResult, error) {
	out := &StartVMsResult{}
	index := map[string]int{}
	var names []string
	chains := in.chains()
	for _, ch := range chains {
		for _, step := range ch.Steps {
			for _, vm := range step {
				index[vm.UUID] = len(out.VMs)
				out.VMs = append(out.VMs, VMStart{UUID: vm.UUID})
				names = append(names, vm.Name)
			}
		}
	}
	// When each VM's StartVM activity was scheduled: only the query reads it,
	// so the result (and the parent's history) stays as it was.
	startingAt := make([]*time.Time, len(out.VMs))
	// The child answers the same progress query name with its VMs' states.
	inActivity := false
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (*StartVMsProgress, error) {
		p := startProgress(out, names, startingAt)
		p.InActivity = inActivity
		return p, nil
	}); err != nil {
		return nil, err
	}
	if workflow.GetVersion(ctx, "start-chains", workflow.DefaultVersion, 1) == 1 {
		inActivity = true
		err := startChains(ctx, in, chains, out, index, startingAt)
		inActivity = false
		return out, err
	}
	// Runs begun before StartBatch ran one StartVM activity per VM; they
	// replay that way.
	batched := workflow.GetVersion(ctx, "start-batch", workflow.DefaultVersion, 1) == 1
	runChain := func(ctx workflow.Context, ch StartChain) error {
		failed := ""
		for _, step := range ch.Steps {
			if failed != "" {
				for _, vm := range step {
					v := &out.VMs[index[vm.UUID]]
					v.Skipped = true
					v.Error = fmt.Sprintf("not started because VM '%s' of an earlier order failed to start", failed)
				}
				continue
			}
			if batched {
				if name := startStep(ctx, in, ch.Label, step, out, index, startingAt); name != "" {
					failed = name
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				continue
			}
			parallel := len(step)
			if in.Parallel > 0 {
				parallel = in.Parallel
			}
			err := runLimited(ctx, len(step), func(int) int { return 1 }, parallel,
				func(i, _ int) workflow.Future {
					vm := step[i]
					now := workflow.Now(ctx)
					startingAt[index[vm.UUID]] = &now
					actx := withActivity(ctx, optStartVM, fmt.Sprintf("start VM '%s' (%s)", vm.Name, ch.Label))
					return workflow.ExecuteActivity(actx, acts.StartVM, &activities.StartVMInput{Site: in.Site, VMUUID: vm.UUID, Paused: in.Paused, Slots: in.Slots})
				},
				func(i int, f workflow.Future) {
					vm := step[i]
					v := &out.VMs[index[vm.UUID]]
					var res activities.StartVMResult
					if err := f.Get(ctx, &res); err != nil {
						v.Error = errorText(err)
						v.Code = activities.ErrorCode(err)
						if failed == "" {
							failed = vm.Name
						}
						return
					}
					v.PowerState = res.PowerState
					v.StartedAt = res.StartedAt
					if v.StartedAt.IsZero() {
						v.StartedAt = workflow.Now(ctx)
					}
				})
			if err != nil {
				return err
			}
		}
		return nil
	}
	if len(chains) == 1 {
		return out, runChain(ctx, chains[0])
	}
	// Chains side by side, each in its own coroutine; the child ends when
	// all have.
	wg := workflow.NewWaitGroup(ctx)
	var firstErr error
	for _, ch := range chains {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			if err := runChain(ctx, ch); err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait(ctx)
	return out, firstErr
}

// startChains starts every chain with one StartBatch activity and records
// each VM's outcome.
func startChains(ctx workflow.Context, in *StartVMsInput, chains []StartChain, out *StartVMsResult,
	index map[string]int, startingAt []*time.Time) error {
	now := workflow.Now(ctx)
	for i := range startingAt {
		startingAt[i] = &now
	}
	summary := "start " + plural(len(startingAt), "VM")
	if len(chains) == 1 {
		summary += " of " + chains[0].Label
	} else {
		summary += " of " + plural(len(chains), "chain")
	}
	actx := withActivity(ctx, optStartChains, summary)
	var res activities.StartBatchResult
	err := workflow.ExecuteActivity(actx, acts.StartBatch, &activities.StartBatchInput{Site: in.Site, Paused: in.Paused, Slots: in.Slots, Spread: in.Spread, Chains: chains}).Get(ctx, &res)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	byUUID := map[string]activities.StartedVM{}
	for _, r := range res.VMs {
		byUUID[r.UUID] = r
	}
	for i := range out.VMs {
		v := &out.VMs[i]
		r, ok := byUUID[v.UUID]
		switch {
		case err != nil:
			v.Error, v.Code = errorText(err), activities.ErrorCode(err)
		case !ok:
			v.Error = "the start returned no result for it"
		case r.Skipped:
			v.Skipped, v.Error = true, r.Error
		case r.Error != "":
			v.Error, v.Code = r.Error, r.Code
		default:
			v.PowerState, v.StartedAt = r.PowerState, r.StartedAt
			if v.StartedAt.IsZero() {
				v.StartedAt = workflow.Now(ctx)
			}
		}
	}
	return nil
}

// startStep starts the VMs of one step with one StartBatch activity and
// records each VM's outcome; it returns the name of the first VM that failed
// to start, or "".
func startStep(ctx workflow.Context, in *StartVMsInput, label string, step []VMRef, out *StartVMsResult,
	index map[string]int, startingAt []*time.Time) string {
	uuids := make([]string, len(step))
	now := workflow.Now(ctx)
	for i, vm := range step {
		uuids[i] = vm.UUID
		startingAt[index[vm.UUID]] = &now
	}
	summary := fmt.Sprintf("start VM '%s' (%s)", step[0].Name, label)
	if len(step) > 1 {
		summary = fmt.Sprintf("start %d VMs of %s", len(step), label)
	}
	actx := withActivity(ctx, optStartVM, summary)
	var res activities.StartBatchResult
	err := workflow.ExecuteActivity(actx, acts.StartBatch, &activities.StartBatchInput{Site: in.Site, Paused: in.Paused, Slots: in.Slots, VMUUIDs: uuids}).Get(ctx, &res)
	byUUID := map[string]activities.StartedVM{}
	for _, r := range res.VMs {
		byUUID[r.UUID] = r
	}
	failed := ""
	for _, vm := range step {
		v := &out.VMs[index[vm.UUID]]
		r, ok := byUUID[vm.UUID]
		switch {
		case err != nil:
			v.Error, v.Code = errorText(err), activities.ErrorCode(err)
		case !ok:
			v.Error = "the start returned no result for it"
		case r.Error != "":
			v.Error, v.Code = r.Error, r.Code
		default:
			v.PowerState, v.StartedAt = r.PowerState, r.StartedAt
			if v.StartedAt.IsZero() {
				v.StartedAt = workflow.Now(ctx)
			}
			continue
		}
		if failed == "" {
			failed = vm.Name
		}
	}
	return failed
}

// startProgress is the progress query's answer of a start child.
func startProgress(out *StartVMsResult, names []string, startingAt []*time.Time) *StartVMsProgress {
	p := &StartVMsProgress{VMs: make([]VMStartProgress, len(out.VMs))}
	for i, v := range out.VMs {
		vp := VMStartProgress{VMStart: v, Name: names[i], StartingAt: startingAt[i]}
		switch {
		case v.Skipped:
			vp.State = StateSkipped
		case v.Error != "":
			vp.State = StateFailed
		case v.PowerState != "":
			vp.State = PowerToState(v.PowerState)
		case startingAt[i] != nil:
			vp.State = StateStarting
		default:
			vp.State = StateRecovered
		}
		p.VMs[i] = vp
	}
	return p
}

// runLimited runs n jobs with at most limit weight in flight: start(i, w)
// starts job i with w slots of the budget, done(i, f) handles its settled
// future in the workflow's own coroutine. A job gets weight(i) slots capped to
// the free budget, so one heavy job cannot stall the rest. It stops starting jobs when ctx is
// cancelled and returns ctx's error once the jobs in flight settled.
func runLimited(ctx workflow.Context, n int, weight func(i int) int, limit int,
	start func(i, slots int) workflow.Future, done func(i int, f workflow.Future)) error {
	sel := workflow.NewSelector(ctx)
	used, inFlight, next := 0, 0, 0
	for {
		for next < n && used < limit && ctx.Err() == nil {
			i := next
			w := min(max(weight(i), 1), limit-used)
			used += w
			inFlight++
			next++
			sel.AddFuture(start(i, w), func(f workflow.Future) {
				used -= w
				inFlight--
				done(i, f)
			})
		}
		if inFlight == 0 {
			break
		}
		sel.Select(ctx)
	}
	return ctx.Err()
}

// describeUnits names a recovery batch for summaries.
func describeUnits(units []activities.Unit) string {
	if len(units) == 1 {
		return describeUnit(units[0].Kind, units[0].Name)
	}
	return fmt.Sprintf("%d VMs ('%s' … '%s')", len(units), units[0].Name, units[len(units)-1].Name)
}
