package workflows

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// The histories in testdata were recorded on a dev server by record_test.go
// (go test -tags record). Replaying them with the current code proves a
// change keeps the runs in flight replayable.

var quiet = log.NewStructuredLogger(slog.New(slog.DiscardHandler))

// recorded names each history and the workflow ID it was recorded under:
// child workflow IDs derive from it, and the SDK matches child commands by ID.
var recorded = []struct{ file, id string }{
	{"failover", WorkflowID("p1", plan.ModeFailover)},
	{"failback", WorkflowID("p1", plan.ModeFailback)},
	{"test-failover", WorkflowID("p1", plan.ModeTestFailover)},
	{"recover-units", WorkflowID("p1", plan.ModeFailover) + "/recover/vapp-vapp-db"},
	{"start-vms", WorkflowID("p1", plan.ModeFailover) + "/start/vapp-vapp-db"},
	// Shared start slots, start batches, balanced recovery (record_test.go).
	{"failover-v2", WorkflowID("p1", plan.ModeFailover)},
	{"failback-v2", WorkflowID("p1", plan.ModeFailback)},
	{"test-failover-v2", WorkflowID("p1", plan.ModeTestFailover)},
	{"recover-units-v2", WorkflowID("p1", plan.ModeFailover) + "/recover/vapp-vapp-db"},
	{"start-vms-v2", WorkflowID("p1", plan.ModeFailover) + "/start/group-0-vapps-1"},
	// One StartBatch per start child; later scan pages together, one
	// recovery batch per lane; recovery children of several units at once
	// (record_test.go's recordedVersion).
	{"failover-v3", WorkflowID("p1", plan.ModeFailover)},
	{"failback-v3", WorkflowID("p1", plan.ModeFailback)},
	{"test-failover-v3", WorkflowID("p1", plan.ModeTestFailover)},
	{"recover-units-v3", WorkflowID("p1", plan.ModeFailover) + "/recover/vapp-vapp-db"},
	{"start-vms-v3", WorkflowID("p1", plan.ModeFailover) + "/start/group-0-vapps-1"},
	{"failover-v4", WorkflowID("p1", plan.ModeFailover)},
	{"failback-v4", WorkflowID("p1", plan.ModeFailback)},
	{"test-failover-v4", WorkflowID("p1", plan.ModeTestFailover)},
	{"recover-units-v4", WorkflowID("p1", plan.ModeFailover) + "/recover/vapp-vapp-db"},
	{"start-vms-v4", WorkflowID("p1", plan.ModeFailover) + "/start/group-0-vapps-1"},
	{"failover-v5", WorkflowID("p1", plan.ModeFailover)},
	{"failback-v5", WorkflowID("p1", plan.ModeFailback)},
	{"test-failover-v5", WorkflowID("p1", plan.ModeTestFailover)},
	{"recover-units-v5", WorkflowID("p1", plan.ModeFailover) + "/recover/lane-1"},
	{"start-vms-v5", WorkflowID("p1", plan.ModeFailover) + "/start/group-0-vapps-1"},
	// The start phase of a small plan in one child (start-staged).
	{"failover-v6", WorkflowID("p1", plan.ModeFailover)},
	{"failback-v6", WorkflowID("p1", plan.ModeFailback)},
	{"test-failover-v6", WorkflowID("p1", plan.ModeTestFailover)},
	{"recover-units-v6", WorkflowID("p1", plan.ModeFailover) + "/recover/lane-1"},
	{"start-vms-v6", WorkflowID("p1", plan.ModeFailover) + "/start/groups"},
	// Each group started as soon as its units are recovered (recover-start-overlap).
	{"failover-v7", WorkflowID("p1", plan.ModeFailover)},
	{"failback-v7", WorkflowID("p1", plan.ModeFailback)},
	{"test-failover-v7", WorkflowID("p1", plan.ModeTestFailover)},
	{"recover-units-v7", WorkflowID("p1", plan.ModeFailover) + "/recover/group-0-1"},
	{"start-vms-v7", WorkflowID("p1", plan.ModeFailover) + "/start/group-0-vapps-1"},
	// A small plan's lanes in one recovery child (recover-one-child).
	{"failover-v8", WorkflowID("p1", plan.ModeFailover)},
	{"failback-v8", WorkflowID("p1", plan.ModeFailback)},
	{"test-failover-v8", WorkflowID("p1", plan.ModeTestFailover)},
	{"recover-units-v8", WorkflowID("p1", plan.ModeFailover) + "/recover/group-0-1"},
	{"start-vms-v8", WorkflowID("p1", plan.ModeFailover) + "/start/group-0-vapps-1"},
	// Precheck and verify chunks all at once (checks-all-chunks).
	{"failover-v9", WorkflowID("p1", plan.ModeFailover)},
	{"failback-v9", WorkflowID("p1", plan.ModeFailback)},
	{"test-failover-v9", WorkflowID("p1", plan.ModeTestFailover)},
	{"recover-units-v9", WorkflowID("p1", plan.ModeFailover) + "/recover/group-0-1"},
	{"start-vms-v9", WorkflowID("p1", plan.ModeFailover) + "/start/group-0-vapps-1"},
	// Storage adapters: test snapshots, storage-ready by adapter (record_adapter_test.go).
	{"test-failover-adapter", WorkflowID("p1", plan.ModeTestFailover)},
	{"failover-adapter", WorkflowID("p1", plan.ModeFailover)},
}

func replay(t *testing.T, r worker.WorkflowReplayer, file, id string) error {
	f, err := os.Open(filepath.Join("testdata", file+".json"))
	require.NoError(t, err)
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	require.NoError(t, err)
	return r.ReplayWorkflowHistoryWithOptions(quiet, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: id},
	})
}

func TestReplayRecordedHistories(t *testing.T) {
	for _, rec := range recorded {
		t.Run(rec.file, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			Register(r)
			require.NoError(t, replay(t, r, rec.file, rec.id))
		})
	}
}

// brokenFailover is Failover with two steps swapped, as a careless
// refactoring could do. It must not replay the recorded failover.
func brokenFailover(ctx workflow.Context, in *RunInput) (*Report, error) {
	steps := append([]step(nil), runbookSteps...)
	steps[1], steps[3] = steps[3], steps[1] // introduce before probe
	return runSteps(ctx, plan.ModeFailover, in, steps)
}

func TestReplayCatchesNonDeterminism(t *testing.T) {
	require.Equal(t, PhaseProbe, runbookSteps[1].phase)
	require.Equal(t, PhaseIntroduce, runbookSteps[3].phase)
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(brokenFailover, workflow.RegisterOptions{Name: FailoverWorkflowName})
	err := replay(t, r, "failover", WorkflowID("p1", plan.ModeFailover))
	require.Error(t, err)
	// TMPRL1100 is the SDK's code for a nondeterminism error.
	assert.Contains(t, err.Error(), "TMPRL1100")
}
