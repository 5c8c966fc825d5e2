//go:build record

package workflows

// The recorder runs each workflow on a Temporal dev server with fake
// activities and writes the histories that replay_test.go replays:
//
//	go test -tags record -run TestRecordHistories ./workflows/
//
// It writes the histories of the current version (recordedVersion). Keep the
// earlier versions' files: replaying them proves runs begun by an earlier
// worker still replay. After a deliberate change of the workflows' commands
// (behind workflow.GetVersion), bump recordedVersion, record, and add the new
// files to replay_test.go.

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// fakeActivities answers like the fixture's pool, deterministically; its
// methods carry the real activities' names.
type fakeActivities struct{}

func (fakeActivities) Probe(context.Context, *activities.ProbeInput) (*activities.ProbeResult, error) {
	return &activities.ProbeResult{SRs: []activities.ProbedSR{
		{StorageIndex: 0, StorageName: "lun1", UUID: "sr-1", NameLabel: "DR SR 1", PoolMetadataDetected: true},
		{StorageIndex: 0, StorageName: "lun1", UUID: "sr-2", NameLabel: "DR SR 2", PoolMetadataDetected: true, AlreadyInPool: true},
	}}, nil
}

func (fakeActivities) Introduce(context.Context, *activities.IntroduceInput) (*activities.IntroduceResult, error) {
	return &activities.IntroduceResult{
		DRTasks:     []activities.DRTask{{UUID: "drtask-1", StorageName: "lun1", IntroducedSRs: []activities.SRInfo{{UUID: "sr-1", Name: "DR SR 1"}}}},
		AttachedSRs: []activities.SRInfo{{UUID: "sr-1", Name: "DR SR 1"}},
	}, nil
}

func (fakeActivities) Scan(context.Context, *activities.ScanInput) (*activities.ScanResult, error) {
	return fixtureScan(), nil
}

func (fakeActivities) Precheck(context.Context, *activities.PrecheckInput) (*activities.PrecheckResult, error) {
	return &activities.PrecheckResult{Checks: []activities.Check{
		{Check: "storage", Object: "vApp 'db-app'", Severity: SeverityOK, Message: "OK"},
		{Check: "existing", Object: "VM 'misc-1'", Severity: SeverityWarning, Message: "Already exists on pool dr. It will be replaced."},
	}}, nil
}

func (fakeActivities) Recover(_ context.Context, in *activities.RecoverInput) (*activities.RecoverResult, error) {
	res := &activities.RecoverResult{}
	for _, u := range in.Units {
		res.Units = append(res.Units, activities.RecoveredUnit{UUID: u.UUID, Kind: u.Kind, RecoveredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	}
	return res, nil
}

func (fakeActivities) StartVM(_ context.Context, in *activities.StartVMInput) (*activities.StartVMResult, error) {
	state := "Running"
	if in.Paused {
		state = "Paused"
	}
	return &activities.StartVMResult{PowerState: state, StartedAt: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)}, nil
}

func (f fakeActivities) StartBatch(ctx context.Context, in *activities.StartBatchInput) (*activities.StartBatchResult, error) {
	out := &activities.StartBatchResult{}
	for _, ch := range in.StartChains() {
		for _, step := range ch.Steps {
			for _, vm := range step {
				r, _ := f.StartVM(ctx, &activities.StartVMInput{Site: in.Site, VMUUID: vm.UUID, Paused: in.Paused})
				out.VMs = append(out.VMs, activities.StartedVM{UUID: vm.UUID, PowerState: r.PowerState, StartedAt: r.StartedAt})
			}
		}
	}
	return out, nil
}

func (fakeActivities) Verify(context.Context, *activities.VerifyInput) (*activities.VerifyResult, error) {
	return &activities.VerifyResult{}, nil
}

func (fakeActivities) Reprotect(_ context.Context, in *activities.ReprotectInput) (*activities.ReprotectResult, error) {
	return &activities.ReprotectResult{Enabled: in.SRUUIDs}, nil
}

func (fakeActivities) DestroyDRTasks(context.Context, *activities.DestroyDRTasksInput) error {
	return nil
}

func (fakeActivities) CleanupTest(_ context.Context, in *activities.CleanupInput) (*activities.CleanupResult, error) {
	return &activities.CleanupResult{Removed: append(append(in.VAppUUIDs, in.VMUUIDs...), in.SRUUIDs...)}, nil
}

func (fakeActivities) Inventory(context.Context, *activities.InventoryInput) (*activities.Inventory, error) {
	return fixtureBefore, nil
}

func TestRecordHistories(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := recordingStack(ctx, t)

	base := fixturePlan()
	// Fewer lanes than units: recovery by even lanes (recover-even-lanes).
	base.Concurrency.Recover = 2
	// More VMs than one start child holds (4 x batch_size): each group started
	// as soon as its units are recovered (recover-start-overlap).
	base.Concurrency.BatchSize = 1
	failover := base
	failover.Approvals.Recover = plan.GatePolicy{Approvers: []string{"alice", "bob"}, Quorum: 2}
	test := base
	test.Approvals.Recover.Required = ptr(true)
	test.Test.Hold = plan.Duration(time.Hour)

	runs := []struct {
		mode      plan.Mode
		plan      plan.Plan
		workflow  string
		approvals []Approval
	}{
		{plan.ModeFailover, failover, FailoverWorkflowName, []Approval{
			{Gate: plan.GateStorageReady, By: "alice"},
			{Gate: plan.GateRecover, By: "mallory"}, // not an approver: noted
			{Gate: plan.GateRecover, By: "alice"},
			{Gate: plan.GateRecover, By: "bob"},
		}},
		{plan.ModeFailback, base, FailbackWorkflowName, []Approval{
			{Gate: plan.GateStorageReady, By: "alice"},
			{Gate: plan.GateRecover, By: "alice"},
		}},
		{plan.ModeTestFailover, test, TestFailoverWorkflowName, []Approval{
			{Gate: plan.GateRecover, By: "alice"},
			{Gate: plan.GateCleanup, By: "inspector"},
		}},
	}
	for _, r := range runs {
		id := WorkflowID(r.plan.Name, r.mode)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: TaskQueue}, r.workflow,
			&RunInput{Plan: r.plan, RequestedBy: "recorder"})
		require.NoError(t, err)
		for _, a := range r.approvals {
			waitForGate(ctx, t, c, id, a.Gate)
			require.NoError(t, c.SignalWorkflow(ctx, id, "", SignalApprove, a))
		}
		var rep Report
		require.NoError(t, run.Get(ctx, &rep), r.mode)
		require.Equal(t, OutcomeSucceeded, rep.Outcome)
		writeHistory(ctx, t, c, id, run.GetRunID(), filepath.Join("testdata", string(r.mode)+recordedVersion+".json"))
	}
	// One child of each kind, from the failover.
	writeHistory(ctx, t, c, WorkflowID("p1", plan.ModeFailover)+"/recover/group-0-1", "", filepath.Join("testdata", "recover-units"+recordedVersion+".json"))
	writeHistory(ctx, t, c, WorkflowID("p1", plan.ModeFailover)+"/start/group-0-vapps-1", "", filepath.Join("testdata", "start-vms"+recordedVersion+".json"))
}

