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
// checks that the schedule runs a real test failover that succeeds with
// nobody at its gates (the plan requires the recover gate: the drill
// approves it as "unattended"), that a second firing while the drill still
// runs is skipped (overlap policy skip), and that the CLI describes,
// pauses, unpauses, triggers, lists and deletes the schedule.
func TestScheduledDrill(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	e := newWorkerEnv(t, w)
	e.start()
	w.splitMirrors(t)

	raw, err := os.ReadFile("../../dev/plans/demo.yaml")
	require.NoError(t, err)
	planFile := filepath.Join(t.TempDir(), "drill.yaml")
	text := strings.Replace(string(raw), "name: demo\n", "name: e2e-drill\n", 1)
	text = strings.Replace(text, "  recover:\n", "  recover:\n    required: true\n", 1)
	// The drill keeps its VMs at the cleanup gate for a while, so that a
	// second firing meets it running.
	text += "\ndrill:\n  hold: 30m\n"
	require.NoError(t, os.WriteFile(planFile, []byte(text), 0o644))

	res := lifeboat(t, e, "schedule", "create", "--plan", planFile, "--every", "168h", "--as", "carol")
	require.Equal(t, exitOK, res.code, "schedule create")
	id := "lifeboat-e2e-drill-drill"
	t.Cleanup(func() {
		_ = srv.client.ScheduleClient().GetHandle(context.Background(), id).Delete(context.Background())
	})
	res = lifeboat(t, e, "schedule", "list")
	require.Equal(t, exitOK, res.code)
	assert.Contains(t, res.stdout, id)

	res = lifeboat(t, e, "schedule", "pause", id, "--note", "e2e: paused")
	require.Equal(t, exitOK, res.code, "schedule pause")
	res = lifeboat(t, e, "schedule", "describe", id)
	require.Equal(t, exitOK, res.code, "schedule describe")
	assert.Contains(t, res.stdout, "Paused     yes\nNote       e2e: paused")
	assert.Contains(t, res.stdout, "drill: unattended test failover")
	res = lifeboat(t, e, "schedule", "unpause", id)
	require.Equal(t, exitOK, res.code, "schedule unpause")

	ctx := context.Background()
	h := srv.client.ScheduleClient().GetHandle(ctx, id)
	res = lifeboat(t, e, "schedule", "trigger", id)
	require.Equal(t, exitOK, res.code, "fire the drill now: %s", res.stderr)
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
	assert.True(t, rep.Unattended)
	for _, g := range rep.Gates {
		if g.Gate == plan.GateRecover {
			require.NotEmpty(t, g.Decisions)
			assert.Equal(t, workflows.DecidedByUnattended, g.Decisions[0].By, "nobody approved the recover gate")
		}
	}

	res = lifeboat(t, e, "drills", "--plan", "e2e-drill", "--output", "json")
	require.Equal(t, exitOK, res.code, "drills: %s", res.stderr)
	assert.Contains(t, res.stdout, r.id)
	assert.Contains(t, res.stdout, `"outcome": "succeeded"`)

	res = lifeboat(t, e, "schedule", "delete", id)
	require.Equal(t, exitOK, res.code, "schedule delete")
	res = lifeboat(t, e, "schedule", "delete", id)
	assert.Equal(t, exitNotFound, res.code, "deleting it again: not found")
}
