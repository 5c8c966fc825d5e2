package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

var errScheduleExists = temporal.ErrScheduleAlreadyRunning

const demoPlan = "../dev/plans/demo.yaml"

func running(p *workflows.Progress) step {
	return step{status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, progress: p}
}

func completed(r *workflows.Report) step {
	return step{status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, result: r}
}

// failedWith is a run that failed with its report in the error's details,
// as the workflows do for failed, rejected and aborted runs.
func failedWith(r *workflows.Report) step {
	return step{status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED,
		err: temporal.NewNonRetryableApplicationError(r.Message, "LifeboatRun"+r.Outcome, nil, *r)}
}

func demoRun(steps ...step) *fakeRun {
	return &fakeRun{id: "lifeboat-demo-failover", runID: "run-1", steps: steps}
}

func TestStartFailover(t *testing.T) {
	ta := newTestApp(newFake(), map[string]string{"USER": "carol"})
	code := ta.run("failover", "--plan", demoPlan, "--ui-url", "http://ui:8233/")
	require.Equal(t, exitcode.OK, code, ta.errOut.String())
	golden(t, "start-failover.txt", ta.out.String())

	require.Len(t, ta.fake.started, 1)
	o := ta.fake.started[0]
	assert.Equal(t, "lifeboat-demo-failover", o.ID)
	assert.Equal(t, workflows.TaskQueue, o.TaskQueue)
	assert.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, o.WorkflowIDReusePolicy)
	assert.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, o.WorkflowIDConflictPolicy)
	assert.True(t, o.WorkflowExecutionErrorWhenAlreadyStarted)
	v, ok := o.TypedSearchAttributes.GetKeyword(temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrPlan))
	assert.True(t, ok)
	assert.Equal(t, "demo", v)
	v, _ = o.TypedSearchAttributes.GetKeyword(temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrMode))
	assert.Equal(t, "failover", v)
	assert.Equal(t, "failover of plan demo: primary → dr", o.StaticSummary)
	assert.Contains(t, o.StaticDetails, "gate `recover`: 1 of alice, bob, timeout 4h")

	require.Len(t, ta.fake.startArgs, 2)
	assert.Equal(t, workflows.FailoverWorkflowName, ta.fake.startArgs[0])
	in := ta.fake.startArgs[1].(*workflows.RunInput)
	assert.Equal(t, "carol", in.RequestedBy)
	assert.Equal(t, "demo", in.Plan.Name)
	assert.Empty(t, in.Start)
}

func TestStartJSONAndOverrides(t *testing.T) {
	ta := newTestApp(newFake(), nil)
	code := ta.run("test-failover", "--plan", demoPlan, "--start", "none", "--as", "dave", "--output", "json", "--namespace", "dr")
	require.Equal(t, exitcode.OK, code, ta.errOut.String())
	assert.JSONEq(t, `{"workflow_id":"lifeboat-demo-test-failover","run_id":"run-1","ui_url":"http://127.0.0.1:8233/namespaces/dr/workflows/lifeboat-demo-test-failover/run-1/history"}`, ta.out.String())
	in := ta.fake.startArgs[1].(*workflows.RunInput)
	assert.Equal(t, plan.StartNone, in.Start)
	assert.Equal(t, "dave", in.RequestedBy)
	assert.Equal(t, workflows.TestFailoverWorkflowName, ta.fake.startArgs[0])
}

func TestStartRefusals(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: x\nsource: a\ntarget: a\n"), 0o600))
	noFailback := filepath.Join(dir, "nofb.yaml")
	require.NoError(t, os.WriteFile(noFailback, []byte("name: x\nsource: a\ntarget: b\nstorage: [{type: lvmohba, device_config: {SCSIid: x}}]\nselection: {all: true}\n"), 0o600))

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no plan", []string{"failover"}, exitcode.Usage, "lifeboat: no plan given; pass --plan FILE\n"},
		{"stray arg", []string{"failover", "demo"}, exitcode.Usage, `unexpected argument "demo"`},
		{"bad start", []string{"failover", "--plan", demoPlan, "--start", "up"}, exitcode.Usage, `--start "up" is not a start mode`},
		{"test running", []string{"test-failover", "--plan", demoPlan, "--start", "running"}, exitcode.Usage, "running them next to production is unsafe"},
		{"invalid plan", []string{"failover", "--plan", bad}, exitcode.Invalid, "bad.yaml:3:9: target: source and target are both \"a\""},
		{"missing plan", []string{"failover", "--plan", filepath.Join(dir, "none.yaml")}, exitcode.Invalid, "lifeboat: cannot read the plan " + filepath.Join(dir, "none.yaml") + ": no such file or directory; check the path\n"},
		{"failback without storage", []string{"failback", "--plan", noFailback}, exitcode.Invalid, "has no failback_storage"},
		{"bad output", []string{"--output", "yaml", "failover", "--plan", demoPlan}, exitcode.Usage, `--output "yaml" is not a format`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ta := newTestApp(newFake(), nil)
			assert.Equal(t, tc.code, ta.run(tc.args...))
			assert.Contains(t, ta.errOut.String(), tc.msg)
			assert.False(t, ta.dialed, "refused before connecting")
		})
	}
}

func TestStartAlreadyRunning(t *testing.T) {
	f := newFake()
	f.startErr = serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "run-0")
	ta := newTestApp(f, nil)
	assert.Equal(t, exitcode.Running, ta.run("failover", "--plan", demoPlan))
	assert.Equal(t, "lifeboat: a failover of plan demo is already running (lifeboat-demo-failover, run run-0); watch it with 'lifeboat status lifeboat-demo-failover --watch' or stop it with 'lifeboat abort lifeboat-demo-failover'\n", ta.errOut.String())
}

