package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// Approval gates. A gate is a timer in a selector with the decisions sent to
// it: as Workflow Updates (approve, reject), which answer the sender whether
// they counted and refuse at once, in their validator, one that would not;
// or as the signals of the same names, kept for older clients, which get no
// answer and are noted in the progress when they do not count.
//
// Rules (refusal holds them, for both ways):
//   - A gate not required in the mode is recorded as skipped, approved by "auto".
//   - An approval counts only while its gate is waiting: approvals for another
//     gate, or sent before the gate opened (when the approver could not have
//     seen what it approves), are not counted and are noted in the progress
//     errors and the timeline.
//   - Approvers are compared case-insensitively; an empty list lets anyone
//     approve. A signal naming nobody, or someone not in the list, is noted
//     and not counted. The gate opens when QuorumOf() distinct approvers have
//     approved; the same person twice counts once.
//   - One rejection from someone allowed to approve stops the run (Rejected).
//   - On timeout, OnTimeout applies: reject (default) stops the run as
//     Rejected; approve goes on, recorded as approved by "timeout".
//   - The cleanup gate of a test failover is also a hold: it waits until
//     approved or until the plan's test hold expires, whichever comes first;
//     the hold's expiry goes on to cleanup, recorded as approved by
//     "hold-expired". Rejecting it means the inspection failed: cleanup runs
//     and the run ends Rejected.
//   - An unattended run (a drill) approves its storage-ready and recover
//     gates itself, recorded as approved by "unattended"; its cleanup hold
//     is the plan's drill.hold (0: none) instead of test.hold.

// Gate states shown in GateStatus.State.
const (
	GateWaiting  = "waiting"
	GateApproved = "approved"
	GateRejected = "rejected"
	GateSkipped  = "skipped"
	GateTimedOut = "timed-out"
	GateAborted  = "aborted"
)

// Names recorded as deciders when no person decided.
const (
	DecidedByAuto        = "auto"
	DecidedByTimeout     = "timeout"
	DecidedByHoldExpired = "hold-expired"
	DecidedByUnattended  = "unattended"
)

func (r *run) storageReadyGate(ctx workflow.Context) error {
	if done, err := r.promoteStorage(ctx); done || err != nil {
		return err
	}
	var names []string
	for i, st := range r.plan.StorageFor(r.mode) {
		names = append(names, storageName(st, i))
	}
	return r.gate(ctx, plan.GateStorageReady, fmt.Sprintf(
		"Confirm that storage mirroring towards site %s is stopped and its LUNs are promoted and writable there: %s.",
		r.target, strings.Join(names, ", ")))
}

func (r *run) recoverGate(ctx workflow.Context) error {
	return r.gate(ctx, plan.GateRecover, r.precheckSummary())
}

func (r *run) hold(ctx workflow.Context) error {
	summary := fmt.Sprintf("The test VMs are at site %s for inspection. Approve to clean them up now", r.target)
	if r.plan.Test.Hold > 0 {
		summary += fmt.Sprintf("; they are cleaned up anyway after the hold of %s", time.Duration(r.plan.Test.Hold))
	}
	return r.gate(ctx, plan.GateCleanup, summary+". Reject if the test failed its inspection.")
}

