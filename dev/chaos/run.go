package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

var modeWorkflow = map[plan.Mode]string{
	plan.ModeFailover:     workflows.FailoverWorkflowName,
	plan.ModeFailback:     workflows.FailbackWorkflowName,
	plan.ModeTestFailover: workflows.TestFailoverWorkflowName,
}

// startOptions are the options the CLI starts a run with: the plan's
// workflow ID, and an error (not the running one) when that ID is running, so
// a second run of the same plan and mode is refused.
func startOptions(p *plan.Plan, mode plan.Mode, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                                       workflows.WorkflowID(p.Name, mode),
		TaskQueue:                                taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrPlan).ValueSet(p.Name),
			temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrMode).ValueSet(string(mode)),
		),
	}
}

// driveOpts is what happens to one run while it is driven.
type driveOpts struct {
	kills    killRun      // worker SIGKILLs
	restarts []kill       // Temporal dev server kills and restarts
	onPhase  func(string) // called once per phase seen (fault injection)
	onHold   func()       // called at the cleanup gate before it is approved
	// started is a run started already (two operators); nil = drive starts it.
	started client.WorkflowRun
}

// killResult is one worker kill (or server restart) and the time the run
// took to resume after it.
type killResult struct {
	Phase   string
	Resume  time.Duration
	Stalled bool // not resumed within the limit (Resume is the limit)
}

// outcome is how a driven run ended.
type outcome struct {
	ID, RunID string
	Status    enumspb.WorkflowExecutionStatus
	Outcome   string // the report's outcome when there is one
	Message   string
	Kills     []killResult
	Restarts  []killResult
	Stalled   bool // terminated by the harness (a kill not resumed, or the run's time up)
}

func (o *outcome) succeeded() bool {
	return o.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED && o.Outcome == workflows.OutcomeSucceeded
}

// drive starts a run of the plan on the lane, approves its gates, applies
// the planned kills and restarts, and waits until it ends (or terminates it
// when it stalls).
func (l *lane) drive(ctx context.Context, p *plan.Plan, mode plan.Mode, o driveOpts) (*outcome, error) {
	c := l.srv.client
	we := o.started
	if we == nil {
		var err error
		we, err = c.ExecuteWorkflow(ctx, startOptions(p, mode, l.taskQueue), modeWorkflow[mode],
			&workflows.RunInput{Plan: *p, RequestedBy: "chaos"})
		if err != nil {
			return nil, fmt.Errorf("start the %s of plan %s: %w", mode, p.Name, err)
		}
	}
	out := &outcome{ID: we.GetID(), RunID: we.GetRunID()}
	deadline := time.Now().Add(l.cfg.runTimeout)
	approved := map[string]bool{}
	lastPhase := ""
	var phaseSeen time.Time
	ki, ri := 0, 0
	for {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if time.Now().After(deadline) {
			l.logf("%s: not ended within %s: terminated", out.ID, l.cfg.runTimeout)
			out.Stalled = true
			l.terminate(out)
			break
		}
		phase, closed, err := l.phase(ctx, out.ID, out.RunID)
		if err != nil {
			time.Sleep(100 * time.Millisecond) // the server restarting
			continue
		}
		if closed {
			break
		}
		if phase != lastPhase {
			l.logf("%s: phase %s", out.ID, phase)
			lastPhase, phaseSeen = phase, time.Now()
			if o.onPhase != nil {
				o.onPhase(phase)
			}
		}
		due := func(k kill) bool {
			at, want := phaseRank(mode, phase), phaseIndex(mode, k.Phase)
			// A phase the run went through between two looks is missed:
			// the kill then lands in the phase the run is in.
			return (phase == k.Phase && time.Since(phaseSeen) >= k.After) || (at > want && want >= 0)
		}
		if ki < len(o.kills) && due(o.kills[ki]) {
			ki++
			if phase == workflows.PhaseHold && o.onHold != nil {
				o.onHold() // the kill approves the gate after it
			}
			kr := l.killWorker(ctx, out, mode, approved)
			out.Kills = append(out.Kills, kr)
			if kr.Stalled {
				out.Stalled = true
				l.terminate(out)
				break
			}
			continue
		}
		if ri < len(o.restarts) && due(o.restarts[ri]) {
			ri++
			kr, err := l.restartServer(ctx, out, mode, approved)
			if err != nil {
				return out, err
			}
			out.Restarts = append(out.Restarts, kr)
			if kr.Stalled {
				out.Stalled = true
				l.terminate(out)
				break
			}
			continue
		}
		pendingHere := (ki < len(o.kills) && o.kills[ki].Phase == phase) || (ri < len(o.restarts) && o.restarts[ri].Phase == phase)
		if gate, ok := gatePhases[phase]; ok && !approved[gate] && !pendingHere {
			if phase == workflows.PhaseHold && o.onHold != nil {
				o.onHold()
			}
			if l.approve(ctx, out, gate) == nil {
				approved[gate] = true
			}
		}
		// Look closely when the run nears the phase of the next kill: the
		// last phases last about 100 ms at the chaos speed.
		tick := 100 * time.Millisecond
		rank := phaseRank(mode, phase)
		near := func(ks []kill) bool { return len(ks) > 0 && phaseIndex(mode, ks[0].Phase) <= rank+1 }
		if near(o.kills[ki:]) || near(o.restarts[ri:]) {
			tick = 20 * time.Millisecond
		}
		time.Sleep(tick)
	}
	l.result(ctx, out)
	return out, nil
}