func TestStartWaitFollowsToOutcome(t *testing.T) {
	r := doneReport()
	r.Outcome, r.Message = workflows.OutcomeAborted, "aborted by bob: wrong plan"
	f := newFake(demoRun(running(waitingProgress()), running(recoveringProgress()), failedWith(r)))
	ta := newTestApp(f, nil)
	assert.Equal(t, exitcode.Aborted, ta.run("failover", "--plan", demoPlan, "--wait"))
	assert.Contains(t, ta.out.String(), "lifeboat-demo-failover aborted: aborted by bob: wrong plan\n")
}

func TestApprove(t *testing.T) {
	refused := func(msg string) error {
		return temporal.NewApplicationError(msg, workflows.ErrDecisionRefused)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		answer error // the run's refusal, nil: it counts the decision
		code   int
		out    string
		msg    string
		sent   bool
	}{
		{"ok", []string{"approve", "lifeboat-demo-failover", "--gate", plan.GateRecover, "--as", "bob", "--comment", "prechecks read"}, nil, exitcode.OK,
			"Gate recover approved by bob (1 of 1): the run goes on.\nFollow it with: lifeboat status lifeboat-demo-failover --watch\n", "", true},
		{"plan name and mode", []string{"approve", "demo", "--mode", "failover", "--gate", plan.GateRecover, "--as", "alice"}, nil, exitcode.OK, "Gate recover approved by alice", "", true},
		{"refused by the run", []string{"approve", "lifeboat-demo-failover", "--gate", plan.GateRecover, "--as", "mallory"},
			refused("Approval of gate recover by mallory not counted: only alice, bob may decide it."), exitcode.RunFailed, "",
			"lifeboat: Approval of gate recover by mallory not counted: only alice, bob may decide it (refused by the run); see 'lifeboat status lifeboat-demo-failover' for the gate waiting and who may decide it\n", true},
		{"no as", []string{"approve", "lifeboat-demo-failover", "--gate", plan.GateRecover}, nil, exitcode.Usage, "", "say who you are with --as NAME", false},
		{"bad gate", []string{"approve", "lifeboat-demo-failover", "--gate", "go", "--as", "bob"}, nil, exitcode.Usage, "", `--gate "go" is not a gate`, false},
		{"no run", []string{"approve", "--gate", plan.GateRecover, "--as", "bob"}, nil, exitcode.Usage, "", "approve needs exactly one RUN", false},
		{"not found", []string{"approve", "demo", "--gate", plan.GateRecover, "--as", "bob"}, nil, exitcode.NotFound, "",
			"lifeboat: no run demo in namespace default; if demo is a plan name, add --mode failover, failback or test-failover\n", false},
		{"bad mode", []string{"approve", "demo", "--mode", "drill", "--gate", plan.GateRecover, "--as", "bob"}, nil, exitcode.Usage, "", `"drill" is not a mode`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(demoRun(running(waitingProgress())))
			f.updateErr = tc.answer
			ta := newTestApp(f, nil)
			assert.Equal(t, tc.code, ta.run(tc.args...), ta.errOut.String())
			assert.Contains(t, ta.out.String(), tc.out)
			if tc.msg != "" {
				assert.Contains(t, ta.errOut.String(), tc.msg)
			}
			assert.Empty(t, f.signals, "decisions are Updates")
			assert.Empty(t, f.queries, "the CLI does not decide for the run")
			if !tc.sent {
				assert.Empty(t, f.updates)
				return
			}
			require.Len(t, f.updates, 1)
			u := f.updates[0]
			assert.Equal(t, workflows.UpdateApprove, u.UpdateName)
			assert.Equal(t, "run-1", u.RunID)
			assert.Equal(t, client.WorkflowUpdateStageCompleted, u.WaitForStage)
		})
	}
}

func TestApprovePayloadAndReject(t *testing.T) {
	f := newFake(demoRun(running(waitingProgress())))
	ta := newTestApp(f, nil)
	require.Equal(t, exitcode.OK, ta.run("reject", "lifeboat-demo-failover/run-1", "--gate", plan.GateRecover, "--as", "alice", "--comment", "memory too low"))
	assert.Equal(t, "Gate recover rejected by alice: the run cleans up and ends as rejected.\nFollow it with: lifeboat status lifeboat-demo-failover --watch\n", ta.out.String())
	require.Len(t, f.updates, 1)
	assert.Equal(t, workflows.UpdateReject, f.updates[0].UpdateName)
	assert.Equal(t, []any{workflows.Approval{Gate: plan.GateRecover, By: "alice", Comment: "memory too low"}}, f.updates[0].Args)
}

// --force, and a run whose worker predates Updates, send a signal: nobody
// answers it, and the CLI says so instead of "Approved".
func TestApproveAsSignalSaysItIsNotAnswered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		force bool
		old   bool
		out   string
	}{
		{"force", true, false, "Sent the approval of gate storage-ready of lifeboat-demo-failover by mallory as a signal, which gets no answer: the run counts it only if it is waiting at gate storage-ready and mallory may decide it.\nSee whether it did with: lifeboat status lifeboat-demo-failover\n"},
		{"old run", false, true, "This run's worker does not take decisions as Updates yet, so it was sent as a signal: Sent the approval of gate storage-ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(demoRun(running(waitingProgress())))
			if tc.old {
				f.updateErr = errors.New("unknown update approve. KnownUpdates=[]")
			}
			ta := newTestApp(f, nil)
			args := []string{"approve", "lifeboat-demo-failover", "--gate", plan.GateStorageReady, "--as", "mallory"}
			if tc.force {
				args = append(args, "--force")
			}
			assert.Equal(t, exitcode.OK, ta.run(args...), ta.errOut.String())
			assert.Contains(t, ta.out.String(), tc.out)
			assert.NotContains(t, ta.out.String(), "Approved")
			require.Len(t, f.signals, 1)
			assert.Equal(t, workflows.SignalApprove, f.signals[0].name)
		})
	}
}

