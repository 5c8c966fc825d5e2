package workflows

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/metrics"
	"github.com/lifeboat-dr/lifeboat/notify"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// newMetricsEnv is newEnv recording the workflows' metrics in reg.
func newMetricsEnv(t *testing.T, reg *metrics.Registry) *env {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	s.SetMetricsHandler(reg.SDKHandler())
	e := &env{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), t: t, calls: &calls{}, failRecover: map[string]string{}}
	e.SetTestTimeout(30 * time.Second)
	Register(e)
	e.RegisterActivity(acts)
	e.RegisterActivity(notifier)
	return e
}

type sentEvents struct {
	mu     sync.Mutex
	events []notify.Event
}

func (s *sentEvents) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.events {
		out = append(out, strings.TrimSuffix(ev.Event+" "+ev.Gate+ev.Outcome, " "))
	}
	return out
}

// onNotify mocks the Notify activity with answer, recording each event.
func onNotify(e *env, answer func(*notify.Event) (*notify.Result, error)) *sentEvents {
	s := &sentEvents{}
	e.OnActivity(notifier.Notify, mock.Anything, mock.Anything).Return(func(_ context.Context, ev *notify.Event) (*notify.Result, error) {
		s.mu.Lock()
		s.events = append(s.events, *ev)
		s.mu.Unlock()
		return answer(ev)
	})
	return s
}

func TestNotificationsAtGatesAndEnd(t *testing.T) {
	reg := metrics.New()
	e := newMetricsEnv(t, reg)
	sent := onNotify(e, func(*notify.Event) (*notify.Result, error) { return &notify.Result{Sent: []string{"ops"}}, nil })
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(2*time.Minute, plan.GateRecover, "bob")
	e.run(plan.ModeFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()

	assert.Equal(t, []string{"gate-waiting storage-ready", "gate-waiting recover", "run-ended succeeded"}, sent.list())
	first := sent.events[0]
	assert.Equal(t, rep.WorkflowID, first.WorkflowID)
	assert.Equal(t, rep.RunID, first.RunID)
	assert.Equal(t, "failover", first.Mode)
	assert.Equal(t, rep.Gates[0].Summary, first.Summary)
	assert.Equal(t, rep.Message, sent.events[2].Message)
	assert.Empty(t, rep.Warnings)

	// The worker's handler adds namespace, task_queue and workflow_type; the
	// test suite's adds none.
	assert.Equal(t, map[string]float64{"mode=failover,outcome=succeeded": 1}, series(t, reg, "lifeboat_runs_total"))
	assert.Equal(t, map[string]float64{
		"gate=storage-ready,mode=failover,state=approved": 60,
		"gate=recover,mode=failover,state=approved":       60,
	}, series(t, reg, "lifeboat_gate_wait_seconds"), "each gate waited a minute")
}

// A webhook that failed, or the activity itself failing, is a warning of
// the run, never its failure.
func TestNotificationFailuresAreWarnings(t *testing.T) {
	e := newEnv(t)
	onNotify(e, func(ev *notify.Event) (*notify.Result, error) {
		if ev.Event == notify.EventRunEnded {
			return nil, errors.New("worker lost")
		}
		return &notify.Result{Warnings: []string{"The gate-waiting notification could not be sent to webhook ops: the webhook answered 503 Service Unavailable."}}, nil
	})
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(2*time.Minute, plan.GateRecover, "bob")
	e.run(plan.ModeFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()
	assert.Equal(t, OutcomeSucceeded, rep.Outcome)
	assert.Equal(t, []string{
		"The gate-waiting notification could not be sent to webhook ops: the webhook answered 503 Service Unavailable.",
		"The gate-waiting notification could not be sent to webhook ops: the webhook answered 503 Service Unavailable.",
		"A notification could not be sent: worker lost.",
	}, rep.Warnings)
}

func TestRejectedRunNotifiesItsOutcome(t *testing.T) {
	e := newEnv(t)
	sent := onNotify(e, func(*notify.Event) (*notify.Result, error) { return &notify.Result{}, nil })
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.signal(2*time.Minute, SignalReject, Approval{Gate: plan.GateRecover, By: "bob", Comment: "not now"})
	e.run(plan.ModeFailover, fixturePlan())
	typ, _, _ := e.failure()
	assert.Equal(t, "Rejected", typ)
	assert.Equal(t, []string{"gate-waiting storage-ready", "gate-waiting recover", "run-ended rejected"}, sent.list())
}

func TestNotifyHasAHeartbeatTimeout(t *testing.T) {
	assert.Positive(t, optNotify.heartbeat)
	assert.LessOrEqual(t, optNotify.heartbeat, heartbeatTimeout)
	assert.Less(t, optNotify.heartbeat, optNotify.startToClose)
	assert.Equal(t, "Notify", activityName(notifier.Notify))
}

// series maps each series of a metric (its labels, sorted) to its value:
// a counter's count, a histogram's sum.
func series(t *testing.T, reg *metrics.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gatherer().Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue()
			if h := m.GetHistogram(); h != nil {
				v = h.GetSampleSum()
			}
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}
