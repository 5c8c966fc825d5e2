package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/notify"
)

// Metrics the workflows record through workflow.GetMetricsHandler, which
// records nothing while a workflow replays: each run is counted once
// whatever the number of workers that replay it. The worker exports them as
// lifeboat_runs_total and lifeboat_gate_wait_seconds (counters end in
// _total, timers are histograms in seconds).
const (
	MetricRuns     = "lifeboat_runs"      // tags mode, outcome
	MetricGateWait = "lifeboat_gate_wait" // tags mode, gate, state (approved, rejected, timed-out, aborted)
)

// notifyVersion marks the runs that send notifications: runs begun before
// it replay without the Notify activity they never scheduled.
const notifyVersion = "notify-webhooks"

// notifier names the Notify activity; the worker registers a filled-in one.
var notifier *notify.Notifier

// optNotify: the activity tries each webhook a few times itself and never
// fails for a webhook, so Temporal's retries only cover a lost worker.
var optNotify = activityOpt{startToClose: 2 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 3}

func (r *run) notifies(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, notifyVersion, workflow.DefaultVersion, 1) >= 1
}

// gateWaiting is called when gate g starts waiting: it sends the gate's
// notification without waiting for it (the gate listens meanwhile), and
// returns what records the gate's wait once it is decided, for a defer.
func (r *run) gateWaiting(ctx workflow.Context, g *GateStatus) (closed func()) {
	if r.notifies(ctx) {
		ev := r.notification(ctx, notify.EventGateWaiting)
		ev.Gate, ev.Summary, ev.Approvers, ev.Quorum, ev.Deadline = g.Gate, g.Summary, g.Approvers, g.Quorum, g.Deadline
		f := workflow.ExecuteActivity(withActivity(ctx, optNotify, "notify: gate "+g.Gate+" waits"), notifier.Notify, ev)
		workflow.Go(ctx, func(ctx workflow.Context) { r.notified(ctx, f) })
	}
	return func() {
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"mode": string(r.mode), "gate": g.Gate, "state": g.State}).
			Timer(MetricGateWait).Record(workflow.Now(ctx).Sub(g.OpenedAt))
	}
}

// runEnded is called once the outcome is known, before the report is
// written: it counts the run and sends its notification, whose warnings
// (a webhook that failed) the report then carries.
func (r *run) runEnded(ctx workflow.Context, outcome, msg string) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"mode": string(r.mode), "outcome": outcome}).
		Counter(MetricRuns).Inc(1)
	if !r.notifies(ctx) {
		return
	}
	ev := r.notification(ctx, notify.EventRunEnded)
	ev.Outcome, ev.Message = outcome, msg
	r.notified(ctx, workflow.ExecuteActivity(withActivity(ctx, optNotify, "notify: run ended"), notifier.Notify, ev))
}

func (r *run) notification(ctx workflow.Context, event string) *notify.Event {
	return &notify.Event{Event: event, WorkflowID: r.workflowID, RunID: r.runID, Plan: r.plan.Name,
		Mode: string(r.mode), At: workflow.Now(ctx)}
}

// notified waits for a Notify activity and turns what it could not send
// into warnings of the run; the notification itself failing (the worker
// lost three times) is one warning too, never the run's failure.
func (r *run) notified(ctx workflow.Context, f workflow.Future) {
	var res notify.Result
	if err := f.Get(ctx, &res); err != nil {
		if ctx.Err() == nil {
			r.warn(ctx, "A notification could not be sent: %s.", errorText(err))
		}
		return
	}
	for _, w := range res.Warnings {
		r.warn(ctx, "%s", w)
	}
}