// gate waits at a gate until it is approved, rejected, timed out or the run
// is aborted.
func (r *run) gate(ctx workflow.Context, name, summary string) error {
	pol := r.plan.GatePolicyFor(name)
	now := workflow.Now(ctx)
	g := GateStatus{Gate: name, Quorum: pol.QuorumOf(), Approvers: pol.Approvers, OpenedAt: now, Summary: summary}
	if !r.plan.GateRequired(name, r.mode) {
		g.State = GateSkipped
		g.Decisions = []Decision{{By: DecidedByAuto, Approved: true, At: now, Comment: fmt.Sprintf("not required in a %s", r.mode)}}
		r.gates = append(r.gates, g)
		r.event(ctx, "Gate %s skipped: not required in a %s.", name, r.mode)
		return nil
	}
	if r.in.Unattended && name != plan.GateCleanup {
		// A drill: nobody is there to approve, the plan's drill policy does.
		g.State = GateApproved
		g.Decisions = []Decision{{By: DecidedByUnattended, Approved: true, At: now, Comment: "unattended drill: approved by the plan's drill policy"}}
		r.gates = append(r.gates, g)
		r.event(ctx, "Gate %s approved: an unattended drill.", name)
		return nil
	}
	r.dropUnexpectedSignals(ctx, "before gate "+name+" opened")

	wait, onExpiry, expiredBy := r.gateDeadline(name, pol)
	if wait > 0 {
		d := now.Add(wait)
		g.Deadline = &d
	}
	g.State = GateWaiting
	r.gates = append(r.gates, g)
	r.waiting = len(r.gates) - 1
	gs := &r.gates[r.waiting]
	defer func() { r.waiting = -1 }()
	r.event(ctx, "Gate %s waits for %s.", name, plural(g.Quorum, "approval"))
	r.updateDetails(ctx)
	defer r.gateWaiting(ctx, gs)() // notify.go: the notification now, the wait's metric when decided

	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	var timer workflow.Future
	if wait > 0 {
		timer = workflow.NewTimerWithOptions(timerCtx, wait, workflow.TimerOptions{Summary: "gate " + name + " deadline"})
	}
	for {
		var sig Approval
		var upd *pendingDecision
		approve, expired, stopped := false, false, false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(r.approveCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &sig); approve = true })
		sel.AddReceive(r.rejectCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &sig) })
		sel.AddReceive(r.decisions, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, &upd)
			sig, approve = upd.Approval, upd.approve
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { stopped = true })
		if timer != nil {
			sel.AddFuture(timer, func(f workflow.Future) { expired = f.Get(ctx, nil) == nil })
		}
		sel.Select(ctx)
		now := workflow.Now(ctx)
		switch {
		case stopped || ctx.Err() != nil:
			gs.State = GateAborted
			return ctx.Err()
		case expired:
			gs.State = GateTimedOut
			gs.Decisions = append(gs.Decisions, Decision{By: expiredBy, Approved: onExpiry == plan.TimeoutApprove, At: now})
			r.touch(ctx)
			if onExpiry == plan.TimeoutApprove {
				r.event(ctx, "Gate %s approved by %s after %s.", name, expiredBy, wait)
				return nil
			}
			return &stopError{OutcomeRejected, fmt.Sprintf("Gate %s was not approved within %s, so the run stopped (on_timeout: reject); start a new run to try again.", name, wait)}
		}
		if why := r.refusal(sig, approve); why != "" {
			r.note(ctx, "%s", why)
			upd.refuse(why)
			continue
		}
		by := approverName(gs.Approvers, sig.By)
		if !approve {
			gs.State = GateRejected
			gs.Decisions = append(gs.Decisions, Decision{By: by, Approved: false, Comment: sig.Comment, At: now})
			r.touch(ctx)
			upd.answer(GateAnswer{Gate: name, State: gs.State, Approvals: approvalsOf(*gs), Quorum: gs.Quorum,
				Message: fmt.Sprintf("Gate %s rejected by %s: the run cleans up and ends as rejected.", name, by)})
			return &stopError{OutcomeRejected, fmt.Sprintf("Gate %s was rejected by %s: %s.", name, by, strings.TrimSuffix(orText(sig.Comment, "no comment given"), "."))}
		}
		gs.Decisions = append(gs.Decisions, Decision{By: by, Approved: true, Comment: sig.Comment, At: now})
		n := approvalsOf(*gs)
		r.event(ctx, "Gate %s approved by %s (%d of %d).", name, by, n, gs.Quorum)
		if n >= gs.Quorum {
			gs.State = GateApproved
			upd.answer(GateAnswer{Gate: name, State: gs.State, Approvals: n, Quorum: gs.Quorum,
				Message: fmt.Sprintf("Gate %s approved by %s (%d of %d): the run goes on.", name, by, n, gs.Quorum)})
			return nil
		}
		upd.answer(GateAnswer{Gate: name, State: gs.State, Approvals: n, Quorum: gs.Quorum,
			Message: fmt.Sprintf("Approval of gate %s by %s counted (%d of %d): the gate waits for %d more.", name, by, n, gs.Quorum, gs.Quorum-n)})
		r.updateDetails(ctx)
	}
}

// gateDeadline returns how long a gate waits (0: for ever), what its expiry
// does and who it is recorded as decided by.
func (r *run) gateDeadline(name string, pol plan.GatePolicy) (time.Duration, plan.TimeoutAction, string) {
	timeout, action := time.Duration(pol.Timeout), pol.OnTimeout
	if action != plan.TimeoutApprove {
		action = plan.TimeoutReject
	}
	if hold := time.Duration(r.plan.Test.Hold); name == plan.GateCleanup && hold > 0 && (timeout <= 0 || hold <= timeout) {
		return hold, plan.TimeoutApprove, DecidedByHoldExpired
	}
	if timeout <= 0 {
		return 0, action, DecidedByTimeout
	}
	return timeout, action, DecidedByTimeout
}

