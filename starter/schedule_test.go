package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// The fake schedule handle's other calls, on what create stored.

func (h *fakeHandle) Describe(context.Context) (*client.ScheduleDescription, error) {
	o, ok := h.s.created[h.id]
	if !ok {
		return nil, serviceerror.NewNotFound("schedule not found")
	}
	memo := &commonpb.Memo{Fields: map[string]*commonpb.Payload{}}
	for k, v := range o.Memo {
		p, err := converter.GetDefaultDataConverter().ToPayload(v)
		if err != nil {
			return nil, err
		}
		memo.Fields[k] = p
	}
	spec := o.Spec
	d := &client.ScheduleDescription{
		Schedule: client.Schedule{Action: o.Action, Spec: &spec, State: &client.ScheduleState{Paused: o.Paused, Note: o.Note}},
		Info: client.ScheduleInfo{NumActions: len(h.s.triggered), NextActionTimes: []time.Time{at(60), at(60 + 168*60)}, CreatedAt: t0,
			RecentActions: []client.ScheduleActionResult{{ScheduleTime: at(-1), ActualTime: at(-1),
				StartWorkflowResult: &client.ScheduleWorkflowExecution{WorkflowID: "lifeboat-demo-test-failover-2026-03-14T08:59:00Z", FirstExecutionRunID: "r0"}}}},
		Memo: memo,
	}
	if id := h.s.running[h.id]; id != "" {
		d.Info.RunningWorkflows = []client.ScheduleWorkflowExecution{{WorkflowID: id}}
	}
	return d, nil
}

func (h *fakeHandle) Pause(_ context.Context, o client.SchedulePauseOptions) error {
	c := h.s.created[h.id]
	c.Paused, c.Note = true, o.Note
	h.s.created[h.id] = c
	return nil
}

func (h *fakeHandle) Unpause(_ context.Context, o client.ScheduleUnpauseOptions) error {
	c := h.s.created[h.id]
	c.Paused, c.Note = false, o.Note
	h.s.created[h.id] = c
	return nil
}

func (h *fakeHandle) Trigger(_ context.Context, o client.ScheduleTriggerOptions) error {
	if o.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		return serviceerror.NewInvalidArgument("a drill must skip when one runs")
	}
	h.s.triggered = append(h.s.triggered, h.id)
	return nil
}

func (h *fakeHandle) Update(_ context.Context, o client.ScheduleUpdateOptions) error {
	d, err := h.Describe(context.Background())
	if err != nil {
		return err
	}
	u, err := o.DoUpdate(client.ScheduleUpdateInput{Description: *d})
	if err != nil {
		return err
	}
	c := h.s.created[h.id]
	c.Spec, c.Action = *u.Schedule.Spec, u.Schedule.Action
	h.s.created[h.id] = c
	return nil
}

