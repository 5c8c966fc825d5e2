package workflows

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// Integration tests of re-runs: the real activities against the in-process
// simulator's demo world, driven by the SDK's test environment. The gates
// approve themselves on timeout, so the runs need no signals.

type simWorld struct {
	t    *testing.T
	w    *sim.World
	acts *activities.Activities
	plan plan.Plan
}

func newSimWorld(t *testing.T) *simWorld {
	t.Helper()
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{Speed: 0, FreePorts: true, ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	a, err := activities.New(map[string]activities.SiteConfig{
		"dr":      {URL: w.PoolURL("dr"), Username: "root", Password: "lifeboat"},
		"primary": {URL: w.PoolURL("primary"), Username: "root", Password: "lifeboat"},
	}, nil, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = activities.Close(context.Background(), a) })
	p, err := plan.Load("../dev/plans/demo.yaml")
	require.NoError(t, err)
	auto := plan.GatePolicy{Timeout: plan.Duration(time.Hour), OnTimeout: plan.TimeoutApprove}
	p.Approvals = plan.Approvals{StorageReady: auto, Recover: auto}
	p.Test.Hold = 0
	// The mirrors are split below: test failovers run on the DR copies
	// themselves, with no storage adapter (teststorage_test.go has those).
	p.TestStorage = nil
	// The disaster: the primary site is lost, the DR copies are promoted.
	w.Control().SyncAll()
	require.NoError(t, w.Control().SiteDown("primary"))
	for _, m := range []string{"gold-01", "gold-02", "fc-silver-01"} {
		require.NoError(t, w.Control().SplitMirror(m))
	}
	return &simWorld{t: t, w: w, acts: a, plan: *p}
}

// run runs one mode of the plan to its end and returns its report.
func (s *simWorld) run(mode plan.Mode, p plan.Plan) (*Report, error) {
	s.t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(2 * time.Minute)
	Register(env)
	env.RegisterActivity(s.acts)
	fn := map[plan.Mode]any{plan.ModeFailover: Failover, plan.ModeFailback: Failback, plan.ModeTestFailover: TestFailover}[mode]
	env.ExecuteWorkflow(fn, &RunInput{Plan: p, RequestedBy: "tester"})
	require.True(s.t, env.IsWorkflowCompleted())
	if err := env.GetWorkflowError(); err != nil {
		var rep Report
		require.True(s.t, reportOf(err, &rep), "%v", err)
		return &rep, err
	}
	var rep Report
	require.NoError(s.t, env.GetWorkflowResult(&rep))
	return &rep, nil
}

func reportOf(err error, rep *Report) bool {
	var appErr interface {
		HasDetails() bool
		Details(...any) error
	}
	for e := err; e != nil; e = unwrap(e) {
		if a, ok := e.(interface {
			HasDetails() bool
			Details(...any) error
		}); ok && a.HasDetails() {
			appErr = a
		}
	}
	return appErr != nil && appErr.Details(rep) == nil
}

func unwrap(err error) error {
	u, ok := err.(interface{ Unwrap() error })
	if !ok {
		return nil
	}
	return u.Unwrap()
}

func (s *simWorld) recoveries() int {
	j := s.w.Journal()
	return j.Count("Async.VM.recover", "") + j.Count("Async.VM_appliance.recover", "")
}

func (s *simWorld) vm(uuid string) xapi.VM {
	s.t.Helper()
	ctx := context.Background()
	c, err := xapi.NewClient(s.w.PoolURL("dr"))
	require.NoError(s.t, err)
	ses, err := c.Login(ctx, "root", "lifeboat")
	require.NoError(s.t, err)
	defer func() { _ = ses.Logout(ctx) }()
	ref, err := ses.GetVMByUUID(ctx, uuid)
	require.NoError(s.t, err)
	vm, err := ses.GetVMRecord(ctx, ref)
	require.NoError(s.t, err)
	return vm
}

func failedVMs(rep *Report) []ObjectState {
	var out []ObjectState
	for _, vm := range rep.VMs {
		if vm.State != StateRunning {
			out = append(out, vm)
		}
	}
	return out
}

