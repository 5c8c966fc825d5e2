package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/live"
)

type statusFlags struct {
	mode  string
	watch bool
}

func (a *app) statusCommand() *cobra.Command {
	var f statusFlags
	cmd := &cobra.Command{
		Use:   "status RUN [--watch]",
		Short: "Show a run: phase, waiting gate, gates, prechecks, vApps and VMs",
		Long: `Show a run: its phase, the gate it waits at (who may approve it and the exact
command), gates with their decisions, prechecks, and every vApp and VM with its state.

Without --watch, exits 8 while the run is running, else with its outcome (0 succeeded,
1 failed, 4 rejected, 5 aborted). A running run needs a worker to answer; when none does,
status says so at once, shows what Temporal knows, and exits 8 (the run has not failed).
With --watch, follows the run until it ends (redrawn in place on a terminal, fitted to its
size; one line per change otherwise) and exits with its outcome; a worker or Temporal that
stops answering for a while is shown, and the watch goes on. A finished run is read from
its history: no worker is needed.`,
		Args: exactRun,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.status(cmd.Context(), args[0], f)
		},
	}
	cmd.Flags().BoolVarP(&f.watch, "watch", "w", false, "follow the run until it ends")
	addModeFlag(cmd, &f.mode)
	return cmd
}

func (a *app) status(ctx context.Context, arg string, f statusFlags) error {
	ref, c, conn, d, err := a.openRun(ctx, arg, f.mode)
	if err != nil {
		return err
	}
	defer c.Close()
	if f.watch {
		return a.follow(ctx, c, conn, ref, d)
	}
	v, err := a.snapshot(ctx, c, conn, ref, d)
	if err != nil {
		return err
	}
	if a.json() {
		if err := writeJSON(a.stdout, v.jsonValue()); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.stdout, strings.Join(renderStatus(v, a.loc), "\n"))
	}
	return a.viewExit(v)
}

// viewExit is the exit code of a status: 8 while running, else the outcome's.
func (a *app) viewExit(v statusView) error {
	code := outcomeCode(v.outcome)
	if code == exitcode.OK {
		return nil
	}
	// The screen already says what happened: exit without another sentence.
	return &exitError{code: code, err: silentError{}}
}

type silentError struct{}

func (silentError) Error() string { return "" }

func (v statusView) jsonValue() map[string]any {
	return map[string]any{"workflow_id": v.ref.id, "run_id": v.ref.runID, "status": v.status, "outcome": v.outcome, "message": v.message, "progress": v.progress}
}

// snapshot reads a run's state: the progress query while it runs (needs a
// worker), with the live state of the child workflows that recover or start
// its VMs laid over it (live.Overlay), or its report from history once it has
// ended (needs none). A running run that no worker answers for is shown from
// what Temporal itself knows (its phase search attribute), saying so.
func (a *app) snapshot(ctx context.Context, c temporalClient, conn connection, ref runRef, d *workflowservice.DescribeWorkflowExecutionResponse) (statusView, error) {
	v := statusView{ref: ref, status: statusName(d)}
	if isRunning(d) {
		p, err := queryProgress(ctx, c, conn, ref)
		var nw *noWorkerError
		if errors.As(err, &nw) {
			v.progress = progressFromDescription(d)
			v.noWorker = nw.Error()
			return v, nil
		}
		if err != nil {
			return v, err
		}
		v.progress = live.Overlay(ctx, c, ref.id, ref.runID, p)
		return v, nil
	}
	r, err := fetchReport(ctx, c, conn, ref, d)
	if err != nil {
		return v, err
	}
	v.progress = progressFromReport(r)
	v.outcome = r.Outcome
	v.message = r.Message
	return v, nil
}

