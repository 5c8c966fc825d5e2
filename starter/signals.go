package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

var gates = []string{plan.GateStorageReady, plan.GateRecover, plan.GateCleanup}

type decisionFlags struct {
	gate, as, comment, mode string
	force                   bool
}

// decisionCommand is approve (approve=true) or reject.
func (a *app) decisionCommand(approve bool) *cobra.Command {
	verb := "approve"
	short := "Approve the gate a run is waiting at"
	if !approve {
		verb = "reject"
		short = "Reject the gate a run is waiting at (the run cleans up and ends as rejected)"
	}
	var f decisionFlags
	cmd := &cobra.Command{
		Use:   verb + " RUN --gate GATE --as NAME [--comment TEXT]",
		Short: short,
		Long: short + `.

RUN is a workflow ID, ID/RUNID, or a plan name with --mode. The decision is sent as a
Temporal Workflow Update: the run itself answers, at once, whether it counted it (and
how many approvals the gate still needs) or why not (the run is not waiting at that gate,
NAME is not one of its approvers, NAME has already approved). --force sends it as a
signal instead, which gets no answer: the run counts it only if it would have.`,
		Args: exactRun,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), verb, approve, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.gate, "gate", "", "gate: storage-ready, recover or cleanup (required)")
	cmd.Flags().StringVar(&f.as, "as", "", "your name, as listed in the plan's approvers (required)")
	cmd.Flags().StringVar(&f.comment, "comment", "", "why, recorded in the report")
	addModeFlag(cmd, &f.mode)
	cmd.Flags().BoolVar(&f.force, "force", false, "send a signal, which the run answers nothing to (for a run whose worker predates Updates)")
	return cmd
}

func exactRun(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErr("%s needs exactly one RUN (a workflow ID, ID/RUNID, or a plan name with --mode), got %d arguments", cmd.Name(), len(args))
	}
	return nil
}

// decide sends an approval or a rejection. The run decides whether it
// counts (workflows: run.refusal); the CLI checks only what it can alone
// (the flags, that the run is running) and reports the run's answer.
func (a *app) decide(ctx context.Context, verb string, approve bool, arg string, f decisionFlags) error {
	if !slices.Contains(gates, f.gate) {
		if f.gate == "" {
			return usageErr("no gate given; pass --gate %s", strings.Join(gates, ", --gate "))
		}
		return usageErr("--gate %q is not a gate; use %s", f.gate, strings.Join(gates, ", "))
	}
	if strings.TrimSpace(f.as) == "" {
		return usageErr("say who you are with --as NAME: decisions are recorded with who made them")
	}
	ref, c, conn, d, err := a.openRun(ctx, arg, f.mode)
	if err != nil {
		return err
	}
	defer c.Close()
	if !isRunning(d) {
		return fail(exitcode.RunFailed, "run %s is %s, so there is nothing to %s; see 'lifeboat report %s'", ref, statusName(d), verb, ref.id)
	}
	payload := workflows.Approval{Gate: f.gate, By: f.as, Comment: f.comment}
	if f.force {
		return a.signalDecision(ctx, c, conn, ref, verb, approve, payload, "")
	}
	ans, err := updateDecision(ctx, c, conn, ref, verb, approve, payload)
	var old *oldRunError
	if errors.As(err, &old) {
		return a.signalDecision(ctx, c, conn, ref, verb, approve, payload, "This run's worker does not take decisions as Updates yet, so it was sent as a signal: ")
	}
	if err != nil {
		return err
	}
	if a.json() {
		return writeJSON(a.stdout, map[string]any{"workflow_id": ref.id, "run_id": ref.runID, "update": verb, "gate": ans.Gate, "by": f.as,
			"state": ans.State, "approvals": ans.Approvals, "quorum": ans.Quorum, "message": ans.Message})
	}
	fmt.Fprintln(a.stdout, ans.Message)
	fmt.Fprintf(a.stdout, "Follow it with: lifeboat status %s --watch\n", ref.id)
	return nil
}

// oldRunError is an Update the run's worker has no handler for: a run
// started, and still worked on, by a lifeboat older than Updates.
type oldRunError struct{ err error }

func (e *oldRunError) Error() string { return e.err.Error() }

