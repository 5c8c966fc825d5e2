package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// readinessWait bounds how long the command waits for the check: it takes
// seconds with a worker, and without one it would wait for ever.
const readinessWait = 5 * time.Minute

func (a *app) readinessCommand() *cobra.Command {
	var planFile, mode, as string
	var all bool
	cmd := &cobra.Command{
		Use:   "readiness --plan FILE [--mode failover|failback|test-failover] [--all]",
		Short: "Say whether a failover of the plan would work now, changing nothing",
		Long: `Check, without changing anything at either site, whether the plan's failover would
work now: both sites reachable, login and role, the pool's metadata replicated to the
SRs the plan's VMs use (an RPO indication), mirror state and lag from the storage
adapter when the worker has one, the SRs visible on the plan's storage at the target,
networks, memory, same-UUID copies there, XAPI versions.

The check runs on a worker (which holds the credentials) as workflow
lifeboat-<plan>-readiness; 'lifeboat schedule create --readiness' runs it on a schedule.
Exit code 0 when ready (warnings do not count), 1 when not ready.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.readiness(cmd.Context(), planFile, plan.Mode(mode), as, all)
		},
	}
	cmd.Flags().StringVar(&planFile, "plan", "", "plan `FILE` (required)")
	cmd.Flags().StringVar(&mode, "mode", string(plan.ModeFailover), "the procedure to check: failover, failback or test-failover")
	cmd.Flags().StringVar(&as, "as", "", "who asks, recorded on the check (default $USER)")
	cmd.Flags().BoolVar(&all, "all", false, "list the checks that passed too")
	return cmd
}

func (a *app) readiness(ctx context.Context, planFile string, mode plan.Mode, as string, all bool) error {
	if planFile == "" {
		return usageErr("no plan given; pass --plan FILE")
	}
	if _, ok := modeWorkflow[mode]; !ok {
		return usageErr("--mode %q is not a procedure; use failover, failback or test-failover", mode)
	}
	p, warnings, err := plan.LoadChecked(planFile)
	if err != nil {
		return fail(exitcode.Invalid, "the plan %s is invalid; fix these and check again:\n%s", planFile, indent(err.Error()))
	}
	for _, w := range warnings {
		fmt.Fprintln(a.stderr, "warning: "+w.String())
	}
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	from, to := p.Sites(mode)
	id := workflows.WorkflowID(p.Name, workflows.ModeReadiness)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: conn.taskQueue,
		// Two operators asking at once share one check.
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowExecutionTimeout: readinessWait,
		TypedSearchAttributes:    runSearchAttributes(p.Name, workflows.ModeReadiness),
		StaticSummary:            fmt.Sprintf("readiness of the %s of plan %s: %s → %s", mode, p.Name, from, to),
	}, workflows.ReadinessWorkflowName, &workflows.ReadinessInput{Plan: *p, Mode: mode, RequestedBy: firstOf(as, a.whoAmI())})
	if err != nil {
		return rpcError(err, conn, "start the readiness check of plan "+p.Name)
	}
	wctx, cancel := context.WithTimeout(ctx, readinessWait)
	defer cancel()
	var res workflows.ReadinessResult
	if err := run.Get(wctx, &res); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || wctx.Err() != nil {
			return fail(exitcode.RunFailed, "the readiness check %s got no answer within %s: is a lifeboat-worker polling task queue %s?", id, readinessWait, conn.taskQueue)
		}
		return fail(exitcode.RunFailed, "the readiness check of plan %s failed: %s", p.Name, rootMessage(err))
	}
	link := uiLink(a.ui(), conn.namespace, run.GetID(), run.GetRunID())
	if a.json() {
		if err := writeJSON(a.stdout, struct {
			workflows.ReadinessResult
			UIURL string `json:"ui_url"`
		}{res, link}); err != nil {
			return err
		}
	} else {
		fmt.Fprint(a.stdout, renderReadiness(&res, a.loc, link, all))
	}
	if !res.Ready {
		return &exitError{code: exitcode.RunFailed, err: errors.New("")}
	}
	return nil
}

// renderReadiness prints the verdict, the RPO, then the problems and
// warnings (and with all, the checks that passed).
func renderReadiness(r *workflows.ReadinessResult, loc *time.Location, link string, all bool) string {
	var b strings.Builder
	verdict := "READY"
	if !r.Ready {
		verdict = "NOT READY"
	}
	fmt.Fprintf(&b, "%s  %s\n", verdict, r.Summary)
	fmt.Fprintf(&b, "Checked   %s (%s of %s, %s)\n", fmtTime(r.CheckedAt, loc), plural(r.VMs, "VM"), plural(r.VApps, "vApp"), r.Mode)
	fmt.Fprintf(&b, "RPO       %s\n", r.RPO.Text)
	for _, sev := range []string{workflows.SeverityProblem, workflows.SeverityWarning, workflows.SeverityOK} {
		if sev == workflows.SeverityOK && !all {
			continue
		}
		first := true
		for _, c := range r.Checks {
			if c.Severity != sev {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n%s\n", map[string]string{workflows.SeverityProblem: "Problems", workflows.SeverityWarning: "Warnings", workflows.SeverityOK: "Passed"}[sev])
				first = false
			}
			fmt.Fprintf(&b, "  %-20s %s: %s\n", c.Check, c.Object, c.Message)
		}
		if sev == workflows.SeverityWarning {
			for _, w := range r.Warnings {
				if first {
					b.WriteString("\nWarnings\n")
					first = false
				}
				fmt.Fprintf(&b, "  %-20s %s\n", "selection", w)
			}
		}
	}
	if !all {
		n := 0
		for _, c := range r.Checks {
			if c.Severity == workflows.SeverityOK {
				n++
			}
		}
		fmt.Fprintf(&b, "\n%s passed (--all lists them).\n", plural(n, "check"))
	}
	fmt.Fprintf(&b, "Web UI    %s\n", link)
	return b.String()
}
