package workflows

import (
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every activity is called with a heartbeat timeout, so a worker killed in
// any of them is noticed within it, not at its start-to-close timeout.
func TestEveryActivityHasAHeartbeatTimeout(t *testing.T) {
	table := []struct {
		activity any
		opt      activityOpt
	}{
		{acts.Probe, optProbe},
		{acts.Introduce, optIntroduce},
		{acts.Scan, optScan},
		{acts.Precheck, optPrecheck},
		{acts.Recover, optRecover},
		{acts.StartVM, optStartVM},
		{acts.StartBatch, optStartVM},
		{acts.StartBatch, optStartChains},
		{acts.Verify, optVerify},
		{acts.Reprotect, optReprotect},
		{acts.DestroyDRTasks, optDestroyDR},
		{acts.CleanupTest, optCleanup},
		{acts.Inventory, optInventory},
		{acts.SnapshotStorage, optAdapter},
		{acts.DeleteSnapshot, optAdapter},
		{acts.PromoteStorage, optAdapter},
		{acts.StorageStatus, optAdapterStatus},
		{acts.ReadSource, optReadiness},
		{acts.CheckTarget, optReadiness},
		{acts.Protect, optProtect},
	}
	covered := map[string]bool{}
	for _, row := range table {
		name := activityName(row.activity)
		covered[name] = true
		t.Run(name, func(t *testing.T) {
			assert.Positive(t, row.opt.heartbeat, "no heartbeat timeout")
			// A kill is noticed within the timeout; resuming within 60 s
			// needs it well under that, and well under start-to-close.
			assert.LessOrEqual(t, row.opt.heartbeat, heartbeatTimeout)
			assert.Less(t, row.opt.heartbeat, row.opt.startToClose)
			assert.Positive(t, row.opt.maxAttempts)
		})
	}
	// The worker registers every exported method of Activities: each needs a row.
	typ := reflect.TypeOf(acts)
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		assert.True(t, covered[name], "activity %s has no row here: give it an activityOpt with a heartbeat timeout", name)
	}
	require.Len(t, covered, typ.NumMethod())
}

// activityName is the method name of a method value such as acts.Probe.
func activityName(fn any) string {
	full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	full = strings.TrimSuffix(full, "-fm")
	return full[strings.LastIndex(full, ".")+1:]
}