func TestApproveWithoutWorker(t *testing.T) {
	f := newFake(demoRun(noWorker(waitingProgress())))
	ta := newTestApp(f, nil)
	assert.Equal(t, exitcode.RunFailed, ta.run("approve", "lifeboat-demo-failover", "--gate", plan.GateRecover, "--as", "bob"))
	assert.Equal(t, "lifeboat: cannot approve gate recover of lifeboat-demo-failover now: no lifeboat worker answered (none polls task queue lifeboat); the run has not failed: it waits, and goes on where it is once lifeboat-worker runs on task queue lifeboat\n", ta.errOut.String())
	assert.Empty(t, f.updates)
	assert.Empty(t, f.signals)
}

func TestApproveNotRunning(t *testing.T) {
	ta := newTestApp(newFake(demoRun(completed(doneReport()))), nil)
	assert.Equal(t, exitcode.RunFailed, ta.run("approve", "lifeboat-demo-failover", "--gate", plan.GateRecover, "--as", "bob"))
	assert.Contains(t, ta.errOut.String(), "run lifeboat-demo-failover/run-1 is completed, so there is nothing to approve")
}

func TestAbort(t *testing.T) {
	ta := newTestApp(newFake(demoRun(running(waitingProgress()))), map[string]string{"USER": "ops"})
	require.Equal(t, exitcode.OK, ta.run("abort", "demo", "--mode", "failover", "--reason", "wrong site"))
	require.Len(t, ta.fake.signals, 1)
	assert.Equal(t, workflows.Abort{By: "ops", Reason: "wrong site"}, ta.fake.signals[0].arg)
	assert.Equal(t, workflows.SignalAbort, ta.fake.signals[0].name)
}

func TestStatusExitCodes(t *testing.T) {
	rejected := doneReport()
	rejected.Outcome, rejected.Message = workflows.OutcomeRejected, "rejected by bob"
	failed := doneReport()
	failed.Outcome, failed.Message = workflows.OutcomeFailed, "recover of erp failed"
	canceled := doneReport()
	canceled.Outcome, canceled.Message = workflows.OutcomeAborted, "The run was cancelled from Temporal during recover."
	for _, tc := range []struct {
		name string
		st   step
		code int
	}{
		{"running", running(waitingProgress()), exitcode.Running},
		{"succeeded", completed(doneReport()), exitcode.OK},
		{"rejected", failedWith(rejected), exitcode.Rejected},
		{"failed", failedWith(failed), exitcode.RunFailed},
		// Cancelled from the Web UI: the report is the cancellation's details.
		{"canceled", step{status: enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, err: temporal.NewCanceledError(*canceled)}, exitcode.Aborted},
		{"terminated", step{status: enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, err: errors.New("terminated by admin")}, exitcode.RunFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ta := newTestApp(newFake(demoRun(tc.st)), nil)
			assert.Equal(t, tc.code, ta.run("status", "lifeboat-demo-failover"), ta.errOut.String())
			if tc.name == "terminated" {
				assert.Equal(t, "lifeboat: run lifeboat-demo-failover/run-1 is terminated and left no report (terminated by admin); its history in the Web UI shows what happened\n", ta.errOut.String())
				return
			}
			assert.Empty(t, ta.errOut.String(), "the screen says it all")
			assert.Contains(t, ta.out.String(), "Run      lifeboat-demo-failover\nRun ID   run-1\n")
		})
	}
}

func TestStatusWatchLines(t *testing.T) {
	f := newFake(demoRun(running(waitingProgress()), running(recoveringProgress()), completed(doneReport())))
	ta := newTestApp(f, nil)
	assert.Equal(t, exitcode.OK, ta.run("status", "lifeboat-demo-failover", "--watch"))
	golden(t, "watch-run.txt", ta.out.String())
}

// frames splits what --watch wrote to a terminal into its frames' lines.
func frames(t *testing.T, out string) [][]string {
	t.Helper()
	require.True(t, strings.HasPrefix(out, enterAltScreen+hideCursor), "watching takes the alternate screen")
	body, last, ok := strings.Cut(strings.TrimPrefix(out, enterAltScreen+hideCursor), showCursor+leaveAltScreen)
	require.True(t, ok, "and gives it back")
	require.NotContains(t, last, "\x1b[", "the last frame is printed plainly after")
	var fs [][]string
	for _, f := range strings.Split(body, cursorHome)[1:] {
		require.True(t, strings.HasSuffix(f, clearBelow), "each frame clears what is below it")
		var ls []string
		for _, l := range strings.Split(strings.TrimSuffix(f, clearBelow), "\r\n") {
			require.True(t, strings.HasPrefix(l, clearLineEnd), "each line is cleared first")
			ls = append(ls, strings.TrimPrefix(l, clearLineEnd))
		}
		fs = append(fs, ls)
	}
	return fs
}