// refusal is the approval rule, in one place: why a decision would not be
// counted at the gate waiting now, or "" when it counts. The Update
// validators refuse with it (the sender hears it at once), the gate notes it
// for a signal; the CLI asks the run instead of deciding. Names and gates
// are compared without case and surrounding spaces, once, here.
func (r *run) refusal(a Approval, approve bool) string {
	verb := "Rejection"
	if approve {
		verb = "Approval"
	}
	by := strings.TrimSpace(a.By)
	if r.waiting < 0 {
		return fmt.Sprintf("%s of gate %q by %s not counted: no gate is waiting (phase %s).", verb, a.Gate, orUnknown(by), r.phase)
	}
	g := &r.gates[r.waiting]
	switch {
	case by == "":
		return fmt.Sprintf("%s of gate %q not counted: it names nobody; send {\"gate\": %q, \"by\": \"your name\"}.", verb, a.Gate, g.Gate)
	case !strings.EqualFold(strings.TrimSpace(a.Gate), g.Gate):
		return fmt.Sprintf("%s by %s for gate %q not counted: gate %s is the one waiting.", verb, by, a.Gate, g.Gate)
	case len(g.Approvers) > 0 && !containsFold(g.Approvers, by):
		return fmt.Sprintf("%s of gate %s by %s not counted: only %s may decide it.", verb, g.Gate, by, strings.Join(g.Approvers, ", "))
	}
	if approve {
		for _, d := range g.Decisions {
			if d.Approved && strings.EqualFold(d.By, by) {
				return fmt.Sprintf("Approval of gate %s by %s not counted again: %s had already approved, and a quorum of %d needs distinct approvers.", g.Gate, by, d.By, g.Quorum)
			}
		}
	}
	return ""
}

// GateAnswer is what an approve or reject Update answers once the gate has
// counted the decision.
type GateAnswer struct {
	Gate      string `json:"gate"`
	State     string `json:"state"` // the gate's state after the decision
	Approvals int    `json:"approvals"`
	Quorum    int    `json:"quorum"`
	Message   string `json:"message"`
}

// pendingDecision is a decision sent as an Update, on its way from the
// Update's handler to the gate, which answers it.
type pendingDecision struct {
	Approval
	approve bool
	done    bool
	result  GateAnswer
	refused string
}

func (p *pendingDecision) answer(a GateAnswer) {
	if p != nil {
		p.result, p.done = a, true
	}
}

func (p *pendingDecision) refuse(why string) {
	if p != nil {
		p.refused, p.done = why, true
	}
}

// setupDecisionUpdates registers the approve and reject Updates. The
// validator refuses what refusal refuses, before anything is written to the
// run's history; an accepted decision goes to the gate, and the handler
// answers with what the gate made of it.
func (r *run) setupDecisionUpdates(ctx workflow.Context) error {
	r.decisions = workflow.NewBufferedChannel(ctx, 8)
	for _, u := range []struct {
		name    string
		approve bool
	}{{UpdateApprove, true}, {UpdateReject, false}} {
		err := workflow.SetUpdateHandlerWithOptions(ctx, u.name,
			func(ctx workflow.Context, a Approval) (GateAnswer, error) {
				d := &pendingDecision{Approval: a, approve: u.approve}
				r.decisions.Send(ctx, d)
				if err := workflow.Await(ctx, func() bool { return d.done }); err != nil {
					return GateAnswer{}, err
				}
				if d.refused != "" {
					return GateAnswer{}, temporal.NewApplicationError(d.refused, ErrDecisionRefused)
				}
				return d.result, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, a Approval) error {
				if why := r.refusal(a, u.approve); why != "" {
					return temporal.NewApplicationError(why, ErrDecisionRefused)
				}
				return nil
			}})
		if err != nil {
			return err
		}
	}
	return nil
}

// dropUnexpectedSignals takes the approvals and rejections waiting in the
// channels when no gate waits for them, so none is counted for a gate its
// sender had not seen and none is left unhandled when the run ends.
func (r *run) dropUnexpectedSignals(ctx workflow.Context, when string) {
	for _, ch := range []struct {
		c    workflow.ReceiveChannel
		verb string
	}{{r.approveCh, "Approval"}, {r.rejectCh, "Rejection"}} {
		for {
			var sig Approval
			if !ch.c.ReceiveAsync(&sig) {
				break
			}
			r.note(ctx, "%s of gate %q by %s not counted: it arrived %s; send it again while the gate waits.", ch.verb, sig.Gate, orUnknown(sig.By), when)
		}
	}
	// Updates passed their validator while the gate waited, but the gate
	// closed before it took them (a timeout in the same moment).
	for {
		var d *pendingDecision
		if !r.decisions.ReceiveAsync(&d) {
			return
		}
		d.refuse(fmt.Sprintf("Decision on gate %q by %s not counted: the gate closed before it arrived.", d.Gate, orUnknown(d.By)))
	}
}

// drainSignals empties every signal channel before the run returns.
func (r *run) drainSignals(ctx workflow.Context) {
	r.dropUnexpectedSignals(ctx, "after the last gate")
	for {
		var a Abort
		if !r.abortCh.ReceiveAsync(&a) {
			return
		}
		r.note(ctx, "Abort from %s ignored: the run was already finishing.", orUnknown(a.By))
	}
}

// approverName is who decided, as the plan spells them ("Alice " sent for
// the approver alice is recorded as alice); anyone's name when the plan
// lists nobody.
func approverName(approvers []string, by string) string {
	by = strings.TrimSpace(by)
	for _, a := range approvers {
		if strings.EqualFold(strings.TrimSpace(a), by) {
			return strings.TrimSpace(a)
		}
	}
	return by
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), strings.TrimSpace(s)) {
			return true
		}
	}
	return false
}