// updateDecision sends the decision as an Update and waits for the run's
// answer: what the gate made of it, or why it refused it.
func updateDecision(ctx context.Context, c temporalClient, conn connection, ref runRef, verb string, approve bool, payload workflows.Approval) (*workflows.GateAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	if polled, err := workerPolls(ctx, c, conn.taskQueue); err == nil && !polled {
		return nil, fail(exitcode.RunFailed, "cannot %s gate %s of %s now: %v", verb, payload.Gate, ref.id, &noWorkerError{queue: conn.taskQueue, why: "none polls task queue " + conn.taskQueue})
	}
	name := workflows.UpdateApprove
	if !approve {
		name = workflows.UpdateReject
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: ref.id, RunID: ref.runID, UpdateName: name, Args: []any{payload},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var ans workflows.GateAnswer
	if err == nil {
		err = h.Get(ctx, &ans)
	}
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return &ans, nil
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrDecisionRefused:
		return nil, fail(exitcode.RunFailed, "%s %s; see 'lifeboat status %s' for the gate waiting and who may decide it", strings.TrimSuffix(appErr.Message(), "."), "(refused by the run)", ref.id)
	case strings.Contains(err.Error(), "unknown update"):
		return nil, &oldRunError{err}
	case isNoPoller(err):
		return nil, fail(exitcode.RunFailed, "cannot %s gate %s of %s now: %v", verb, payload.Gate, ref.id, &noWorkerError{queue: conn.taskQueue, why: "Temporal has seen none poll task queue " + conn.taskQueue + " lately"})
	case isQueryTimeout(err) || ctx.Err() != nil:
		return nil, fail(exitcode.RunFailed, "cannot %s gate %s of %s now: %v", verb, payload.Gate, ref.id, &noWorkerError{queue: conn.taskQueue, why: fmt.Sprintf("none answered within %s", queryTimeout)})
	}
	return nil, rpcError(err, conn, fmt.Sprintf("%s gate %s of %s", verb, payload.Gate, ref))
}

// signalDecision sends the decision as a signal, which nobody answers: it
// says so, rather than that the gate is approved.
func (a *app) signalDecision(ctx context.Context, c temporalClient, conn connection, ref runRef, verb string, approve bool, payload workflows.Approval, why string) error {
	signal := workflows.SignalApprove
	if !approve {
		signal = workflows.SignalReject
	}
	if err := c.SignalWorkflow(ctx, ref.id, ref.runID, signal, payload); err != nil {
		return rpcError(err, conn, fmt.Sprintf("%s gate %s of %s", verb, payload.Gate, ref))
	}
	if a.json() {
		return writeJSON(a.stdout, map[string]any{"workflow_id": ref.id, "run_id": ref.runID, "signal": signal, "gate": payload.Gate, "by": payload.By, "counted": "unknown"})
	}
	fmt.Fprintf(a.stdout, "%sSent the %s of gate %s of %s by %s as a signal, which gets no answer: the run counts it only if it is waiting at gate %s and %s may decide it.\n",
		why, map[bool]string{true: "approval", false: "rejection"}[approve], payload.Gate, ref.id, payload.By, payload.Gate, payload.By)
	fmt.Fprintf(a.stdout, "See whether it did with: lifeboat status %s\n", ref.id)
	return nil
}

type abortFlags struct {
	as, reason, mode string
}

func (a *app) abortCommand() *cobra.Command {
	var f abortFlags
	cmd := &cobra.Command{
		Use:   "abort RUN [--as NAME] [--reason TEXT]",
		Short: "Abort a run: it stops, cleans up and ends as aborted",
		Long: `Abort a run: it stops at its next step, runs its cleanup (DR tasks always; for a
test failover everything it recreated) and ends as aborted. RUN is a workflow ID,
ID/RUNID, or a plan name with --mode.`,
		Args: exactRun,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.abort(cmd.Context(), args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.as, "as", "", "your name, for the report (default $USER)")
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, recorded in the report")
	addModeFlag(cmd, &f.mode)
	return cmd
}

func (a *app) abort(ctx context.Context, arg string, f abortFlags) error {
	ref, c, conn, d, err := a.openRun(ctx, arg, f.mode)
	if err != nil {
		return err
	}
	defer c.Close()
	if !isRunning(d) {
		return fail(exitcode.RunFailed, "run %s is already %s, so there is nothing to abort", ref, statusName(d))
	}
	payload := workflows.Abort{By: firstOf(f.as, a.whoAmI()), Reason: f.reason}
	if err := c.SignalWorkflow(ctx, ref.id, ref.runID, workflows.SignalAbort, payload); err != nil {
		return rpcError(err, conn, "abort "+ref.String())
	}
	if a.json() {
		return writeJSON(a.stdout, map[string]any{"workflow_id": ref.id, "run_id": ref.runID, "signal": workflows.SignalAbort, "by": payload.By})
	}
	fmt.Fprintf(a.stdout, "Abort requested for %s; it cleans up and ends as aborted.\nFollow it with: lifeboat status %s --watch\n", ref.id, ref.id)
	return nil
}
