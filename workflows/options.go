package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
)

// acts names the activities through method values of a nil *Activities; the
// worker registers a filled-in one under the same method names.
var acts *activities.Activities

// activityOpt is the timing of one kind of activity.
type activityOpt struct {
	startToClose time.Duration
	// heartbeat is set on every activity: each heartbeats from its first
	// line (its progress, and a keep-alive every third of this while XAPI
	// works), so a lost worker is noticed within this long and the step
	// resumes on another worker instead of waiting out startToClose.
	heartbeat   time.Duration
	maxAttempts int32
}

// heartbeatTimeout bounds how long a dead worker goes unnoticed: a kill is
// noticed at most this long after the last heartbeat, and the retry starts
// after the policy's first interval (1 s). At 30 s, kills measured by make
// chaos resumed after 35 s; 20 s keeps a third of it between keep-alives
// (every 6.7 s), so a loaded worker is not taken for a dead one.
const heartbeatTimeout = 20 * time.Second

// Timings per step. The activities return non-retryable application errors
// for what a retry cannot fix (wrong credentials, a VM that cannot be
// recovered), so these retries only absorb transient faults.
var (
	optProbe     = activityOpt{startToClose: 10 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 5}
	optIntroduce = activityOpt{startToClose: 30 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 5}
	optScan      = activityOpt{startToClose: 30 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 5}
	optPrecheck  = activityOpt{startToClose: 30 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 5}
	optRecover   = activityOpt{startToClose: 2 * time.Hour, heartbeat: heartbeatTimeout, maxAttempts: 5}
	optStartVM   = activityOpt{startToClose: 30 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 5}
	// A child's chains: a vApp's orders with their start_delays, in turn.
	optStartChains = activityOpt{startToClose: 2 * time.Hour, heartbeat: heartbeatTimeout, maxAttempts: 5}
	optVerify      = activityOpt{startToClose: 10 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 5}
	optReprotect   = activityOpt{startToClose: 30 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 3}
	optDestroyDR   = activityOpt{startToClose: 30 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 10}
	optCleanup     = activityOpt{startToClose: 2 * time.Hour, heartbeat: heartbeatTimeout, maxAttempts: 10}
	optInventory   = activityOpt{startToClose: 10 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 5}
	// optAdapter: a storage adapter call (its own timeout, 2 m by default, is
	// far below start-to-close; every action is idempotent at the adapter).
	optAdapter = activityOpt{startToClose: 15 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 3}
	// A mirror's status only informs the report: one retry, then the run
	// goes on without it.
	optAdapterStatus = activityOpt{startToClose: 5 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 2}
)

// withActivity returns ctx with the options of one activity call. Activities
// are cancelled with the run (abort) and the workflow waits for them to stop,
// so cleanup never races an activity still recovering a VM.
func withActivity(ctx workflow.Context, o activityOpt, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: o.startToClose,
		HeartbeatTimeout:    o.heartbeat,
		WaitForCancellation: true,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    2 * time.Minute,
			MaximumAttempts:    o.maxAttempts,
		},
	})
}

// withChild returns ctx with the options of one child workflow, whose ID is
// derived from the parent's so a re-run of the parent's task finds it again.
// Children inherit the parent's task queue (TaskQueue in production). The
// summary and details are what the Web UI shows of the child: details list
// its VMs (vmDetails), so a batch can be found by a VM's name.
func withChild(ctx workflow.Context, id, summary, details string) workflow.Context {
	return workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:          workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + id,
		WaitForCancellation: true,
		StaticSummary:       summary,
		StaticDetails:       details,
	})
}

// stepError is the sentence that stops a run when a step's activity failed:
// what failed, why (the activity's sentence, with its code), and one next
// step, chosen by the error's code (activities.NextStep), else next.
func stepError(what string, err error, next string) error {
	return fmt.Errorf("%s failed: %s; %s", what, strings.TrimSuffix(errorText(err), "."), activities.NextStep(err, next))
}

// errorText is the operator's sentence of an activity or child error: the
// innermost application error's message, without Temporal's wrapping.
func errorText(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return "cancelled"
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out (" + timeout.TimeoutType().String() + ")"
	}
	return err.Error()
}
