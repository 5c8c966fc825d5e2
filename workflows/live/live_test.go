package live

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

func TestMergeOnlyOverlaysWhatChildrenHold(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	p := &workflows.Progress{Phase: workflows.PhaseStart, StartedAt: t0, UpdatedAt: t0.Add(time.Minute), VMs: []workflows.ObjectState{
		{UUID: "a", Name: "a", State: workflows.StateStarting},
		{UUID: "b", Name: "b", State: workflows.StateStarting},
		{UUID: "c", Name: "c", State: workflows.StateRunning}, // the parent already recorded it
		{UUID: "d", Name: "d", State: workflows.StateStarting},
	}}
	started := t0.Add(2 * time.Minute)
	answers := []Answer{{Start: &workflows.StartVMsProgress{VMs: []workflows.VMStartProgress{
		{VMStart: workflows.VMStart{UUID: "a", PowerState: "Running", StartedAt: started}, State: workflows.StateRunning},
		{VMStart: workflows.VMStart{UUID: "b"}, State: workflows.StateRecovered},
		{VMStart: workflows.VMStart{UUID: "c"}, State: workflows.StateRecovered},
		{VMStart: workflows.VMStart{UUID: "x"}, State: workflows.StateStarting}, // unknown to the parent
	}}}, {}}
	got := Merge(p, answers)
	states := map[string]string{}
	for _, vm := range got.VMs {
		states[vm.UUID] = vm.State
	}
	assert.Equal(t, map[string]string{"a": "running", "b": "recovered", "c": "running", "d": "starting"}, states)
	assert.Equal(t, started, *got.VMs[0].StartedAt)
	assert.Equal(t, 2*time.Minute, got.VMs[0].RTO)
	assert.Equal(t, started, got.UpdatedAt)
	assert.Equal(t, workflows.StateStarting, p.VMs[0].State, "the parent's progress is not modified")
	assert.Nil(t, p.VMs[0].StartedAt)
}

// fakeClient answers one start child's progress query and describes it
// with a pending StartBatch activity carrying beat as its heartbeat.
type fakeClient struct {
	answer workflows.StartVMsProgress
	beat   *activities.StartProgress
}

func (f fakeClient) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	d := &workflowservice.DescribeWorkflowExecutionResponse{}
	if f.beat != nil {
		details, err := converter.GetDefaultDataConverter().ToPayloads(*f.beat)
		if err != nil {
			return nil, err
		}
		d.PendingActivities = []*workflowpb.PendingActivityInfo{{
			ActivityType:     &commonpb.ActivityType{Name: startBatchActivity},
			HeartbeatDetails: details,
		}}
	}
	return d, nil
}

func (f fakeClient) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	p, err := converter.GetDefaultDataConverter().ToPayloads(f.answer)
	if err != nil {
		return nil, err
	}
	return encoded{p}, nil
}

type encoded struct{ p *commonpb.Payloads }

func (e encoded) HasValue() bool { return e.p != nil }
func (e encoded) Get(v any) error {
	return converter.GetDefaultDataConverter().FromPayloads(e.p, v)
}

// A start child whose one activity runs every order shows its VMs as the
// activity's heartbeat has them: done (running, failed, skipped), starting
// (a task in flight) or waiting for their order (recovered).
func TestQueryRefinesAStartChildFromItsActivityHeartbeat(t *testing.T) {
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	starting := func(uuid string) workflows.VMStartProgress {
		return workflows.VMStartProgress{VMStart: workflows.VMStart{UUID: uuid}, Name: uuid, State: workflows.StateStarting, StartingAt: &at}
	}
	answer := workflows.StartVMsProgress{InActivity: true, VMs: []workflows.VMStartProgress{
		starting("db"), starting("app"), starting("web"), starting("cart"), starting("batch-1"),
	}}
	beat := &activities.StartProgress{
		Tasks: map[string]string{"app": "OpaqueRef:t1"},
		Done: map[string]activities.StartedVM{
			"db":   {UUID: "db", PowerState: "Running", StartedAt: at.Add(time.Minute)},
			"web":  {UUID: "web", Error: "VM 'web' cannot start.", Code: "HOST_NOT_ENOUGH_FREE_MEMORY"},
			"cart": {UUID: "cart", Skipped: true, Error: "not started because VM 'web' of an earlier order failed to start"},
		},
	}
	children := []*workflowpb.PendingChildExecutionInfo{{WorkflowId: "run/start/x", RunId: "r", WorkflowTypeName: workflows.StartVMsWorkflowName}}
	states := func(a []Answer) map[string]string {
		out := map[string]string{}
		for _, v := range a[0].Start.VMs {
			out[v.UUID] = v.State
		}
		return out
	}

	got := Query(context.Background(), fakeClient{answer: answer, beat: beat}, children)
	assert.Equal(t, map[string]string{"db": "running", "app": "starting", "web": "failed", "cart": "skipped", "batch-1": "recovered"}, states(got))
	assert.Equal(t, at.Add(time.Minute), got[0].Start.VMs[0].StartedAt)
	assert.Nil(t, got[0].Start.VMs[4].StartingAt, "a VM waiting for its order has not begun starting")

	// Before the activity's first heartbeat reaches the server, the child's own answer stands.
	got = Query(context.Background(), fakeClient{answer: answer}, children)
	for _, s := range states(got) {
		assert.Equal(t, workflows.StateStarting, s)
	}
}
