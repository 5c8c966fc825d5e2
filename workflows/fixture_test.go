package workflows

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// The fixture is one DR plan and the canned answers of a pool that holds it:
// two vApps (db-app with orders 0,0,1; crm with orders 0,2) and three
// standalone VMs, found on one SR to introduce and one already in the pool.

func fixturePlan() plan.Plan {
	return plan.Plan{
		Name:   "p1",
		Source: "dc1",
		Target: "dc2",
		Storage: []plan.StorageTarget{
			{Name: "lun1", Type: plan.StorageISCSI, DeviceConfig: map[string]string{"SCSIid": "36001"}},
		},
		FailbackStorage: []plan.StorageTarget{
			{Name: "lun1-back", Type: plan.StorageISCSI, DeviceConfig: map[string]string{"SCSIid": "36002"}},
		},
		Selection: plan.Selection{All: true},
		PriorityGroups: []plan.PriorityGroup{
			{Name: "db", VApps: []string{"db-app"}},
			{Name: "web", VMs: []string{"web-*"}},
		},
	}
}

func fixtureScan() *activities.ScanResult {
	vm := func(uuid, name, vapp string, order int64) activities.VMInfo {
		return activities.VMInfo{UUID: uuid, Name: name, VApp: vapp, Order: order, PowerState: "Running", SourceVDI: "mdvdi-1", Version: 1}
	}
	return &activities.ScanResult{
		TargetPoolUUID: "pool-dr",
		Sources:        []activities.MetadataSource{{VDIUUID: "mdvdi-1", SRUUID: "sr-1", PoolUUID: "pool-prod", PoolName: "prod"}},
		VApps: []activities.VAppInfo{
			{UUID: "vapp-crm", Name: "crm", SourceVDI: "mdvdi-1", VMs: []activities.VMInfo{
				vm("vm-crm-2", "crm-2", "vapp-crm", 2), vm("vm-crm-1", "crm-1", "vapp-crm", 0),
			}},
			{UUID: "vapp-db", Name: "db-app", SourceVDI: "mdvdi-1", VMs: []activities.VMInfo{
				vm("vm-app-1", "app-1", "vapp-db", 1), vm("vm-db-1", "db-1", "vapp-db", 0), vm("vm-db-2", "db-2", "vapp-db", 0),
			}},
		},
		VMs: []activities.VMInfo{vm("vm-web-1", "web-1", "", 0), vm("vm-web-2", "web-2", "", 0), vm("vm-misc-1", "misc-1", "", 0)},
	}
}

var fixtureBefore = &activities.Inventory{
	PoolUUID: "pool-dr",
	VMs:      map[string]string{"vm-local": "Running"},
	SRs:      []string{"sr-2", "sr-local"},
	Networks: []string{"net-1"},
}

// calls records the activity calls of a test, in the order they were made.
type calls struct {
	mu   sync.Mutex
	list []string
}

func (c *calls) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, s)
}

func (c *calls) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.list...)
}

