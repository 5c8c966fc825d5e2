package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

var modeWorkflow = map[plan.Mode]string{
	plan.ModeFailover:     workflows.FailoverWorkflowName,
	plan.ModeFailback:     workflows.FailbackWorkflowName,
	plan.ModeTestFailover: workflows.TestFailoverWorkflowName,
}

var modeShort = map[plan.Mode]string{
	plan.ModeFailover:     "Recover the plan's vApps and VMs at its target (DR) site and start them",
	plan.ModeFailback:     "Recover the plan's vApps and VMs back at its source site and start them",
	plan.ModeTestFailover: "Rehearse: recover at the DR site, start paused, hold, then remove everything",
}

type startFlags struct {
	planFile, start, as string
	wait                bool
}

func (a *app) startCommand(name string) *cobra.Command {
	mode := plan.Mode(name)
	var f startFlags
	cmd := &cobra.Command{
		Use:   name + " --plan FILE [--wait] [--start running|paused|none] [--as NAME]",
		Short: modeShort[mode],
		Long: modeShort[mode] + `.

The plan is checked first; an invalid plan is refused with its problems (exit 3).
The run's workflow ID is lifeboat-<plan>-` + name + `, so a second ` + name + ` of the same plan
is refused while one runs (exit 8). Without --wait the command returns once the run
has started and prints what to do next; with --wait it follows the run and exits with
its outcome (0 succeeded, 1 failed, 4 rejected, 5 aborted).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.startRun(cmd.Context(), mode, f)
		},
	}
	cmd.Flags().StringVar(&f.planFile, "plan", "", "plan `FILE` (required)")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "follow the run until it ends and exit with its outcome")
	cmd.Flags().StringVar(&f.start, "start", "", "override the plan's start mode: running, paused or none")
	cmd.Flags().StringVar(&f.as, "as", "", "who requests the run, for the report (default $USER)")
	return cmd
}

// loadPlan reads and checks a plan for a command that starts runs (verb:
// "start", "schedule"), printing its warnings; a file that cannot be read is
// said so, not called invalid.
//
// With a worker configuration (--config), the plan's sites and secrets are
// checked against it before anything starts.
func (a *app) loadPlan(file, verb string) (*plan.Plan, error) {
	env, err := a.planEnvironment()
	if err != nil {
		return nil, err
	}
	p, warnings, err := plan.LoadCheckedIn(file, env)
	var re *plan.ReadError
	if errors.As(err, &re) {
		return nil, fail(exitcode.Invalid, "%v", err)
	}
	if err != nil {
		return nil, fail(exitcode.Invalid, "the plan %s is invalid; fix these and %s again:\n%s", file, verb, indent(err.Error()))
	}
	for _, w := range warnings {
		fmt.Fprintln(a.stderr, "warning: "+w.String())
	}
	return p, nil
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("unexpected argument %q; see %s", args[0], helpRef(cmd))
	}
	return nil
}

func (a *app) startRun(ctx context.Context, mode plan.Mode, f startFlags) error {
	if f.planFile == "" {
		return usageErr("no plan given; pass --plan FILE")
	}
	start := plan.StartMode(f.start)
	switch start {
	case "", plan.StartRunning, plan.StartPaused, plan.StartNone:
	default:
		return usageErr("--start %q is not a start mode; use running, paused or none", f.start)
	}
	if mode == plan.ModeTestFailover && start == plan.StartRunning {
		return usageErr("a test failover cannot start VMs running: the recovered copies keep their MAC addresses and UUIDs, so running them next to production is unsafe; use --start paused or none")
	}
	p, err := a.loadPlan(f.planFile, "start")
	if err != nil {
		return err
	}
	if mode == plan.ModeFailback && len(p.FailbackStorage) == 0 {
		return fail(exitcode.Invalid, "the plan %s has no failback_storage, so a failback has no LUNs to probe at %s; add failback_storage and start again", f.planFile, p.Source)
	}
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	id := workflows.WorkflowID(p.Name, mode)
	requestedBy := firstOf(f.as, a.whoAmI())
	from, to := p.Sites(mode)
	opts := client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                conn.taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    runSearchAttributes(p.Name, mode),
		StaticSummary:                            fmt.Sprintf("%s of plan %s: %s → %s", mode, p.Name, from, to),
		StaticDetails:                            staticDetails(p, mode, requestedBy),
	}
	in := &workflows.RunInput{Plan: *p, RequestedBy: requestedBy, Start: start}
	run, err := c.ExecuteWorkflow(ctx, opts, modeWorkflow[mode], in)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return fail(exitcode.Running, "a %s of plan %s is already running (%s, run %s); watch it with 'lifeboat status %s --watch' or stop it with 'lifeboat abort %s'",
				mode, p.Name, id, started.RunId, id, id)
		}
		return rpcError(err, conn, fmt.Sprintf("start the %s of plan %s", mode, p.Name))
	}
	ref := runRef{id: run.GetID(), runID: run.GetRunID()}
	link := uiLink(a.ui(), conn.namespace, ref.id, ref.runID)
	if a.json() && !f.wait {
		return writeJSON(a.stdout, map[string]string{"workflow_id": ref.id, "run_id": ref.runID, "ui_url": link})
	}
	if !a.json() {
		fmt.Fprint(a.stdout, startedText(p, mode, ref, link))
	}
	if !f.wait {
		return nil
	}
	return a.follow(ctx, c, conn, ref, nil)
}

// runSearchAttributes are set at start so the run can be found by plan and
// mode from its first second; the workflow keeps LifeboatPhase up to date.
func runSearchAttributes(planName string, mode plan.Mode) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrPlan).ValueSet(planName),
		temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrMode).ValueSet(string(mode)),
	)
}

// staticDetails is the Markdown the Web UI shows on the run's page.
func staticDetails(p *plan.Plan, mode plan.Mode, requestedBy string) string {
	from, to := p.Sites(mode)
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** of plan **%s** from site `%s` to site `%s`", mode, p.Name, from, to)
	if requestedBy != "" {
		fmt.Fprintf(&b, ", requested by %s", requestedBy)
	}
	b.WriteString(".\n\n")
	if p.Description != "" {
		b.WriteString(p.Description + "\n\n")
	}
	fmt.Fprintf(&b, "- storage targets: %d\n", len(p.StorageFor(mode)))
	fmt.Fprintf(&b, "- VMs are left: %s\n", p.StartModeFor(mode))
	if p.StartModeFor(mode) != plan.StartNone && p.StartPlacement() == plan.PlacementSpread {
		b.WriteString("- boots spread over the pool's hosts (`start.placement: spread`)\n")
	}
	for _, g := range []string{plan.GateStorageReady, plan.GateRecover, plan.GateCleanup} {
		if !p.GateRequired(g, mode) {
			continue
		}
		pol := p.GatePolicyFor(g)
		who := "anyone"
		if len(pol.Approvers) > 0 {
			who = strings.Join(pol.Approvers, ", ")
		}
		fmt.Fprintf(&b, "- gate `%s`: %d of %s", g, pol.QuorumOf(), who)
		if pol.Timeout > 0 {
			fmt.Fprintf(&b, ", timeout %s", pol.Timeout)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nApprove a gate with the `approve` Update (Send an Update): `{\"gate\": \"storage-ready\", \"by\": \"NAME\"}`.\n")
	return b.String()
}

// startedText tells the operator what was started and what to do next.
func startedText(p *plan.Plan, mode plan.Mode, ref runRef, link string) string {
	from, to := p.Sites(mode)
	var b strings.Builder
	fmt.Fprintf(&b, "Started the %s of plan %s (%s → %s).\n", mode, p.Name, from, to)
	fmt.Fprintf(&b, "  Workflow ID  %s\n  Run ID       %s\n  Web UI       %s\n", ref.id, ref.runID, link)
	if p.GateRequired(plan.GateStorageReady, mode) {
		fmt.Fprintf(&b, "Next: the run waits at gate %s until the mirror is broken and the LUNs are writable at %s. Then approve:\n", plan.GateStorageReady, to)
		fmt.Fprintf(&b, "  lifeboat approve %s --gate %s --as NAME\n", ref.id, plan.GateStorageReady)
	} else if p.GateRequired(plan.GateRecover, mode) {
		fmt.Fprintf(&b, "Next: the run prechecks, then waits at gate %s. Then approve:\n", plan.GateRecover)
		fmt.Fprintf(&b, "  lifeboat approve %s --gate %s --as NAME\n", ref.id, plan.GateRecover)
	}
	fmt.Fprintf(&b, "Follow it with: lifeboat status %s --watch\n", ref.id)
	return b.String()
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
