//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/plan"
)

// TestAbortTestFailoverMidRecovery aborts a test failover from the CLI while
// its vApps are being recovered: the in-flight recoveries are cancelled, the
// run waits for them, cleans up everything it recreated, and ends aborted —
// and the DR pool is exactly as it was before the run.
func TestAbortTestFailoverMidRecovery(t *testing.T) {
	t.Parallel()
	// 2s per VM at speed 0.05, so the recovery can be caught half-way.
	w := startSimulator(t, simOptions{speed: demoSpeed, recover: 40 * time.Second})
	e := newWorkerEnv(t, w)
	e.start()
	w.splitMirrors(t)
	before := inventory(t, w, poolDR)

	r := startRun(t, e, demoPlan(t, "e2e-abort"), plan.ModeTestFailover)
	total := len(demoSelectedVMs())
	r.waitUntil("some but not all VMs recovered", gateWithin, func(p *workflows.Progress) bool {
		n := recoveredCount(p)
		return p.Phase == workflows.PhaseRecover && n > 0 && n < total
	})
	res := lifeboat(t, e, "abort", r.id, "--as", "dave", "--reason", "e2e: wrong window")
	require.Equal(t, exitOK, res.code, "abort")

	rep, err := r.result()
	require.Error(t, err, "an aborted run fails")
	require.NotNil(t, rep, "the report travels in the failure details")
	assert.Equal(t, workflows.OutcomeAborted, rep.Outcome)
	assert.Contains(t, timeline(rep), "dave")
	r.logTimings(rep)

	after := inventory(t, w, poolDR)
	assert.Equal(t, before.VMs, after.VMs, "DR pool VMs after the abort")
	assert.Equal(t, before.VApps, after.VApps, "DR pool vApps")
	assert.Equal(t, before.SRs, after.SRs, "DR pool SRs")
	assert.Equal(t, before.PBDs, after.PBDs, "DR pool PBDs")
	assert.Equal(t, before.Networks, after.Networks, "DR pool networks")
	assert.Equal(t, before.DRTasks, after.DRTasks, "DR pool DR tasks")
	assert.Empty(t, rep.Leftovers, "report leftovers")

	res = lifeboat(t, e, "status", r.id)
	assert.Equal(t, 5, res.code, "status of an aborted run exits 5")
}