// Every frame fits the terminal, whatever its size: no line wraps and no
// frame scrolls, so nothing of an earlier frame can be left on the screen.
func TestStatusWatchTerminalFitsEveryWidth(t *testing.T) {
	for _, size := range [][2]int{{60, 30}, {100, 30}, {160, 50}, {40, 12}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			f := newFake(demoRun(running(waitingProgress()), running(recoveringProgress()), completed(doneReport())))
			ta := newTestApp(f, nil)
			ta.isTerminal = true
			ta.termSize = func() (int, int) { return w, h }
			assert.Equal(t, exitcode.OK, ta.run("status", "lifeboat-demo-failover", "-w"))
			fs := frames(t, ta.out.String())
			require.Len(t, fs, 3)
			for i, fr := range fs {
				assert.LessOrEqual(t, len(fr), h, "frame %d", i)
				assert.Equal(t, "Run      lifeboat-demo-failover", fr[0], "frame %d starts at the top", i)
				for _, l := range fr {
					assert.LessOrEqual(t, runewidth.StringWidth(l), w, "frame %d: %q", i, l)
				}
			}
			_, last, _ := strings.Cut(ta.out.String(), leaveAltScreen)
			assert.Equal(t, strings.Join(renderStatus(statusView{ref: runRef{"lifeboat-demo-failover", "run-1"}, status: "completed",
				progress: progressFromReport(doneReport()), outcome: workflows.OutcomeSucceeded, message: doneReport().Message}, time.UTC), "\n")+"\n", last,
				"the last frame, whole, stays in the scrollback")
		})
	}
}

func TestStatusJSON(t *testing.T) {
	ta := newTestApp(newFake(demoRun(completed(doneReport()))), nil)
	assert.Equal(t, exitcode.OK, ta.run("--output", "json", "status", "lifeboat-demo-failover"))
	assert.Contains(t, ta.out.String(), `"outcome": "succeeded"`)
}

