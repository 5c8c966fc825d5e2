//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// resumeWithin bounds how long a step takes to resume on a new worker after
// its worker was SIGKILLed: the heartbeat timeout (20 s) since the last
// heartbeat the SDK sent, and the retry's first interval (1 s), with room.
const resumeWithin = 60 * time.Second

// TestWorkerKilledInShortStepsResumesQuickly SIGKILLs the worker inside
// Probe, Scan and Precheck, each held in a slow XAPI call (SR.probe, the
// metadata database's open, the RBAC check), and measures how long each step
// took to start again on a new worker. Before every activity had a
// heartbeat timeout these waited out their start-to-close timeout (10 to 30
// minutes).
func TestWorkerKilledInShortStepsResumesQuickly(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	e := newWorkerEnv(t, w)
	worker := e.start()
	w.primaryDown(t)
	slow := sim.Duration(10 * time.Minute)
	steps := []struct {
		activity, method string
		fault            int
	}{
		{"Probe", "Async.SR.probe", 0},
		{"Scan", "Async.VDI.open_database", 0},
		{"Precheck", "session.get_rbac_permissions", 0},
	}
	for i := range steps {
		steps[i].fault = w.Control().AddFault(sim.Fault{Pool: "DR", Method: steps[i].method, Delay: slow})
	}
	r := startRun(t, e, demoPlan(t, "e2e-resume"), plan.ModeFailover)
	r.approve(plan.GateStorageReady, "alice")
	killedAt := map[string]time.Time{}
	for _, st := range steps {
		waitActivityStarted(t, r, st.activity)
		killedAt[st.activity] = time.Now()
		worker.kill(t)
		require.NoError(t, w.Control().RemoveFault(st.fault))
		worker = e.start()
	}
	r.approve(plan.GateRecover, "bob")
	r.succeeded()

	started := lastAttemptStarts(t, r)
	for _, st := range steps {
		s, ok := started[st.activity]
		require.True(t, ok, "no start of %s in the history", st.activity)
		assert.GreaterOrEqual(t, s.attempt, int32(2), "%s was retried on the new worker", st.activity)
		resume := s.at.Sub(killedAt[st.activity])
		t.Logf("%s: killed in %s, resumed (attempt %d) %s later", st.activity, st.method, s.attempt, resume.Round(100*time.Millisecond))
		assert.LessOrEqual(t, resume, resumeWithin, "%s resumed within %s", st.activity, resumeWithin)
	}
}

// waitActivityStarted waits until a worker has started the activity (the
// pending activity's state, from DescribeWorkflowExecution).
func waitActivityStarted(t *testing.T, r *run, activity string) {
	t.Helper()
	eventually(t, gateWithin, activity+" started by a worker", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, err := srv.client.DescribeWorkflowExecution(ctx, r.id, r.runID)
		if err != nil {
			return false
		}
		for _, pa := range d.GetPendingActivities() {
			if pa.GetActivityType().GetName() == activity && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				return true
			}
		}
		return false
	}, func() string { return r.describeEnd() })
}

type attemptStart struct {
	attempt int32
	at      time.Time
}

// lastAttemptStarts reads when each activity's last attempt started: the
// history records the start of the attempt that ended it.
func lastAttemptStarts(t *testing.T, r *run) map[string]attemptStart {
	t.Helper()
	it := srv.client.GetWorkflowHistory(context.Background(), r.id, r.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	types := map[int64]string{}
	out := map[string]attemptStart{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			out[types[a.GetScheduledEventId()]] = attemptStart{attempt: a.GetAttempt(), at: ev.GetEventTime().AsTime()}
		}
	}
	return out
}
