package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// drillPlan is the fixture plan whose storage has an adapter and whose test
// failover runs on a snapshot the adapter makes.
func drillPlan() plan.Plan {
	p := fixturePlan()
	p.Storage[0].Adapter = "array"
	p.Storage[0].DeviceConfig = map[string]string{"target": "dr-array", "targetIQN": "iqn.x", "SCSIid": "36001", "chapuser": "u", "chappassword": "${secret:chap}"}
	p.TestStorage = []plan.TestStorage{{Storage: "lun1", Snapshot: plan.SnapshotByAdapter}}
	return p
}

// The times the mock adapter says its data is as of: a snapshot's, and a
// promoted mirror's last copy.
var (
	snapDataAsOf = time.Date(2026, 12, 1, 8, 59, 30, 0, time.UTC)
	lastCopy     = time.Date(2026, 12, 1, 8, 58, 0, 0, time.UTC)
)

// mockAdapter records the adapter activities; snapshot answers with LUN 36001-snap
// unless snapErr is set.
func (e *env) mockAdapter(snapErr error) (probed *[]map[string]string) {
	c := e.calls
	probed = new([]map[string]string)
	e.OnActivity(acts.Probe, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.ProbeInput) (*activities.ProbeResult, error) {
		c.add("Probe " + in.Site)
		*probed = append(*probed, in.Storage[0].DeviceConfig)
		return &activities.ProbeResult{SRs: []activities.ProbedSR{{StorageIndex: 0, StorageName: "lun1", UUID: "sr-1", NameLabel: "DR SR 1", PoolMetadataDetected: true}}}, nil
	})
	e.OnActivity(acts.SnapshotStorage, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.SnapshotStorageInput) (*activities.SnapshotStorageResult, error) {
		c.add("SnapshotStorage " + in.Site + " " + in.Storage.Name + " " + in.Snapshot)
		if snapErr != nil {
			return nil, snapErr
		}
		return &activities.SnapshotStorageResult{Snapshot: in.Snapshot, Created: true, DeviceConfig: map[string]string{"SCSIid": "36001-snap", "target": "dr-array", "targetIQN": "iqn.x"},
			DataAsOf: snapDataAsOf}, nil
	})
	e.OnActivity(acts.DeleteSnapshot, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.DeleteSnapshotInput) (*activities.DeleteSnapshotResult, error) {
		c.add("DeleteSnapshot " + in.Site + " " + in.Snapshot)
		return &activities.DeleteSnapshotResult{Deleted: snapErr == nil}, nil
	})
	e.OnActivity(acts.PromoteStorage, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.PromoteStorageInput) (*activities.PromoteStorageResult, error) {
		c.add("PromoteStorage " + in.Site + " " + in.Storage.Name)
		return &activities.PromoteStorageResult{Mirror: "m-" + in.Storage.Name, State: "split", LastCopy: lastCopy}, nil
	})
	return probed
}

