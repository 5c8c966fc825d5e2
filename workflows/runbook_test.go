package workflows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

var allVMs = []string{"vm-app-1", "vm-crm-1", "vm-crm-2", "vm-db-1", "vm-db-2", "vm-misc-1", "vm-web-1", "vm-web-2"}

func TestFailoverHappyPath(t *testing.T) {
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(2*time.Minute, plan.GateRecover, "bob")
	e.run(plan.ModeFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()

	assert.Equal(t, []string{"Probe", "Introduce", "Scan", "Precheck", "Recover", "StartVM", "Verify", "Reprotect", "DestroyDRTasks"}, e.calls.steps())
	assert.Equal(t, []string{"Probe dc2"}, e.calls.named("Probe"))
	// sr-2 is already in the pool: scanned and reprotected, never introduced.
	assert.Equal(t, []string{"Introduce sr-1"}, e.calls.named("Introduce"))
	assert.Equal(t, []string{"Scan sr-1,sr-2"}, e.calls.named("Scan"))
	assert.Equal(t, []string{"Precheck dc1"}, e.calls.named("Precheck"))
	assert.Equal(t, []string{"Reprotect sr-1,sr-2"}, e.calls.named("Reprotect"))
	assert.Empty(t, e.calls.named("CleanupTest"))
	assert.Empty(t, e.calls.named("Inventory"))
	assert.Len(t, e.calls.named("StartVM"), len(allVMs))

	assert.Equal(t, OutcomeSucceeded, rep.Outcome)
	assert.Equal(t, "dc1", rep.Source)
	assert.Equal(t, "dc2", rep.Target)
	assert.Equal(t, "tester", rep.RequestedBy)
	for _, vm := range rep.VMs {
		assert.Equal(t, StateRunning, vm.State, vm.Name)
		// Started right after the recover gate was approved at +2m.
		assert.Equal(t, 2*time.Minute, vm.RTO, vm.Name)
	}
	require.Len(t, rep.Gates, 2)
	g := rep.Gates[1]
	assert.Equal(t, GateApproved, g.State)
	require.Len(t, g.Decisions, 1)
	assert.Equal(t, "bob", g.Decisions[0].By)
	assert.Equal(t, rep.StartedAt.Add(2*time.Minute), g.Decisions[0].At)
	assert.Equal(t, rep.StartedAt.Add(time.Minute), rep.Gates[0].Decisions[0].At)
	assert.Equal(t, "db", vmByName(rep.VMs, "db-1").Group)
	assert.Equal(t, "db-app", vmByName(rep.VMs, "db-1").VApp)
	assert.Equal(t, "web", vmByName(rep.VMs, "web-2").Group)
	assert.Equal(t, "", vmByName(rep.VMs, "misc-1").Group)
	assert.Len(t, rep.VApps, 2)
	for _, va := range rep.VApps {
		// A vApp is running once all its VMs are; it started with its last VM.
		assert.Equal(t, StateRunning, va.State, va.Name)
		require.NotNil(t, va.StartedAt, va.Name)
	}
	assert.Equal(t, *vmByName(rep.VMs, "web-1").StartedAt, *vmByName(rep.VApps, "db-app").StartedAt)
	assert.NotEmpty(t, rep.Timeline)
	assert.Len(t, rep.Prechecks, 2)
}

func TestFailbackProbesFailbackStorageAtSource(t *testing.T) {
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(2*time.Minute, plan.GateRecover, "alice")
	e.run(plan.ModeFailback, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()
	assert.Equal(t, []string{"Probe dc1"}, e.calls.named("Probe"))
	assert.Equal(t, []string{"Precheck dc2"}, e.calls.named("Precheck"))
	assert.Equal(t, "dc2", rep.Source)
	assert.Equal(t, "dc1", rep.Target)
	assert.Equal(t, []string{"Probe", "Introduce", "Scan", "Precheck", "Recover", "StartVM", "Verify", "Reprotect", "DestroyDRTasks"}, e.calls.steps())
}

func TestTestFailoverHappyPath(t *testing.T) {
	e := newEnv(t)
	// No gate is required in a test failover by default: nothing to approve.
	e.run(plan.ModeTestFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()

	assert.Equal(t, []string{"Probe", "Inventory", "Introduce", "Scan", "Precheck", "Recover", "StartVM", "Verify", "CleanupTest", "DestroyDRTasks", "Inventory"}, e.calls.steps())
	assert.Empty(t, e.calls.named("Reprotect"))
	// The source is not checked for running copies in a test.
	assert.Equal(t, []string{"Precheck "}, e.calls.named("Precheck"))
	cleanup := e.calls.named("CleanupTest")
	require.Len(t, cleanup, 1)
	assert.Equal(t, "CleanupTest vapps=vapp-db,vapp-crm vms=vm-db-1,vm-db-2,vm-app-1,vm-web-1,vm-web-2,vm-crm-1,vm-crm-2,vm-misc-1 srs=sr-1", cleanup[0])

	assert.Equal(t, OutcomeSucceeded, rep.Outcome)
	for _, vm := range rep.VMs {
		assert.Equal(t, StateCleanedUp, vm.State, vm.Name)
		require.NotNil(t, vm.StartedAt, vm.Name)
	}
	assert.Empty(t, rep.Leftovers)
	require.Len(t, rep.Gates, 3)
	for _, g := range rep.Gates {
		assert.Equal(t, GateSkipped, g.State, g.Gate)
		assert.Equal(t, DecidedByAuto, g.Decisions[0].By)
	}
}

func TestTestFailoverStartsPaused(t *testing.T) {
	e := newEnv(t)
	var paused []bool
	var mu sync.Mutex // activities of parallel start children run concurrently
	e.onStartVM(func(_ context.Context, in *activities.StartVMInput) (*activities.StartVMResult, error) {
		mu.Lock()
		defer mu.Unlock()
		paused = append(paused, in.Paused)
		return &activities.StartVMResult{PowerState: "Paused"}, nil
	})
	var expect map[string]string
	e.OnActivity(acts.Verify, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.VerifyInput) (*activities.VerifyResult, error) {
		expect = in.Expect
		return &activities.VerifyResult{}, nil
	})
	e.run(plan.ModeTestFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	assert.Len(t, paused, len(allVMs))
	assert.NotContains(t, paused, false)
	assert.Len(t, expect, len(allVMs))
	for uuid, st := range expect {
		assert.Equal(t, "Paused", st, uuid)
	}
}

func TestTestFailoverReportsLeftovers(t *testing.T) {
	e := newEnv(t)
	e.afterInventory = &activities.Inventory{
		PoolUUID: "pool-dr",
		VMs:      map[string]string{"vm-local": "Running", "vm-web-1": "Halted"},
		SRs:      []string{"sr-2", "sr-local", "sr-1"},
		Networks: []string{"net-1"},
	}
	e.run(plan.ModeTestFailover, fixturePlan())
	typ, msg, rep := e.failure()
	assert.Equal(t, "Failed", typ)
	assert.Contains(t, msg, "left 2 objects behind")
	assert.Equal(t, []string{
		"VM 'web-1' (vm-web-1) is still in the pool (Halted).",
		"SR sr-1 is still in the pool.",
	}, rep.Leftovers)
}

func TestQuorumOfDistinctApprovers(t *testing.T) {
	p := fixturePlan()
	p.Approvals.Recover = plan.GatePolicy{Approvers: []string{"alice", "bob", "carol"}, Quorum: 2}
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "dave")
	e.approve(2*time.Minute, plan.GateRecover, "alice")
	e.approve(3*time.Minute, plan.GateRecover, "ALICE")   // same person: counts once
	e.approve(4*time.Minute, plan.GateRecover, "mallory") // not an approver
	e.approve(5*time.Minute, plan.GateStorageReady, "bob")
	var during *Progress
	recoveredEarly := -1
	e.RegisterDelayedCallback(func() {
		during = e.progress()
		recoveredEarly = len(e.calls.named("Recover"))
	}, 5*time.Minute+30*time.Second)
	e.approve(6*time.Minute, plan.GateRecover, "bob")
	e.run(plan.ModeFailover, p)
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()

	require.NotNil(t, during.WaitingGate, "the gate opened before its quorum")
	assert.Equal(t, plan.GateRecover, during.WaitingGate.Gate)
	assert.Len(t, during.WaitingGate.Decisions, 1)
	assert.Equal(t, 0, recoveredEarly, "nothing is recovered before the quorum")

	g := rep.Gates[1]
	assert.Equal(t, GateApproved, g.State)
	assert.Equal(t, 2, g.Quorum)
	require.Len(t, g.Decisions, 2)
	assert.Equal(t, "alice", g.Decisions[0].By)
	assert.Equal(t, "bob", g.Decisions[1].By)
	assert.Equal(t, rep.StartedAt.Add(6*time.Minute), g.Decisions[1].At)
	// Started at +6m, when the quorum was reached.
	assert.Equal(t, 6*time.Minute, vmByName(rep.VMs, "db-1").RTO)

	notes := strings.Join(during.Errors, "\n")
	assert.Contains(t, notes, "Approval of gate recover by ALICE not counted again: alice had already approved, and a quorum of 2 needs distinct approvers.")
	assert.Contains(t, notes, "by mallory not counted: only alice, bob, carol may decide it")
	assert.Contains(t, notes, `by bob for gate "storage-ready" not counted`)
}

func TestApprovalBeforeTheGateOpensIsNotCounted(t *testing.T) {
	e := newEnv(t)
	var gateOpen time.Duration = 10 * time.Minute
	// Precheck takes 10 minutes, so this approval arrives while it runs.
	e.OnActivity(acts.Precheck, mock.Anything, mock.Anything).After(gateOpen).Return(&activities.PrecheckResult{}, nil)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(5*time.Minute, plan.GateRecover, "alice")
	e.approve(20*time.Minute, plan.GateRecover, "bob")
	e.run(plan.ModeFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()
	assert.Equal(t, "bob", rep.Gates[1].Decisions[0].By)
	assert.Contains(t, strings.Join(e.timelineMessages(rep), "\n"), `Approval of gate "recover" by alice not counted: it arrived before gate recover opened`)
}

func (e *env) timelineMessages(rep *Report) []string {
	var out []string
	for _, ev := range rep.Timeline {
		out = append(out, ev.Message)
	}
	return out
}

func TestRejectionRunsCleanup(t *testing.T) {
	p := fixturePlan()
	p.Approvals.Recover.Required = ptr(true)
	e := newEnv(t)
	e.signal(time.Minute, SignalReject, Approval{Gate: plan.GateRecover, By: "carol", Comment: "wrong pool"})
	e.run(plan.ModeTestFailover, p)
	typ, msg, rep := e.failure()
	assert.Equal(t, "Rejected", typ)
	assert.Equal(t, "Gate recover was rejected by carol: wrong pool.", msg)
	assert.Equal(t, OutcomeRejected, rep.Outcome)
	assert.Empty(t, e.calls.named("Recover"))
	// Nothing recovered: cleanup forgets the introduced SR only.
	assert.Equal(t, []string{"CleanupTest vapps= vms= srs=sr-1"}, e.calls.named("CleanupTest"))
	assert.Equal(t, []string{"DestroyDRTasks drtask-1"}, e.calls.named("DestroyDRTasks"))
	assert.Len(t, e.calls.named("Inventory"), 2)
	g := rep.Gates[1]
	assert.Equal(t, GateRejected, g.State)
	assert.Equal(t, Decision{By: "carol", Approved: false, Comment: "wrong pool", At: rep.StartedAt.Add(time.Minute)}, g.Decisions[0])
}

func TestAbortDuringRecoveryRunsCleanup(t *testing.T) {
	e := newEnv(t)
	e.OnActivity(acts.Recover, mock.Anything, mock.Anything).After(time.Hour).Return(func(_ context.Context, in *activities.RecoverInput) (*activities.RecoverResult, error) {
		e.calls.add("Recover " + in.Units[0].UUID)
		return &activities.RecoverResult{}, nil
	})
	e.signal(10*time.Minute, SignalAbort, Abort{By: "dave", Reason: "wrong plan"})
	e.run(plan.ModeTestFailover, fixturePlan())
	typ, msg, rep := e.failure()
	assert.Equal(t, "Aborted", typ)
	assert.Equal(t, "The run was aborted by dave during recover: wrong plan.", msg)
	assert.Equal(t, OutcomeAborted, rep.Outcome)
	assert.Empty(t, e.calls.named("StartVM"))
	assert.Empty(t, e.calls.named("Verify"))
	// Every unit whose recovery started is cleaned up; VMs recovered by an
	// interrupted activity keep their UUIDs.
	cleanup := e.calls.named("CleanupTest")
	require.Len(t, cleanup, 1)
	assert.Contains(t, cleanup[0], "vapp-db")
	assert.Contains(t, cleanup[0], "srs=sr-1")
	assert.Equal(t, []string{"DestroyDRTasks drtask-1"}, e.calls.named("DestroyDRTasks"))
	assert.Len(t, e.calls.named("Inventory"), 2)
	assert.Equal(t, StateCleanedUp, vmByName(rep.VMs, "db-1").State)
	assert.Less(t, rep.FinishedAt.Sub(rep.StartedAt), time.Hour, "the abort did not stop the recovery at once")
}

// TestCancelFromTemporalRunsCleanupAndEndsCanceled: the Web UI's Cancel is an
// abort too; the run cleans up and ends Canceled with its report.
func TestCancelFromTemporalRunsCleanupAndEndsCanceled(t *testing.T) {
	e := newEnv(t)
	e.OnActivity(acts.Recover, mock.Anything, mock.Anything).After(time.Hour).Return(&activities.RecoverResult{}, nil)
	e.RegisterDelayedCallback(e.CancelWorkflow, 10*time.Minute)
	e.run(plan.ModeTestFailover, fixturePlan())
	err := e.GetWorkflowError()
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "not a cancellation: %v", err)
	var rep *Report // the test suite hands back the value itself, undecoded
	require.NoError(t, canceled.Details(&rep))
	assert.Equal(t, OutcomeAborted, rep.Outcome)
	assert.Equal(t, "The run was cancelled from Temporal during recover.", rep.Message)
	assert.Len(t, e.calls.named("CleanupTest"), 1)
	assert.Equal(t, []string{"DestroyDRTasks drtask-1"}, e.calls.named("DestroyDRTasks"))
	assert.Len(t, e.calls.named("Inventory"), 2)
	assert.Empty(t, rep.Leftovers)
}

func TestAbortFailoverDestroysDRTasksOnly(t *testing.T) {
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.signal(2*time.Minute, SignalAbort, Abort{By: "dave"})
	e.run(plan.ModeFailover, fixturePlan())
	typ, _, rep := e.failure()
	assert.Equal(t, "Aborted", typ)
	assert.Equal(t, GateAborted, rep.Gates[1].State)
	assert.Empty(t, e.calls.named("CleanupTest"))
	assert.Equal(t, []string{"DestroyDRTasks drtask-1"}, e.calls.named("DestroyDRTasks"))
}

func TestGateTimeoutRejects(t *testing.T) {
	p := fixturePlan()
	p.Approvals.Recover.Timeout = plan.Duration(time.Hour)
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.run(plan.ModeFailover, p)
	typ, msg, rep := e.failure()
	assert.Equal(t, "Rejected", typ)
	assert.Contains(t, msg, "Gate recover was not approved within 1h0m0s")
	g := rep.Gates[1]
	assert.Equal(t, GateTimedOut, g.State)
	assert.Equal(t, Decision{By: DecidedByTimeout, Approved: false, At: rep.StartedAt.Add(time.Minute + time.Hour)}, g.Decisions[0])
	require.NotNil(t, g.Deadline)
	assert.Empty(t, e.calls.named("Recover"))
	assert.Equal(t, []string{"DestroyDRTasks drtask-1"}, e.calls.named("DestroyDRTasks"))
}

func TestGateTimeoutApproves(t *testing.T) {
	p := fixturePlan()
	p.Approvals.Recover = plan.GatePolicy{Timeout: plan.Duration(30 * time.Minute), OnTimeout: plan.TimeoutApprove}
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.run(plan.ModeFailover, p)
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()
	g := rep.Gates[1]
	assert.Equal(t, GateTimedOut, g.State)
	assert.Equal(t, Decision{By: DecidedByTimeout, Approved: true, At: rep.StartedAt.Add(31 * time.Minute)}, g.Decisions[0])
	assert.Len(t, e.calls.named("StartVM"), len(allVMs))
}

func TestTestHoldEndsAtApprovalOrExpiry(t *testing.T) {
	t.Run("approved", func(t *testing.T) {
		p := fixturePlan()
		p.Test.Hold = plan.Duration(4 * time.Hour)
		e := newEnv(t)
		e.approve(time.Hour, plan.GateCleanup, "inspector")
		e.run(plan.ModeTestFailover, p)
		require.NoError(t, e.GetWorkflowError())
		rep := e.report()
		g := rep.Gates[2]
		assert.Equal(t, GateApproved, g.State)
		assert.Equal(t, "inspector", g.Decisions[0].By)
		assert.Equal(t, time.Hour, rep.FinishedAt.Sub(rep.StartedAt))
	})
	t.Run("expired", func(t *testing.T) {
		p := fixturePlan()
		p.Test.Hold = plan.Duration(4 * time.Hour)
		e := newEnv(t)
		e.run(plan.ModeTestFailover, p)
		require.NoError(t, e.GetWorkflowError())
		rep := e.report()
		g := rep.Gates[2]
		assert.Equal(t, GateTimedOut, g.State)
		assert.Equal(t, DecidedByHoldExpired, g.Decisions[0].By)
		assert.True(t, g.Decisions[0].Approved)
		assert.Len(t, e.calls.named("CleanupTest"), 1)
	})
}

func TestPrecheckProblemBlocksTheRun(t *testing.T) {
	e := newEnv(t)
	e.OnActivity(acts.Precheck, mock.Anything, mock.Anything).Return(&activities.PrecheckResult{Checks: []activities.Check{
		{Check: "existing", Object: "VM 'web-1'", Severity: SeverityProblem, Message: "Newer version already exists on pool dr."},
		{Check: "running", Object: "VM 'web-1'", Severity: SeverityProblem, Message: "Is running on pool 'prod'."},
		{Check: "storage", Object: "vApp 'crm'", Severity: SeverityProblem, Message: "Missing SR 'data'."},
		{Check: "memory", Object: "pool", Severity: SeverityWarning, Message: "Little free memory."},
	}}, nil)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.run(plan.ModeFailover, fixturePlan())
	typ, msg, rep := e.failure()
	assert.Equal(t, "Failed", typ)
	assert.Equal(t, "The prechecks found 2 problems that block the recovery: VM 'web-1': Newer version already exists on pool dr; Is running on pool 'prod'; vApp 'crm': Missing SR 'data'; fix them and start the run again.", msg)
	assert.Len(t, rep.Prechecks, 4)
	assert.Empty(t, e.calls.named("Recover"))
	assert.Equal(t, []string{"DestroyDRTasks drtask-1"}, e.calls.named("DestroyDRTasks"))
	assert.Len(t, rep.Gates, 1, "the recover gate never opened")
	require.NotEmpty(t, rep.VMs)
	for _, o := range append(rep.VApps, rep.VMs...) {
		assert.Equal(t, StateSkipped, o.State, "%s %s is not left pending", o.Kind, o.Name)
		assert.Equal(t, "not recovered: the run stopped during precheck", o.Error)
	}
	assert.Equal(t, len(rep.VMs), rep.VMCounts[StateSkipped])
}

func TestOneVAppFailingToRecoverFailsTheRunAtTheEnd(t *testing.T) {
	e := newEnv(t)
	e.failRecover["vapp-crm"] = "VDI_LOCATION_MISSING: a disk of crm-2 is not on any attached SR"
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(2*time.Minute, plan.GateRecover, "alice")
	e.run(plan.ModeFailover, fixturePlan())
	typ, msg, rep := e.failure()
	assert.Equal(t, "Failed", typ)
	assert.Equal(t, "The run finished with 1 failure: vApp 'crm' could not be recovered: VDI_LOCATION_MISSING: a disk of crm-2 is not on any attached SR; the report lists each one.", msg)
	// The others were started, verified and reprotected.
	assert.Len(t, e.calls.named("StartVM"), len(allVMs)-2)
	assert.NotContains(t, e.calls.named("StartVM"), "StartVM vm-crm-1")
	assert.Len(t, e.calls.named("Verify"), 1)
	assert.Len(t, e.calls.named("Reprotect"), 1)
	assert.Equal(t, StateFailed, vmByName(rep.VMs, "crm-1").State)
	assert.Equal(t, StateFailed, vmByName(rep.VApps, "crm").State)
	assert.Equal(t, StateRunning, vmByName(rep.VMs, "db-1").State)
}

func TestCleanupRunsWhenALaterStepFails(t *testing.T) {
	t.Run("scan fails", func(t *testing.T) {
		e := newEnv(t)
		e.OnActivity(acts.Scan, mock.Anything, mock.Anything).Return(nil, temporal.NewNonRetryableApplicationError("VDI.open_database failed on SR 'DR SR 1'", "XAPI", nil))
		e.run(plan.ModeTestFailover, fixturePlan())
		typ, msg, _ := e.failure()
		assert.Equal(t, "Failed", typ)
		assert.Equal(t, "Reading the metadata on the SRs at site dc2 failed: VDI.open_database failed on SR 'DR SR 1'; check the SRs hold replicated metadata, then start the run again.", msg)
		assert.Equal(t, []string{"CleanupTest vapps= vms= srs=sr-1"}, e.calls.named("CleanupTest"))
		assert.Equal(t, []string{"DestroyDRTasks drtask-1"}, e.calls.named("DestroyDRTasks"))
	})
	t.Run("start fails", func(t *testing.T) {
		e := newEnv(t)
		e.onStartVM(func(_ context.Context, in *activities.StartVMInput) (*activities.StartVMResult, error) {
			return nil, temporal.NewNonRetryableApplicationError("no host has enough memory", "XAPI", nil)
		})
		e.run(plan.ModeTestFailover, fixturePlan())
		typ, msg, _ := e.failure()
		assert.Equal(t, "Failed", typ)
		assert.Contains(t, msg, "VM 'db-1' could not be started: no host has enough memory")
		assert.Len(t, e.calls.named("CleanupTest"), 1)
		assert.Contains(t, e.calls.named("CleanupTest")[0], "vm-web-1")
		// app-1 (order 1) is not started after db-1 (order 0) failed.
		assert.NotContains(t, e.calls.named("StartVM"), "StartVM vm-app-1")
		assert.Contains(t, e.calls.named("StartVM"), "StartVM vm-crm-1")
		_, _, rep := e.failure()
		// The test failover then cleans it up, keeping why it failed.
		va := vmByName(rep.VApps, "db-app")
		assert.Equal(t, StateCleanedUp, va.State)
		assert.Equal(t, "3 of 3 VMs did not start", va.Error)
	})
}

func TestFailedIntroduceStillDestroysTheDRTasksItCreated(t *testing.T) {
	e := newEnv(t)
	partial := &activities.IntroduceResult{DRTasks: []activities.DRTask{{UUID: "drtask-half", StorageName: "lun1"}}}
	e.OnActivity(acts.Introduce, mock.Anything, mock.Anything).Return(nil,
		temporal.NewApplicationErrorWithOptions("PBD.plug failed on host dr-02", "SR_BACKEND_FAILURE_47",
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{partial}}))
	e.approve(time.Minute, "storage-ready", "alice")
	e.run(plan.ModeFailover, fixturePlan())
	typ, _, _ := e.failure()
	assert.Equal(t, "Failed", typ)
	assert.Equal(t, []string{"DestroyDRTasks drtask-half srs=sr-1"}, e.calls.named("DestroyDRTasks"),
		"the tasks it reported, and any other that introduced the SRs it was asked for")
}

// TestAbortDuringIntroduceDestroysUnreportedDRTasks: an abort cancels
// Introduce before it reports the DR task XAPI may already have created;
// cleanup asks for the DR tasks of the SRs Introduce was given.
func TestAbortDuringIntroduceDestroysUnreportedDRTasks(t *testing.T) {
	e := newEnv(t)
	e.OnActivity(acts.Introduce, mock.Anything, mock.Anything).After(time.Hour).Return(&activities.IntroduceResult{}, nil)
	e.signal(10*time.Minute, SignalAbort, Abort{By: "dave", Reason: "wrong storage"})
	e.run(plan.ModeTestFailover, fixturePlan())
	typ, _, rep := e.failure()
	assert.Equal(t, "Aborted", typ)
	assert.Equal(t, []string{"DestroyDRTasks  srs=sr-1"}, e.calls.named("DestroyDRTasks"))
	var events []string
	for _, ev := range rep.Timeline {
		events = append(events, ev.Message)
	}
	assert.Contains(t, events, "Destroyed any DR task that introduced one of the 1 SR Introduce was asked for.")
}

func TestNoForeignMetadataFailsWithTheReason(t *testing.T) {
	e := newEnv(t)
	e.OnActivity(acts.Scan, mock.Anything, mock.Anything).Return(&activities.ScanResult{
		Ignored: []string{"Metadata VDI v-1 on SR 'DR SR 1' holds this pool's own metadata."},
	}, nil)
	e.run(plan.ModeTestFailover, fixturePlan())
	typ, msg, rep := e.failure()
	assert.Equal(t, "Failed", typ)
	assert.Contains(t, msg, "No metadata of another pool was found on 2 SRs at site dc2")
	assert.Contains(t, e.timelineMessages(rep), "Ignored: Metadata VDI v-1 on SR 'DR SR 1' holds this pool's own metadata.")
	assert.Empty(t, e.calls.named("Recover"))
	assert.Len(t, e.calls.named("DestroyDRTasks"), 1)
}

func TestStartOrderInsideVAppAndAcrossGroups(t *testing.T) {
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(2*time.Minute, plan.GateRecover, "alice")
	e.run(plan.ModeFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	starts := e.calls.named("StartVM ")
	pos := func(uuid string) int { return slices.Index(starts, "StartVM "+uuid) }
	for _, uuid := range allVMs {
		require.GreaterOrEqual(t, pos(uuid), 0, uuid)
	}
	// Group db (vApp db-app) before group web before the rest.
	for _, db := range []string{"vm-db-1", "vm-db-2", "vm-app-1"} {
		for _, later := range []string{"vm-web-1", "vm-web-2", "vm-misc-1", "vm-crm-1", "vm-crm-2"} {
			assert.Less(t, pos(db), pos(later), "%s before %s", db, later)
		}
	}
	for _, web := range []string{"vm-web-1", "vm-web-2"} {
		for _, later := range []string{"vm-misc-1", "vm-crm-1", "vm-crm-2"} {
			assert.Less(t, pos(web), pos(later), "%s before %s", web, later)
		}
	}
	// Inside a vApp by order: db-1 and db-2 (order 0) before app-1 (order 1).
	assert.Less(t, pos("vm-db-1"), pos("vm-app-1"))
	assert.Less(t, pos("vm-db-2"), pos("vm-app-1"))
	assert.Less(t, pos("vm-crm-1"), pos("vm-crm-2"))
}

// A group starts as soon as its units are recovered, while later groups are
// still being recovered (recover-start-overlap): the last group's recovery is
// held until the first group's VM started, which without the overlap would
// never happen (the guard then ends the run, and the test fails).
func TestFirstGroupStartsWhileLaterGroupsRecover(t *testing.T) {
	e := newEnv(t)
	dbStarted := make(chan struct{})
	var once sync.Once
	guard := time.AfterFunc(20*time.Second, func() { once.Do(func() { close(dbStarted) }) })
	defer guard.Stop()
	var mu sync.Mutex
	heldUntilStart := false
	e.OnActivity(acts.Recover, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.RecoverInput) (*activities.RecoverResult, error) {
		res := &activities.RecoverResult{}
		for _, u := range in.Units {
			if u.UUID == "vapp-crm" || u.UUID == "vm-misc-1" { // the rest group
				<-dbStarted
				mu.Lock()
				heldUntilStart = guard.Stop() || heldUntilStart
				mu.Unlock()
			}
			e.calls.add("Recover " + u.UUID)
			res.Units = append(res.Units, activities.RecoveredUnit{UUID: u.UUID, Kind: u.Kind})
		}
		return res, nil
	})
	e.onStartVM(func(_ context.Context, in *activities.StartVMInput) (*activities.StartVMResult, error) {
		if in.VMUUID == "vm-db-1" {
			once.Do(func() { close(dbStarted) })
		}
		return &activities.StartVMResult{PowerState: "Running"}, nil
	})
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(2*time.Minute, plan.GateRecover, "alice")
	p := fixturePlan()
	p.Concurrency.BatchSize = 1 // more VMs than one start child holds
	e.run(plan.ModeFailover, p)
	require.NoError(t, e.GetWorkflowError())
	assert.True(t, heldUntilStart, "the rest group's recovery ended only after group db's VM started")
	assert.Equal(t, OutcomeSucceeded, e.report().Outcome)
	starts := e.calls.named("StartVM ")
	assert.Len(t, starts, len(allVMs), "every VM started once")
}

// The start slots are shared through the activities (activities/slots.go):
// the workflow schedules every VM of a group that may start now, each with
// the plan's cap, rather than a fixed share per child.
func TestStartSchedulesEveryReadyVMWithThePlansCap(t *testing.T) {
	p := fixturePlan()
	p.PriorityGroups = nil
	p.Concurrency.Start = 2
	e := newEnv(t)
	var mu sync.Mutex
	var inFlight, most int
	slots := map[int]int{}
	// The starts are held until three are in flight at once, one more than
	// the cap: only then may they return. (The guard only ends a broken run.)
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	guard := time.AfterFunc(20*time.Second, open)
	defer guard.Stop()
	e.onStartVM(func(_ context.Context, in *activities.StartVMInput) (*activities.StartVMResult, error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		slots[in.Slots]++
		if inFlight >= 3 {
			open()
		}
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		return &activities.StartVMResult{PowerState: "Paused"}, nil
	})
	e.run(plan.ModeTestFailover, p)
	require.NoError(t, e.GetWorkflowError())
	assert.GreaterOrEqual(t, most, 3, "more than the cap is scheduled: the activities share the slots")
	assert.Equal(t, map[int]int{2: len(allVMs)}, slots, "every start carries the plan's cap")
}

func TestProgressQueryAtTheRecoverGate(t *testing.T) {
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	var p *Progress
	e.RegisterDelayedCallback(func() { p = e.progress() }, 90*time.Second)
	e.approve(2*time.Minute, plan.GateRecover, "alice")
	e.run(plan.ModeFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())

	require.NotNil(t, p)
	assert.Equal(t, "p1", p.Plan)
	assert.Equal(t, plan.ModeFailover, p.Mode)
	assert.Equal(t, PhaseRecoverGate, p.Phase)
	require.NotNil(t, p.WaitingGate)
	assert.Equal(t, plan.GateRecover, p.WaitingGate.Gate)
	assert.Equal(t, GateWaiting, p.WaitingGate.State)
	assert.Contains(t, p.WaitingGate.Summary, "Recover 2 vApps and 3 standalone VMs (8 VMs in all) from site dc1 at site dc2, then leave them running.")
	assert.Contains(t, p.WaitingGate.Summary, "Prechecks: 1 ok, 1 warning, 0 problems.")
	assert.Contains(t, p.WaitingGate.Summary, "- warning VM 'misc-1' (existing): Already exists on pool dr. It will be replaced.")
	require.Len(t, p.Gates, 2)
	assert.Equal(t, GateApproved, p.Gates[0].State)
	assert.Len(t, p.Prechecks, 2)
	assert.Len(t, p.VApps, 2)
	require.Len(t, p.VMs, len(allVMs))
	for _, vm := range p.VMs {
		assert.Equal(t, StatePending, vm.State)
	}
	assert.Equal(t, "db-app", p.VApps[0].Name, "vApps in start order")
}

func TestSelectionWarningsReachTheReport(t *testing.T) {
	p := fixturePlan()
	p.Selection = plan.Selection{VMs: []string{"web-*", "gone-vm"}}
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(2*time.Minute, plan.GateRecover, "alice")
	e.run(plan.ModeFailover, p)
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()
	assert.Contains(t, rep.Warnings, `Selection vms entry "gone-vm" matched nothing in the metadata found; it is ignored.`)
	assert.Len(t, rep.VMs, 2)
	assert.Equal(t, OutcomeSucceeded, rep.Outcome)
}

func TestSelectionMatchingNothingFails(t *testing.T) {
	p := fixturePlan()
	p.Selection = plan.Selection{VApps: []string{"nope"}}
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.run(plan.ModeFailover, p)
	typ, msg, _ := e.failure()
	assert.Equal(t, "Failed", typ)
	assert.Contains(t, msg, "The plan's selection matched no vApp or VM")
	assert.Equal(t, []string{"DestroyDRTasks drtask-1"}, e.calls.named("DestroyDRTasks"))
}

func TestNoUnhandledSignalsAtCompletion(t *testing.T) {
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(2*time.Minute, plan.GateRecover, "alice")
	// Late signals: taken and noted, not left in the channels.
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(SignalApprove, Approval{Gate: plan.GateRecover, By: "late"})
	}, 2*time.Minute)
	e.run(plan.ModeFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()
	assert.Contains(t, strings.Join(e.timelineMessages(rep), "\n"), "by late not counted")
}

