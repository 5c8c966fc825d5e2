package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/plan"
)

var gates = []string{plan.GateStorageReady, plan.GateRecover, plan.GateCleanup}

type decisionFlags struct {
	gate, as, comment, mode string
	force                   bool
}

// decisionCommand is approve (approve=true) or reject.
func (a *app) decisionCommand(approve bool) *cobra.Command {
	verb, signal := "approve", workflows.SignalApprove
	short := "Approve the gate a run is waiting at"
	if !approve {
		verb, signal = "reject", workflows.SignalReject
		short = "Reject the gate a run is waiting at (the run cleans up and ends as rejected)"
	}
	var f decisionFlags
	cmd := &cobra.Command{
		Use:   verb + " RUN --gate GATE --as NAME [--comment TEXT]",
		Short: short,
		Long: short + `.

RUN is a workflow ID, ID/RUNID, or a plan name with --mode. The run's progress is
checked first: the command refuses when the run is not waiting at that gate or NAME is
not one of the gate's approvers; --force sends the signal anyway.`,
		Args: exactRun,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), verb, signal, approve, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.gate, "gate", "", "gate: storage-ready, recover or cleanup (required)")
	cmd.Flags().StringVar(&f.as, "as", "", "your name, as listed in the plan's approvers (required)")
	cmd.Flags().StringVar(&f.comment, "comment", "", "why, recorded in the report")
	addModeFlag(cmd, &f.mode)
	cmd.Flags().BoolVar(&f.force, "force", false, "signal even if the run is not waiting at that gate")
	return cmd
}

func exactRun(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErr("%s needs exactly one RUN (a workflow ID, ID/RUNID, or a plan name with --mode), got %d arguments", cmd.Name(), len(args))
	}
	return nil
}

func (a *app) decide(ctx context.Context, verb, signal string, approve bool, arg string, f decisionFlags) error {
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
		return fail(exitRunFailed, "run %s is %s, so there is nothing to %s; see 'lifeboat report %s'", ref, statusName(d), verb, ref.id)
	}
	if !f.force {
		p, err := queryProgress(ctx, c, conn, ref)
		if err != nil {
			return err
		}
		if err := checkDecision(p, ref, verb, f); err != nil {
			return err
		}
	}
	payload := workflows.Approval{Gate: f.gate, By: f.as, Comment: f.comment}
	if err := c.SignalWorkflow(ctx, ref.id, ref.runID, signal, payload); err != nil {
		return rpcError(err, conn, fmt.Sprintf("%s gate %s of %s", verb, f.gate, ref))
	}
	if a.json() {
		return writeJSON(a.stdout, map[string]any{"workflow_id": ref.id, "run_id": ref.runID, "signal": signal, "gate": f.gate, "by": f.as})
	}
	past := map[string]string{"approve": "Approved", "reject": "Rejected"}[verb]
	fmt.Fprintf(a.stdout, "%s gate %s of %s as %s.\n", past, f.gate, ref.id, f.as)
	if approve {
		fmt.Fprintf(a.stdout, "Follow it with: lifeboat status %s --watch\n", ref.id)
	}
	return nil
}

// checkDecision refuses a decision the run would not take: the wrong gate,
// someone who is not an approver, or a second approval by the same person.
func checkDecision(p *workflows.Progress, ref runRef, verb string, f decisionFlags) error {
	g := p.WaitingGate
	if g == nil {
		return fail(exitRunFailed, "run %s is not waiting at any gate (phase %s), so there is nothing to %s; use --force to signal anyway", ref.id, p.Phase, verb)
	}
	if g.Gate != f.gate {
		return fail(exitRunFailed, "run %s is waiting at gate %s, not %s; run 'lifeboat %s %s --gate %s --as %s' instead", ref.id, g.Gate, f.gate, verb, ref.id, g.Gate, f.as)
	}
	if len(g.Approvers) > 0 && !slices.Contains(g.Approvers, f.as) {
		return fail(exitRunFailed, "%s is not an approver of gate %s (approvers: %s); ask one of them, or fix approvals in the plan for later runs", f.as, g.Gate, strings.Join(g.Approvers, ", "))
	}
	for _, dec := range g.Decisions {
		if dec.By == f.as && dec.Approved && verb == "approve" {
			return fail(exitRunFailed, "%s has already approved gate %s; its quorum of %d needs distinct approvers", f.as, g.Gate, g.Quorum)
		}
	}
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
		return fail(exitRunFailed, "run %s is already %s, so there is nothing to abort", ref, statusName(d))
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
