// Package workflows runs the DR runbook: Failover, Failback and TestFailover
// are one engine whose steps are the runbook table of README.md ("How a run
// goes"), in order. The modes differ only where that table says they do (which rows run, how VMs are
// started, what cleanup removes).
//
// History size, estimated for a 5,000-VM plan (500 vApps of 8 VMs and 1,000
// standalone VMs in batches of 50 = 520 recovery units): the parent runs about
// 15 activities (~45 events), ~20 search-attribute upserts, gates and signals
// (~30), and per unit one recover child and one start child. A child costs the
// parent 3 events (initiated, started, completed) plus, at worst, two 3-event
// workflow tasks when its start and completion arrive alone: 1,040 × 9 ≈ 9,400
// events, far below the 51,200-event limit, so the engine does not
// ContinueAsNew (the recorded fixture: 8 children, 133 events). Each child
// holds one Recover activity, or one StartVM per VM of its vApp / batch
// (≤ 50 × ~11 events). The largest payloads are the scan result, the precheck
// input and the report (~300 bytes per VM: ~1.5 MB each at 5,000 VMs, under
// the 2 MB per-payload limit; plans much larger than that should be split).
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// Register registers the three runbook workflows and their child workflows
// under their names on a worker polling TaskQueue.
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(Failover, workflow.RegisterOptions{Name: FailoverWorkflowName})
	r.RegisterWorkflowWithOptions(Failback, workflow.RegisterOptions{Name: FailbackWorkflowName})
	r.RegisterWorkflowWithOptions(TestFailover, workflow.RegisterOptions{Name: TestFailoverWorkflowName})
	r.RegisterWorkflowWithOptions(RecoverUnits, workflow.RegisterOptions{Name: RecoverUnitsWorkflowName})
	r.RegisterWorkflowWithOptions(StartVMs, workflow.RegisterOptions{Name: StartVMsWorkflowName})
	r.RegisterWorkflowWithOptions(ReportPart, workflow.RegisterOptions{Name: ReportPartWorkflowName})
	r.RegisterWorkflowWithOptions(ReadinessCheck, workflow.RegisterOptions{Name: ReadinessWorkflowName})
	r.RegisterWorkflowWithOptions(ProtectSite, workflow.RegisterOptions{Name: ProtectWorkflowName})
}

// Failover recovers the plan's vApps and VMs at its target site and starts them.
func Failover(ctx workflow.Context, in *RunInput) (*Report, error) {
	return runbook(ctx, plan.ModeFailover, in)
}

// Failback recovers them back at the plan's source site.
func Failback(ctx workflow.Context, in *RunInput) (*Report, error) {
	return runbook(ctx, plan.ModeFailback, in)
}

// TestFailover recovers them at the target site, starts them paused, holds
// them for inspection and removes everything it created.
func TestFailover(ctx workflow.Context, in *RunInput) (*Report, error) {
	return runbook(ctx, plan.ModeTestFailover, in)
}

// modeSet says in which modes a step runs.
type modeSet uint8

const (
	inFailover modeSet = 1 << iota
	inFailback
	inTest
	allModes = inFailover | inFailback | inTest
)

func (s modeSet) has(m plan.Mode) bool {
	switch m {
	case plan.ModeFailover:
		return s&inFailover != 0
	case plan.ModeFailback:
		return s&inFailback != 0
	case plan.ModeTestFailover:
		return s&inTest != 0
	}
	return false
}

// step is one row of the runbook table.
type step struct {
	phase string
	modes modeSet
	do    func(r *run, ctx workflow.Context) error
}