// A failover in which one VM.start fails, then a re-run of the same plan:
// the re-run adopts everything the first run recovered, recovers nothing
// twice and starts the VM that did not start. A copy someone else changed
// is still refused, with one next step, until it is excluded.
func TestFailoverReRunAdoptsWhatTheFailedRunRecovered(t *testing.T) {
	s := newSimWorld(t)
	s.w.Control().AddFault(sim.Fault{Pool: "DR", Method: "VM.start", Nth: 1, Error: []string{"HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"}})

	first, err := s.run(plan.ModeFailover, s.plan)
	require.Error(t, err)
	assert.Equal(t, OutcomeFailed, first.Outcome)
	// erp-db did not start, and the later orders of its vApp were skipped.
	var failed []ObjectState
	for _, vm := range failedVMs(first) {
		if vm.State == StateFailed {
			failed = append(failed, vm)
		} else {
			assert.Equal(t, StateSkipped, vm.State, vm.Name)
		}
	}
	require.Len(t, failed, 1, "exactly one VM failed to start: %+v", failed)
	assert.Contains(t, failed[0].Error, "memory")
	require.NotEqual(t, "dns-01", failed[0].Name)
	recovered := s.recoveries()
	require.Positive(t, recovered)
	for _, vm := range first.VMs {
		assert.False(t, vm.Adopted, vm.Name)
	}

	// Somebody else changes one copy: dns-01 loses lifeboat's mark.
	dns := vmByName(first.VMs, "dns-01")
	require.NotEmpty(t, dns.UUID)
	s.clearMark(dns.UUID)
	refused, err := s.run(plan.ModeFailover, s.plan)
	require.Error(t, err)
	assert.Equal(t, OutcomeFailed, refused.Outcome)
	var problems []CheckResult
	for _, c := range refused.Prechecks {
		if c.Severity == SeverityProblem {
			problems = append(problems, c)
		}
	}
	require.Len(t, problems, 1, "%+v", problems)
	assert.Equal(t, "VM 'dns-01'", problems[0].Object)
	assert.True(t, strings.HasSuffix(problems[0].Message, "; exclude it from the plan, then re-run"), problems[0].Message)
	assert.Equal(t, recovered, s.recoveries(), "the refused run recovered nothing")

	// The operator follows the one next step: the re-run converges.
	p := s.plan
	p.Selection.Exclude = append(append([]string(nil), p.Selection.Exclude...), "dns-01")
	rep, err := s.run(plan.ModeFailover, p)
	require.NoError(t, err)
	assert.Equal(t, OutcomeSucceeded, rep.Outcome)
	assert.Equal(t, recovered, s.recoveries(), "nothing was recovered twice")
	assert.Empty(t, failedVMs(rep))
	for _, vm := range rep.VMs {
		assert.True(t, vm.Adopted, vm.Name)
		assert.Equal(t, xapi.PowerRunning, s.vm(vm.UUID).PowerState, vm.Name)
	}
	for _, va := range rep.VApps {
		assert.True(t, va.Adopted, va.Name)
	}
	assert.True(t, timelineHas(rep, "Adopted "), "the report says what was adopted")
	assert.Equal(t, StateRunning, vmByName(rep.VMs, failed[0].Name).State, "the VM that did not start is started")
}

// A test failover interrupted after recovering (here: it failed to start a
// VM) cleans up; running it again is not refused and leaves the DR pool as
// it was.
func TestTestFailoverReRunConverges(t *testing.T) {
	s := newSimWorld(t)
	s.w.Control().AddFault(sim.Fault{Pool: "DR", Method: "VM.start", Nth: 1, Error: []string{"HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"}})
	first, err := s.run(plan.ModeTestFailover, s.plan)
	require.Error(t, err)
	assert.Empty(t, first.Leftovers)
	rep, err := s.run(plan.ModeTestFailover, s.plan)
	require.NoError(t, err, "%+v", rep.Prechecks)
	assert.Equal(t, OutcomeSucceeded, rep.Outcome)
	assert.Empty(t, rep.Leftovers)
}

// clearMark removes lifeboat's mark from a VM, as another tool would.
func (s *simWorld) clearMark(uuid string) {
	ctx := context.Background()
	c, err := xapi.NewClient(s.w.PoolURL("dr"))
	require.NoError(s.t, err)
	ses, err := c.Login(ctx, "root", "lifeboat")
	require.NoError(s.t, err)
	defer func() { _ = ses.Logout(ctx) }()
	ref, err := ses.GetVMByUUID(ctx, uuid)
	require.NoError(s.t, err)
	_, err = ses.Call(ctx, "VM.remove_from_other_config", string(ref), "lifeboat.recovery")
	require.NoError(s.t, err)
}

func timelineHas(rep *Report, prefix string) bool {
	for _, e := range rep.Timeline {
		if strings.HasPrefix(e.Message, prefix) {
			return true
		}
	}
	return false
}

// A test failover whose cleanup left its VMs behind: the re-run is not
// refused by them (they carry the test's mark), and its own cleanup removes
// them, so the DR pool ends with the VMs it had before the first test.
func TestTestFailoverReRunRemovesTheLeftoversOfTheLastOne(t *testing.T) {
	s := newSimWorld(t)
	before := s.w.Control().State()
	// Every VM.destroy fails (vApp records are still destroyed).
	s.w.Control().AddFault(sim.Fault{Pool: "DR", Method: "VM.destroy", Error: []string{"VM_BAD_POWER_STATE", "OpaqueRef:x", "Halted", "Running"}})
	first, err := s.run(plan.ModeTestFailover, s.plan)
	require.Error(t, err)
	require.NotEmpty(t, first.Leftovers)
	s.w.Control().ClearFaults()

	rep, err := s.run(plan.ModeTestFailover, s.plan)
	require.NoError(t, err, "%s %+v", rep.Message, rep.Leftovers)
	assert.Empty(t, rep.Leftovers)
	adopted := 0
	for _, vm := range rep.VMs {
		if vm.Adopted {
			adopted++
		}
	}
	// The standalone VMs are adopted; the vApps' VMs (their vApp records
	// were destroyed) are recovered again from the same metadata.
	assert.Equal(t, 4, adopted)
	after := s.w.Control().State()
	assert.Equal(t, len(before.Pools[1].VMs), len(after.Pools[1].VMs), "the DR pool has the VMs it had before the first test")
}
