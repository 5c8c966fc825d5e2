package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// A drill is a test failover of a plan: scheduled (unattended) or started
// by hand. 'lifeboat drills' is the evidence an auditor asks for: each with
// when, outcome, measured RTO against the plan's target, leftovers, link.

// scheduledByAttr is the search attribute Temporal sets on the runs a
// schedule starts.
const scheduledByAttr = "TemporalScheduledById"

// drillsPageSize is how many runs one list call asks for.
const drillsPageSize = 100

// drillRow is one drill as 'lifeboat drills' and the audit page show it.
type drillRow struct {
	WorkflowID  string     `json:"workflow_id"`
	RunID       string     `json:"run_id"`
	Plan        string     `json:"plan"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	Schedule    string     `json:"schedule,omitempty"` // the schedule that started it
	Unattended  bool       `json:"unattended"`
	RequestedBy string     `json:"requested_by,omitempty"`
	// Outcome is succeeded, failed, rejected, aborted, or running.
	Outcome string `json:"outcome"`
	Message string `json:"message,omitempty"`
	// RTO is measured (the run's start to its last VM up); TargetRTO is
	// the plan's; MetTarget is set when both are known.
	RTO       time.Duration `json:"rto,omitempty"`
	TargetRTO time.Duration `json:"target_rto,omitempty"`
	MetTarget *bool         `json:"met_target,omitempty"`
	VMs       int           `json:"vms"`
	Leftovers []string      `json:"leftovers"`
	Warnings  []string      `json:"warnings,omitempty"`
	DataAsOf  *time.Time    `json:"data_as_of,omitempty"`
	UIURL     string        `json:"ui_url"`
	// report is the run's report, for the audit page.
	report *workflows.Report
}

const outcomeRunning = "running"

func (a *app) drillsCommand() *cobra.Command {
	var planName, since string
	cmd := &cobra.Command{
		Use:   "drills [--plan NAME] [--since 90d]",
		Short: "List the drills (test failovers) of a plan: when, outcome, RTO against target, leftovers",
		Long: `List the test failovers (scheduled drills and those started by hand) begun in the
period, newest first: when, who or which schedule, outcome, measured RTO against the
plan's target_rto, leftovers (a drill must leave none), and the link to the run in the
Web UI. Read from Temporal's history: no worker is needed. --output json for scripts;
'lifeboat report --plan NAME --drills --format html' makes the same an audit page.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.drills(cmd.Context(), planName, since)
		},
	}
	cmd.Flags().StringVar(&planName, "plan", "", "only the drills of plan `NAME` (the plan's name, not its file)")
	cmd.Flags().StringVar(&since, "since", "90d", "how far back, such as 90d, 12w or 720h")
	return cmd
}

// parseSince reads a period: days (90d) and weeks (12w) as well as Go durations.
func parseSince(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, err := strconv.Atoi(strings.TrimSuffix(s, suffix)); err == nil && strings.HasSuffix(s, suffix) && n > 0 {
			return time.Duration(n) * unit, nil
		}
	}
	d, err := plan.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usageErr("--since %q is not a period; write 90d, 12w or 720h", s)
	}
	return d.D(), nil
}

func (a *app) drills(ctx context.Context, planName, since string) error {
	period, err := parseSince(since)
	if err != nil {
		return err
	}
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	from := a.now().Add(-period)
	rows, err := a.listDrills(ctx, c, conn, planName, from)
	if err != nil {
		return err
	}
	if a.json() {
		return writeJSON(a.stdout, rows)
	}
	fmt.Fprint(a.stdout, renderDrills(rows, planName, from, a.loc))
	return nil
}

// listDrills lists the test failovers begun since from, newest first, each
// with its report read from history (or asked of a running one).
func (a *app) listDrills(ctx context.Context, c temporalClient, conn connection, planName string, from time.Time) ([]drillRow, error) {
	q := fmt.Sprintf("WorkflowType = %q AND StartTime >= %q", workflows.TestFailoverWorkflowName, from.UTC().Format(time.RFC3339))
	if planName != "" {
		q += fmt.Sprintf(" AND %s = %q", workflows.SearchAttrPlan, planName)
	}
	rows := []drillRow{}
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: conn.namespace, Query: q, PageSize: drillsPageSize, NextPageToken: token})
		if err != nil {
			return nil, rpcError(err, conn, "list the drills")
		}
		for _, e := range resp.GetExecutions() {
			rows = append(rows, a.drillOf(ctx, c, conn, e))
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].StartedAt.After(rows[j].StartedAt) })
	return rows, nil
}