// runbookSteps is the runbook table of README.md ("How a run goes"). Cleanup
// and the report are not rows here: finish runs them whatever happened
// (success, failure, rejection, abort). Each step has its own file (probe.go,
// introduce.go, scan.go, select.go, precheck.go, recover.go, start.go,
// verify.go, reprotect.go, cleanup.go), as in activities/. A step returns an
// error only when the run cannot go on; what fails for one object is recorded
// with r.fail and the run goes on with the others.
var runbookSteps = []step{
	{PhaseStorageReady, allModes, (*run).storageReadyGate},
	{PhaseProbe, allModes, (*run).probe},
	{PhaseIntroduce, inTest, (*run).inventoryBefore},
	{PhaseIntroduce, allModes, (*run).introduce},
	{PhaseScan, allModes, (*run).scan},
	{PhaseSelect, allModes, (*run).selectUnits},
	{PhasePrecheck, allModes, (*run).precheck},
	{PhaseRecoverGate, allModes, (*run).recoverGate},
	{PhaseRecover, allModes, (*run).recover},
	{PhaseStart, allModes, (*run).start},
	{PhaseVerify, allModes, (*run).verify},
	{PhaseReprotect, inFailover | inFailback, (*run).reprotect},
	{PhaseHold, inTest, (*run).hold},
}

// runbook runs one mode of the runbook.
func runbook(ctx workflow.Context, mode plan.Mode, in *RunInput) (*Report, error) {
	return runSteps(ctx, mode, in, runbookSteps)
}

// runSteps runs the given table; tests run a broken one to prove the replay
// test catches a change of command order.
func runSteps(ctx workflow.Context, mode plan.Mode, in *RunInput, steps []step) (*Report, error) {
	if in == nil || in.Plan.Name == "" {
		return nil, temporal.NewNonRetryableApplicationError(
			"The run input holds no plan; start the run with a plan as JSON input {\"plan\": {...}}.", "Failed", nil)
	}
	r := newRun(ctx, mode, in)
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	// Every step runs under runCtx, which abort cancels; cleanup runs under a
	// context disconnected from both it and a cancellation from Temporal.
	runCtx, cancel := workflow.WithCancel(ctx)
	r.listenForAbort(ctx, cancel)
	err := r.validateInput()
	for _, s := range steps {
		if err != nil {
			break
		}
		if !s.modes.has(mode) {
			continue
		}
		r.setPhase(runCtx, s.phase)
		err = s.do(r, runCtx)
	}
	return r.finish(ctx, err)
}

// run is the state of one run: the facts the steps learn, and the progress
// and report built from them.
type run struct {
	mode      plan.Mode
	plan      *plan.Plan
	in        *RunInput
	source    string
	target    string
	startMode plan.StartMode
	logger    log.Logger

	approveCh workflow.ReceiveChannel
	rejectCh  workflow.ReceiveChannel
	abortCh   workflow.ReceiveChannel
	decisions workflow.Channel // approve and reject Updates, to the gate (gates.go)
	aborted   *Abort

	// Progress and report.
	workflowID string
	runID      string
	startedAt  time.Time
	updatedAt  time.Time
	phase      string
	waiting    int // index in gates of the gate waiting, or -1
	gates      []GateStatus
	prechecks  []CheckResult
	timeline   []Event
	errors     []string
	warnings   []string
	// failures make the outcome failed at the end without stopping the run
	// (a vApp that could not be recovered, a VM that did not start).
	failures  []string
	leftovers []string
	vapps     []ObjectState
	vms       []ObjectState
	vappIndex map[string]int // lookups only; never iterated
	vmIndex   map[string]int

	// Facts learnt by the steps.
	probed  []activities.ProbedSR
	drTasks []activities.DRTask
	// introducing is what Introduce was asked to introduce until it ends
	// well: a DR task it created but could not report (aborted, failed
	// mid-way) is then found by these SRs and destroyed with the others.
	introducing []string
	scanSRs     []string // attached SRs, introduced by us or already in the pool
	found       *activities.ScanResult
	selected    *Selected
	attempted   map[string]bool // unit UUIDs whose recovery was started
	overlap     *overlapStart   // the groups starting during recovery (recoverAndStart)
	recovered   map[string]bool // VM and vApp UUIDs reported recovered
	adopted     []string        // VM and vApp UUIDs: the precheck's adopted units and own copies
	adoptedText string          // the adopted units, for the recover gate's summary
	before      *activities.Inventory
	ts          testStorageState // teststorage.go
	// dataAsOf is when the data on the storage the run uses was current,
	// when every storage's adapter said (teststorage.go); zero: not known.
	dataAsOf time.Time
}