// progressFromDescription is what Temporal knows of a run without its
// worker: plan, mode and phase from the search attributes, the start time.
func progressFromDescription(d *workflowservice.DescribeWorkflowExecutionResponse) *workflows.Progress {
	info := d.GetWorkflowExecutionInfo()
	attr := func(name string) string {
		var s string
		if pl := info.GetSearchAttributes().GetIndexedFields()[name]; pl != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(pl, &s)
		}
		return s
	}
	p := &workflows.Progress{Plan: attr(workflows.SearchAttrPlan), Mode: plan.Mode(attr(workflows.SearchAttrMode)), Phase: attr(workflows.SearchAttrPhase)}
	if t := info.GetStartTime(); t != nil {
		p.StartedAt = t.AsTime()
	}
	return p
}

// follow shows a run until it ends, then exits with its outcome. On a
// terminal each look is a frame of the screen (see screen); otherwise each
// change is a line. d is the run's description if the caller already has
// it, else nil.
//
// Watching outlives what a run outlives: a worker that stops answering (a
// restart, a crash) or a Temporal that does not answer for a while is said
// on the screen, with the last progress seen, and the watch goes on; only
// the run's end, Ctrl-C or an error that will not pass (the run is gone)
// ends it.
func (a *app) follow(ctx context.Context, c temporalClient, conn connection, ref runRef, d *workflowservice.DescribeWorkflowExecutionResponse) error {
	tick, stop := a.tick()
	defer stop()
	var scr *screen
	var resized chan os.Signal
	if a.isTerminal && !a.json() {
		scr = &screen{w: a.stdout, size: a.termSize}
		resized = make(chan os.Signal, 1)
		signal.Notify(resized, syscall.SIGWINCH)
		defer signal.Stop(resized)
	}
	var (
		prev      *workflows.Progress
		last      statusView // the last look that had the worker's answer
		frame     []string
		lostSince time.Time
	)
	for {
		v, err := a.look(ctx, c, conn, ref, d)
		d = nil
		lost := ""
		switch {
		case err == nil && v.noWorker == "":
			if !lostSince.IsZero() && scr == nil && !a.json() {
				fmt.Fprintf(a.stdout, "%s a worker answers again\n", fmtClock(a.now(), a.loc))
			}
			lostSince = time.Time{}
		case err == nil:
			lost = v.noWorker
		case watchGoesOn(err):
			lost = err.Error()
		default:
			if scr != nil {
				scr.close(frame)
			}
			return err
		}
		if lost != "" {
			if lostSince.IsZero() {
				lostSince = a.now()
				if scr == nil && !a.json() {
					fmt.Fprintf(a.stdout, "%s %s; still watching\n", fmtClock(lostSince, a.loc), lost)
				}
			}
			note := "Still watching."
			switch {
			case last.progress != nil:
				v = last
				note = "Still watching; the progress below is the last seen."
			case v.progress == nil: // Temporal did not answer the first look
				v = statusView{ref: ref, status: "unknown", progress: &workflows.Progress{}}
			}
			v.noWorker = fmt.Sprintf("Since %s: %s. %s", fmtClock(lostSince, a.loc), lost, note)
		} else {
			last = v
		}
		switch {
		case a.json():
			if v.outcome != "" {
				if err := writeJSON(a.stdout, v.jsonValue()); err != nil {
					return err
				}
			}
		case scr != nil:
			frame = renderStatus(v, a.loc)
			scr.draw(frame)
		default:
			if lost == "" {
				for _, l := range changes(prev, v.progress, a.loc) {
					fmt.Fprintln(a.stdout, l)
				}
				prev = v.progress
			}
		}
		if v.outcome != "" {
			if scr != nil {
				scr.close(frame)
			} else if !a.json() {
				line := ref.id + " " + v.outcome
				if v.message != "" {
					line += ": " + v.message
				}
				fmt.Fprintln(a.stdout, line)
			}
			return a.viewExit(v)
		}
		select {
		case <-ctx.Done():
			if scr != nil {
				scr.close(frame)
			}
			return fail(exitcode.Running, "stopped following %s, which is still running", ref)
		case <-tick:
		case <-resized:
		}
	}
}

