package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/plan"
)

// memoPlan is the schedule memo key naming its plan, for schedule list.
const memoPlan = "lifeboat_plan"

// minEvery keeps a typo ("168m") from scheduling a drill every few minutes.
const minEvery = time.Hour

// Temporal lists schedules from its visibility store, which lags behind a
// create or delete. create and delete wait, within listedWithin, until the
// list agrees, so that a script's next 'schedule list' sees the change.
const (
	listedWithin = 30 * time.Second
	listedPoll   = 200 * time.Millisecond
)

func (a *app) scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Schedule test failovers (drills) with Temporal Schedules",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr("schedule needs a subcommand: create, list or delete")
		},
	}
	var cf struct {
		planFile, every, cron, id, start, as string
	}
	create := &cobra.Command{
		Use:   "create --plan FILE (--every 168h | --cron \"0 3 * * 6\") [--id ID]",
		Short: "Schedule a plan's test failover; a drill still running when the next is due makes it skip",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.scheduleCreate(cmd.Context(), cf.planFile, cf.every, cf.cron, cf.id, cf.start, cf.as)
		},
	}
	create.Flags().StringVar(&cf.planFile, "plan", "", "plan `FILE` (required)")
	create.Flags().StringVar(&cf.every, "every", "", "interval, such as 168h for weekly")
	create.Flags().StringVar(&cf.cron, "cron", "", "cron expression (UTC), such as \"0 3 * * 6\" for Saturdays at 03:00")
	create.Flags().StringVar(&cf.id, "id", "", "schedule ID (default lifeboat-<plan>-drill)")
	create.Flags().StringVar(&cf.start, "start", "", "override the plan's test start mode: paused or none")
	create.Flags().StringVar(&cf.as, "as", "", "who set up the schedule, recorded as requester of each drill (default $USER)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List lifeboat's drill schedules",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.scheduleList(cmd.Context())
		},
	}
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a schedule (runs it started are not touched)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("schedule delete needs exactly one schedule ID; see 'lifeboat schedule list'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.scheduleDelete(cmd.Context(), args[0])
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

func scheduleID(planName string) string { return "lifeboat-" + planName + "-drill" }

func (a *app) scheduleCreate(ctx context.Context, planFile, every, cron, id, start, as string) error {
	if planFile == "" {
		return usageErr("no plan given; pass --plan FILE")
	}
	if (every == "") == (cron == "") {
		return usageErr("give exactly one of --every (such as 168h) and --cron (such as \"0 3 * * 6\")")
	}
	var spec client.ScheduleSpec
	if every != "" {
		d, err := plan.ParseDuration(every)
		if err != nil {
			return usageErr("--every %v", err)
		}
		if d.D() < minEvery {
			return usageErr("--every %s is shorter than %s; a drill recovers a whole plan, so schedule it hours or days apart", d, minEvery)
		}
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: d.D()}}
	} else {
		if n := len(strings.Fields(cron)); n != 5 {
			return usageErr("--cron %q has %d fields; write 5: minute hour day-of-month month day-of-week, such as \"0 3 * * 6\"", cron, n)
		}
		spec.CronExpressions = []string{cron}
	}
	switch plan.StartMode(start) {
	case "", plan.StartPaused, plan.StartNone:
	case plan.StartRunning:
		return usageErr("a test failover cannot start VMs running: the recovered copies keep their MAC addresses and UUIDs, so running them next to production is unsafe; use --start paused or none")
	default:
		return usageErr("--start %q is not a start mode for a test failover; use paused or none", start)
	}
	p, warnings, err := plan.LoadChecked(planFile)
	if err != nil {
		return fail(exitInvalid, "the plan %s is invalid; fix these and schedule again:\n%s", planFile, indent(err.Error()))
	}
	for _, w := range warnings {
		fmt.Fprintln(a.stderr, "warning: "+w.String())
	}
	if id == "" {
		id = scheduleID(p.Name)
	}
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	requestedBy := "schedule " + id
	if who := firstOf(as, a.whoAmI()); who != "" {
		requestedBy += " (set up by " + who + ")"
	}
	mode := plan.ModeTestFailover
	from, to := p.Sites(mode)
	_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   id,
		Spec: spec,
		Action: &client.ScheduleWorkflowAction{
			// Temporal appends the scheduled time to this ID for each run.
			ID:                    workflows.WorkflowID(p.Name, mode),
			Workflow:              workflows.TestFailoverWorkflowName,
			Args:                  []any{&workflows.RunInput{Plan: *p, RequestedBy: requestedBy, Start: plan.StartMode(start)}},
			TaskQueue:             conn.taskQueue,
			TypedSearchAttributes: runSearchAttributes(p.Name, mode),
			StaticSummary:         fmt.Sprintf("scheduled test failover of plan %s: %s → %s", p.Name, from, to),
			StaticDetails:         staticDetails(p, mode, requestedBy),
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "lifeboat drill of plan " + p.Name,
		Memo:    map[string]any{memoPlan: p.Name},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fail(exitRunFailed, "schedule %s already exists; delete it with 'lifeboat schedule delete %s' or pass another --id", id, id)
	}
	if err != nil {
		return rpcError(err, conn, "create schedule "+id)
	}
	a.awaitListed(ctx, c, id, true)
	if a.json() {
		return writeJSON(a.stdout, map[string]string{"schedule_id": id, "plan": p.Name})
	}
	when := "every " + every
	if cron != "" {
		when = "on cron \"" + cron + "\" (UTC)"
	}
	fmt.Fprintf(a.stdout, "Scheduled a test failover of plan %s %s as schedule %s; a drill still running when the next is due makes it skip.\n", p.Name, when, id)
	fmt.Fprintf(a.stdout, "Runs are found with: lifeboat status %s --mode test-failover\n", p.Name)
	return nil
}