func TestReport(t *testing.T) {
	r := doneReport()
	r.Outcome, r.Message = workflows.OutcomeAborted, "aborted by bob"
	ta := newTestApp(newFake(demoRun(failedWith(r))), nil)
	assert.Equal(t, exitcode.Aborted, ta.run("report", "lifeboat-demo-failover"))
	assert.Contains(t, ta.out.String(), "| **Outcome** | aborted |")
	assert.Empty(t, ta.fake.queries, "a finished run's report needs no worker")

	out := filepath.Join(t.TempDir(), "r.html")
	assert.Equal(t, exitcode.Aborted, ta.run("report", "lifeboat-demo-failover", "-o", out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(b), "<!DOCTYPE html>")
	assert.Equal(t, "Wrote the html report of lifeboat-demo-failover to "+out+".\n", ta.errOut.String())

	assert.Equal(t, exitcode.Aborted, ta.run("report", "lifeboat-demo-failover", "--format", "json"))
	assert.Contains(t, ta.out.String(), `"outcome": "aborted"`)

	assert.Equal(t, exitcode.Usage, ta.run("report", "lifeboat-demo-failover", "--format", "pdf"))
}

func TestReportOfRunningRunQueries(t *testing.T) {
	st := running(waitingProgress())
	st.result = doneReport()
	ta := newTestApp(newFake(demoRun(st)), nil)
	assert.Equal(t, exitcode.Running, ta.run("report", "lifeboat-demo-failover"))
	assert.Equal(t, []string{workflows.QueryReport}, ta.fake.queries)
	assert.Contains(t, ta.out.String(), "running (interim report)")
}

// TestStatusAfterWorkerCrash: the worker that ran the run and its children
// died, so Temporal's queries to its sticky queue time out; status resets the
// sticky queues of the run and its pending children and asks again, and a
// live worker answers, children included.
func TestStatusAfterWorkerCrash(t *testing.T) {
	st := liveStep(erpStart(workflows.StateRunning, workflows.StateStarting, workflows.StateRecovered))
	f := newFake(demoRun(st))
	f.deadSticky = map[string]bool{"lifeboat-demo-failover": true}
	for _, ch := range st.children {
		f.deadSticky[ch.id] = true
	}
	ta := newTestApp(f, nil)
	assert.Equal(t, exitcode.Running, ta.run("status", "lifeboat-demo-failover"), ta.errOut.String())
	assert.Len(t, f.stickyReset, 1+len(st.children), "the run and each pending child")
	assert.Equal(t, "lifeboat-demo-failover", f.stickyReset[0])
	assert.Empty(t, f.deadSticky)
	golden(t, "status-live.txt", ta.out.String())
	assert.Empty(t, ta.errOut.String())
}

func TestUnreachable(t *testing.T) {
	f := newFake(demoRun(running(waitingProgress())))
	f.describeErr = serviceerror.NewUnavailable("connection refused")
	ta := newTestApp(f, nil)
	assert.Equal(t, exitcode.Unreachable, ta.run("status", "lifeboat-demo-failover", "--address", "tmp:7233"))
	assert.Equal(t, "lifeboat: cannot reach Temporal at tmp:7233 to look up run lifeboat-demo-failover (address from --address): is Temporal running there? Give its address with --address HOST:PORT, LIFEBOAT_ADDRESS or --config FILE\n", ta.errOut.String())
	assert.NotContains(t, ta.errOut.String(), "make demo", "the demo is not the user's Temporal")

	// An address left in the shell is named as such.
	ta = newTestApp(f, map[string]string{"LIFEBOAT_ADDRESS": "prod:7233"})
	assert.Equal(t, exitcode.Unreachable, ta.run("status", "lifeboat-demo-failover"))
	assert.Contains(t, ta.errOut.String(), "cannot reach Temporal at prod:7233 to look up run lifeboat-demo-failover (address from LIFEBOAT_ADDRESS)")

	ta = newTestApp(newFake(), nil)
	ta.dial = func() func(ctxT, connection) (temporalClient, error) {
		return func(_ ctxT, c connection) (temporalClient, error) {
			return nil, fail(exitcode.Unreachable, "cannot reach Temporal at %s", c.address)
		}
	}()
	assert.Equal(t, exitcode.Unreachable, ta.run("setup"))
}

func TestConnectionPrecedence(t *testing.T) {
	ta := newTestApp(newFake(), map[string]string{"LIFEBOAT_ADDRESS": "env:7233", "LIFEBOAT_NAMESPACE": "envns", "LIFEBOAT_CONFIG": "../dev/worker.yaml"})
	var got connection
	ta.dial = func(_ ctxT, c connection) (temporalClient, error) { got = c; return ta.fake, nil }
	require.Equal(t, exitcode.OK, ta.run("setup"))
	assert.Equal(t, connection{address: "env:7233", from: "LIFEBOAT_ADDRESS", namespace: "envns", taskQueue: workflows.TaskQueue}, got)
	require.Equal(t, exitcode.OK, ta.run("setup", "--address", "flag:7233", "--tls-server-name", "t"))
	assert.Equal(t, "flag:7233", got.address)
	assert.Equal(t, "--address", got.from)
	assert.True(t, got.tls.On())

	ta = newTestApp(newFake(), map[string]string{"LIFEBOAT_CONFIG": "../worker/config/testdata/bad.yaml"})
	assert.Equal(t, exitcode.Invalid, ta.run("setup"))
}

func TestSetup(t *testing.T) {
	ta := newTestApp(newFake(), nil)
	require.Equal(t, exitcode.OK, ta.run("setup"))
	assert.Equal(t, "Registered LifeboatPlan, LifeboatMode, LifeboatPhase in namespace default.\n", ta.out.String())
	require.Equal(t, exitcode.OK, ta.run("setup"))
	assert.Equal(t, "The search attributes LifeboatPlan, LifeboatMode, LifeboatPhase are already registered in namespace default.\n", ta.out.String())

	f := newFake()
	f.operator.addErr = serviceerror.NewPermissionDenied("denied", "")
	ta = newTestApp(f, nil)
	assert.Equal(t, exitcode.RunFailed, ta.run("setup", "--namespace", "dr"))
	assert.Contains(t, ta.errOut.String(), "your identity may not add search attributes to namespace dr; ask a Temporal admin to run 'lifeboat setup --namespace dr'")
}

func TestPlanCheck(t *testing.T) {
	ta := newTestApp(newFake(), nil)
	assert.Equal(t, exitcode.OK, ta.run("plan", "check", demoPlan, "../dev/plans/example.yaml"))
	assert.Equal(t, "../dev/plans/demo.yaml: plan demo is valid (0 warnings)\n../dev/plans/example.yaml: plan erp-prod is valid (0 warnings); the worker must define the secrets lyon-chap\n", ta.out.String())
	assert.False(t, ta.dialed, "plan check needs no Temporal")

	assert.Equal(t, exitcode.Invalid, ta.run("plan", "check", "../plan/testdata/bad-unknown-keys.yaml", "../plan/testdata/warn-gates.yaml"))
	golden(t, "plan-check.txt", ta.out.String()+"--- stderr\n"+ta.errOut.String())

	assert.Equal(t, exitcode.Invalid, ta.run("--output", "json", "plan", "check", "../plan/testdata/bad-unknown-keys.yaml"))
	assert.Contains(t, ta.out.String(), `"line": 12`)
	assert.Equal(t, exitcode.Usage, ta.run("plan", "check"))
}

func TestSchedule(t *testing.T) {
	ta := newTestApp(newFake(), map[string]string{"USER": "ops"})
	require.Equal(t, exitcode.OK, ta.run("schedule", "create", "--plan", demoPlan, "--every", "168h"), ta.errOut.String())
	o, ok := ta.fake.schedules.created["lifeboat-demo-drill"]
	require.True(t, ok)
	assert.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, o.Overlap)
	assert.Equal(t, []client.ScheduleIntervalSpec{{Every: 168 * 60 * 60 * 1e9}}, o.Spec.Intervals)
	act := o.Action.(*client.ScheduleWorkflowAction)
	assert.Equal(t, workflows.TestFailoverWorkflowName, act.Workflow)
	assert.Equal(t, "lifeboat-demo-test-failover", act.ID)
	assert.Equal(t, "schedule lifeboat-demo-drill (set up by ops)", act.Args[0].(*workflows.RunInput).RequestedBy)

	assert.Equal(t, exitcode.RunFailed, ta.run("schedule", "create", "--plan", demoPlan, "--every", "168h"))
	assert.Contains(t, ta.errOut.String(), "schedule lifeboat-demo-drill already exists")

	require.Equal(t, exitcode.OK, ta.run("schedule", "create", "--plan", demoPlan, "--cron", "0 3 * * 6", "--id", "weekly"))
	assert.Equal(t, []string{"0 3 * * 6"}, ta.fake.schedules.created["weekly"].Spec.CronExpressions)

	for _, args := range [][]string{
		{"schedule", "create", "--plan", demoPlan},
		{"schedule", "create", "--plan", demoPlan, "--every", "1h", "--cron", "0 3 * * 6"},
		{"schedule", "create", "--plan", demoPlan, "--every", "10m"},
		{"schedule", "create", "--plan", demoPlan, "--cron", "0 3 * *"},
		{"schedule", "create", "--plan", demoPlan, "--every", "168h", "--start", "running"},
	} {
		assert.Equal(t, exitcode.Usage, ta.run(args...), args)
	}

	require.Equal(t, exitcode.OK, ta.run("schedule", "delete", "weekly"))
	assert.Equal(t, exitcode.NotFound, ta.run("schedule", "delete", "weekly"))
	assert.Contains(t, ta.errOut.String(), "no schedule weekly in namespace default")

	drill := &client.ScheduleListEntry{ID: "lifeboat-demo-drill", NextActionTimes: []timeT{at(60)},
		Spec: &client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 168 * 60 * 60 * 1e9}}}}
	drill.WorkflowType.Name = workflows.TestFailoverWorkflowName
	other := &client.ScheduleListEntry{ID: "someone-else"}
	other.WorkflowType.Name = "Other"
	ta.fake.schedules.entries = []*client.ScheduleListEntry{drill, other}
	require.Equal(t, exitcode.OK, ta.run("schedule", "list"))
	golden(t, "schedule-list.txt", ta.out.String())
}

