//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Bounds of the waits of a run: generous, since the machine is shared; the
// tests never assert on time, they only stop waiting.
const (
	gateWithin = 90 * time.Second
	runWithin  = 4 * time.Minute
)

// demoPlan loads dev/plans/demo.yaml under another name, so that each test's
// runs have their own workflow IDs (lifeboat-<name>-<mode>).
func demoPlan(t *testing.T, name string) *plan.Plan {
	t.Helper()
	p, _, err := plan.LoadChecked("../../dev/plans/demo.yaml")
	require.NoError(t, err, "load the demo plan")
	p.Name = name
	return p
}

// run is one workflow run driven by a test.
type run struct {
	t       *testing.T
	id      string
	runID   string
	mode    plan.Mode
	began   time.Time
	phases  []phaseMark // phases seen by polling progress, for timing figures
	lastErr error
}

type phaseMark struct {
	phase string
	at    time.Time
}

var modeWorkflow = map[plan.Mode]string{
	plan.ModeFailover:     workflows.FailoverWorkflowName,
	plan.ModeFailback:     workflows.FailbackWorkflowName,
	plan.ModeTestFailover: workflows.TestFailoverWorkflowName,
}

// startRun starts a run of the plan with the Temporal Go client, as the CLI
// does (workflow ID, search attributes, task queue of the worker).
func startRun(t *testing.T, e *workerEnv, p *plan.Plan, mode plan.Mode) *run {
	t.Helper()
	id := workflows.WorkflowID(p.Name, mode)
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                e.taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrPlan).ValueSet(p.Name),
			temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrMode).ValueSet(string(mode)),
		),
	}
	we, err := srv.client.ExecuteWorkflow(context.Background(), opts, modeWorkflow[mode],
		&workflows.RunInput{Plan: *p, RequestedBy: "e2e"})
	require.NoError(t, err, "start the %s of plan %s", mode, p.Name)
	r := &run{t: t, id: we.GetID(), runID: we.GetRunID(), mode: mode, began: time.Now()}
	t.Cleanup(r.terminateIfRunning)
	return r
}

// progress queries the run's progress.
func (r *run) progress() (*workflows.Progress, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := srv.client.QueryWorkflow(ctx, r.id, r.runID, workflows.QueryProgress)
	if err != nil {
		return nil, err
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		return nil, err
	}
	if n := len(r.phases); n == 0 || r.phases[n-1].phase != p.Phase {
		r.phases = append(r.phases, phaseMark{p.Phase, time.Now()})
	}
	return &p, nil
}

// closed reports whether the run has ended (and how).
func (r *run) closed() (bool, enumspb.WorkflowExecutionStatus) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := srv.client.DescribeWorkflowExecution(ctx, r.id, r.runID)
	if err != nil {
		return false, enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED
	}
	st := d.GetWorkflowExecutionInfo().GetStatus()
	return st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, st
}

// waitUntil polls progress until cond holds; it fails when the run ends first.
func (r *run) waitUntil(what string, within time.Duration, cond func(*workflows.Progress) bool) *workflows.Progress {
	r.t.Helper()
	var last *workflows.Progress
	eventually(r.t, within, what, func() bool {
		p, err := r.progress()
		if err != nil {
			r.lastErr = err
			if done, st := r.closed(); done {
				r.t.Fatalf("%s: the run ended (%s) before: %v", what, st, r.describeEnd())
			}
			return false
		}
		last = p
		if cond(p) {
			return true
		}
		switch p.Phase {
		case workflows.PhaseDone, workflows.PhaseFailed, workflows.PhaseRejected, workflows.PhaseAborted:
			r.t.Fatalf("%s: the run ended first (phase %s): %s; %s", what, p.Phase, r.summary(p), r.describeEnd())
		}
		return false
	}, func() string { return r.summary(last) })
	return last
}

// waitGate waits until the run waits at gate.
func (r *run) waitGate(gate string) *workflows.Progress {
	r.t.Helper()
	return r.waitUntil("gate "+gate+" waiting", gateWithin, func(p *workflows.Progress) bool {
		return p.WaitingGate != nil && p.WaitingGate.Gate == gate
	})
}

// signal sends approve or reject as an operator would from the UI or CLI.
func (r *run) signal(name, gate, by, comment string) {
	r.t.Helper()
	err := srv.client.SignalWorkflow(context.Background(), r.id, r.runID, name,
		workflows.Approval{Gate: gate, By: by, Comment: comment})
	require.NoError(r.t, err, "signal %s of gate %s", name, gate)
}

// approve waits for the gate, then approves it.
func (r *run) approve(gate, by string) {
	r.t.Helper()
	r.waitGate(gate)
	r.signal(workflows.SignalApprove, gate, by, "e2e: "+gate+" checked")
}