// TestScheduleDrillLifecycle: create makes an unattended drill; describe,
// pause, unpause, trigger and update act on it; an unknown ID is exit 6.
func TestScheduleDrillLifecycle(t *testing.T) {
	ta := newTestApp(newFake(), map[string]string{"USER": "ops"})
	s := ta.fake.schedules
	require.Equal(t, exitcode.OK, ta.run("schedule", "create", "--plan", demoPlan, "--every", "168h"), ta.errOut.String())
	act := s.created["lifeboat-demo-drill"].Action.(*client.ScheduleWorkflowAction)
	in := act.Args[0].(*workflows.RunInput)
	assert.True(t, in.Unattended, "a drill needs no human")
	assert.Equal(t, "drill", s.created["lifeboat-demo-drill"].Memo[memoKind])
	assert.Contains(t, ta.out.String(), "Scheduled a drill (unattended test failover) of plan demo every 168h")

	require.Equal(t, exitcode.OK, ta.run("schedule", "describe", "lifeboat-demo-drill", "--ui-url", "http://ui:8233"), ta.errOut.String())
	golden(t, "schedule-describe.txt", ta.out.String())

	require.Equal(t, exitcode.OK, ta.run("schedule", "pause", "lifeboat-demo-drill", "--note", "array maintenance"))
	assert.True(t, s.created["lifeboat-demo-drill"].Paused)
	require.Equal(t, exitcode.OK, ta.run("schedule", "describe", "lifeboat-demo-drill"))
	assert.Contains(t, ta.out.String(), "Paused     yes\nNote       array maintenance\n")
	require.Equal(t, exitcode.OK, ta.run("schedule", "unpause", "lifeboat-demo-drill"))
	assert.False(t, s.created["lifeboat-demo-drill"].Paused)
	assert.Equal(t, "unpaused with lifeboat by ops", s.created["lifeboat-demo-drill"].Note)

	require.Equal(t, exitcode.OK, ta.run("schedule", "trigger", "lifeboat-demo-drill"))
	assert.Equal(t, []string{"lifeboat-demo-drill"}, s.triggered)
	assert.Contains(t, ta.out.String(), "Triggered schedule lifeboat-demo-drill")
	s.running = map[string]string{"lifeboat-demo-drill": "lifeboat-demo-test-failover-x"}
	require.Equal(t, exitcode.OK, ta.run("schedule", "trigger", "lifeboat-demo-drill"))
	assert.Contains(t, ta.out.String(), "already runs lifeboat-demo-test-failover-x, so the triggered run is skipped")

	require.Equal(t, exitcode.OK, ta.run("schedule", "update", "lifeboat-demo-drill", "--cron", "0 3 * * 6", "--plan", demoPlan), ta.errOut.String())
	o := s.created["lifeboat-demo-drill"]
	assert.Equal(t, []string{"0 3 * * 6"}, o.Spec.CronExpressions)
	assert.Empty(t, o.Spec.Intervals)
	in = o.Action.(*client.ScheduleWorkflowAction).Args[0].(*workflows.RunInput)
	assert.True(t, in.Unattended)
	assert.Equal(t, "schedule lifeboat-demo-drill (set up by ops)", in.RequestedBy, "kept across an update")
	assert.Equal(t, exitcode.Usage, ta.run("schedule", "update", "lifeboat-demo-drill"))

	for _, verb := range []string{"describe", "pause", "unpause", "trigger"} {
		assert.Equal(t, exitcode.NotFound, ta.run("schedule", verb, "nope"), verb)
		assert.Contains(t, ta.errOut.String(), "no schedule nope")
	}
	assert.Equal(t, exitcode.Usage, ta.run("schedule", "describe"))

	// JSON describe, for scripts.
	require.Equal(t, exitcode.OK, ta.run("--output", "json", "schedule", "describe", "lifeboat-demo-drill"))
	var got map[string]any
	require.NoError(t, json.Unmarshal(ta.out.Bytes(), &got))
	assert.Equal(t, "demo", got["plan"])
	assert.Equal(t, true, got["unattended"])
}

// TestScheduleReadiness: --readiness schedules the readiness check.
func TestScheduleReadiness(t *testing.T) {
	ta := newTestApp(newFake(), map[string]string{"USER": "ops"})
	require.Equal(t, exitcode.OK, ta.run("schedule", "create", "--plan", demoPlan, "--every", "24h", "--readiness"), ta.errOut.String())
	o, ok := ta.fake.schedules.created["lifeboat-demo-readiness"]
	require.True(t, ok)
	act := o.Action.(*client.ScheduleWorkflowAction)
	assert.Equal(t, workflows.ReadinessWorkflowName, act.Workflow)
	assert.Equal(t, "lifeboat-demo-readiness", act.ID)
	assert.Equal(t, "demo", act.Args[0].(*workflows.ReadinessInput).Plan.Name)
	require.Equal(t, exitcode.OK, ta.run("schedule", "describe", "lifeboat-demo-readiness"))
	assert.Contains(t, ta.out.String(), "Runs       readiness check: changes nothing")
}
