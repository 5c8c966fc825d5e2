package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/live"
)

// runRef names one run: a workflow ID and optionally a run ID.
type runRef struct {
	id, runID string
}

func (r runRef) String() string {
	if r.runID == "" {
		return r.id
	}
	return r.id + "/" + r.runID
}

// parseRunRef reads RUN: "ID", "ID/RUNID", or a plan name when mode is set.
func parseRunRef(arg, mode string) (runRef, error) {
	if arg == "" {
		return runRef{}, usageErr("no run given; pass a workflow ID, ID/RUNID, or a plan name with --mode")
	}
	id, runID, _ := strings.Cut(arg, "/")
	if mode != "" {
		m, err := plan.ParseMode(mode)
		if err != nil {
			return runRef{}, usageErr("--mode %v", err)
		}
		if !strings.HasPrefix(id, "lifeboat-") {
			id = workflows.WorkflowID(id, m)
		}
	}
	return runRef{id: id, runID: runID}, nil
}

// queryTimeout bounds a query: only a running worker answers queries, and
// without one the CLI must say so rather than hang. It leaves room for the
// retry after a dead worker's sticky queue (see query).
const queryTimeout = 15 * time.Second

// describeRun finds the run; a missing run is exit code 6 with a hint.
// addModeFlag adds --mode, which openRun reads: RUN is then a plan name.
func addModeFlag(cmd *cobra.Command, mode *string) {
	cmd.Flags().StringVar(mode, "mode", "", "RUN is a plan name; the run is its latest failover, failback or test-failover")
}

// openRun resolves RUN (and --mode) to a run, dials Temporal and describes
// it: the first steps of every command that acts on one run. The caller
// closes the client.
func (a *app) openRun(ctx context.Context, arg, mode string) (runRef, temporalClient, connection, *workflowservice.DescribeWorkflowExecutionResponse, error) {
	ref, err := parseRunRef(arg, mode)
	if err != nil {
		return ref, nil, connection{}, nil, err
	}
	c, conn, err := a.client(ctx)
	if err != nil {
		return ref, nil, conn, nil, err
	}
	d, err := describeRun(ctx, c, conn, &ref, arg, mode)
	if err != nil {
		c.Close()
		return ref, nil, conn, nil, err
	}
	// The run's own task queue is where its workers poll, whatever this
	// CLI's configuration says.
	if q := d.GetExecutionConfig().GetTaskQueue().GetName(); q != "" {
		conn.taskQueue = q
	}
	return ref, c, conn, d, nil
}

func describeRun(ctx context.Context, c temporalClient, conn connection, ref *runRef, arg, mode string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	d, err := c.DescribeWorkflowExecution(ctx, ref.id, ref.runID)
	if err == nil {
		ref.runID = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		return d, nil
	}
	if !isNotFound(err) {
		return nil, rpcError(err, conn, "look up run "+ref.String())
	}
	// Scheduled drills get a timestamp after their workflow ID: find the
	// latest run of the plan and mode by search attributes.
	if mode != "" && ref.runID == "" {
		if latest, ok := latestRun(ctx, c, conn, arg, mode); ok {
			ref.id, ref.runID = latest.id, latest.runID
			return describeRun(ctx, c, conn, ref, arg, "")
		}
	}
	hint := "check the ID with 'temporal workflow list' or the Web UI"
	if mode == "" && !strings.HasPrefix(ref.id, "lifeboat-") {
		hint = fmt.Sprintf("if %s is a plan name, add --mode failover, failback or test-failover", ref.id)
	}
	return nil, fail(exitcode.NotFound, "no run %s in namespace %s; %s", ref, conn.namespace, hint)
}

// latestRun finds the most recent run of a plan in a mode.
func latestRun(ctx context.Context, c temporalClient, conn connection, planName, mode string) (runRef, bool) {
	name, _, _ := strings.Cut(planName, "/")
	q := fmt.Sprintf("%s = %q AND %s = %q", workflows.SearchAttrPlan, name, workflows.SearchAttrMode, mode)
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: conn.namespace, Query: q, PageSize: 20})
	if err != nil || len(resp.GetExecutions()) == 0 {
		return runRef{}, false
	}
	best := resp.GetExecutions()[0]
	for _, e := range resp.GetExecutions()[1:] {
		if e.GetStartTime().AsTime().After(best.GetStartTime().AsTime()) {
			best = e
		}
	}
	return runRef{id: best.GetExecution().GetWorkflowId(), runID: best.GetExecution().GetRunId()}, true
}