func newRun(ctx workflow.Context, mode plan.Mode, in *RunInput) *run {
	info := workflow.GetInfo(ctx)
	r := &run{
		mode:       mode,
		plan:       &in.Plan,
		in:         in,
		startMode:  in.Plan.StartModeFor(mode),
		logger:     workflow.GetLogger(ctx),
		workflowID: info.WorkflowExecution.ID,
		runID:      info.WorkflowExecution.RunID,
		startedAt:  workflow.Now(ctx),
		waiting:    -1,
		vappIndex:  map[string]int{},
		vmIndex:    map[string]int{},
		attempted:  map[string]bool{},
		recovered:  map[string]bool{},
	}
	r.source, r.target = in.Plan.Sites(mode)
	if in.Unattended && mode == plan.ModeTestFailover {
		// A drill keeps its VMs for the drill's hold, not the test hold
		// that waits for a person (gates.go approves the other gates).
		r.plan.Test.Hold = in.Plan.Drill.Hold
		r.plan.Approvals.Cleanup.Required = nil
	}
	if in.Start != "" {
		r.startMode = in.Start
	}
	r.updatedAt = r.startedAt
	return r
}

// setup registers the queries, opens the signal channels and sets the search
// attributes, before the first step can block.
func (r *run) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (*Progress, error) { return r.progress(), nil }); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryReport, func() (*Report, error) {
		rep := r.report("", "")
		rep.Paged = reportLists(rep).inline()
		return rep, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryProgressPage, func(req PageRequest) (*Page, error) {
		return r.runLists().page(req)
	}); err != nil {
		return err
	}
	r.approveCh = workflow.GetSignalChannel(ctx, SignalApprove)
	r.rejectCh = workflow.GetSignalChannel(ctx, SignalReject)
	r.abortCh = workflow.GetSignalChannel(ctx, SignalAbort)
	if err := r.setupDecisionUpdates(ctx); err != nil {
		return err
	}
	r.upsert(ctx, temporal.NewSearchAttributeKeyKeyword(SearchAttrPlan).ValueSet(r.plan.Name),
		temporal.NewSearchAttributeKeyKeyword(SearchAttrMode).ValueSet(string(r.mode)))
	r.setPhase(ctx, PhaseStarting)
	who := r.in.RequestedBy
	if who == "" {
		who = "unknown"
	}
	r.event(ctx, "%s of plan %s from site %s to site %s requested by %s.", modeTitle(r.mode), r.plan.Name, r.source, r.target, who)
	return nil
}

// validateInput checks what the run input adds to the plan (which is
// validated by `lifeboat plan check`).
func (r *run) validateInput() error {
	if r.in.Unattended && r.mode != plan.ModeTestFailover {
		return fmt.Errorf("a %s cannot run unattended: only a test failover (a drill) runs without a person at its gates; start it without unattended", r.mode)
	}
	switch r.startMode {
	case plan.StartRunning, plan.StartPaused, plan.StartNone:
		return nil
	}
	return fmt.Errorf("start mode %q is not one of running, paused or none; start the run again with a valid start mode", r.startMode)
}