// phase reads the run's phase (its search attribute, kept by the server) and
// whether it has ended, without the worker.
func (l *lane) phase(ctx context.Context, id, runID string) (string, bool, error) {
	d, err := l.describe(ctx, id, runID)
	if err != nil {
		return "", false, err
	}
	info := d.GetWorkflowExecutionInfo()
	phase := ""
	if pl := info.GetSearchAttributes().GetIndexedFields()[workflows.SearchAttrPhase]; pl != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(pl, &phase)
	}
	return phase, info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

func (l *lane) describe(ctx context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return l.srv.client.DescribeWorkflowExecution(dctx, id, runID)
}

func (l *lane) approve(ctx context.Context, out *outcome, gate string) error {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	by := "alice"
	if gate == plan.GateRecover {
		by = "bob"
	}
	return l.srv.client.SignalWorkflow(sctx, out.ID, out.RunID, workflows.SignalApprove,
		workflows.Approval{Gate: gate, By: by, Comment: "chaos: " + gate + " checked"})
}

// terminate ends a stalled run as an operator would: an abort first (the
// run then cleans up), and when that does not end it within 30 s either
// (the abort waits for the stalled step), a terminate.
func (l *lane) terminate(out *outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	_ = l.srv.client.SignalWorkflow(ctx, out.ID, out.RunID, workflows.SignalAbort,
		workflows.Abort{By: "chaos", Reason: "the run stalled"})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if _, closed, err := l.phase(ctx, out.ID, out.RunID); err == nil && closed {
			l.logf("%s: aborted", out.ID)
			return
		}
	}
	l.logf("%s: the abort did not end the run within 30s: terminated", out.ID)
	_ = l.srv.client.TerminateWorkflow(ctx, out.ID, out.RunID, "chaos: the run stalled")
}

// result fills in how the run ended, from the server.
func (l *lane) result(ctx context.Context, out *outcome) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rep workflows.Report
	err := l.srv.client.GetWorkflow(rctx, out.ID, out.RunID).Get(rctx, &rep)
	if err == nil {
		out.Outcome, out.Message = rep.Outcome, rep.Message
	} else {
		out.Message = err.Error()
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			out.Message = appErr.Message()
			if appErr.HasDetails() && appErr.Details(&rep) == nil {
				out.Outcome = rep.Outcome
			}
		}
	}
	if d, err := l.describe(ctx, out.ID, out.RunID); err == nil {
		out.Status = d.GetWorkflowExecutionInfo().GetStatus()
	}
}

// started is an activity attempt running (or handed out) at a kill.
type started struct {
	wfID, runID, activityID string
	attempt                 int32
}

// inFlight lists the activities started (running on a worker) in the run and
// its running children, and the children themselves.
func (l *lane) inFlight(ctx context.Context, id, runID string) (acts []started, children [][2]string) {
	var walk func(id, runID string, depth int)
	walk = func(id, runID string, depth int) {
		d, err := l.describe(ctx, id, runID)
		if err != nil {
			return
		}
		for _, a := range d.GetPendingActivities() {
			// A scheduled one may have been handed to the dying worker
			// already; either way it must be started again.
			if st := a.GetState(); st == enumspb.PENDING_ACTIVITY_STATE_STARTED || st == enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
				acts = append(acts, started{id, runID, a.GetActivityId(), a.GetAttempt()})
			}
		}
		if depth > 2 {
			return
		}
		for _, ch := range d.GetPendingChildren() {
			children = append(children, [2]string{ch.GetWorkflowId(), ch.GetRunId()})
			walk(ch.GetWorkflowId(), ch.GetRunId(), depth+1)
		}
	}
	walk(id, runID, 0)
	return acts, children
}

