package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// updateResult is what the sender of one approve or reject Update heard.
type updateResult struct {
	refused  string // the validator's (or the gate's) refusal
	answer   GateAnswer
	accepted bool
}

// update sends an approve (or reject) Update at d and records its answer.
func (e *env) update(d time.Duration, name string, a Approval) *updateResult {
	res := &updateResult{}
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() { res.accepted = true },
			OnReject: func(err error) { res.refused = refusalOf(e.t, err) },
			OnComplete: func(v any, err error) {
				if err != nil {
					res.refused = refusalOf(e.t, err)
					return
				}
				res.answer = v.(GateAnswer)
			},
		}, a)
	}, d)
	return res
}

func refusalOf(t *testing.T, err error) string {
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.Equal(t, ErrDecisionRefused, appErr.Type())
	return appErr.Message()
}

// Approvals as Updates answer back: a refused one is refused to its sender
// at once and leaves no trace in the run; an accepted one says what it did.
func TestDecisionUpdatesAnswerTheSender(t *testing.T) {
	p := fixturePlan()
	p.Approvals.StorageReady = plan.GatePolicy{Approvers: []string{"alice", "bob"}}
	p.Approvals.Recover = plan.GatePolicy{Approvers: []string{"Alice", "bob", "carol"}, Quorum: 2}
	e := newEnv(t)
	approve := func(d time.Duration, gate, by string) *updateResult {
		return e.update(d, UpdateApprove, Approval{Gate: gate, By: by, Comment: "ok"})
	}
	notApprover := approve(time.Minute, plan.GateStorageReady, "mallory")
	wrongGate := approve(time.Minute+time.Second, plan.GateRecover, "alice")
	nobody := approve(time.Minute+2*time.Second, plan.GateStorageReady, " ")
	storage := approve(2*time.Minute, " Storage-Ready ", " ALICE")
	first := approve(3*time.Minute, plan.GateRecover, "alice")
	again := approve(4*time.Minute, plan.GateRecover, "ALICE ")
	rejectOutsider := e.update(4*time.Minute+time.Second, UpdateReject, Approval{Gate: plan.GateRecover, By: "mallory"})
	var during *Progress
	e.RegisterDelayedCallback(func() { during = e.progress() }, 4*time.Minute+30*time.Second)
	second := approve(5*time.Minute, plan.GateRecover, "bob")
	e.run(plan.ModeFailover, p)
	require.NoError(t, e.GetWorkflowError())

	for _, tc := range []struct {
		name string
		got  *updateResult
		want string
	}{
		{"not an approver", notApprover, "Approval of gate storage-ready by mallory not counted: only alice, bob may decide it."},
		{"wrong gate", wrongGate, `Approval by alice for gate "recover" not counted: gate storage-ready is the one waiting.`},
		{"nobody", nobody, `Approval of gate "storage-ready" not counted: it names nobody; send {"gate": "storage-ready", "by": "your name"}.`},
		{"second vote of one person", again, "Approval of gate recover by ALICE not counted again: Alice had already approved, and a quorum of 2 needs distinct approvers."},
		{"rejection by an outsider", rejectOutsider, "Rejection of gate recover by mallory not counted: only Alice, bob, carol may decide it."},
	} {
		assert.False(t, tc.got.accepted, tc.name)
		assert.Equal(t, tc.want, tc.got.refused, tc.name)
	}
	assert.Equal(t, GateAnswer{Gate: plan.GateStorageReady, State: GateApproved, Approvals: 1, Quorum: 1,
		Message: "Gate storage-ready approved by alice (1 of 1): the run goes on."}, storage.answer)
	assert.Equal(t, GateAnswer{Gate: plan.GateRecover, State: GateWaiting, Approvals: 1, Quorum: 2,
		Message: "Approval of gate recover by Alice counted (1 of 2): the gate waits for 1 more."}, first.answer)
	assert.Equal(t, GateAnswer{Gate: plan.GateRecover, State: GateApproved, Approvals: 2, Quorum: 2,
		Message: "Gate recover approved by bob (2 of 2): the run goes on."}, second.answer)
	for _, ok := range []*updateResult{storage, first, second} {
		assert.True(t, ok.accepted)
		assert.Empty(t, ok.refused)
	}

	// A refused Update is the sender's business only: the run notes nothing.
	assert.Empty(t, during.Errors)
	rep := e.report()
	assert.Equal(t, "alice", rep.Gates[0].Decisions[0].By, "recorded as the plan spells the approver")
	assert.Equal(t, []string{"Alice", "bob"}, []string{rep.Gates[1].Decisions[0].By, rep.Gates[1].Decisions[1].By})
	assert.NotContains(t, strings.Join(e.timelineMessages(rep), "\n"), "mallory")
}

// A rejection sent as an Update stops the run as a signal's does, and says so.
func TestRejectUpdateStopsTheRun(t *testing.T) {
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice") // the signal still works
	rej := e.update(2*time.Minute, UpdateReject, Approval{Gate: plan.GateRecover, By: "bob", Comment: "wrong pool"})
	e.run(plan.ModeFailover, fixturePlan())
	typ, msg, rep := e.failure()
	assert.Equal(t, "Rejected", typ)
	assert.Equal(t, "Gate recover was rejected by bob: wrong pool.", msg)
	assert.Equal(t, GateAnswer{Gate: plan.GateRecover, State: GateRejected, Approvals: 0, Quorum: 1,
		Message: "Gate recover rejected by bob: the run cleans up and ends as rejected."}, rej.answer)
	assert.Equal(t, GateApproved, rep.Gates[0].State)
}

// Between gates, every decision is refused, naming the phase.
func TestRefusalWithNoGateWaiting(t *testing.T) {
	r := &run{waiting: -1, phase: PhaseStart}
	assert.Equal(t, `Approval of gate "recover" by carol not counted: no gate is waiting (phase start).`, r.refusal(Approval{Gate: plan.GateRecover, By: " carol"}, true))
	assert.Equal(t, `Rejection of gate "recover" by someone unnamed not counted: no gate is waiting (phase start).`, r.refusal(Approval{Gate: plan.GateRecover}, false))
}