// TestScheduleWaitsForTheList: Temporal lists schedules from a visibility
// store that lags; create and delete return once the list agrees, so that a
// script's next 'schedule list' shows the change.
func TestScheduleWaitsForTheList(t *testing.T) {
	ta := newTestApp(newFake(), map[string]string{"USER": "ops"})
	s := ta.fake.schedules
	s.lag = 2
	require.Equal(t, exitcode.OK, ta.run("schedule", "create", "--plan", demoPlan, "--every", "168h"), ta.errOut.String())
	assert.Equal(t, 3, s.lists, "two stale lists, then the one showing the schedule")
	require.Equal(t, exitcode.OK, ta.run("schedule", "list"))
	assert.Contains(t, ta.out.String(), "lifeboat-demo-drill")

	s.lists = 0
	require.Equal(t, exitcode.OK, ta.run("schedule", "delete", "lifeboat-demo-drill"))
	assert.Equal(t, 3, s.lists, "two stale lists, then the one without the schedule")
	require.Equal(t, exitcode.OK, ta.run("schedule", "list"))
	assert.Contains(t, ta.out.String(), "No lifeboat schedule")
	assert.Empty(t, ta.errOut.String())
}

// TestScheduleListByMemo: a drill schedule is known by the memo create sets,
// also while the server has not filled in the workflow type of its entry.
func TestScheduleListByMemo(t *testing.T) {
	ta := newTestApp(newFake(), nil)
	p, err := converter.GetDefaultDataConverter().ToPayload("demo")
	require.NoError(t, err)
	e := &client.ScheduleListEntry{ID: "lifeboat-demo-drill", Memo: &commonpb.Memo{Fields: map[string]*commonpb.Payload{"lifeboat_plan": p}}}
	ta.fake.schedules.entries = []*client.ScheduleListEntry{e}
	require.Equal(t, exitcode.OK, ta.run("schedule", "list"))
	assert.Contains(t, ta.out.String(), "lifeboat-demo-drill  demo")
}

// TestStatusLiveStartOrder: while a vApp's start child runs, status shows
// each of its VMs as the child has it (erp-db running, erp-app starting,
// erp-web waiting for its order); a child that cannot answer is skipped and
// its VMs keep the parent's state.
func TestStatusLiveStartOrder(t *testing.T) {
	st := liveStep(erpStart(workflows.StateRunning, workflows.StateStarting, workflows.StateRecovered))
	ta := newTestApp(newFake(demoRun(st)), nil)
	assert.Equal(t, exitcode.Running, ta.run("status", "lifeboat-demo-failover"))
	golden(t, "status-live.txt", ta.out.String())

	ta = newTestApp(newFake(demoRun(st)), nil)
	assert.Equal(t, exitcode.Running, ta.run("--output", "json", "status", "lifeboat-demo-failover"))
	var got struct {
		Progress workflows.Progress `json:"progress"`
	}
	require.NoError(t, json.Unmarshal(ta.out.Bytes(), &got))
	states := map[string]string{}
	for _, vm := range got.Progress.VMs {
		states[vm.Name] = vm.State
	}
	assert.Equal(t, map[string]string{"erp-db": "running", "erp-app": "starting", "erp-web": "recovered", "dns-01": "starting"}, states)
	require.NotNil(t, got.Progress.VMs[0].StartedAt)
	assert.Equal(t, at(9), *got.Progress.VMs[0].StartedAt)
	assert.Equal(t, 9*time.Minute, got.Progress.VMs[0].RTO)
	assert.Equal(t, at(9), got.Progress.UpdatedAt, "updated when the child last reported")
	assert.Equal(t, []string{workflows.QueryProgress, workflows.QueryProgress, workflows.QueryProgress}, ta.fake.queries,
		"the run, then each pending child")
}

// TestStatusWatchLiveStartOrder: --watch prints the VMs of a vApp starting
// one after the other, as the runbook starts them.
func TestStatusWatchLiveStartOrder(t *testing.T) {
	f := newFake(demoRun(
		liveStep(erpStart(workflows.StateStarting, workflows.StateRecovered, workflows.StateRecovered)),
		liveStep(erpStart(workflows.StateRunning, workflows.StateStarting, workflows.StateRecovered)),
		liveStep(erpStart(workflows.StateRunning, workflows.StateRunning, workflows.StateStarting)),
		liveStep(erpStart(workflows.StateRunning, workflows.StateRunning, workflows.StateFailed)),
		completed(doneReport())))
	ta := newTestApp(f, nil)
	assert.Equal(t, exitcode.OK, ta.run("status", "lifeboat-demo-failover", "--watch"))
	golden(t, "watch-live.txt", ta.out.String())
}