// look describes the run (unless d is already its description) and takes a
// snapshot of it.
func (a *app) look(ctx context.Context, c temporalClient, conn connection, ref runRef, d *workflowservice.DescribeWorkflowExecutionResponse) (statusView, error) {
	if d == nil {
		var err error
		if d, err = c.DescribeWorkflowExecution(ctx, ref.id, ref.runID); err != nil {
			return statusView{}, rpcError(err, conn, "follow "+ref.String())
		}
	}
	return a.snapshot(ctx, c, conn, ref, d)
}

// watchGoesOn says whether --watch outlives an error: all but a run that is
// gone and a configuration that is wrong pass (a Temporal or a worker that
// does not answer for a while, a query that fails once), and none of them
// is the run's failure, which only its end says.
func watchGoesOn(err error) bool {
	switch exitCode(err) {
	case exitcode.NotFound, exitcode.Invalid, exitcode.Usage:
		return false
	}
	return true
}

// exitCode is the exit code an error ends a command with.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitcode.RunFailed
}

type reportFlags struct {
	mode, format, out string
	audit             auditFlags // --drills: the audit page (audit.go)
}

func (a *app) reportCommand() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "report RUN [--format markdown|json|html] [-o FILE]",
		Short: "Print a run's report: summary, timeline, approvals, prechecks, per-VM RTO, leftovers",
		Long: `Print a run's report. A finished run's report is read from its history (its result,
or the details of its failure), so no worker is needed; a running run is asked for an
interim report, which needs a worker.

The format defaults to the output file's extension (.md, .json, .html), else markdown.
Exits 8 for an interim report of a running run, else with the run's outcome (0 succeeded,
1 failed, 4 rejected, 5 aborted), so scripts can archive the report and test the result.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.audit.drills {
				return noArgs(cmd, args)
			}
			return exactRun(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.audit.drills {
				return a.auditReport(cmd.Context(), f)
			}
			return a.report(cmd.Context(), args[0], f)
		},
	}
	addAuditFlags(cmd, &f.audit)
	cmd.Flags().StringVar(&f.format, "format", "", "markdown, json or html")
	cmd.Flags().StringVarP(&f.out, "output-file", "o", "", "write the report to `FILE` instead of standard output")
	addModeFlag(cmd, &f.mode)
	return cmd
}

func reportFormat(format, out string) (string, error) {
	if format == "" {
		switch strings.ToLower(filepath.Ext(out)) {
		case ".json":
			return "json", nil
		case ".html", ".htm":
			return "html", nil
		}
		return "markdown", nil
	}
	switch format {
	case "markdown", "md":
		return "markdown", nil
	case "json", "html":
		return format, nil
	}
	return "", usageErr("--format %q is not a report format; use markdown, json or html", format)
}

func (a *app) report(ctx context.Context, arg string, f reportFlags) error {
	format, err := reportFormat(f.format, f.out)
	if err != nil {
		return err
	}
	if f.format == "" && f.out == "" && a.json() {
		format = "json"
	}
	ref, c, conn, d, err := a.openRun(ctx, arg, f.mode)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := fetchReport(ctx, c, conn, ref, d)
	if err != nil {
		return err
	}
	if isRunning(d) {
		r.Outcome = ""
	}
	var buf bytes.Buffer
	switch format {
	case "json":
		err = writeJSON(&buf, r)
	case "html":
		err = writeReportHTML(&buf, r, a.loc, uiLink(a.ui(), conn.namespace, ref.id, ref.runID))
	default:
		err = writeMarkdown(&buf, r, a.loc)
	}
	if err != nil {
		return fail(exitcode.RunFailed, "cannot render the report of %s: %v", ref, err)
	}
	if f.out == "" {
		_, _ = a.stdout.Write(buf.Bytes())
	} else {
		if err := os.WriteFile(f.out, buf.Bytes(), 0o644); err != nil {
			return fail(exitcode.RunFailed, "cannot write the report to %s: %v; check the directory exists and is writable", f.out, unwrapPath(err))
		}
		fmt.Fprintf(a.stderr, "Wrote the %s report of %s to %s.\n", format, ref.id, f.out)
	}
	return a.viewExit(statusView{outcome: r.Outcome})
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