func ptr[T any](v T) *T { return &v }

// TestStartVMsProgressQuery: a start child answers its progress query VM by
// VM. Its one StartBatch activity runs every order, so while it runs the
// child shows each VM starting (since the activity began) and says so, for
// the live view to read the activity's heartbeat; then each VM running with
// its start time, the later order skipped when the first failed.
func TestStartVMsProgressQuery(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(StartVMs, workflow.RegisterOptions{Name: StartVMsWorkflowName})
	env.OnActivity(acts.StartBatch, mock.Anything, mock.Anything).After(time.Minute).Return(batchOf(nil, func(_ context.Context, in *activities.StartVMInput) (*activities.StartVMResult, error) {
		if in.VMUUID == "u-web" {
			return nil, temporal.NewNonRetryableApplicationError("VM 'web' cannot start: no memory", "HOST_NOT_ENOUGH_FREE_MEMORY", nil)
		}
		return &activities.StartVMResult{PowerState: "Running"}, nil
	}))
	var mid StartVMsProgress
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(&mid))
	}, 30*time.Second)
	env.ExecuteWorkflow(StartVMsWorkflowName, &StartVMsInput{Site: "dr", Chains: []StartChain{
		{Label: "vApp 'erp'", Steps: [][]VMRef{{{UUID: "u-db", Name: "db"}}, {{UUID: "u-app", Name: "app"}}}},
		{Label: "vApp 'shop'", Steps: [][]VMRef{{{UUID: "u-web", Name: "web"}}, {{UUID: "u-cart", Name: "cart"}}}},
	}})
	require.NoError(t, env.GetWorkflowError())
	assert.True(t, mid.InActivity)
	require.Len(t, mid.VMs, 4)
	for _, vm := range mid.VMs {
		assert.Equal(t, StateStarting, vm.State, vm.Name)
		assert.NotNil(t, vm.StartingAt, vm.Name)
	}
	var res StartVMsResult
	require.NoError(t, env.GetWorkflowResult(&res))
	got := map[string]string{}
	for _, v := range res.VMs {
		switch {
		case v.Skipped:
			got[v.UUID] = "skipped: " + v.Error
		case v.Error != "":
			got[v.UUID] = "failed " + v.Code
		default:
			got[v.UUID] = v.PowerState
			assert.False(t, v.StartedAt.IsZero(), v.UUID)
		}
	}
	assert.Equal(t, map[string]string{
		"u-db": "Running", "u-app": "Running", "u-web": "failed HOST_NOT_ENOUGH_FREE_MEMORY",
		"u-cart": "skipped: not started because VM 'web' of an earlier order failed to start",
	}, got)
}
