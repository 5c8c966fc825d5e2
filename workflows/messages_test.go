package workflows

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// The real activities' failures, fed through the workflow against the
// in-process simulator, end the run with one sentence holding one next step
// chosen by the failure: never the step's generic advice when the code
// knows better, never an activity's own advice twice.
func TestRunFailuresNameOneNextStep(t *testing.T) {
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{Speed: 0, FreePorts: true, ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	w.Control().SyncAll()
	require.NoError(t, w.Control().SiteDown("primary"))

	tests := []struct {
		name string
		site activities.SiteConfig
		// setup breaks the world; split promotes the DR copies first.
		split bool
		next  string
	}{
		{"wrong password", activities.SiteConfig{URL: w.PoolURL("dr"), Username: "root", Password: "wrong"}, true,
			"correct the site's username or password in the worker configuration, restart the worker, then start the run again"},
		{"site unreachable", activities.SiteConfig{URL: "http://127.0.0.1:1/", Username: "root", Password: "lifeboat", Timeout: 2 * time.Second}, true,
			"check that the site's pool master is up and reachable from the worker, then start the run again"},
		{"mirror not promoted", activities.SiteConfig{URL: w.PoolURL("dr"), Username: "root", Password: "lifeboat"}, false,
			"split or promote the mirror at the storage array (a test failover can run on a snapshot instead: test_storage in the plan), then start the run again"},
	}
	p, err := plan.Load("../dev/plans/demo.yaml")
	require.NoError(t, err)
	p.TestStorage = nil // on the DR copies themselves: no storage adapter here
	auto := plan.GatePolicy{Timeout: plan.Duration(time.Hour), OnTimeout: plan.TimeoutApprove}
	p.Approvals = plan.Approvals{StorageReady: auto, Recover: auto}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := activities.New(map[string]activities.SiteConfig{"dr": tt.site}, nil, zap.NewNop())
			require.NoError(t, err)
			t.Cleanup(func() { _ = activities.Close(context.Background(), a) })
			var suite testsuite.WorkflowTestSuite
			suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
			env := suite.NewTestWorkflowEnvironment()
			env.SetTestTimeout(2 * time.Minute)
			Register(env)
			env.RegisterActivity(a)
			env.ExecuteWorkflow(TestFailover, &RunInput{Plan: *p, RequestedBy: "tester"})
			require.True(t, env.IsWorkflowCompleted())
			err = env.GetWorkflowError()
			require.Error(t, err)
			var rep Report
			require.True(t, reportOf(err, &rep), "%v", err)
			msg := rep.Message
			t.Log(msg)
			assert.True(t, strings.HasSuffix(msg, "; "+tt.next+"."), "the one next step ends the sentence: %s", msg)
			assert.Equal(t, 1, strings.Count(msg, "then start the run again"), "one next step: %s", msg)
			assert.NotContains(t, msg, "is retried")
			assert.NotContains(t, strings.TrimSuffix(msg, "."), ". ", "one sentence: %s", msg)
			assert.NotContains(t, msg, "re-run", "the activity gave no advice of its own: %s", msg)
		})
	}
}