type scheduleRow struct {
	ID      string     `json:"id"`
	Plan    string     `json:"plan"`
	Spec    string     `json:"spec"`
	Paused  bool       `json:"paused"`
	NextRun *time.Time `json:"next_run,omitempty"`
	LastRun string     `json:"last_run,omitempty"`
}

func (a *app) scheduleList(ctx context.Context) error {
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return rpcError(err, conn, "list schedules")
	}
	rows := []scheduleRow{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return rpcError(err, conn, "list schedules")
		}
		if !isDrill(e) {
			continue
		}
		rows = append(rows, scheduleRowOf(e))
	}
	if a.json() {
		return writeJSON(a.stdout, rows)
	}
	fmt.Fprint(a.stdout, renderSchedules(rows, a.loc))
	return nil
}

// isDrill tells lifeboat's schedules from others: by the memo create sets,
// or by the workflow they start.
func isDrill(e *client.ScheduleListEntry) bool {
	if _, ok := e.Memo.GetFields()[memoPlan]; ok {
		return true
	}
	return e.WorkflowType.Name == workflows.TestFailoverWorkflowName
}

// awaitListed waits until schedule id is listed (or no longer listed); past
// listedWithin it says so and returns, since the change itself is made.
func (a *app) awaitListed(ctx context.Context, c temporalClient, id string, want bool) {
	deadline := time.NewTimer(listedWithin)
	defer deadline.Stop()
	for {
		if listed, err := scheduleListed(ctx, c, id); err == nil && listed == want {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			verb := "created"
			if !want {
				verb = "deleted"
			}
			fmt.Fprintf(a.stderr, "note: schedule %s is %s, but Temporal's schedule list does not show it yet; it catches up on its own.\n", id, verb)
			return
		case <-time.After(listedPoll):
		}
	}
}

func scheduleListed(ctx context.Context, c temporalClient, id string) (bool, error) {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return false, err
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return false, err
		}
		if e.ID == id {
			return true, nil
		}
	}
	return false, nil
}

func scheduleRowOf(e *client.ScheduleListEntry) scheduleRow {
	r := scheduleRow{ID: e.ID, Paused: e.Paused, Spec: specText(e.Spec)}
	if f := e.Memo.GetFields()[memoPlan]; f != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(f, &r.Plan)
	}
	if len(e.NextActionTimes) > 0 {
		t := e.NextActionTimes[0]
		r.NextRun = &t
	}
	if n := len(e.RecentActions); n > 0 {
		if res := e.RecentActions[n-1].StartWorkflowResult; res != nil {
			r.LastRun = res.WorkflowID
		}
	}
	return r
}

// specText says when a schedule fires; the server stores cron expressions as
// calendars, which are shown by their next run instead.
func specText(s *client.ScheduleSpec) string {
	if s == nil {
		return "-"
	}
	var parts []string
	for _, iv := range s.Intervals {
		parts = append(parts, "every "+plan.Duration(iv.Every).String())
	}
	parts = append(parts, s.CronExpressions...)
	if len(s.Calendars) > 0 {
		parts = append(parts, "calendar")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func renderSchedules(rows []scheduleRow, loc *time.Location) string {
	if len(rows) == 0 {
		return "No lifeboat schedule; create one with 'lifeboat schedule create --plan FILE --every 168h'.\n"
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPLAN\tWHEN\tNEXT RUN\tPAUSED\tLAST RUN")
	for _, r := range rows {
		next := "-"
		if r.NextRun != nil {
			next = fmtTime(*r.NextRun, loc)
		}
		paused := "no"
		if r.Paused {
			paused = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, dash(r.Plan), r.Spec, next, paused, dash(r.LastRun))
	}
	tw.Flush()
	return strings.Join(lines(b.String()), "\n") + "\n"
}

func (a *app) scheduleDelete(ctx context.Context, id string) error {
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.ScheduleClient().GetHandle(ctx, id).Delete(ctx); err != nil {
		if isNotFound(err) {
			return fail(exitNotFound, "no schedule %s in namespace %s; see 'lifeboat schedule list'", id, conn.namespace)
		}
		return rpcError(err, conn, "delete schedule "+id)
	}
	a.awaitListed(ctx, c, id, false)
	if a.json() {
		return writeJSON(a.stdout, map[string]string{"deleted": id})
	}
	fmt.Fprintf(a.stdout, "Deleted schedule %s; runs it already started are not touched.\n", id)
	return nil
}
