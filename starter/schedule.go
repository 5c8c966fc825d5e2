package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
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
		Short: "Schedule drills (unattended test failovers) and readiness checks with Temporal Schedules",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr("schedule needs a subcommand: create, list, describe, pause, unpause, trigger, update or delete")
		},
	}
	var cf struct {
		planFile, every, cron, id, start, as string
		readiness                            bool
	}
	create := &cobra.Command{
		Use:   "create --plan FILE (--every 168h | --cron \"0 3 * * 6\") [--readiness] [--id ID]",
		Short: "Schedule a plan's drill (or, with --readiness, its readiness check); one still running when the next is due makes it skip",
		Long: `Schedule a drill of the plan: an unattended test failover. Nobody is there, so the
plan's drill policy decides its gates (the gates a test failover requires are approved
as "unattended"; its VMs are kept drill.hold before cleanup), and it always cleans up.
With --readiness the schedule runs the plan's readiness check instead, which changes
nothing. A run still going when the next is due makes that one skip.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.scheduleCreate(cmd.Context(), cf.planFile, cf.every, cf.cron, cf.id, cf.start, cf.as, cf.readiness)
		},
	}
	create.Flags().StringVar(&cf.planFile, "plan", "", "plan `FILE` (required)")
	create.Flags().StringVar(&cf.every, "every", "", "interval, such as 168h for weekly")
	create.Flags().StringVar(&cf.cron, "cron", "", "cron expression (UTC), such as \"0 3 * * 6\" for Saturdays at 03:00")
	create.Flags().StringVar(&cf.id, "id", "", "schedule ID (default lifeboat-<plan>-drill, or lifeboat-<plan>-readiness)")
	create.Flags().StringVar(&cf.start, "start", "", "override the plan's test start mode: paused or none")
	create.Flags().StringVar(&cf.as, "as", "", "who set up the schedule, recorded as requester of each drill (default $USER)")
	create.Flags().BoolVar(&cf.readiness, "readiness", false, "schedule the plan's readiness check (changes nothing) instead of a drill")

	list := &cobra.Command{
		Use:   "list",
		Short: "List lifeboat's schedules",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.scheduleList(cmd.Context())
		},
	}
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a schedule (runs it started are not touched)",
		Args:  oneScheduleID("delete"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.scheduleDelete(cmd.Context(), args[0])
		},
	}
	describe := &cobra.Command{
		Use:   "describe ID",
		Short: "Show a schedule: its plan, when it runs, whether it is paused, its next and recent runs",
		Args:  oneScheduleID("describe"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.scheduleDescribe(cmd.Context(), args[0])
		},
	}
	var note string
	pause := &cobra.Command{
		Use:   "pause ID [--note TEXT]",
		Short: "Pause a schedule: no drill starts until it is unpaused",
		Args:  oneScheduleID("pause"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.schedulePause(cmd.Context(), args[0], true, note)
		},
	}
	pause.Flags().StringVar(&note, "note", "", "why it is paused, shown by describe and the Web UI")
	unpause := &cobra.Command{
		Use:   "unpause ID [--note TEXT]",
		Short: "Unpause a schedule",
		Args:  oneScheduleID("unpause"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.schedulePause(cmd.Context(), args[0], false, note)
		},
	}
	unpause.Flags().StringVar(&note, "note", "", "a note, shown by describe and the Web UI")
	trigger := &cobra.Command{
		Use:   "trigger ID",
		Short: "Run a schedule's drill now (skipped if one is still running)",
		Args:  oneScheduleID("trigger"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.scheduleTrigger(cmd.Context(), args[0])
		},
	}
	var uf struct{ planFile, every, cron string }
	update := &cobra.Command{
		Use:   "update ID [--every D | --cron C] [--plan FILE]",
		Short: "Change when a schedule runs, or the plan it runs (read again from FILE)",
		Args:  oneScheduleID("update"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.scheduleUpdate(cmd.Context(), args[0], uf.planFile, uf.every, uf.cron)
		},
	}
	update.Flags().StringVar(&uf.planFile, "plan", "", "plan `FILE` to run from now on (the same plan name)")
	update.Flags().StringVar(&uf.every, "every", "", "new interval, such as 168h")
	update.Flags().StringVar(&uf.cron, "cron", "", "new cron expression (UTC)")
	cmd.AddCommand(create, list, describe, pause, unpause, trigger, update, del)
	return cmd
}

func oneScheduleID(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageErr("schedule %s needs exactly one schedule ID; see 'lifeboat schedule list'", verb)
		}
		return nil
	}
}

func scheduleID(planName string) string { return "lifeboat-" + planName + "-drill" }

func readinessScheduleID(planName string) string { return "lifeboat-" + planName + "-readiness" }

// Kinds of lifeboat schedule, in the memo.
const (
	memoKind      = "lifeboat_kind"
	kindDrill     = "drill"
	kindReadiness = "readiness"
)

// scheduleSpec reads --every or --cron (exactly one).
func scheduleSpec(every, cron string) (client.ScheduleSpec, error) {
	var spec client.ScheduleSpec
	if (every == "") == (cron == "") {
		return spec, usageErr("give exactly one of --every (such as 168h) and --cron (such as \"0 3 * * 6\")")
	}
	if every != "" {
		d, err := plan.ParseDuration(every)
		if err != nil {
			return spec, usageErr("--every %v", err)
		}
		if d.D() < minEvery {
			return spec, usageErr("--every %s is shorter than %s; a drill recovers a whole plan, so schedule it hours or days apart", d, minEvery)
		}
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: d.D()}}
		return spec, nil
	}
	if n := len(strings.Fields(cron)); n != 5 {
		return spec, usageErr("--cron %q has %d fields; write 5: minute hour day-of-month month day-of-week, such as \"0 3 * * 6\"", cron, n)
	}
	spec.CronExpressions = []string{cron}
	return spec, nil
}

// scheduleAction is what a schedule of the plan starts: its drill (an
// unattended test failover) or its readiness check.
func scheduleAction(p *plan.Plan, kind, taskQueue, requestedBy string, start plan.StartMode) *client.ScheduleWorkflowAction {
	if kind == kindReadiness {
		from, to := p.Sites(plan.ModeFailover)
		return &client.ScheduleWorkflowAction{
			ID:                    workflows.WorkflowID(p.Name, workflows.ModeReadiness),
			Workflow:              workflows.ReadinessWorkflowName,
			Args:                  []any{&workflows.ReadinessInput{Plan: *p, Mode: plan.ModeFailover, RequestedBy: requestedBy}},
			TaskQueue:             taskQueue,
			TypedSearchAttributes: runSearchAttributes(p.Name, workflows.ModeReadiness),
			StaticSummary:         fmt.Sprintf("scheduled readiness check of plan %s: %s → %s", p.Name, from, to),
		}
	}
	mode := plan.ModeTestFailover
	from, to := p.Sites(mode)
	return &client.ScheduleWorkflowAction{
		// Temporal appends the scheduled time to this ID for each run.
		ID:                    workflows.WorkflowID(p.Name, mode),
		Workflow:              workflows.TestFailoverWorkflowName,
		Args:                  []any{&workflows.RunInput{Plan: *p, RequestedBy: requestedBy, Start: start, Unattended: true}},
		TaskQueue:             taskQueue,
		TypedSearchAttributes: runSearchAttributes(p.Name, mode),
		StaticSummary:         fmt.Sprintf("drill (unattended test failover) of plan %s: %s → %s", p.Name, from, to),
		StaticDetails:         staticDetails(p, mode, requestedBy),
	}
}

func (a *app) scheduleCreate(ctx context.Context, planFile, every, cron, id, start, as string, readiness bool) error {
	if planFile == "" {
		return usageErr("no plan given; pass --plan FILE")
	}
	spec, err := scheduleSpec(every, cron)
	if err != nil {
		return err
	}
	switch plan.StartMode(start) {
	case "", plan.StartPaused, plan.StartNone:
	case plan.StartRunning:
		return usageErr("a test failover cannot start VMs running: the recovered copies keep their MAC addresses and UUIDs, so running them next to production is unsafe; use --start paused or none")
	default:
		return usageErr("--start %q is not a start mode for a test failover; use paused or none", start)
	}
	p, err := a.loadPlan(planFile, "schedule")
	if err != nil {
		return err
	}
	kind := kindDrill
	if readiness {
		kind = kindReadiness
	}
	if id == "" {
		id = scheduleID(p.Name)
		if readiness {
			id = readinessScheduleID(p.Name)
		}
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
	_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      id,
		Spec:    spec,
		Action:  scheduleAction(p, kind, conn.taskQueue, requestedBy, plan.StartMode(start)),
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "lifeboat " + kind + " of plan " + p.Name,
		Memo:    map[string]any{memoPlan: p.Name, memoKind: kind},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fail(exitcode.RunFailed, "schedule %s already exists; delete it with 'lifeboat schedule delete %s' or pass another --id", id, id)
	}
	if err != nil {
		return rpcError(err, conn, "create schedule "+id)
	}
	a.awaitListed(ctx, c, id, true)
	if a.json() {
		return writeJSON(a.stdout, map[string]string{"schedule_id": id, "plan": p.Name, "kind": kind})
	}
	when := "every " + every
	if cron != "" {
		when = "on cron \"" + cron + "\" (UTC)"
	}
	if readiness {
		fmt.Fprintf(a.stdout, "Scheduled the readiness check of plan %s %s as schedule %s.\n", p.Name, when, id)
		fmt.Fprintf(a.stdout, "Its results: lifeboat schedule describe %s, and the runs of workflow %s in the Web UI.\n", id, workflows.WorkflowID(p.Name, workflows.ModeReadiness))
		return nil
	}
	fmt.Fprintf(a.stdout, "Scheduled a drill (unattended test failover) of plan %s %s as schedule %s; a drill still running when the next is due makes it skip.\n", p.Name, when, id)
	fmt.Fprintf(a.stdout, "Its drills: lifeboat drills --plan %s\n", p.Name)
	return nil
}

type scheduleRow struct {
	ID      string     `json:"id"`
	Plan    string     `json:"plan"`
	Kind    string     `json:"kind"`
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
	return e.WorkflowType.Name == workflows.TestFailoverWorkflowName || e.WorkflowType.Name == workflows.ReadinessWorkflowName
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
	r := scheduleRow{ID: e.ID, Paused: e.Paused, Spec: specText(e.Spec), Kind: kindDrill}
	if f := e.Memo.GetFields()[memoPlan]; f != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(f, &r.Plan)
	}
	if f := e.Memo.GetFields()[memoKind]; f != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(f, &r.Kind)
	} else if e.WorkflowType.Name == workflows.ReadinessWorkflowName {
		r.Kind = kindReadiness
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

// specText says when a schedule fires. The server keeps a cron expression
// as a calendar, which is written back as cron.
func specText(s *client.ScheduleSpec) string {
	if s == nil {
		return "-"
	}
	var parts []string
	for _, iv := range s.Intervals {
		parts = append(parts, "every "+plan.Duration(iv.Every).String())
	}
	parts = append(parts, s.CronExpressions...)
	for _, c := range s.Calendars {
		parts = append(parts, calendarCron(c))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// calendarCron writes a calendar as the cron expression it came from:
// minute hour day-of-month month day-of-week, with the seconds first when
// they are not 0 and the years last when there are any.
func calendarCron(c client.ScheduleCalendarSpec) string {
	f := []string{cronField(c.Minute, 0, 59), cronField(c.Hour, 0, 23), cronField(c.DayOfMonth, 1, 31),
		cronField(c.Month, 1, 12), cronField(c.DayOfWeek, 0, 6)}
	if sec := cronField(c.Second, 0, 59); sec != "0" {
		f = append([]string{sec}, f...)
	}
	if len(c.Year) > 0 {
		f = append(f, cronField(c.Year, 0, 0))
	}
	return strings.Join(f, " ")
}

// cronField is one field: "*", "*/15", "1-5", "1,15"; an empty list or one
// covering lo..hi is "*".
func cronField(rs []client.ScheduleRange, lo, hi int) string {
	if len(rs) == 0 {
		return "*"
	}
	var parts []string
	for _, r := range rs {
		end := max(r.End, r.Start)
		var p string
		switch {
		case r.Start == lo && end == hi && hi > lo:
			p = "*"
		case end > r.Start:
			p = fmt.Sprintf("%d-%d", r.Start, end)
		default:
			p = fmt.Sprint(r.Start)
		}
		if r.Step > 1 {
			p += fmt.Sprintf("/%d", r.Step)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ",")
}

func renderSchedules(rows []scheduleRow, loc *time.Location) string {
	if len(rows) == 0 {
		return "No lifeboat schedule; create one with 'lifeboat schedule create --plan FILE --every 168h'.\n"
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPLAN\tKIND\tWHEN\tNEXT RUN\tPAUSED\tLAST RUN")
	for _, r := range rows {
		next := "-"
		if r.NextRun != nil {
			next = fmtTime(*r.NextRun, loc)
		}
		paused := "no"
		if r.Paused {
			paused = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, dash(r.Plan), r.Kind, r.Spec, next, paused, dash(r.LastRun))
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
			return fail(exitcode.NotFound, "no schedule %s in namespace %s; see 'lifeboat schedule list'", id, conn.namespace)
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

// scheduleDetail is what describe shows.
type scheduleDetail struct {
	scheduleRow
	Note           string      `json:"note,omitempty"`
	NextRuns       []time.Time `json:"next_runs,omitempty"`
	Recent         []recentRun `json:"recent,omitempty"`
	Running        []string    `json:"running,omitempty"`
	Actions        int         `json:"actions"`
	SkippedOverlap int         `json:"skipped_overlap"`
	MissedCatchup  int         `json:"missed_catchup"`
	Unattended     bool        `json:"unattended,omitempty"`
	CreatedAt      time.Time   `json:"created_at"`
	LastUpdatedAt  time.Time   `json:"last_updated_at,omitempty"`
	WorkflowID     string      `json:"workflow_id,omitempty"`
	WorkflowType   string      `json:"workflow_type,omitempty"`
}

type recentRun struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	WorkflowID  string    `json:"workflow_id,omitempty"`
	RunID       string    `json:"run_id,omitempty"`
	UIURL       string    `json:"ui_url,omitempty"`
}

// handle returns a schedule's handle once Temporal knows it (exit 6 if not).
func (a *app) describeSchedule(ctx context.Context, c temporalClient, conn connection, id string) (client.ScheduleHandle, *client.ScheduleDescription, error) {
	h := c.ScheduleClient().GetHandle(ctx, id)
	d, err := h.Describe(ctx)
	if err != nil {
		if isNotFound(err) {
			return nil, nil, fail(exitcode.NotFound, "no schedule %s in namespace %s; see 'lifeboat schedule list'", id, conn.namespace)
		}
		return nil, nil, rpcError(err, conn, "describe schedule "+id)
	}
	return h, d, nil
}

func (a *app) scheduleDescribe(ctx context.Context, id string) error {
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_, d, err := a.describeSchedule(ctx, c, conn, id)
	if err != nil {
		return err
	}
	det := scheduleDetail{scheduleRow: scheduleRow{ID: id, Kind: kindDrill, Spec: specText(d.Schedule.Spec)},
		NextRuns: d.Info.NextActionTimes, Actions: d.Info.NumActions, SkippedOverlap: d.Info.NumActionsSkippedOverlap,
		MissedCatchup: d.Info.NumActionsMissedCatchupWindow, CreatedAt: d.Info.CreatedAt, LastUpdatedAt: d.Info.LastUpdateAt}
	if f := d.Memo.GetFields()[memoPlan]; f != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(f, &det.Plan)
	}
	if f := d.Memo.GetFields()[memoKind]; f != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(f, &det.Kind)
	}
	if st := d.Schedule.State; st != nil {
		det.Paused, det.Note = st.Paused, st.Note
	}
	if act, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		det.WorkflowID = act.ID
		det.WorkflowType, _ = act.Workflow.(string)
		if det.WorkflowType == workflows.ReadinessWorkflowName && det.Kind == kindDrill {
			det.Kind = kindReadiness
		}
		for _, arg := range act.Args {
			if in, ok := decodeArg[workflows.RunInput](arg); ok {
				det.Unattended = in.Unattended
				det.Plan = firstOf(det.Plan, in.Plan.Name)
			}
		}
	}
	for _, r := range d.Info.RecentActions {
		rr := recentRun{ScheduledAt: r.ScheduleTime, StartedAt: r.ActualTime}
		if w := r.StartWorkflowResult; w != nil {
			rr.WorkflowID, rr.RunID = w.WorkflowID, w.FirstExecutionRunID
			rr.UIURL = uiLink(a.ui(), conn.namespace, w.WorkflowID, w.FirstExecutionRunID)
		}
		det.Recent = append(det.Recent, rr)
	}
	for _, w := range d.Info.RunningWorkflows {
		det.Running = append(det.Running, w.WorkflowID)
	}
	if len(det.NextRuns) > 0 {
		det.NextRun = &det.NextRuns[0]
	}
	if a.json() {
		return writeJSON(a.stdout, det)
	}
	fmt.Fprint(a.stdout, renderScheduleDetail(&det, a.loc))
	return nil
}

// decodeArg reads a schedule action's argument: the one given at create
// (in tests), or the payload Describe returns.
func decodeArg[T any](arg any) (*T, bool) {
	switch v := arg.(type) {
	case *T:
		return v, true
	case interface{ Get(any) error }:
		var out T
		return &out, v.Get(&out) == nil
	case *commonpb.Payload:
		var out T
		return &out, converter.GetDefaultDataConverter().FromPayload(v, &out) == nil
	}
	return nil, false
}

func renderScheduleDetail(d *scheduleDetail, loc *time.Location) string {
	var b strings.Builder
	what := "drill: unattended test failover, gates decided by the plan's drill policy"
	if d.Kind == kindReadiness {
		what = "readiness check: changes nothing"
	} else if !d.Unattended {
		what = "test failover (made before drills ran unattended: its gates wait for a person; create it again)"
	}
	paused := "no"
	if d.Paused {
		paused = "yes"
	}
	fmt.Fprintf(&b, "Schedule   %s\n", d.ID)
	fmt.Fprintf(&b, "Plan       %s\n", dash(d.Plan))
	fmt.Fprintf(&b, "Runs       %s\n", what)
	fmt.Fprintf(&b, "When       %s\n", d.Spec)
	fmt.Fprintf(&b, "Paused     %s\n", paused)
	if d.Note != "" {
		fmt.Fprintf(&b, "Note       %s\n", d.Note)
	}
	fmt.Fprintf(&b, "Started    %d (skipped while one ran: %d, missed: %d)\n", d.Actions, d.SkippedOverlap, d.MissedCatchup)
	for i, t := range d.NextRuns {
		if i == 3 {
			break
		}
		label := "          "
		if i == 0 {
			label = "Next runs "
		}
		fmt.Fprintf(&b, "%s %s\n", label, fmtTime(t, loc))
	}
	if len(d.Running) > 0 {
		fmt.Fprintf(&b, "Running    %s\n", strings.Join(d.Running, ", "))
	}
	if len(d.Recent) > 0 {
		b.WriteString("Recent runs\n")
		for _, r := range d.Recent {
			fmt.Fprintf(&b, "  %s  %s  %s\n", fmtTime(r.StartedAt, loc), dash(r.WorkflowID), r.UIURL)
		}
	}
	if d.Kind == kindDrill && d.Plan != "" {
		fmt.Fprintf(&b, "Outcomes: lifeboat drills --plan %s\n", d.Plan)
	}
	return b.String()
}

func (a *app) schedulePause(ctx context.Context, id string, pause bool, note string) error {
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	h, _, err := a.describeSchedule(ctx, c, conn, id)
	if err != nil {
		return err
	}
	verb := "paused"
	if pause {
		err = h.Pause(ctx, client.SchedulePauseOptions{Note: firstOf(note, "paused with lifeboat by "+firstOf(a.whoAmI(), "someone"))})
	} else {
		verb = "unpaused"
		err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: firstOf(note, "unpaused with lifeboat by "+firstOf(a.whoAmI(), "someone"))})
	}
	if err != nil {
		return rpcError(err, conn, strings.TrimSuffix(verb, "d")+" schedule "+id)
	}
	if a.json() {
		return writeJSON(a.stdout, map[string]any{"schedule_id": id, "paused": pause})
	}
	if pause {
		fmt.Fprintf(a.stdout, "Paused schedule %s: no drill starts until 'lifeboat schedule unpause %s'.\n", id, id)
	} else {
		fmt.Fprintf(a.stdout, "Unpaused schedule %s; see its next run with 'lifeboat schedule describe %s'.\n", id, id)
	}
	return nil
}

func (a *app) scheduleTrigger(ctx context.Context, id string) error {
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	h, d, err := a.describeSchedule(ctx, c, conn, id)
	if err != nil {
		return err
	}
	// Skip like the schedule does: two drills of a plan never overlap.
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP}); err != nil {
		return rpcError(err, conn, "trigger schedule "+id)
	}
	if a.json() {
		return writeJSON(a.stdout, map[string]any{"schedule_id": id, "triggered": true, "running": len(d.Info.RunningWorkflows) > 0})
	}
	if len(d.Info.RunningWorkflows) > 0 {
		fmt.Fprintf(a.stdout, "Schedule %s already runs %s, so the triggered run is skipped, as a scheduled one would be.\n", id, d.Info.RunningWorkflows[0].WorkflowID)
		return nil
	}
	fmt.Fprintf(a.stdout, "Triggered schedule %s: its run starts now; see it with 'lifeboat schedule describe %s'.\n", id, id)
	return nil
}

func (a *app) scheduleUpdate(ctx context.Context, id, planFile, every, cron string) error {
	if planFile == "" && every == "" && cron == "" {
		return usageErr("nothing to update; pass --every, --cron or --plan")
	}
	var spec *client.ScheduleSpec
	if every != "" || cron != "" {
		s, err := scheduleSpec(every, cron)
		if err != nil {
			return err
		}
		spec = &s
	}
	var p *plan.Plan
	if planFile != "" {
		lp, warnings, err := plan.LoadChecked(planFile)
		if err != nil {
			return fail(exitcode.Invalid, "the plan %s is invalid; fix these and update again:\n%s", planFile, indent(err.Error()))
		}
		for _, w := range warnings {
			fmt.Fprintln(a.stderr, "warning: "+w.String())
		}
		p = lp
	}
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	h, d, err := a.describeSchedule(ctx, c, conn, id)
	if err != nil {
		return err
	}
	var wrongPlan error
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		if spec != nil {
			s.Spec = spec
		}
		if p != nil {
			act, ok := s.Action.(*client.ScheduleWorkflowAction)
			if !ok {
				return nil, fmt.Errorf("schedule %s does not start a workflow", id)
			}
			var planName, kind, requestedBy string
			if f := d.Memo.GetFields()[memoPlan]; f != nil {
				_ = converter.GetDefaultDataConverter().FromPayload(f, &planName)
			}
			kind = kindDrill
			if act.Workflow == workflows.ReadinessWorkflowName {
				kind = kindReadiness
			}
			var start plan.StartMode
			for _, arg := range act.Args {
				if ri, ok := decodeArg[workflows.RunInput](arg); ok && kind == kindDrill {
					requestedBy, start = ri.RequestedBy, ri.Start
				}
				if ri, ok := decodeArg[workflows.ReadinessInput](arg); ok && kind == kindReadiness {
					requestedBy = ri.RequestedBy
				}
			}
			if planName != "" && planName != p.Name {
				wrongPlan = fail(exitcode.Usage, "schedule %s runs plan %s, not %s; create a schedule for plan %s instead", id, planName, p.Name, p.Name)
				return nil, wrongPlan
			}
			s.Action = scheduleAction(p, kind, act.TaskQueue, firstOf(requestedBy, "schedule "+id), start)
		}
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if wrongPlan != nil {
		return wrongPlan
	}
	if err != nil {
		return rpcError(err, conn, "update schedule "+id)
	}
	if a.json() {
		return writeJSON(a.stdout, map[string]any{"schedule_id": id, "updated": true})
	}
	var what []string
	if spec != nil {
		what = append(what, "now runs "+specText(spec))
	}
	if p != nil {
		what = append(what, "runs plan "+p.Name+" as read from "+planFile)
	}
	fmt.Fprintf(a.stdout, "Updated schedule %s: %s.\n", id, strings.Join(what, ", "))
	return nil
}