func TestTestFailoverOnAnAdapterSnapshot(t *testing.T) {
	e := newEnv(t)
	probed := e.mockAdapter(nil)
	e.run(plan.ModeTestFailover, drillPlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()

	snap := activities.AdapterSnapshotName("default-test-workflow-id", "default-test-run-id", 0)
	assert.Equal(t, []string{"SnapshotStorage", "Probe", "Inventory", "Introduce", "Scan", "Precheck", "Recover", "StartVM", "Verify", "CleanupTest", "DestroyDRTasks", "DeleteSnapshot", "Inventory"}, e.calls.steps())
	assert.Equal(t, []string{"SnapshotStorage dc2 lun1 " + snap}, e.calls.named("SnapshotStorage"))
	assert.Equal(t, []string{"DeleteSnapshot dc2 " + snap}, e.calls.named("DeleteSnapshot"))
	assert.Empty(t, e.calls.named("PromoteStorage"), "a test never promotes")
	require.Len(t, *probed, 1)
	assert.Equal(t, map[string]string{"target": "dr-array", "targetIQN": "iqn.x", "SCSIid": "36001-snap", "chapuser": "u", "chappassword": "${secret:chap}"}, (*probed)[0],
		"the snapshot on the storage's array, with its CHAP settings")
	assert.Equal(t, OutcomeSucceeded, rep.Outcome)
	assert.Empty(t, rep.Leftovers)
	msgs := strings.Join(e.timelineMessages(rep), "\n")
	assert.Contains(t, msgs, "Storage adapter array made snapshot "+snap+" of storage lun1: LUN 36001-snap; the mirror keeps replicating.")
	assert.Contains(t, msgs, "Storage adapter array deleted snapshot "+snap+" of storage lun1.")
	require.NotNil(t, rep.DataAsOf, "the report's RPO indication: the snapshot's data")
	assert.Equal(t, snapDataAsOf, rep.DataAsOf.UTC())
}

// A snapshot the adapter may have made before it timed out is deleted at
// cleanup: the run fails with the adapter's sentence and leaves nothing.
func TestAdapterTimeoutAtSnapshotLeavesNothing(t *testing.T) {
	e := newEnv(t)
	e.mockAdapter(temporal.NewNonRetryableApplicationError(`For storage "lun1", storage adapter array did not answer snapshot within 30s and was stopped.`, "LIFEBOAT_ADAPTER_TIMEOUT", nil))
	e.run(plan.ModeTestFailover, drillPlan())
	_, msg, rep := e.failure()
	assert.Equal(t, `Making the test snapshot of storage lun1 at site dc2 failed: For storage "lun1", storage adapter array did not answer snapshot within 30s and was stopped; check that the storage adapter's array answers (or raise the adapter's timeout in the worker configuration), then start the run again.`, msg)
	assert.Equal(t, []string{"SnapshotStorage", "DeleteSnapshot"}, e.calls.steps(), "nothing else ran; the snapshot it asked for is deleted")
	assert.Empty(t, rep.Leftovers)
}

func TestTestFailoverOnAListedSnapshot(t *testing.T) {
	e := newEnv(t)
	probed := e.mockAdapter(nil)
	p := fixturePlan()
	p.TestStorage = []plan.TestStorage{{Storage: "lun1", DeviceConfig: map[string]string{"SCSIid": "36009"}}}
	e.run(plan.ModeTestFailover, p)
	require.NoError(t, e.GetWorkflowError())
	assert.Empty(t, e.calls.named("SnapshotStorage"))
	assert.Empty(t, e.calls.named("DeleteSnapshot"), "a listed snapshot is not lifeboat's to delete")
	assert.Equal(t, "36009", (*probed)[0]["SCSIid"])
	assert.Nil(t, e.report().DataAsOf, "a listed snapshot's age is not known")
}

func TestStorageReadyByAdapter(t *testing.T) {
	for _, tc := range []struct {
		method  plan.GateMethod
		approve bool
		by      []string
	}{
		{plan.MethodAdapter, false, []string{DecidedByAdapter}},
		{plan.MethodAdapterThenApproval, true, []string{"alice"}},
	} {
		t.Run(string(tc.method), func(t *testing.T) {
			e := newEnv(t)
			e.mockAdapter(nil)
			p := fixturePlan()
			p.Storage[0].Adapter = "array"
			p.Approvals.StorageReady.Method = tc.method
			if tc.approve {
				e.approve(time.Minute, plan.GateStorageReady, "alice")
			}
			e.approve(2*time.Minute, plan.GateRecover, "bob")
			e.run(plan.ModeFailover, p)
			require.NoError(t, e.GetWorkflowError())
			rep := e.report()
			assert.Equal(t, []string{"PromoteStorage dc2 lun1"}, e.calls.named("PromoteStorage"))
			assert.Equal(t, "PromoteStorage", e.calls.steps()[0])
			g := rep.Gates[0]
			assert.Equal(t, plan.GateStorageReady, g.Gate)
			assert.Equal(t, GateApproved, g.State)
			var by []string
			for _, d := range g.Decisions {
				by = append(by, d.By)
			}
			assert.Equal(t, tc.by, by)
			assert.Contains(t, strings.Join(e.timelineMessages(rep), "\n"), "Storage adapter array promoted storage lun1: mirror m-lun1 is split.")
			require.NotNil(t, rep.DataAsOf, "the report's RPO indication: the promoted mirror's last copy")
			assert.Equal(t, lastCopy, rep.DataAsOf.UTC())
		})
	}
}

// A worker with no adapter for the site made nothing: the run fails with
// the configuration's next step and asks no adapter to delete anything.
func TestNoAdapterAtTheSiteDeletesNothing(t *testing.T) {
	e := newEnv(t)
	e.mockAdapter(temporal.NewNonRetryableApplicationError(`Storage "lun1" names adapter array, but the worker configuration gives site dc2 no adapter.`, "LIFEBOAT_NO_ADAPTER", nil))
	e.run(plan.ModeTestFailover, drillPlan())
	_, msg, rep := e.failure()
	assert.Equal(t, `Making the test snapshot of storage lun1 at site dc2 failed: Storage "lun1" names adapter array, but the worker configuration gives site dc2 no adapter; define the adapter under adapters: and name it in the site's adapter: in the worker configuration (or correct the plan's adapter:), restart the worker, then start the run again.`, msg)
	assert.Equal(t, []string{"SnapshotStorage"}, e.calls.steps())
	assert.Empty(t, rep.Leftovers)
}

func TestOldest(t *testing.T) {
	a, b := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   []time.Time
		want time.Time
	}{
		{nil, time.Time{}},
		{[]time.Time{a}, a},
		{[]time.Time{a, b}, b},
		{[]time.Time{b, a}, b},
		{[]time.Time{a, {}}, time.Time{}}, // one storage's age not known: the run's is not
	} {
		assert.Equal(t, tc.want, oldest(tc.in), "%v", tc.in)
	}
}

