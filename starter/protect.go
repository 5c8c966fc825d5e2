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

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// protectWait bounds the wait for the worker: enabling replication writes
// the whole pool database to each new metadata VDI, seconds per SR.
const protectWait = 10 * time.Minute

func (a *app) protectCommand() *cobra.Command {
	var site, as string
	var srs []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "protect --site SITE --sr NAME [--sr NAME]... [--dry-run]",
		Short: "Choose the SRs that hold a pool's metadata for DR (XenCenter's Configure DR)",
		Long: fmt.Sprintf(`Make the given SRs (name_label or UUID) exactly those that replicate the pool's
metadata at SITE: replication is disabled on the SRs left out (XAPI destroys their
metadata VDI), then enabled on the new ones, at most %d SRs as XAPI allows. Each SR
must be a shared lvmoiscsi or lvmohba SR plugged on every host; a wrong choice changes
nothing. Running it again changes nothing. --dry-run says what would change.

It runs on a worker (which holds the credentials) as workflow lifeboat-protect-<site>.`, activities.MaxMetadataSRs),
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.protect(cmd.Context(), site, srs, dryRun, as)
		},
	}
	cmd.Flags().StringVar(&site, "site", "", "site `NAME` from the worker configuration (required)")
	cmd.Flags().StringArrayVar(&srs, "sr", nil, "an SR to hold the metadata, by `NAME` or UUID (repeat for several)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would change, change nothing")
	cmd.Flags().StringVar(&as, "as", "", "who asks, recorded on the run (default $USER)")
	return cmd
}

func (a *app) protect(ctx context.Context, site string, srs []string, dryRun bool, as string) error {
	if site == "" {
		return usageErr("no site given; pass --site NAME as the worker configuration names it")
	}
	if len(srs) == 0 {
		return usageErr("no SR given; pass --sr NAME for each SR that should hold the pool's metadata")
	}
	if len(srs) > activities.MaxMetadataSRs {
		return usageErr("%d SRs given, but XAPI replicates a pool's metadata to at most %d; choose at most %d", len(srs), activities.MaxMetadataSRs, activities.MaxMetadataSRs)
	}
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	id := workflows.ProtectWorkflowID(site)
	what := "choose the metadata SRs at site " + site
	if dryRun {
		what += " (dry run)"
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                conn.taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionTimeout: protectWait,
		StaticSummary:            what,
	}, workflows.ProtectWorkflowName, &workflows.ProtectInput{
		ProtectInput: activities.ProtectInput{Site: site, SRs: srs, DryRun: dryRun},
		RequestedBy:  firstOf(as, a.whoAmI()),
	})
	if err != nil {
		return rpcError(err, conn, what)
	}
	wctx, cancel := context.WithTimeout(ctx, protectWait)
	defer cancel()
	var res activities.ProtectResult
	if err := run.Get(wctx, &res); err != nil {
		if wctx.Err() != nil {
			return fail(exitcode.RunFailed, "%s got no answer within %s: is a lifeboat-worker polling task queue %s?", id, protectWait, conn.taskQueue)
		}
		return fail(exitcode.RunFailed, "could not %s: %s", what, rootMessage(err))
	}
	if a.json() {
		if err := writeJSON(a.stdout, res); err != nil {
			return err
		}
	} else {
		fmt.Fprint(a.stdout, renderProtect(site, &res))
	}
	if len(res.Errors) > 0 {
		return &exitError{code: exitcode.RunFailed, err: errors.New(strings.TrimSuffix(res.Errors[0], ".") + "; fix it and run the same protect again")}
	}
	return nil
}

func renderProtect(site string, r *activities.ProtectResult) string {
	var b strings.Builder
	changed := 0
	for _, ch := range r.Changes {
		if ch.Action != activities.ActionKeep {
			changed++
		}
	}
	switch {
	case changed == 0:
		fmt.Fprintf(&b, "Nothing to change: pool %s at site %s already replicates its metadata to exactly these SRs.\n", r.Pool, site)
	case r.DryRun:
		fmt.Fprintf(&b, "Dry run: pool %s at site %s would change %s (nothing was changed):\n", r.Pool, site, plural(changed, "SR"))
	default:
		fmt.Fprintf(&b, "Pool %s at site %s: %s changed.\n", r.Pool, site, plural(changed, "SR"))
	}
	for _, ch := range r.Changes {
		verb := map[string]string{activities.ActionEnable: "enable ", activities.ActionDisable: "disable", activities.ActionKeep: "keep   "}[ch.Action]
		state := ""
		switch {
		case ch.Error != "":
			state = "  FAILED: " + ch.Error
		case r.DryRun && ch.Action != activities.ActionKeep:
			state = "  (dry run)"
		}
		fmt.Fprintf(&b, "  %s  %s%s\n", verb, srLabel(ch.SR), state)
	}
	return b.String()
}

func srLabel(s activities.SRInfo) string {
	if s.Name == "" {
		return s.UUID
	}
	return fmt.Sprintf("%s (%s)", s.Name, s.UUID)
}
