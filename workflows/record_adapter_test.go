//go:build record

package workflows

// The histories of the storage adapter paths (teststorage.go): a test
// failover on an adapter's snapshot and a failover whose storage-ready gate
// the adapter satisfies. Recorded apart from TestRecordHistories so that
// recording them rewrites no other history:
//
//	go test -tags record -run TestRecordAdapterHistories ./workflows/

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

func (fakeActivities) SnapshotStorage(_ context.Context, in *activities.SnapshotStorageInput) (*activities.SnapshotStorageResult, error) {
	return &activities.SnapshotStorageResult{Snapshot: in.Snapshot, Created: true, DeviceConfig: map[string]string{"SCSIid": "36001-snap"}}, nil
}

func (fakeActivities) DeleteSnapshot(context.Context, *activities.DeleteSnapshotInput) (*activities.DeleteSnapshotResult, error) {
	return &activities.DeleteSnapshotResult{Deleted: true}, nil
}

func (fakeActivities) PromoteStorage(_ context.Context, in *activities.PromoteStorageInput) (*activities.PromoteStorageResult, error) {
	return &activities.PromoteStorageResult{Mirror: "m-" + in.Storage.Name, State: "split"}, nil
}

func TestRecordAdapterHistories(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := recordingStack(ctx, t)

	test := fixturePlan()
	test.Storage[0].Adapter = "array"
	test.TestStorage = []plan.TestStorage{{Storage: "lun1", Snapshot: plan.SnapshotByAdapter}}
	failover := fixturePlan()
	failover.Storage[0].Adapter = "array"
	failover.Approvals.StorageReady.Method = plan.MethodAdapter
	for _, r := range []struct {
		mode     plan.Mode
		plan     plan.Plan
		workflow string
		gate     string
		file     string
	}{
		{plan.ModeTestFailover, test, TestFailoverWorkflowName, "", "test-failover-adapter"},
		{plan.ModeFailover, failover, FailoverWorkflowName, plan.GateRecover, "failover-adapter"},
	} {
		id := WorkflowID(r.plan.Name, r.mode)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: TaskQueue}, r.workflow,
			&RunInput{Plan: r.plan, RequestedBy: "recorder"})
		require.NoError(t, err)
		if r.gate != "" {
			waitForGate(ctx, t, c, id, r.gate)
			require.NoError(t, c.SignalWorkflow(ctx, id, "", SignalApprove, Approval{Gate: r.gate, By: "alice"}))
		}
		var rep Report
		require.NoError(t, run.Get(ctx, &rep), r.mode)
		require.Equal(t, OutcomeSucceeded, rep.Outcome)
		writeHistory(ctx, t, c, id, run.GetRunID(), filepath.Join("testdata", r.file+".json"))
	}
}
