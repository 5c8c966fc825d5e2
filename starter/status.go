package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/spf13/cobra"

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
1 failed, 4 rejected, 5 aborted). With --watch, follows the run until it ends (redrawn in
place on a terminal, one line per change otherwise) and exits with its outcome.
A finished run is read from its history: no worker is needed.`,
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
	if code == exitOK {
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
// ended (needs none).
func (a *app) snapshot(ctx context.Context, c temporalClient, conn connection, ref runRef, d *workflowservice.DescribeWorkflowExecutionResponse) (statusView, error) {
	v := statusView{ref: ref, status: statusName(d)}
	if isRunning(d) {
		p, err := queryProgress(ctx, c, conn, ref)
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

// follow shows a run until it ends, then exits with its outcome. On a
// terminal the screen is redrawn in place; otherwise each change is a line.
// d is the run's description if the caller already has it, else nil.
func (a *app) follow(ctx context.Context, c temporalClient, conn connection, ref runRef, d *workflowservice.DescribeWorkflowExecutionResponse) error {
	tick, stop := a.tick()
	defer stop()
	var prev *workflows.Progress
	drawn := 0
	for {
		if d == nil {
			var err error
			if d, err = c.DescribeWorkflowExecution(ctx, ref.id, ref.runID); err != nil {
				return rpcError(err, conn, "follow "+ref.String())
			}
		}
		v, err := a.snapshot(ctx, c, conn, ref, d)
		if err != nil {
			return err
		}
		switch {
		case a.json():
			if v.outcome != "" {
				if err := writeJSON(a.stdout, v.jsonValue()); err != nil {
					return err
				}
			}
		case a.isTerminal:
			drawn = redraw(a.stdout, drawn, renderStatus(v, a.loc))
		default:
			for _, l := range changes(prev, v.progress, a.loc) {
				fmt.Fprintln(a.stdout, l)
			}
			if v.outcome != "" {
				line := ref.id + " " + v.outcome
				if v.message != "" {
					line += ": " + v.message
				}
				fmt.Fprintln(a.stdout, line)
			}
		}
		prev, d = v.progress, nil
		if v.outcome != "" {
			return a.viewExit(v)
		}
		select {
		case <-ctx.Done():
			return fail(exitRunning, "stopped following %s, which is still running", ref)
		case <-tick:
		}
	}
}

// redraw replaces the previous frame (of drawn lines) with the new one in a
// single write: cursor up, then each line cleared and rewritten, then the
// rest of the screen cleared. Writing one buffer is what avoids flicker.
func redraw(w io.Writer, drawn int, frame []string) int {
	var b bytes.Buffer
	if drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r", drawn)
	}
	for _, l := range frame {
		b.WriteString("\x1b[2K")
		b.WriteString(l)
		b.WriteString("\n")
	}
	b.WriteString("\x1b[J")
	_, _ = w.Write(b.Bytes())
	return len(frame)
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
		return fail(exitRunFailed, "cannot render the report of %s: %v", ref, err)
	}
	if f.out == "" {
		_, _ = a.stdout.Write(buf.Bytes())
	} else {
		if err := os.WriteFile(f.out, buf.Bytes(), 0o644); err != nil {
			return fail(exitRunFailed, "cannot write the report to %s: %v; check the directory exists and is writable", f.out, unwrapPath(err))
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