// listenForAbort receives abort signals for the whole run: the first one
// cancels every step in flight; later ones are only noted.
func (r *run) listenForAbort(ctx workflow.Context, cancel workflow.CancelFunc) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var a Abort
			if more := r.abortCh.Receive(ctx, &a); !more {
				return
			}
			if r.aborted != nil {
				r.note(ctx, "Abort from %s ignored: the run is already aborted.", orUnknown(a.By))
				continue
			}
			if r.phase == PhaseCleanup || r.phase == PhaseReport {
				r.note(ctx, "Abort from %s ignored: the run is already cleaning up.", orUnknown(a.By))
				continue
			}
			r.aborted = &a
			r.event(ctx, "Aborted by %s: %s.", orUnknown(a.By), orText(a.Reason, "no reason given"))
			cancel()
		}
	})
}

// outcome decides how the run ends from the error that stopped the steps
// (nil if they all ran) and the failures recorded on the way.
func (r *run) outcome(ctx workflow.Context, err error) (outcome, msg string) {
	var stop *stopError
	switch {
	case r.aborted != nil:
		return OutcomeAborted, fmt.Sprintf("The run was aborted by %s during %s: %s.", orUnknown(r.aborted.By), r.phase, orText(r.aborted.Reason, "no reason given"))
	case ctx.Err() != nil:
		return OutcomeAborted, fmt.Sprintf("The run was cancelled from Temporal during %s.", r.phase)
	case errors.As(err, &stop):
		return stop.outcome, stop.msg
	case err != nil:
		return OutcomeFailed, sentence(err.Error())
	case len(r.failures) > 0:
		return OutcomeFailed, fmt.Sprintf("The run finished with %s: %s; the report lists each one.", plural(len(r.failures), "failure"), firstOf(r.failures, 3))
	}
	return OutcomeSucceeded, fmt.Sprintf("%s of plan %s succeeded.", modeTitle(r.mode), r.plan.Name)
}

// stopError ends the run with an outcome other than failed (rejected).
type stopError struct {
	outcome string
	msg     string
}

func (e *stopError) Error() string { return e.msg }

// finish runs cleanup and returns the report, or the failure carrying it.
func (r *run) finish(ctx workflow.Context, stepErr error) (*Report, error) {
	outcome, msg := r.outcome(ctx, stepErr)
	canceled := r.aborted == nil && ctx.Err() != nil
	stoppedIn := r.phase
	if outcome != OutcomeSucceeded {
		r.event(ctx, "%s", msg)
	}
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	r.setPhase(ctx, PhaseCleanup)
	if r.mode == plan.ModeTestFailover {
		r.cleanupTest(ctx)
	}
	r.destroyDRTasks(ctx)
	r.deleteTestSnapshots(ctx)
	if r.mode == plan.ModeTestFailover {
		r.inventoryAfter(ctx)
		if outcome == OutcomeSucceeded && len(r.leftovers) > 0 {
			outcome = OutcomeFailed
			msg = fmt.Sprintf("The test failover left %s behind at site %s: %s; remove them by hand.", plural(len(r.leftovers), "object"), r.target, firstOf(r.leftovers, 3))
		}
	}
	if outcome != OutcomeSucceeded {
		r.skipUnreached(stoppedIn)
	}
	r.setPhase(ctx, PhaseReport)
	r.drainSignals(ctx)
	final := map[string]string{OutcomeSucceeded: PhaseDone, OutcomeFailed: PhaseFailed, OutcomeRejected: PhaseRejected, OutcomeAborted: PhaseAborted}[outcome]
	r.setPhase(ctx, final)
	r.runEnded(ctx, outcome, msg) // notify.go: metrics and notification
	report := r.report(outcome, msg)
	r.writeParts(ctx, report)
	if outcome == OutcomeSucceeded {
		return report, nil
	}
	if canceled {
		// Cancelled from Temporal (the Web UI's Cancel, 'temporal workflow
		// cancel'): the run ends Canceled, as asked, with the report attached.
		return nil, temporal.NewCanceledError(report)
	}
	errType := map[string]string{OutcomeFailed: "Failed", OutcomeRejected: "Rejected", OutcomeAborted: "Aborted"}[outcome]
	return nil, temporal.NewNonRetryableApplicationError(msg, errType, nil, report)
}