func (a *app) drillOf(ctx context.Context, c temporalClient, conn connection, e *workflowpb.WorkflowExecutionInfo) drillRow {
	ref := runRef{id: e.GetExecution().GetWorkflowId(), runID: e.GetExecution().GetRunId()}
	row := drillRow{WorkflowID: ref.id, RunID: ref.runID, StartedAt: e.GetStartTime().AsTime(),
		UIURL: uiLink(a.ui(), conn.namespace, ref.id, ref.runID), Leftovers: []string{}}
	attrs := e.GetSearchAttributes().GetIndexedFields()
	row.Schedule = keyword(attrs[scheduledByAttr])
	row.Plan = keyword(attrs[workflows.SearchAttrPlan])
	if ct := e.GetCloseTime(); ct != nil && e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t := ct.AsTime()
		row.FinishedAt = &t
	}
	d := &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: e}
	rep, err := fetchReportHead(ctx, c, conn, ref, d)
	switch {
	case err != nil && isRunning(d):
		row.Outcome, row.Message = outcomeRunning, "running; its report needs a worker to answer"
	case err != nil:
		row.Outcome, row.Message = strings.ToLower(statusName(d)), rootMessage(err)
	default:
		row.report = rep
		row.Outcome = firstOf(rep.Outcome, outcomeRunning)
		row.Message = rep.Message
		row.Plan = firstOf(row.Plan, rep.Plan)
		row.RequestedBy, row.Unattended = rep.RequestedBy, rep.Unattended
		row.RTO, row.TargetRTO, row.DataAsOf = rep.RTO, rep.TargetRTO, rep.DataAsOf
		row.Leftovers = append(row.Leftovers, rep.Leftovers...)
		row.Warnings = rep.Warnings
		// VMCounts counts every VM, also when the list itself is paged.
		row.VMs = len(rep.VMs)
		if len(rep.VMCounts) > 0 {
			row.VMs = 0
			for _, n := range rep.VMCounts {
				row.VMs += n
			}
		}
		if row.RTO > 0 && row.TargetRTO > 0 && row.Outcome == workflows.OutcomeSucceeded {
			met := row.RTO <= row.TargetRTO
			row.MetTarget = &met
		}
	}
	return row
}

// keyword decodes a Keyword search attribute's payload.
func keyword(p *commonpb.Payload) string {
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		var l []string
		if converter.GetDefaultDataConverter().FromPayload(p, &l) == nil && len(l) > 0 {
			return l[0]
		}
	}
	return s
}

// drillBy says who started a drill: its schedule, or the requester.
func drillBy(r drillRow) string {
	if r.Schedule != "" {
		return "schedule " + r.Schedule
	}
	return dash(r.RequestedBy)
}

func rtoVersus(r drillRow) string {
	switch {
	case r.RTO <= 0:
		return "-"
	case r.TargetRTO <= 0:
		return rto(r.RTO) + " (no target)"
	case r.MetTarget == nil:
		return rto(r.RTO) + " / " + rto(r.TargetRTO)
	case *r.MetTarget:
		return rto(r.RTO) + " / " + rto(r.TargetRTO) + " met"
	}
	return rto(r.RTO) + " / " + rto(r.TargetRTO) + " MISSED"
}

func leftoversText(r drillRow) string {
	switch {
	case r.Outcome == outcomeRunning:
		return "-"
	case len(r.Leftovers) == 0:
		return "none"
	}
	return plural(len(r.Leftovers), "LEFTOVER")
}

// drillsSummary is one sentence over the drills: how many, how they ended,
// how many met the target RTO, leftovers.
func drillsSummary(rows []drillRow, planName string, from time.Time, loc *time.Location) string {
	of := ""
	if planName != "" {
		of = " of plan " + planName
	}
	if len(rows) == 0 {
		return fmt.Sprintf("No drill%s since %s; schedule one with 'lifeboat schedule create --plan FILE --every 168h'.", of, fmtTime(from, loc))
	}
	counts := map[string]int{}
	measured, met, left := 0, 0, 0
	for _, r := range rows {
		counts[r.Outcome]++
		if r.MetTarget != nil {
			measured++
			if *r.MetTarget {
				met++
			}
		}
		left += len(r.Leftovers)
	}
	var parts []string
	for _, o := range []string{workflows.OutcomeSucceeded, workflows.OutcomeFailed, workflows.OutcomeRejected, workflows.OutcomeAborted, outcomeRunning} {
		if counts[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
			delete(counts, o)
		}
	}
	for o, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, o))
	}
	s := fmt.Sprintf("%s%s since %s: %s", plural(len(rows), "drill"), of, fmtTime(from, loc), strings.Join(parts, ", "))
	if measured > 0 {
		s += fmt.Sprintf("; target RTO met in %d of %d", met, measured)
	}
	if left == 0 {
		s += "; no leftovers."
	} else {
		s += fmt.Sprintf("; %s LEFT BEHIND: see each drill's report.", plural(left, "object"))
	}
	return s
}

func renderDrills(rows []drillRow, planName string, from time.Time, loc *time.Location) string {
	var b bytes.Buffer
	b.WriteString(drillsSummary(rows, planName, from, loc) + "\n")
	if len(rows) == 0 {
		return b.String()
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tPLAN\tBY\tOUTCOME\tRTO / TARGET\tLEFTOVERS\tRUN")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtTime(r.StartedAt, loc), dash(r.Plan), drillBy(r), r.Outcome, rtoVersus(r), leftoversText(r), r.UIURL)
	}
	tw.Flush()
	out := strings.Join(lines(b.String()), "\n") + "\n"
	var notes []string
	for _, r := range rows {
		if r.Outcome != workflows.OutcomeSucceeded && r.Outcome != outcomeRunning && r.Message != "" {
			notes = append(notes, fmt.Sprintf("  %s %s: %s", fmtTime(r.StartedAt, loc), r.Outcome, r.Message))
		}
		for _, l := range r.Leftovers {
			notes = append(notes, fmt.Sprintf("  %s left: %s", fmtTime(r.StartedAt, loc), l))
		}
	}
	if len(notes) > 0 {
		out += "\nWhy\n" + strings.Join(notes, "\n") + "\n"
	}
	return out
}
