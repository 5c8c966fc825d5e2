//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// jsonPayloads is what the Temporal Web UI sends for a JSON input it was
// given as text: one json/plain payload, with no help from the Go SDK.
func jsonPayloads(t *testing.T, text string) *commonpb.Payloads {
	t.Helper()
	require.True(t, json.Valid([]byte(text)), "valid JSON: %s", text)
	return &commonpb.Payloads{Payloads: []*commonpb.Payload{{
		Metadata: map[string][]byte{"encoding": []byte("json/plain")},
		Data:     []byte(text),
	}}}
}

func requestID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// TestRunDrivenFromTheWebUI starts a test failover and approves its cleanup
// gate the way an operator does in the Temporal Web UI ("Start workflow" with
// the plan as JSON, "Send a signal" with the approval as JSON): raw json/plain
// payloads through the workflow service, the plan converted from the YAML file
// by a generic YAML-to-JSON step (durations stay strings like "30m").
func TestRunDrivenFromTheWebUI(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	e := newWorkerEnv(t, w)
	e.start()
	w.splitMirrors(t)

	raw, err := os.ReadFile("../../dev/plans/demo.yaml")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	doc["name"] = "e2e-ui"
	planJSON, err := json.Marshal(map[string]any{"plan": doc, "requested_by": "ui-user"})
	require.NoError(t, err)

	ctx := context.Background()
	id := workflows.WorkflowID("e2e-ui", plan.ModeTestFailover)
	started, err := srv.client.WorkflowService().StartWorkflowExecution(ctx, &workflowservice.StartWorkflowExecutionRequest{
		Namespace:    "default",
		WorkflowId:   id,
		WorkflowType: &commonpb.WorkflowType{Name: workflows.TestFailoverWorkflowName},
		TaskQueue:    &taskqueuepb.TaskQueue{Name: e.taskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		Input:        jsonPayloads(t, string(planJSON)),
		Identity:     "web-ui",
		RequestId:    requestID(t),
	})
	require.NoError(t, err, "start from raw JSON as the Web UI does")
	r := &run{t: t, id: id, runID: started.GetRunId(), mode: plan.ModeTestFailover}
	t.Cleanup(r.terminateIfRunning)

	gate := r.waitGate(plan.GateCleanup)
	assert.Equal(t, "e2e-ui", gate.Plan)
	_, err = srv.client.WorkflowService().SignalWorkflowExecution(ctx, &workflowservice.SignalWorkflowExecutionRequest{
		Namespace:         "default",
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: r.runID},
		SignalName:        workflows.SignalApprove,
		Input:             jsonPayloads(t, `{"gate":"cleanup","by":"alice","comment":"approved in the Web UI"}`),
		Identity:          "web-ui",
		RequestId:         requestID(t),
	})
	require.NoError(t, err, "signal from raw JSON as the Web UI does")

	rep := r.succeeded()
	assert.Equal(t, "ui-user", rep.RequestedBy)
	var cleanup *workflows.GateStatus
	for i := range rep.Gates {
		if rep.Gates[i].Gate == plan.GateCleanup {
			cleanup = &rep.Gates[i]
		}
	}
	require.NotNil(t, cleanup, "the report records the cleanup gate")
	require.Len(t, cleanup.Decisions, 1)
	assert.Equal(t, "alice", cleanup.Decisions[0].By)
	assert.Equal(t, "approved in the Web UI", cleanup.Decisions[0].Comment)

	// The run is listed by its search attributes, as the UI filters it
	// (visibility is eventually consistent: poll, bounded).
	query := `LifeboatPlan = "e2e-ui" AND LifeboatMode = "test-failover" AND LifeboatPhase = "done"`
	found := 0
	eventually(t, gateWithin, "the run listed by plan, mode and phase", func() bool {
		resp, err := srv.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: query})
		if err != nil {
			return false
		}
		found = len(resp.GetExecutions())
		return found == 1
	}, func() string { return fmt.Sprintf("%d runs match %s", found, query) })
}