// names returns the calls whose name starts with prefix.
func (c *calls) named(prefix string) []string {
	var out []string
	for _, s := range c.all() {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// steps returns the activity names in call order, repeats collapsed. The
// starts made while later groups are still being recovered
// (recover-start-overlap) count with the start step after the last recovery.
func (c *calls) steps() []string {
	all := c.all()
	lastRecover := -1
	for i, s := range all {
		if strings.HasPrefix(s, "Recover ") {
			lastRecover = i
		}
	}
	var out []string
	for i, s := range all {
		name, _, _ := strings.Cut(s, " ")
		if name == "StartVM" && i < lastRecover {
			continue
		}
		if len(out) == 0 || out[len(out)-1] != name {
			out = append(out, name)
		}
	}
	return out
}

// env is a test environment with the workflows registered and every activity
// mocked with the fixture's canned answers; tests override mocks as needed.
type env struct {
	*testsuite.TestWorkflowEnvironment
	t     *testing.T
	calls *calls
	// failRecover names unit UUIDs whose recovery fails.
	failRecover map[string]string
	// afterInventory is the pool after cleanup (defaults to fixtureBefore).
	afterInventory *activities.Inventory
}

func newEnv(t *testing.T) *env {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	e := &env{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), t: t, calls: &calls{}, failRecover: map[string]string{}}
	e.SetTestTimeout(30 * time.Second)
	Register(e)
	e.RegisterActivity(acts)
	e.RegisterActivity(notifier) // a nil Notifier: no webhook, nothing sent
	return e
}

// mockDefaults registers the fixture's answers. Testify uses the first
// expectation that matches, so a test's own OnActivity, made before run,
// wins over these.
func (e *env) mockDefaults() {
	c := e.calls
	e.OnActivity(acts.Probe, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.ProbeInput) (*activities.ProbeResult, error) {
		c.add("Probe " + in.Site)
		return &activities.ProbeResult{SRs: []activities.ProbedSR{
			{StorageIndex: 0, StorageName: "lun1", UUID: "sr-1", NameLabel: "DR SR 1", PoolMetadataDetected: true},
			{StorageIndex: 0, StorageName: "lun1", UUID: "sr-2", NameLabel: "DR SR 2", PoolMetadataDetected: true, AlreadyInPool: true},
			{StorageIndex: 0, StorageName: "lun1", UUID: "sr-3", NameLabel: "data only"},
		}}, nil
	}).Maybe()
	e.OnActivity(acts.Introduce, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.IntroduceInput) (*activities.IntroduceResult, error) {
		c.add("Introduce " + strings.Join(in.Whitelist[0], ","))
		return &activities.IntroduceResult{
			DRTasks:     []activities.DRTask{{UUID: "drtask-1", StorageName: "lun1", IntroducedSRs: []activities.SRInfo{{UUID: "sr-1", Name: "DR SR 1"}}}},
			AttachedSRs: []activities.SRInfo{{UUID: "sr-1", Name: "DR SR 1"}},
		}, nil
	}).Maybe()
	e.OnActivity(acts.Scan, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.ScanInput) (*activities.ScanResult, error) {
		c.add("Scan " + strings.Join(in.SRUUIDs, ","))
		return fixtureScan(), nil
	}).Maybe()
	e.OnActivity(acts.Precheck, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.PrecheckInput) (*activities.PrecheckResult, error) {
		c.add("Precheck " + in.SourceSite)
		return &activities.PrecheckResult{Checks: []activities.Check{
			{Check: "storage", Object: "vApp 'db-app'", Severity: SeverityOK, Message: "OK"},
			{Check: "existing", Object: "VM 'misc-1'", Severity: SeverityWarning, Message: "Already exists on pool dr. It will be replaced."},
		}}, nil
	}).Maybe()
	e.OnActivity(acts.Recover, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.RecoverInput) (*activities.RecoverResult, error) {
		res := &activities.RecoverResult{}
		for _, u := range in.Units {
			c.add("Recover " + u.UUID)
			ru := activities.RecoveredUnit{UUID: u.UUID, Kind: u.Kind}
			if why, ok := e.failRecover[u.UUID]; ok {
				ru.Error = why
			}
			res.Units = append(res.Units, ru)
		}
		return res, nil
	}).Maybe()
	e.onStartVM(func(_ context.Context, in *activities.StartVMInput) (*activities.StartVMResult, error) {
		if in.Paused {
			return &activities.StartVMResult{PowerState: "Paused"}, nil
		}
		return &activities.StartVMResult{PowerState: "Running"}, nil
	}).Maybe()
	e.OnActivity(acts.Verify, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.VerifyInput) (*activities.VerifyResult, error) {
		c.add("Verify")
		return &activities.VerifyResult{}, nil
	}).Maybe()
	e.OnActivity(acts.Reprotect, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.ReprotectInput) (*activities.ReprotectResult, error) {
		c.add("Reprotect " + strings.Join(in.SRUUIDs, ","))
		return &activities.ReprotectResult{Enabled: in.SRUUIDs}, nil
	}).Maybe()
	e.OnActivity(acts.DestroyDRTasks, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.DestroyDRTasksInput) error {
		call := "DestroyDRTasks " + strings.Join(in.DRTaskUUIDs, ",")
		if len(in.SRUUIDs) > 0 {
			call += " srs=" + strings.Join(in.SRUUIDs, ",")
		}
		c.add(call)
		return nil
	}).Maybe()
	e.OnActivity(acts.CleanupTest, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.CleanupInput) (*activities.CleanupResult, error) {
		c.add("CleanupTest vapps=" + strings.Join(in.VAppUUIDs, ",") + " vms=" + strings.Join(in.VMUUIDs, ",") + " srs=" + strings.Join(in.SRUUIDs, ","))
		return &activities.CleanupResult{}, nil
	}).Maybe()
	e.OnActivity(acts.Inventory, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.InventoryInput) (*activities.Inventory, error) {
		c.add("Inventory")
		if len(c.named("Inventory")) > 1 && e.afterInventory != nil {
			return e.afterInventory, nil
		}
		return fixtureBefore, nil
	}).Maybe()
}

