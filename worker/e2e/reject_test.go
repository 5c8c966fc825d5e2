//go:build e2e

package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// TestRejectAtRecoverGate rejects the recover gate after storage was
// introduced: the run ends Rejected, nothing is recovered, and no DR task or
// introduced SR is left in the DR pool.
func TestRejectAtRecoverGate(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	e := newWorkerEnv(t, w)
	e.start()
	w.primaryDown(t)
	before := inventory(t, w, poolDR)

	r := startRun(t, e, demoPlan(t, "e2e-reject"), plan.ModeFailover)
	r.approve(plan.GateStorageReady, "alice")
	gate := r.waitGate(plan.GateRecover)
	require.NotEmpty(t, w.pool(t, poolDR).DRTasks, "the storage is introduced by DR tasks while the recover gate waits")
	assert.NotEmpty(t, gate.WaitingGate.Summary, "the recover gate summarises the prechecks")
	r.signal(workflows.SignalReject, plan.GateRecover, "bob", "e2e: not today")
	rep, err := r.result()
	require.Error(t, err, "a rejected run fails")
	require.NotNil(t, rep, "the report travels in the failure details")
	assert.Equal(t, workflows.OutcomeRejected, rep.Outcome)
	r.logTimings(rep)

	after := inventory(t, w, poolDR)
	assert.Empty(t, after.DRTasks, "no DR task left after a rejection")
	assert.Equal(t, before.SRs, after.SRs, "the introduced SRs are gone with their DR tasks")
	assert.Equal(t, before.PBDs, after.PBDs, "no PBD left")
	assert.Equal(t, before.VMs, after.VMs, "nothing recovered")
	vms, vapps := recoverCalls(w.Journal().Entries(0))
	assert.Empty(t, vms, "no VM.recover after a rejection")
	assert.Empty(t, vapps, "no VM_appliance.recover after a rejection")
}