// rpcError turns an error of a Temporal call into one sentence with its exit
// code: unreachable (7), not found (6) or failed (1).
func rpcError(err error, conn connection, what string) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	switch {
	case isUnreachable(err):
		return unreachableErr(conn, what, "")
	case isNotFound(err):
		return fail(exitcode.NotFound, "cannot %s: %v", what, err)
	}
	return fail(exitcode.RunFailed, "cannot %s: %v", what, err)
}

func isRunning(d *workflowservice.DescribeWorkflowExecutionResponse) bool {
	return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

func statusName(d *workflowservice.DescribeWorkflowExecutionResponse) string {
	s := d.GetWorkflowExecutionInfo().GetStatus().String()
	return strings.ToLower(strings.TrimPrefix(s, "WORKFLOW_EXECUTION_STATUS_"))
}

// queryProgress asks the run's worker for its progress.
func queryProgress(ctx context.Context, c temporalClient, conn connection, ref runRef) (*workflows.Progress, error) {
	var p workflows.Progress
	if err := query(ctx, c, conn, ref, workflows.QueryProgress, &p); err != nil {
		return nil, err
	}
	if err := live.FillProgress(ctx, pageQuery(c, conn, ref), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// pageQuery asks a running run for pages of its long lists.
func pageQuery(c temporalClient, conn connection, ref runRef) live.PageQuery {
	return func(ctx context.Context, req workflows.PageRequest, out *workflows.Page) error {
		return query(ctx, c, conn, ref, workflows.QueryProgressPage, out, req)
	}
}

// query asks the run's worker. Temporal sends a query to the worker that ran
// the run's last workflow task (its sticky queue); when that worker has died
// (a crash, a SIGKILL) the query times out after about 5 s although another
// worker runs. query then resets the run's sticky queue, so that any worker
// answers, and asks once more.
//
// A task queue that no worker has polled lately is said at once, without a
// query left to time out.
func query(ctx context.Context, c temporalClient, conn connection, ref runRef, name string, out any, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	if polled, err := workerPolls(ctx, c, conn.taskQueue); err == nil && !polled {
		return &exitError{code: exitcode.RunFailed, err: &noWorkerError{queue: conn.taskQueue, why: "none polls task queue " + conn.taskQueue}}
	}
	v, err := c.QueryWorkflow(ctx, ref.id, ref.runID, name, args...)
	if err != nil && ctx.Err() == nil && isQueryTimeout(err) && resetSticky(ctx, c, conn, ref) == nil {
		v, err = c.QueryWorkflow(ctx, ref.id, ref.runID, name, args...)
	}
	if err != nil {
		switch {
		case isNoPoller(err):
			return &exitError{code: exitcode.RunFailed, err: &noWorkerError{queue: conn.taskQueue, why: "Temporal has seen none poll task queue " + conn.taskQueue + " lately"}}
		case isQueryTimeout(err) || ctx.Err() != nil:
			return &exitError{code: exitcode.RunFailed, err: &noWorkerError{queue: conn.taskQueue, why: fmt.Sprintf("none answered within %s", queryTimeout)}}
		}
		return rpcError(err, conn, "query the "+name+" of "+ref.String())
	}
	if err := v.Get(out); err != nil {
		return fail(exitcode.RunFailed, "the %s of %s cannot be read (%v); are the CLI and the worker the same version?", name, ref, err)
	}
	return nil
}

// resetSticky resets the sticky queue of a run and of its pending children:
// they ran on the same worker, and status queries them next.
func resetSticky(ctx context.Context, c temporalClient, conn connection, ref runRef) error {
	reset := func(id, runID string) error {
		_, err := c.WorkflowService().ResetStickyTaskQueue(ctx, &workflowservice.ResetStickyTaskQueueRequest{
			Namespace: conn.namespace,
			Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID},
		})
		return err
	}
	if err := reset(ref.id, ref.runID); err != nil {
		return err
	}
	if d, err := c.DescribeWorkflowExecution(ctx, ref.id, ref.runID); err == nil {
		for _, ch := range d.GetPendingChildren() {
			_ = reset(ch.GetWorkflowId(), ch.GetRunId()) // a child may have just ended
		}
	}
	return nil
}

// isQueryTimeout tells a query nobody answered in time (the server gave up,
// or the SDK's own call deadline cut the stream) from other failures.
func isQueryTimeout(err error) bool {
	var de *serviceerror.DeadlineExceeded
	if errors.As(err, &de) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	s := serviceerror.ToStatus(err)
	return s.Code() == codes.DeadlineExceeded || s.Code() == codes.Canceled
}

// isNoPoller is the server's own refusal of a query: no worker has polled
// the task queue lately (a worker that just died).
func isNoPoller(err error) bool {
	s := serviceerror.ToStatus(err) // the SDK's errors and gRPC's alike
	return s.Code() == codes.FailedPrecondition && strings.Contains(s.Message(), "no poller")
}

// noWorkerError is a running run whose query no lifeboat worker answered.
// The run has not failed: it waits for a worker and goes on where it is.
type noWorkerError struct {
	queue string
	why   string
}

func (e *noWorkerError) Error() string {
	return fmt.Sprintf("no lifeboat worker answered (%s); the run has not failed: it waits, and goes on where it is once lifeboat-worker runs on task queue %s", e.why, e.queue)
}

// pollerFresh is how recent a poll must be for its worker to count as alive:
// a live worker polls again at least every minute (the server's long poll),
// while the server lists a gone worker for minutes.
const pollerFresh = 90 * time.Second

// workerPolls says whether a worker has polled the task queue's workflow
// tasks lately (only a worker's workflow pollers answer queries).
func workerPolls(ctx context.Context, c temporalClient, queue string) (bool, error) {
	resp, err := c.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return false, err
	}
	for _, p := range resp.GetPollers() {
		if time.Since(p.GetLastAccessTime().AsTime()) < pollerFresh {
			return true, nil
		}
	}
	return false, nil
}

// fetchReport reads a run's report without a worker when the run is closed:
// a completed run's result, or the details of its failure (failed, rejected
// and aborted runs fail with the report attached) or of its cancellation. A running run is asked
// through the report query, which needs a worker.
func fetchReport(ctx context.Context, c temporalClient, conn connection, ref runRef, d *workflowservice.DescribeWorkflowExecutionResponse) (*workflows.Report, error) {
	r, err := fetchReportHead(ctx, c, conn, ref, d)
	if err != nil {
		return nil, err
	}
	if err := live.FillReport(ctx, pageQuery(c, conn, ref), c, r); err != nil {
		return nil, fail(exitcode.RunFailed, "the report of %s is incomplete: %v; run the command again", ref, err)
	}
	return r, nil
}

// fetchReportHead reads the report as the run answers or left it, with its
// long lists still paged.
func fetchReportHead(ctx context.Context, c temporalClient, conn connection, ref runRef, d *workflowservice.DescribeWorkflowExecutionResponse) (*workflows.Report, error) {
	if isRunning(d) {
		var r workflows.Report
		if err := query(ctx, c, conn, ref, workflows.QueryReport, &r); err != nil {
			return nil, err
		}
		return &r, nil
	}
	var r workflows.Report
	err := c.GetWorkflow(ctx, ref.id, ref.runID).Get(ctx, &r)
	if err == nil {
		return &r, nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.HasDetails() {
		if derr := appErr.Details(&r); derr == nil {
			if r.Outcome == "" {
				r.Outcome = workflows.OutcomeFailed
			}
			if r.Message == "" {
				r.Message = appErr.Message()
			}
			return &r, nil
		}
	}
	// A run cancelled from Temporal (the Web UI's Cancel) ends Canceled with
	// the report as the cancellation's details.
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) && canceled.HasDetails() {
		if derr := canceled.Details(&r); derr == nil && r.Outcome != "" {
			return &r, nil
		}
	}
	if isUnreachable(err) {
		return nil, rpcError(err, conn, "read the result of "+ref.String())
	}
	return nil, fail(exitcode.RunFailed, "run %s is %s and left no report (%v); its history in the Web UI shows what happened", ref, statusName(d), rootMessage(err))
}

// rootMessage is the innermost error message, without the SDK's wrapping.
func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