// recordedVersion names the files of the histories recorded now: "" was the
// first version, "-v2" has shared start slots, start batches and balanced
// recovery (the GetVersion markers of workflows/start.go, recover.go and children.go),
// "-v3" one StartBatch activity per start child (start-chains), "-v4" the
// scan's later pages asked for together, one recovery batch per lane
// (scan-pages-together, recover-lanes) and the run's notifications, "-v5"
// recovery children of several units at once on fewer lanes than units
// (recover-even-lanes), "-v6" the start phase of a small plan in one child,
// its groups in turn (start-staged), "-v7" each group started as soon as its
// units are recovered, while later groups are recovered (recover-start-overlap),
// "-v8" a small plan's lanes in one recovery child (recover-one-child).
const recordedVersion = "-v9"

// waitForGate polls the progress query until gate waits.
func waitForGate(ctx context.Context, t *testing.T, c client.Client, id, gate string) {
	for ctx.Err() == nil {
		v, err := c.QueryWorkflow(ctx, id, "", QueryProgress)
		if err == nil {
			var p Progress
			require.NoError(t, v.Get(&p))
			if p.WaitingGate != nil && p.WaitingGate.Gate == gate {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("gate %s of %s never waited", gate, id)
}

func writeHistory(ctx context.Context, t *testing.T, c client.Client, id, runID, path string) {
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, data, 0o644))
	t.Logf("%s: %d events", path, len(h.Events))
}

// recordingStack starts the pinned dev server and a worker with the fake
// activities, both stopped when the test ends, and returns the client.
func recordingStack(ctx context.Context, t *testing.T) client.Client {
	t.Helper()
	bin := os.Getenv("LIFEBOAT_TEMPORAL_BIN")
	if bin == "" {
		bin = "../bin/temporal"
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  bin,
		LogLevel:      "error",
		ClientOptions: &client.Options{HostPort: "", Namespace: "default"},
		ExtraArgs: []string{
			"--search-attribute", SearchAttrPlan + "=Keyword",
			"--search-attribute", SearchAttrMode + "=Keyword",
			"--search-attribute", SearchAttrPhase + "=Keyword",
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Stop()) })
	c := srv.Client()
	w := worker.New(c, TaskQueue, worker.Options{})
	Register(w)
	w.RegisterActivity(&fakeActivities{})
	w.RegisterActivity(notifier) // a nil Notifier: no webhook, nothing sent
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return c
}
