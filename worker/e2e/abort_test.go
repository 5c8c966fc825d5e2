//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// TestAbortTestFailoverMidRecovery aborts a test failover from the CLI while
// its vApps are being recovered: the in-flight recoveries are cancelled, the
// run waits for them, cleans up everything it recreated, and ends aborted —
// and the DR pool is exactly as it was before the run.
func TestAbortTestFailoverMidRecovery(t *testing.T) {
	t.Parallel()
	w, e, r, before := testFailoverMidRecovery(t, "e2e-abort")
	res := lifeboat(t, e, "abort", r.id, "--as", "dave", "--reason", "e2e: wrong window")
	require.Equal(t, exitcode.OK, res.code, "abort")

	rep, err := r.result()
	require.Error(t, err, "an aborted run fails")
	require.NotNil(t, rep, "the report travels in the failure details")
	assert.Equal(t, workflows.OutcomeAborted, rep.Outcome)
	assert.Contains(t, timeline(rep), "dave")
	r.logTimings(rep)

	after := inventory(t, w, poolDR)
	assertUnchanged(t, before, after, "the abort")
	assert.Empty(t, rep.Leftovers, "report leftovers")

	res = lifeboat(t, e, "status", r.id)
	assert.Equal(t, exitcode.Aborted, res.code, "status of an aborted run exits 5")
}

// TestCancelFromTheWebUI cancels a test failover mid-recovery the way the
// Web UI's Cancel button (or 'temporal workflow cancel') does: the run
// cleans up as for an abort and ends Canceled, with its report readable by
// the CLI, and the DR pool is exactly as it was before the run.
func TestCancelFromTheWebUI(t *testing.T) {
	t.Parallel()
	w, e, r, before := testFailoverMidRecovery(t, "e2e-cancel")
	require.NoError(t, srv.client.CancelWorkflow(context.Background(), r.id, r.runID), "cancel the run")

	rep, err := r.result()
	var canceled *temporal.CanceledError
	require.ErrorAs(t, err, &canceled, "the run ends Canceled")
	require.NotNil(t, rep, "the report travels in the cancellation details")
	assert.Equal(t, workflows.OutcomeAborted, rep.Outcome)
	assert.Equal(t, "The run was cancelled from Temporal during recover.", rep.Message)
	_, st := r.closed()
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, st)
	r.logTimings(rep)

	assertUnchanged(t, before, inventory(t, w, poolDR), "the cancellation")
	assert.Empty(t, rep.Leftovers, "report leftovers")

	res := lifeboat(t, e, "report", r.id)
	assert.Equal(t, exitcode.Aborted, res.code, "report of a cancelled run exits 5 (aborted)")
	assert.Contains(t, res.stdout, "cancelled from Temporal")
}

// testFailoverMidRecovery starts a test failover of the demo plan (as name)
// and returns once some but not all of its VMs are recovered, with the DR
// pool's inventory from before the run.
func testFailoverMidRecovery(t *testing.T, name string) (*simWorld, *workerEnv, *run, poolInventory) {
	t.Helper()
	// 2s per VM at speed 0.05, so the recovery can be caught half-way.
	w := startSimulator(t, simOptions{speed: demoSpeed, recover: 40 * time.Second})
	e := newWorkerEnv(t, w)
	e.start()
	w.splitMirrors(t)
	before := inventory(t, w, poolDR)

	r := startRun(t, e, demoPlan(t, name), plan.ModeTestFailover)
	total := len(demoSelectedVMs())
	r.waitUntil("some but not all VMs recovered", gateWithin, func(p *workflows.Progress) bool {
		n := recoveredCount(p)
		return p.Phase == workflows.PhaseRecover && n > 0 && n < total
	})
	return w, e, r, before
}
