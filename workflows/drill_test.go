package workflows

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// TestUnattendedDrill: a drill of a plan whose test failover requires both
// gates and a 30-minute hold runs to its end with nobody there: the gates
// are approved by "unattended", the hold is the drill's (none), and the
// report carries the measured RTO against the plan's target.
func TestUnattendedDrill(t *testing.T) {
	s := newSimWorld(t)
	p := s.plan
	yes := true
	p.Approvals.StorageReady = plan.GatePolicy{Required: &yes, Approvers: []string{"alice"}}
	p.Approvals.Recover = plan.GatePolicy{Required: &yes, Approvers: []string{"alice"}}
	p.Test.Hold = plan.Duration(30 * time.Minute)
	p.TargetRTO = plan.Duration(10 * time.Minute)

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(2 * time.Minute)
	Register(env)
	env.RegisterActivity(s.acts)
	env.ExecuteWorkflow(TestFailover, &RunInput{Plan: p, RequestedBy: "schedule lifeboat-demo-drill", Unattended: true})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var rep Report
	require.NoError(t, env.GetWorkflowResult(&rep))

	assert.Equal(t, OutcomeSucceeded, rep.Outcome)
	assert.True(t, rep.Unattended)
	states := map[string]string{}
	for _, g := range rep.Gates {
		states[g.Gate] = g.State
		if g.Gate != plan.GateCleanup {
			require.Len(t, g.Decisions, 1)
			assert.Equal(t, DecidedByUnattended, g.Decisions[0].By)
		}
	}
	assert.Equal(t, map[string]string{plan.GateStorageReady: GateApproved, plan.GateRecover: GateApproved, plan.GateCleanup: GateSkipped}, states,
		"no gate waited; the 30m test hold does not apply to a drill")
	assert.Empty(t, rep.Leftovers)
	assert.Equal(t, 10*time.Minute, rep.TargetRTO)
	assert.Positive(t, rep.RTO)
	for _, vm := range rep.VMs {
		assert.LessOrEqual(t, vm.RTO, rep.RTO, vm.Name)
	}

	// Only a test failover runs unattended.
	env = suite.NewTestWorkflowEnvironment()
	Register(env)
	env.RegisterActivity(s.acts)
	env.ExecuteWorkflow(Failover, &RunInput{Plan: p, Unattended: true})
	require.Error(t, env.GetWorkflowError())
	assert.Contains(t, env.GetWorkflowError().Error(), "cannot run unattended")
}