// result waits for the run to end and returns its report and error (the
// report comes from the failure or cancellation details when the run did not
// succeed).
func (r *run) result() (*workflows.Report, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runWithin)
	defer cancel()
	// Poll progress meanwhile so the phase timings are recorded.
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		tk := time.NewTicker(250 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				_, _ = r.progress()
			}
		}
	}()
	var rep workflows.Report
	err := srv.client.GetWorkflow(ctx, r.id, r.runID).Get(ctx, &rep)
	close(stop)
	<-polled
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.HasDetails() {
			var fromDetails workflows.Report
			if appErr.Details(&fromDetails) == nil {
				return &fromDetails, err
			}
		}
		var canceled *temporal.CanceledError // cancelled from Temporal
		if errors.As(err, &canceled) && canceled.HasDetails() {
			var fromDetails workflows.Report
			if canceled.Details(&fromDetails) == nil {
				return &fromDetails, err
			}
		}
		if ctx.Err() != nil {
			r.t.Fatalf("the %s did not end within %s; last progress: %s", r.mode, runWithin, r.summary(nil))
		}
		return nil, err
	}
	return &rep, nil
}

// succeeded waits for the run and requires that it succeeded.
func (r *run) succeeded() *workflows.Report {
	r.t.Helper()
	rep, err := r.result()
	if err != nil {
		msg := ""
		if rep != nil {
			msg = fmt.Sprintf("; outcome %s: %s; errors: %v", rep.Outcome, rep.Message, rep.Warnings)
			for _, vm := range rep.VMs {
				if vm.Error != "" {
					msg += fmt.Sprintf("\n  VM %s: %s", vm.Name, vm.Error)
				}
			}
			for _, c := range rep.Prechecks {
				if c.Severity == workflows.SeverityProblem {
					msg += fmt.Sprintf("\n  precheck %s %s: %s", c.Check, c.Object, c.Message)
				}
			}
		}
		if rep != nil {
			msg += "\n" + timeline(rep)
		}
		r.t.Fatalf("the %s failed: %v%s", r.mode, err, msg)
	}
	require.Equal(r.t, workflows.OutcomeSucceeded, rep.Outcome)
	return rep
}

// logTimings prints the wall time of the run and of each phase seen.
func (r *run) logTimings(rep *workflows.Report) {
	r.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: wall time %s", r.mode, r.id, time.Since(r.began).Round(time.Millisecond))
	if rep != nil && !rep.StartedAt.IsZero() && !rep.FinishedAt.IsZero() {
		fmt.Fprintf(&b, " (report: %s)", rep.FinishedAt.Sub(rep.StartedAt).Round(time.Millisecond))
	}
	for i, m := range r.phases {
		end := time.Now()
		if i+1 < len(r.phases) {
			end = r.phases[i+1].at
		}
		fmt.Fprintf(&b, "\n  phase %-13s %s", m.phase, end.Sub(m.at).Round(10*time.Millisecond))
	}
	r.t.Log(b.String())
}

func (r *run) summary(p *workflows.Progress) string {
	if p == nil {
		var err error
		if p, err = r.progress(); err != nil {
			return fmt.Sprintf("no progress (%v)", err)
		}
	}
	var states []string
	for _, vm := range p.VMs {
		states = append(states, vm.Name+"="+vm.State)
	}
	gate := ""
	if p.WaitingGate != nil {
		gate = " waiting at " + p.WaitingGate.Gate
	}
	return fmt.Sprintf("phase %s%s; VMs %s; errors %v", p.Phase, gate, strings.Join(states, " "), p.Errors)
}

func (r *run) describeEnd() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rep workflows.Report
	err := srv.client.GetWorkflow(ctx, r.id, r.runID).Get(ctx, &rep)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.HasDetails() && appErr.Details(&rep) == nil {
		return fmt.Sprintf("%v\n%s", err, timeline(&rep))
	}
	return fmt.Sprintf("%v", err)
}

// timeline renders a report's timeline and warnings for failure messages.
func timeline(rep *workflows.Report) string {
	var b strings.Builder
	for _, ev := range rep.Timeline {
		fmt.Fprintf(&b, "  %s %-13s %s\n", ev.At.Format("15:04:05.000"), ev.Phase, ev.Message)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	return b.String()
}

// terminateIfRunning ends a run the test left behind, so the next test
// (and the next `go test`) starts clean.
func (r *run) terminateIfRunning() {
	if done, _ := r.closed(); !done {
		_ = srv.client.TerminateWorkflow(context.Background(), r.id, r.runID, "e2e test ended")
	}
}

// recoveredCount counts the VMs of the progress that are recovered or beyond.
func recoveredCount(p *workflows.Progress) int {
	n := 0
	for _, vm := range p.VMs {
		switch vm.State {
		case workflows.StateRecovered, workflows.StateStarting, workflows.StateRunning, workflows.StatePaused, workflows.StateHalted:
			n++
		}
	}
	return n
}
