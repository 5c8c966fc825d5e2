//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/plan"
)

// TestScheduledDrill sets up a weekly drill with the CLI, fires it now, and
// checks that the schedule runs a real test failover that succeeds, that a
// second firing while the drill still runs is skipped (overlap policy skip),
// and that the CLI lists and deletes the schedule.
func TestScheduledDrill(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	e := newWorkerEnv(t, w)
	e.start()
	w.splitMirrors(t)

	raw, err := os.ReadFile("../../dev/plans/demo.yaml")
	require.NoError(t, err)
	planFile := filepath.Join(t.TempDir(), "drill.yaml")
	require.NoError(t, os.WriteFile(planFile, []byte(strings.Replace(string(raw), "name: demo\n", "name: e2e-drill\n", 1)), 0o644))

	res := lifeboat(t, e, "schedule", "create", "--plan", planFile, "--every", "168h", "--as", "carol")
	require.Equal(t, exitOK, res.code, "schedule create")
	id := "lifeboat-e2e-drill-drill"
	t.Cleanup(func() {
		_ = srv.client.ScheduleClient().GetHandle(context.Background(), id).Delete(context.Background())
	})
	res = lifeboat(t, e, "schedule", "list")
	require.Equal(t, exitOK, res.code)
	assert.Contains(t, res.stdout, id)

	ctx := context.Background()
	h := srv.client.ScheduleClient().GetHandle(ctx, id)
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}), "fire the drill now")
	var running []client.ScheduleWorkflowExecution
	eventually(t, gateWithin, "the schedule's drill running", func() bool {
		d, err := h.Describe(ctx)
		if err != nil {
			return false
		}
		running = d.Info.RunningWorkflows
		return len(running) == 1
	}, func() string { return fmt.Sprintf("%d running", len(running)) })
	r := &run{t: t, id: running[0].WorkflowID, runID: running[0].FirstExecutionRunID, mode: plan.ModeTestFailover}
	t.Cleanup(r.terminateIfRunning)
	assert.True(t, strings.HasPrefix(r.id, workflows.WorkflowID("e2e-drill", plan.ModeTestFailover)), "drill workflow ID %s", r.id)

	// The drill holds its VMs at the cleanup gate; firing again now is skipped.
	r.waitGate(plan.GateCleanup)
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	skipped := 0
	eventually(t, gateWithin, "the second firing skipped", func() bool {
		d, err := h.Describe(ctx)
		if err != nil {
			return false
		}
		skipped = d.Info.NumActionsSkippedOverlap
		running = d.Info.RunningWorkflows
		return skipped >= 1
	}, func() string { return fmt.Sprintf("%d skipped, %d running", skipped, len(running)) })
	assert.Len(t, running, 1, "still one drill running")

	r.signal(workflows.SignalApprove, plan.GateCleanup, "carol", "e2e: drill inspected")
	rep := r.succeeded()
	assert.Contains(t, rep.RequestedBy, "schedule "+id)
	assert.Empty(t, rep.Leftovers)

	res = lifeboat(t, e, "schedule", "delete", id)
	require.Equal(t, exitOK, res.code, "schedule delete")
	res = lifeboat(t, e, "schedule", "delete", id)
	assert.Equal(t, exitNotFound, res.code, "deleting it again: not found")
}