func TestHelpReferences(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--bogus"}, "see 'lifeboat --help'\n"},
		{[]string{"schedule", "list", "extra"}, `unexpected argument "extra"; see 'lifeboat schedule list --help'` + "\n"},
		{[]string{"status", "x", "--bogus"}, "see 'lifeboat status --help'\n"},
	} {
		ta := newTestApp(newFake(), nil)
		assert.Equal(t, exitcode.Usage, ta.run(tc.args...))
		assert.Contains(t, ta.errOut.String(), tc.msg)
		assert.NotContains(t, ta.errOut.String(), "lifeboat lifeboat")
	}
}

// The server keeps a cron expression as a calendar (these are the ranges it
// answers for each expression); schedule list shows it as cron again.
func TestCalendarCron(t *testing.T) {
	r := func(start, end, step int) client.ScheduleRange {
		return client.ScheduleRange{Start: start, End: end, Step: step}
	}
	cal := func(min, hour, dom []client.ScheduleRange, dow []client.ScheduleRange) client.ScheduleCalendarSpec {
		return client.ScheduleCalendarSpec{Second: []client.ScheduleRange{r(0, 0, 1)}, Minute: min, Hour: hour, DayOfMonth: dom,
			Month: []client.ScheduleRange{r(1, 12, 1)}, DayOfWeek: dow}
	}
	for _, tc := range []struct {
		cal  client.ScheduleCalendarSpec
		want string
	}{
		{cal([]client.ScheduleRange{r(0, 0, 1)}, []client.ScheduleRange{r(3, 3, 1)}, []client.ScheduleRange{r(1, 31, 1)}, []client.ScheduleRange{r(6, 6, 1)}), "0 3 * * 6"},
		{cal([]client.ScheduleRange{r(0, 59, 15)}, []client.ScheduleRange{r(1, 5, 1)}, []client.ScheduleRange{r(1, 1, 1), r(15, 15, 1)}, []client.ScheduleRange{r(1, 5, 1)}), "*/15 1-5 1,15 * 1-5"},
		{client.ScheduleCalendarSpec{Second: []client.ScheduleRange{r(30, 0, 0)}, Hour: []client.ScheduleRange{r(2, 0, 0)}}, "30 * 2 * * *"},
	} {
		assert.Equal(t, tc.want, calendarCron(tc.cal))
		assert.Equal(t, tc.want, specText(&client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{tc.cal}}))
	}
}

// noWorker is a running run that no worker answers for; p gives what its
// search attributes say.
func noWorker(p *workflows.Progress) step {
	return step{status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, progress: p, noWorker: true}
}

// With no worker, status says so at once (no query left to time out), shows
// what Temporal knows, and exits 8: the run is running, not failed.
func TestStatusWithoutWorker(t *testing.T) {
	f := newFake(demoRun(noWorker(waitingProgress())))
	ta := newTestApp(f, nil)
	assert.Equal(t, exitcode.Running, ta.run("status", "lifeboat-demo-failover"))
	assert.Empty(t, f.queries, "no query is sent to a task queue nobody polls")
	assert.Equal(t, `Run      lifeboat-demo-failover
Run ID   run-1
Plan     demo (failover)
State    running, phase recover-gate
Started  2026-03-14 09:00:00 UTC

No lifeboat worker answered (none polls task queue lifeboat); the run has not failed: it waits, and goes on where it is once lifeboat-worker runs on task queue lifeboat
`, ta.out.String())
	assert.Empty(t, ta.errOut.String())

	// The run's own task queue is the one asked about.
	r := demoRun(noWorker(waitingProgress()))
	r.queue = "dr-workers"
	ta = newTestApp(newFake(r), nil)
	assert.Equal(t, exitcode.Running, ta.run("status", "lifeboat-demo-failover"))
	assert.Contains(t, ta.out.String(), "(none polls task queue dr-workers)")

	// A worker that polls but does not answer (it died a moment ago).
	f = newFake(demoRun(running(waitingProgress())))
	f.deadSticky = map[string]bool{"lifeboat-demo-failover": true}
	f.stickyStaysDead = true
	ta = newTestApp(f, nil)
	assert.Equal(t, exitcode.Running, ta.run("status", "lifeboat-demo-failover"))
	assert.Contains(t, ta.out.String(), "No lifeboat worker answered (none answered within 15s); the run has not failed")

	// The server's own answer when the worker that polled is gone.
	f = newFake(demoRun(running(waitingProgress())))
	f.queryErr = serviceerror.NewFailedPrecondition("no poller seen for task queue recently, worker may be down")
	ta = newTestApp(f, nil)
	assert.Equal(t, exitcode.Running, ta.run("status", "lifeboat-demo-failover"))
	assert.Contains(t, ta.out.String(), "No lifeboat worker answered (Temporal has seen none poll task queue lifeboat lately); the run has not failed")
}

