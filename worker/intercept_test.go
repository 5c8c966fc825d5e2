package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap/zapcore"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/metrics"
	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// A toy runbook with the real names: a Failover whose child recovers and
// starts VMs, each step logging. The interceptor must give every line the
// run's plan, mode and step, carry them into the child, and count the VMs.
func toyFailover(ctx workflow.Context, in *workflows.RunInput) error {
	workflow.GetLogger(ctx).Info("run begins")
	_ = workflow.UpsertTypedSearchAttributes(ctx, phaseKey.ValueSet(workflows.PhaseRecover))
	workflow.GetLogger(ctx).Info("recovering")
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: "lifeboat-demo-failover/recover/1"})
	return workflow.ExecuteChildWorkflow(cctx, workflows.RecoverUnitsWorkflowName).Get(ctx, nil)
}

func toyRecoverUnits(ctx workflow.Context) error {
	workflow.GetLogger(ctx).Info("child begins")
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	if err := workflow.ExecuteActivity(actx, "Recover", &activities.RecoverInput{Site: "dr"}).Get(ctx, nil); err != nil {
		return err
	}
	return workflow.ExecuteActivity(actx, "StartBatch", &activities.StartBatchInput{Site: "dr"}).Get(ctx, nil)
}

func toyRecover(ctx context.Context, in *activities.RecoverInput) (*activities.RecoverResult, error) {
	activity.GetLogger(ctx).Info("recovering units")
	return &activities.RecoverResult{Units: []activities.RecoveredUnit{
		{UUID: "vapp-1", VMUUIDs: []string{"a", "b", "c"}},
		{UUID: "vm-9", VMUUIDs: []string{"d"}, Already: true}, // an earlier attempt's: not counted
		{UUID: "vm-8", Error: "VM_REQUIRES_SR"},
	}}, nil
}

func toyStartBatch(ctx context.Context, in *activities.StartBatchInput) (*activities.StartBatchResult, error) {
	return &activities.StartBatchResult{VMs: []activities.StartedVM{{UUID: "a"}, {UUID: "b"}, {UUID: "c", Error: "no memory"}}}, nil
}

func TestInterceptorTagsEveryLineOfARun(t *testing.T) {
	var buf bytes.Buffer
	z, err := newLogger("json", "info", zapcore.AddSync(&buf))
	require.NoError(t, err)
	reg := newMetrics()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(newSDKLogger(z))
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{newRunInterceptor(reg)}})
	env.RegisterWorkflowWithOptions(toyFailover, workflow.RegisterOptions{Name: workflows.FailoverWorkflowName})
	env.RegisterWorkflowWithOptions(toyRecoverUnits, workflow.RegisterOptions{Name: workflows.RecoverUnitsWorkflowName})
	env.RegisterActivityWithOptions(toyRecover, activity.RegisterOptions{Name: "Recover"})
	env.RegisterActivityWithOptions(toyStartBatch, activity.RegisterOptions{Name: "StartBatch"})
	env.ExecuteWorkflow(workflows.FailoverWorkflowName, &workflows.RunInput{Plan: plan.Plan{Name: "demo"}})
	require.NoError(t, env.GetWorkflowError())

	lines := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines[m["msg"].(string)] = m
	}
	for msg, step := range map[string]string{
		"run begins":       workflows.PhaseStarting,
		"recovering":       workflows.PhaseRecover,
		"child begins":     workflows.RecoverUnitsWorkflowName,
		"recovering units": "Recover",
	} {
		l := lines[msg]
		require.NotNil(t, l, "line %q not logged:\n%s", msg, buf.String())
		assert.Equal(t, "demo", l["plan"], msg)
		assert.Equal(t, "failover", l["mode"], msg)
		assert.Equal(t, step, l["step"], msg)
	}
	// The SDK gives activity lines their workflow's IDs (and workflow lines
	// in a real worker, not in the test suite: the e2e test checks those).
	assert.Equal(t, "lifeboat-demo-failover/recover/1", lines["recovering units"]["workflow_id"])
	assert.NotEmpty(t, lines["recovering units"]["run_id"])

	expected := `
# HELP lifeboat_vms_recovered_total VMs recovered by this worker (an earlier attempt's not counted again), by mode and site.
# TYPE lifeboat_vms_recovered_total counter
lifeboat_vms_recovered_total{mode="failover",site="dr"} 3
# HELP lifeboat_vms_started_total VMs started (running or paused) by this worker, by mode and site.
# TYPE lifeboat_vms_started_total counter
lifeboat_vms_started_total{mode="failover",site="dr"} 2
`
	assert.NoError(t, testutil.GatherAndCompare(reg.Gatherer(), strings.NewReader(expected), metrics.VMsRecovered, metrics.VMsStarted))
	n, err := testutil.GatherAndCount(reg.Gatherer(), metrics.StepDuration)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "Recover and StartBatch timed")
}
