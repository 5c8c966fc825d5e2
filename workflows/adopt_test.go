package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// adoptingPrecheck answers like a precheck that adopts vApp db-app.
func (e *env) adoptingPrecheck() {
	e.OnActivity(acts.Precheck, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.PrecheckInput) (*activities.PrecheckResult, error) {
		e.calls.add("Precheck " + in.Plan)
		return &activities.PrecheckResult{
			Checks:    []activities.Check{{Check: "existing", Object: "vApp 'db-app'", Severity: SeverityOK, Message: "already recovered …: adopted, not recovered again"}},
			Adopted:   []string{"vapp-db"},
			OwnCopies: []string{"vm-app-1", "vm-db-1", "vm-db-2"},
		}, nil
	})
}

func TestAdoptedUnitsAreNamedAndFlagged(t *testing.T) {
	e := newEnv(t)
	e.adoptingPrecheck()
	var recoverIn []*activities.RecoverInput
	var mu sync.Mutex // recover children run side by side
	e.OnActivity(acts.Recover, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.RecoverInput) (*activities.RecoverResult, error) {
		mu.Lock()
		recoverIn = append(recoverIn, in)
		mu.Unlock()
		res := &activities.RecoverResult{}
		for _, u := range in.Units {
			res.Units = append(res.Units, activities.RecoveredUnit{UUID: u.UUID, Kind: u.Kind, Already: u.UUID == "vapp-db"})
		}
		return res, nil
	})
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	var p *Progress
	e.RegisterDelayedCallback(func() { p = e.progress() }, 90*time.Second)
	e.approve(2*time.Minute, plan.GateRecover, "alice")
	e.run(plan.ModeFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()

	assert.Equal(t, []string{"Precheck p1"}, e.calls.named("Precheck"), "the precheck is told the plan")
	require.NotEmpty(t, recoverIn)
	for _, in := range recoverIn {
		assert.Equal(t, "p1", in.Plan, "recover marks with the plan")
		assert.Equal(t, plan.ModeFailover, in.Mode)
	}
	require.NotNil(t, p)
	assert.Contains(t, p.WaitingGate.Summary, "Adopted 1 unit that an earlier failover of plan p1 recovered at site dc2 from the same metadata: vApp 'db-app'")
	assert.Contains(t, e.timelineMessages(rep), "Adopted 1 unit that an earlier failover of plan p1 recovered at site dc2 from the same metadata: vApp 'db-app'; they are not recovered again, only started as the plan says.")
	assert.True(t, vmByName(rep.VApps, "db-app").Adopted)
	assert.False(t, vmByName(rep.VApps, "crm").Adopted)
	for _, vm := range rep.VMs {
		assert.Equal(t, vm.VApp == "db-app", vm.Adopted, vm.Name)
		assert.Equal(t, StateRunning, vm.State, vm.Name)
	}
	assert.Len(t, e.calls.named("StartVM"), len(allVMs), "adopted VMs are started too")
}

// A test failover that adopted an earlier test's leftovers removes them:
// their absence after cleanup is not a difference from the pool before.
func TestTestFailoverDoesNotMissTheLeftoversItAdopted(t *testing.T) {
	e := newEnv(t)
	e.adoptingPrecheck()
	before := *fixtureBefore
	before.VMs = map[string]string{"vm-local": "Running", "vm-app-1": "Halted", "vm-db-1": "Halted", "vm-db-2": "Halted"}
	before.VApps = []string{"vapp-db"}
	e.OnActivity(acts.Inventory, mock.Anything, mock.Anything).Return(func(_ context.Context, _ *activities.InventoryInput) (*activities.Inventory, error) {
		e.calls.add("Inventory")
		if len(e.calls.named("Inventory")) > 1 {
			return fixtureBefore, nil
		}
		return &before, nil
	})
	e.run(plan.ModeTestFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()
	assert.Empty(t, rep.Leftovers)
	cleanup := e.calls.named("CleanupTest")
	require.Len(t, cleanup, 1)
	assert.Contains(t, cleanup[0], "vapp-db")
	assert.Contains(t, cleanup[0], "vm-db-1")
}
