//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// TestScheduledDrill is issue 8's weekly drill, end to end: the CLI sets up
// a schedule of the demo plan, which runs, with nobody there, a test
// failover on the storage adapter's snapshots while every mirror keeps
// replicating; it succeeds, cleans up (no snapshot, no SR, no VM left at
// the DR site), reports the age of the data it came back with, and
// 'lifeboat drills --output json' lists it with its RTO. Then, with the
// schedule updated to a plan that holds the drill's VMs, a second firing
// while a drill still runs is skipped (overlap policy skip). Describe,
// pause, unpause, trigger, update, list and delete go through the CLI.
func TestScheduledDrill(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	e := newWorkerEnv(t, w)
	e.start()
	assertReplicating(t, w, "before the drill")
	before := inventory(t, w, poolDR)
	primaryBefore := w.pool(t, poolPrimary)

	raw, err := os.ReadFile("../../dev/plans/demo.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	planFile := filepath.Join(dir, "drill.yaml")
	text := strings.Replace(string(raw), "name: demo\n", "name: e2e-weekly\n", 1)
	// The recover gate is required: the drill approves it itself.
	text = strings.Replace(text, "  recover:\n", "  recover:\n    required: true\n", 1)
	require.NoError(t, os.WriteFile(planFile, []byte(text), 0o644))

	res := lifeboat(t, e, "schedule", "create", "--plan", planFile, "--every", "168h", "--as", "carol")
	require.Equal(t, exitcode.OK, res.code, "schedule create: %s", res.stderr)
	id := "lifeboat-e2e-weekly-drill"
	t.Cleanup(func() {
		_ = srv.client.ScheduleClient().GetHandle(context.Background(), id).Delete(context.Background())
	})
	res = lifeboat(t, e, "schedule", "list")
	require.Equal(t, exitcode.OK, res.code)
	assert.Contains(t, res.stdout, id)

	res = lifeboat(t, e, "schedule", "pause", id, "--note", "e2e: paused")
	require.Equal(t, exitcode.OK, res.code, "schedule pause")
	res = lifeboat(t, e, "schedule", "describe", id)
	require.Equal(t, exitcode.OK, res.code, "schedule describe")
	assert.Contains(t, res.stdout, "Paused     yes\nNote       e2e: paused")
	assert.Contains(t, res.stdout, "drill: unattended test failover")
	res = lifeboat(t, e, "schedule", "unpause", id)
	require.Equal(t, exitcode.OK, res.code, "schedule unpause")

	// The weekly drill, fired now: nobody acts until it ends.
	ctx := context.Background()
	h := srv.client.ScheduleClient().GetHandle(ctx, id)
	res = lifeboat(t, e, "schedule", "trigger", id)
	require.Equal(t, exitcode.OK, res.code, "fire the drill now: %s", res.stderr)
	r := scheduledRun(t, h, 1)
	assert.True(t, strings.HasPrefix(r.id, workflows.WorkflowID("e2e-weekly", plan.ModeTestFailover)), "drill workflow ID %s", r.id)
	rep := r.succeeded()

	assert.True(t, rep.Unattended)
	assert.Contains(t, rep.RequestedBy, "schedule "+id)
	for _, g := range rep.Gates {
		for _, d := range g.Decisions {
			assert.Contains(t, []string{workflows.DecidedByAuto, workflows.DecidedByUnattended, workflows.DecidedByHoldExpired}, d.By, "gate %s decided by nobody", g.Gate)
		}
		if g.Gate == plan.GateRecover {
			require.NotEmpty(t, g.Decisions, "the required recover gate was decided")
		}
	}
	assertReplicating(t, w, "after the drill")
	assert.Empty(t, w.Control().State().Snapshots, "cleanup deleted every snapshot")
	assertUnchanged(t, before, inventory(t, w, poolDR), "the drill")
	assert.Equal(t, primaryBefore.VMs, w.pool(t, poolPrimary).VMs, "the primary ran on undisturbed")
	assert.Empty(t, rep.Leftovers)
	made, deleted := 0, 0
	for _, ev := range rep.Timeline {
		made += strings.Count(ev.Message, "Storage adapter xapisim made snapshot")
		deleted += strings.Count(ev.Message, "Storage adapter xapisim deleted snapshot")
	}
	assert.Equal(t, 3, made, "the drill ran on a snapshot of each mirror's destination")
	assert.Equal(t, 3, deleted, "and deleted each")
	require.NotNil(t, rep.DataAsOf, "the age of the data: the snapshots' last copies")
	assert.False(t, rep.DataAsOf.Before(t0) || rep.DataAsOf.After(rep.FinishedAt), "data as of %s: a copy the mirrors made in this world before the drill's end (%s)", rep.DataAsOf, rep.FinishedAt)
	require.Positive(t, rep.RTO, "the drill measured its RTO")

	res = lifeboat(t, e, "drills", "--plan", "e2e-weekly", "--output", "json")
	require.Equal(t, exitcode.OK, res.code, "drills: %s", res.stderr)
	var drills []struct {
		WorkflowID string        `json:"workflow_id"`
		Outcome    string        `json:"outcome"`
		Schedule   string        `json:"schedule"`
		Unattended bool          `json:"unattended"`
		RTO        time.Duration `json:"rto"`
		TargetRTO  time.Duration `json:"target_rto"`
		MetTarget  *bool         `json:"met_target"`
		Leftovers  []string      `json:"leftovers"`
		DataAsOf   *time.Time    `json:"data_as_of"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &drills), res.stdout)
	require.Len(t, drills, 1, res.stdout)
	d := drills[0]
	assert.Equal(t, r.id, d.WorkflowID)
	assert.Equal(t, workflows.OutcomeSucceeded, d.Outcome)
	assert.Equal(t, id, d.Schedule)
	assert.True(t, d.Unattended)
	assert.Equal(t, rep.RTO, d.RTO, "the drill's measured RTO")
	assert.Equal(t, 10*time.Minute, d.TargetRTO, "the demo plan's target_rto")
	require.NotNil(t, d.MetTarget)
	assert.True(t, *d.MetTarget)
	assert.Empty(t, d.Leftovers)
	require.NotNil(t, d.DataAsOf)
	assert.True(t, d.DataAsOf.Equal(*rep.DataAsOf))

	// The same schedule, updated to a plan that keeps the drill's VMs at its
	// cleanup gate for a while: a firing while that drill runs is skipped.
	holdFile := filepath.Join(dir, "drill-hold.yaml")
	require.NoError(t, os.WriteFile(holdFile, []byte(text+"\ndrill:\n  hold: 30m\n"), 0o644))
	res = lifeboat(t, e, "schedule", "update", id, "--plan", holdFile)
	require.Equal(t, exitcode.OK, res.code, "schedule update: %s", res.stderr)
	res = lifeboat(t, e, "schedule", "trigger", id)
	require.Equal(t, exitcode.OK, res.code, "fire the second drill: %s", res.stderr)
	r2 := scheduledRun(t, h, 2)
	t.Cleanup(r2.terminateIfRunning)
	r2.waitGate(plan.GateCleanup)
	assertReplicating(t, w, "during the second drill")
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	var running []client.ScheduleWorkflowExecution
	skipped := 0
	eventually(t, gateWithin, "the third firing skipped", func() bool {
		d, err := h.Describe(ctx)
		if err != nil {
			return false
		}
		skipped = d.Info.NumActionsSkippedOverlap
		running = d.Info.RunningWorkflows
		return skipped >= 1
	}, func() string { return fmt.Sprintf("%d skipped, %d running", skipped, len(running)) })
	assert.Len(t, running, 1, "still one drill running")
	r2.signal(workflows.SignalApprove, plan.GateCleanup, "carol", "e2e: drill inspected")
	rep2 := r2.succeeded()
	assert.Empty(t, rep2.Leftovers)
	assert.Empty(t, w.Control().State().Snapshots)
	assertReplicating(t, w, "after the second drill")

	res = lifeboat(t, e, "schedule", "delete", id)
	require.Equal(t, exitcode.OK, res.code, "schedule delete")
	res = lifeboat(t, e, "schedule", "delete", id)
	assert.Equal(t, exitcode.NotFound, res.code, "deleting it again: not found")
}

// scheduledRun waits for the schedule's nth action and returns its drill
// (found among the recent actions, so a drill that already ended is found too).
func scheduledRun(t *testing.T, h client.ScheduleHandle, nth int) *run {
	t.Helper()
	var started *client.ScheduleWorkflowExecution
	n := 0
	eventually(t, gateWithin, fmt.Sprintf("the schedule's drill #%d started", nth), func() bool {
		d, err := h.Describe(context.Background())
		if err != nil {
			return false
		}
		n = len(d.Info.RecentActions)
		if n < nth {
			return false
		}
		started = d.Info.RecentActions[nth-1].StartWorkflowResult
		return started != nil
	}, func() string { return fmt.Sprintf("%d actions", n) })
	r := &run{t: t, id: started.WorkflowID, runID: started.FirstExecutionRunID, mode: plan.ModeTestFailover}
	t.Cleanup(r.terminateIfRunning)
	return r
}