// Watching outlives a worker restart: while no worker answers, the screen
// says so over the last progress seen; the run is never called failed, and
// the watch ends with the run.
func TestStatusWatchSurvivesAWorkerRestart(t *testing.T) {
	steps := func() *fakeRun {
		return demoRun(running(waitingProgress()), noWorker(waitingProgress()), noWorker(waitingProgress()),
			running(recoveringProgress()), completed(doneReport()))
	}
	ta := newTestApp(newFake(steps()), nil)
	assert.Equal(t, exitcode.OK, ta.run("status", "lifeboat-demo-failover", "--watch"))
	out := ta.out.String()
	assert.Equal(t, 1, strings.Count(out, "no lifeboat worker answered"), "said once, when it starts:\n%s", out)
	assert.Contains(t, out, "09:00:00 no lifeboat worker answered (none polls task queue lifeboat); the run has not failed: it waits, and goes on where it is once lifeboat-worker runs on task queue lifeboat; still watching\n09:00:00 a worker answers again\n")
	assert.True(t, strings.HasSuffix(out, "lifeboat-demo-failover succeeded\n"), out)

	ta = newTestApp(newFake(steps()), nil)
	ta.isTerminal = true
	ta.termSize = func() (int, int) { return 100, 40 }
	assert.Equal(t, exitcode.OK, ta.run("status", "lifeboat-demo-failover", "--watch"))
	fs := frames(t, ta.out.String())
	require.Len(t, fs, 5)
	for _, i := range []int{1, 2} {
		lost := strings.Join(fs[i], "\n")
		assert.Contains(t, lost, "Since 09:00:00: no lifeboat worker answered (none polls task queue lifeboat); the run has not\n  failed")
		assert.Contains(t, lost, "Waiting at gate recover", "the last progress seen stays on the screen")
	}
	assert.NotContains(t, strings.Join(fs[3], "\n"), "no lifeboat worker")
}

// Temporal itself not answering for a while does not end the watch either.
func TestStatusWatchSurvivesTemporalGoingAway(t *testing.T) {
	f := newFake(demoRun(running(waitingProgress()), completed(doneReport())))
	f.describeErrs = []error{nil, serviceerror.NewUnavailable("connection refused"), serviceerror.NewUnavailable("connection refused")}
	ta := newTestApp(f, nil)
	assert.Equal(t, exitcode.OK, ta.run("status", "lifeboat-demo-failover", "--watch"))
	assert.Contains(t, ta.out.String(), "09:00:00 cannot reach Temporal at 127.0.0.1:7233 to follow lifeboat-demo-failover/run-1 (address from the default): is Temporal running there?")
	assert.True(t, strings.HasSuffix(ta.out.String(), "lifeboat-demo-failover succeeded\n"))
}

// plan check --config checks the plans against the worker configuration
// that will run them: a site it does not have is a problem before any run.
func TestPlanCheckWithConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "worker.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("sites:\n  primary: {url: http://a, username: root, password_env: P}\n  lab: {url: http://b, username: root, password_env: P}\n"), 0o600))
	ta := newTestApp(newFake(), nil)
	assert.Equal(t, exitcode.Invalid, ta.run("plan", "check", "--config", cfg, demoPlan))
	assert.Equal(t, `../dev/plans/demo.yaml:7:9: target: site "dr" is not in the worker configuration `+cfg+` (its sites: lab, primary); use one of those, or add the site there
../dev/plans/demo.yaml: invalid (1 problem)
`, ta.out.String())
	assert.False(t, ta.dialed, "plan check needs no Temporal")

	// Starting the plan with that configuration is refused the same way.
	ta = newTestApp(newFake(), map[string]string{"LIFEBOAT_CONFIG": cfg})
	assert.Equal(t, exitcode.Invalid, ta.run("failover", "--plan", demoPlan))
	assert.Contains(t, ta.errOut.String(), `target: site "dr" is not in the worker configuration`)
	assert.False(t, ta.dialed)

	ta = newTestApp(newFake(), nil)
	assert.Equal(t, exitcode.OK, ta.run("plan", "check", "--config", "../dev/worker.yaml", demoPlan))
	assert.Equal(t, "../dev/plans/demo.yaml: plan demo is valid (0 warnings; its sites and secrets are in ../dev/worker.yaml)\n", ta.out.String())

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("sites: {x: {url: http://a, colour: red}}\n"), 0o600))
	ta = newTestApp(newFake(), nil)
	assert.Equal(t, exitcode.Invalid, ta.run("plan", "check", "--config", bad, demoPlan))
	assert.Contains(t, ta.errOut.String(), "the configuration "+bad+" is invalid, so plans cannot be checked against it")
}

func TestVersionAndCompletion(t *testing.T) {
	ta := newTestApp(newFake(), nil)
	assert.Equal(t, exitcode.OK, ta.run("--version"))
	assert.Regexp(t, `^lifeboat \S+ \(.*go1\.`, ta.out.String())

	assert.Equal(t, exitcode.OK, ta.run("completion", "bash"))
	assert.Contains(t, ta.out.String(), "bash completion V2 for lifeboat")

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "approve", "x", "--gate", ""}, []string{plan.GateStorageReady, plan.GateRecover, plan.GateCleanup}},
		{[]string{"__complete", "status", "demo", "--mode", ""}, []string{"failover", "failback", "test-failover"}},
		{[]string{"__complete", "report", "x", "--output", ""}, []string{"text", "json"}},
		{[]string{"__complete", "test-failover", "--start", ""}, []string{"running", "paused", "none"}},
	} {
		assert.Equal(t, exitcode.OK, ta.run(tc.args...))
		got := strings.Split(strings.TrimSpace(ta.out.String()), "\n")
		assert.Equal(t, tc.want, got[:len(got)-1], "%v", tc.args) // the last line is cobra's directive
	}
}
