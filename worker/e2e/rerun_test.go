//go:build e2e

package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// TestFailoverReRunAfterAFailedStart: a VM.start fails once (a permanent
// error, so the run fails with that VM and its vApp's later orders not
// started); starting the same plan again adopts what the first run
// recovered, recovers nothing twice and starts everything.
func TestFailoverReRunAfterAFailedStart(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	primaryBefore := w.pool(t, poolPrimary)
	e := newWorkerEnv(t, w)
	e.start()
	w.primaryDown(t)
	w.Control().AddFault(sim.Fault{Pool: poolDR, Method: "VM.start", Nth: 1, Error: []string{"HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"}})
	p := demoPlan(t, "e2e-rerun")

	first := startRun(t, e, p, plan.ModeFailover)
	first.approve(plan.GateStorageReady, "alice")
	first.approve(plan.GateRecover, "bob")
	rep, err := first.result()
	require.Error(t, err)
	require.NotNil(t, rep)
	assert.Equal(t, workflows.OutcomeFailed, rep.Outcome)
	t.Logf("first run: %s", rep.Message)

	again := startRun(t, e, p, plan.ModeFailover)
	again.approve(plan.GateStorageReady, "alice")
	again.approve(plan.GateRecover, "bob")
	rep = again.succeeded()
	for _, vm := range rep.VMs {
		assert.True(t, vm.Adopted, "VM %s adopted", vm.Name)
		assert.Equal(t, workflows.StateRunning, vm.State, "VM %s", vm.Name)
	}
	checkRecovered(t, primaryBefore, w.pool(t, poolDR), "Running")
	checkRecoveredOnce(t, w.Journal().Entries(0))
}