// killWorker SIGKILLs the lane's worker, starts a new one at once and
// measures the time to resume (see resumed).
func (l *lane) killWorker(ctx context.Context, out *outcome, mode plan.Mode, approved map[string]bool) killResult {
	dead := fmt.Sprintf("%d@", l.worker.Cmd.Process.Pid) // the SDK's worker identity starts so
	l.worker.Kill()
	at := time.Now()
	phase, _, _ := l.phase(ctx, out.ID, out.RunID)
	acts, children := l.inFlight(ctx, out.ID, out.RunID)
	if err := l.startWorker(ctx, false); err != nil {
		l.logf("%s: a new worker did not start: %v", out.ID, err)
	}
	l.logf("%s: worker SIGKILLed in phase %s (%d activities running)", out.ID, phase, len(acts))
	if gate, ok := gatePhases[phase]; ok && !approved[gate] {
		if l.approve(ctx, out, gate) == nil {
			approved[gate] = true
		}
	}
	kr := l.waitResume(ctx, out, at, dead, acts, children)
	kr.Phase = phase
	l.logf("%s: resumed %s after the kill in %s (stalled: %v)", out.ID, kr.Resume.Round(10*time.Millisecond), phase, kr.Stalled)
	return kr
}

// restartServer SIGKILLs the Temporal dev server and starts it again on the
// same database file; the run resumes when its work goes on (see resumed).
func (l *lane) restartServer(ctx context.Context, out *outcome, mode plan.Mode, approved map[string]bool) (killResult, error) {
	phase, _, _ := l.phase(ctx, out.ID, out.RunID)
	acts, children := l.inFlight(ctx, out.ID, out.RunID)
	l.srv.p.Kill()
	at := time.Now()
	if err := l.srv.start(ctx); err != nil {
		return killResult{}, err
	}
	l.logf("%s: Temporal dev server killed and restarted in phase %s in %s", out.ID, phase, time.Since(at).Round(10*time.Millisecond))
	if gate, ok := gatePhases[phase]; ok && !approved[gate] {
		if l.approve(ctx, out, gate) == nil {
			approved[gate] = true
		}
	}
	kr := l.waitResume(ctx, out, at, "", acts, children)
	kr.Phase = phase
	return kr, nil
}

// waitResume waits until the run has resumed after a kill at `at`:
//
//   - every activity attempt that was running at the kill has been started
//     again by a worker other than the dead one (a later attempt, or the
//     same one started after the kill) or has ended; and, when none was
//     running or one has ended (the dead worker may have completed it just
//     before it died),
//   - a workflow task of the run or of one of its children has been
//     completed after the kill by a worker other than the dead one (dead is
//     the prefix of its identity; "" when the worker lives on);
//   - or the run has ended.
//
// It gives up after the lane's resume limit and reports a stall.
func (l *lane) waitResume(ctx context.Context, out *outcome, at time.Time, dead string, acts []started, children [][2]string) killResult {
	limit := l.cfg.resumeLimit
	for {
		since := time.Since(at)
		if since > limit {
			return killResult{Resume: limit, Stalled: true}
		}
		if _, closed, err := l.phase(ctx, out.ID, out.RunID); err == nil && closed {
			return killResult{Resume: since}
		}
		resumed, ended := l.activitiesResumed(ctx, acts, at, dead)
		if resumed && (len(acts) > 0 && !ended || l.workflowTaskSince(ctx, append([][2]string{{out.ID, out.RunID}}, children...), at, dead)) {
			return killResult{Resume: time.Since(at)}
		}
		select {
		case <-ctx.Done():
			return killResult{Resume: time.Since(at), Stalled: true}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// activitiesResumed says whether every activity of acts has been started
// again by another worker than the dead one, or has ended (and whether one
// has ended).
func (l *lane) activitiesResumed(ctx context.Context, acts []started, at time.Time, dead string) (resumed, ended bool) {
	descs := map[string]*workflowservice.DescribeWorkflowExecutionResponse{}
	for _, a := range acts {
		d, ok := descs[a.wfID]
		if !ok {
			var err error
			if d, err = l.describe(ctx, a.wfID, a.runID); err != nil {
				var nf *serviceerror.NotFound
				if errors.As(err, &nf) {
					ended = true
					continue
				}
				return false, ended
			}
			descs[a.wfID] = d
		}
		if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			ended = true
			continue
		}
		pending := false
		for _, p := range d.GetPendingActivities() {
			if p.GetActivityId() != a.activityID {
				continue
			}
			pending = true
			again := p.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED &&
				(p.GetAttempt() > a.attempt || p.GetLastStartedTime().AsTime().After(at)) &&
				(dead == "" || !strings.HasPrefix(p.GetLastWorkerIdentity(), dead))
			if !again {
				return false, ended
			}
		}
		if !pending {
			ended = true
		}
	}
	return true, ended
}

func (l *lane) workflowTaskSince(ctx context.Context, runs [][2]string, at time.Time, dead string) bool {
	for _, r := range runs {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		it := l.srv.client.GetWorkflowHistory(hctx, r[0], r[1], false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		found := false
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				break
			}
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED && ev.GetEventTime().AsTime().After(at) &&
				(dead == "" || !strings.HasPrefix(ev.GetWorkflowTaskCompletedEventAttributes().GetIdentity(), dead)) {
				found = true
				break
			}
		}
		cancel()
		if found {
			return true
		}
	}
	return false
}
