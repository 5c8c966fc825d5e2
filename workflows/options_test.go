package workflows

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/activities"
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

// A child's details name its VMs, so the Web UI finds a VM's batch; a large
// batch names the first maxDetailVMs and says how many more.
func TestVMDetails(t *testing.T) {
	many := make([]VMRef, maxDetailVMs+2)
	for i := range many {
		many[i] = VMRef{UUID: fmt.Sprintf("u%d", i), Name: fmt.Sprintf("vm-%d", i)}
	}
	for _, tc := range []struct {
		name  string
		vms   []VMRef
		lines []string // the first lines, then the last
		last  string
	}{
		{"one", []VMRef{{UUID: "u1", Name: "web-1"}}, []string{"1 VM:", "- web-1 (u1)"}, "- web-1 (u1)"},
		{"unnamed", []VMRef{{UUID: "u1", Name: "db"}, {UUID: "u2"}}, []string{"2 VMs:", "- db (u1)"}, "- unnamed (u2)"},
		{"many", many, []string{fmt.Sprintf("%d VMs:", len(many)), "- vm-0 (u0)"}, "- and 2 more (the input lists them all)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Split(vmDetails(tc.vms), "\n")
			assert.Equal(t, tc.lines, got[:len(tc.lines)])
			assert.Equal(t, tc.last, got[len(got)-1])
			assert.LessOrEqual(t, len(got), maxDetailVMs+2, "a title, at most maxDetailVMs VMs and the rest counted")
		})
	}
}

// The recover child's details list every VM of its units, vApp members included.
func TestRecoverJobVMs(t *testing.T) {
	job := recoverJob{units: []SelectedUnit{
		{Unit: activities.Unit{Kind: activities.KindVApp, UUID: "a1", Name: "erp"}, VMs: []activities.VMInfo{{UUID: "v1", Name: "db"}, {UUID: "v2", Name: "app"}}},
		{Unit: activities.Unit{Kind: activities.KindVM, UUID: "v3", Name: "web"}, VMs: []activities.VMInfo{{UUID: "v3", Name: "web"}}},
	}}
	assert.Equal(t, []VMRef{{UUID: "v1", Name: "db"}, {UUID: "v2", Name: "app"}, {UUID: "v3", Name: "web"}}, job.vms())
}