// A failover whose storage-ready gate a person approved asks the adapters,
// after the gate, when each LUN last received data: the report's data as
// of. An adapter that cannot say leaves it not known; the run goes on.
func TestMirrorAgesAfterAnApprovedStorageGate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statusErr error
		event     string
	}{
		{"answered", nil, "Storage adapter array: mirror m-lun1 of storage lun1 is split; its LUN last received data at 2026-12-01T08:58:00Z."},
		{"refused", temporal.NewApplicationError(`For storage "lun1", storage adapter array could not status: the array does not answer (UNAVAILABLE).`, "LIFEBOAT_ADAPTER"),
			`Storage lun1: the age of its data is not known (For storage "lun1", storage adapter array could not status: the array does not answer (UNAVAILABLE)).`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.mockAdapter(nil)
			c := e.calls
			e.OnActivity(acts.StorageStatus, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.StorageStatusInput) (*activities.MirrorStatus, error) {
				c.add("StorageStatus " + in.Site + " " + in.Storage.Name)
				if tc.statusErr != nil {
					return nil, tc.statusErr
				}
				return &activities.MirrorStatus{Mirror: "m-" + in.Storage.Name, State: "split", LastCopy: lastCopy}, nil
			})
			p := fixturePlan()
			p.Storage[0].Adapter = "array"
			e.approve(time.Minute, plan.GateStorageReady, "alice")
			e.approve(2*time.Minute, plan.GateRecover, "bob")
			e.run(plan.ModeFailover, p)
			require.NoError(t, e.GetWorkflowError())
			rep := e.report()
			assert.Equal(t, OutcomeSucceeded, rep.Outcome)
			assert.Equal(t, []string{"StorageStatus dc2 lun1"}, e.calls.named("StorageStatus")[:1])
			assert.Empty(t, e.calls.named("PromoteStorage"), "a person promoted the LUNs")
			msgs := strings.Join(e.timelineMessages(rep), "\n")
			approved, answered := strings.Index(msgs, "Gate storage-ready approved by alice"), strings.Index(msgs, tc.event)
			require.NotEqual(t, -1, answered, "%s", msgs)
			assert.Less(t, approved, answered, "asked once the LUNs are writable")
			if tc.statusErr != nil {
				assert.Nil(t, rep.DataAsOf)
				return
			}
			require.NotNil(t, rep.DataAsOf)
			assert.Equal(t, lastCopy, rep.DataAsOf.UTC())
		})
	}
}