// onStartVM mocks the start of each VM: StartBatch starts the VMs of a
// step side by side, each through fn (recorded as "StartVM <uuid>"), and
// reports each VM's error as StartBatch does.
func (e *env) onStartVM(fn func(context.Context, *activities.StartVMInput) (*activities.StartVMResult, error)) *testsuite.MockCallWrapper {
	return e.OnActivity(acts.StartBatch, mock.Anything, mock.Anything).Return(batchOf(e.calls, fn))
}

func batchOf(c *calls, fn func(context.Context, *activities.StartVMInput) (*activities.StartVMResult, error)) func(context.Context, *activities.StartBatchInput) (*activities.StartBatchResult, error) {
	return func(ctx context.Context, in *activities.StartBatchInput) (*activities.StartBatchResult, error) {
		vms := activities.RunChains(ctx, in.StartChains(), func(vm activities.VMRef, _ int) activities.StartedVM {
			if c != nil {
				c.add("StartVM " + vm.UUID)
			}
			res, err := fn(ctx, &activities.StartVMInput{Site: in.Site, VMUUID: vm.UUID, Paused: in.Paused, Slots: in.Slots})
			if err != nil {
				return activities.StartedVM{UUID: vm.UUID, Error: errorText(err), Code: activities.ErrorCode(err)}
			}
			return activities.StartedVM{UUID: vm.UUID, PowerState: res.PowerState, StartedAt: res.StartedAt}
		})
		return &activities.StartBatchResult{VMs: vms}, nil
	}
}

// signal sends a signal after d of workflow time.
func (e *env) signal(d time.Duration, name string, payload any) {
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(name, payload) }, d)
}

func (e *env) approve(d time.Duration, gate, by string) {
	e.signal(d, SignalApprove, Approval{Gate: gate, By: by, Comment: "ok"})
}

// run runs a mode's workflow with the plan.
func (e *env) run(mode plan.Mode, p plan.Plan) {
	fn := map[plan.Mode]any{plan.ModeFailover: Failover, plan.ModeFailback: Failback, plan.ModeTestFailover: TestFailover}[mode]
	e.mockDefaults()
	e.ExecuteWorkflow(fn, &RunInput{Plan: p, RequestedBy: "tester"})
	require.True(e.t, e.IsWorkflowCompleted(), "the workflow did not complete")
}

func (e *env) report() *Report {
	e.t.Helper()
	var rep Report
	require.NoError(e.t, e.GetWorkflowResult(&rep))
	return &rep
}

// failure returns the run's failure type and the report in its details.
func (e *env) failure() (string, string, *Report) {
	e.t.Helper()
	err := e.GetWorkflowError()
	require.Error(e.t, err)
	var appErr *temporal.ApplicationError
	require.True(e.t, errors.As(err, &appErr), "not an application error: %v", err)
	var rep Report
	require.NoError(e.t, appErr.Details(&rep))
	return appErr.Type(), appErr.Message(), &rep
}

func (e *env) progress() *Progress {
	e.t.Helper()
	v, err := e.QueryWorkflow(QueryProgress)
	require.NoError(e.t, err)
	var p Progress
	require.NoError(e.t, v.Get(&p))
	return &p
}

func vmByName(vms []ObjectState, name string) ObjectState {
	i := slices.IndexFunc(vms, func(o ObjectState) bool { return o.Name == name })
	if i < 0 {
		return ObjectState{}
	}
	return vms[i]
}
