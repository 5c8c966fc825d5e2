package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// temporalClient is the part of client.Client the CLI uses, so tests can
// give it a fake (client.Client satisfies it as is).
type temporalClient interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
	GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
	UpdateWorkflow(ctx context.Context, options client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error)
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	DescribeTaskQueue(ctx context.Context, taskQueue string, taskQueueType enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error)
	ListWorkflow(ctx context.Context, request *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
	ScheduleClient() client.ScheduleClient
	OperatorService() operatorservice.OperatorServiceClient
	WorkflowService() workflowservice.WorkflowServiceClient
	Close()
}

var _ temporalClient = client.Client(nil)

// connection is where Temporal is, from flags, environment, the worker's
// configuration file and defaults, in that order of precedence.
type connection struct {
	address   string
	from      string // where address came from (addressSource)
	namespace string
	taskQueue string
	tls       config.TLS
}

// dialTimeout bounds connecting, so a wrong address fails in seconds.
const dialTimeout = 10 * time.Second

// dialTemporal connects to Temporal; failing to connect is exit code 7 with a
// sentence saying what to check.
func dialTemporal(ctx context.Context, c connection) (temporalClient, error) {
	tlsConf, err := c.tls.Config()
	if err != nil {
		return nil, fail(exitcode.Invalid, "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	cl, err := client.DialContext(ctx, client.Options{
		HostPort:          c.address,
		Namespace:         c.namespace,
		Logger:            quietLogger{},
		ConnectionOptions: client.ConnectionOptions{TLS: tlsConf},
	})
	if err != nil {
		return nil, unreachableErr(c, "", dialReason(err))
	}
	return cl, nil
}

// unreachableErr is the one sentence for a Temporal that does not answer:
// where the address came from, and how to give another. what is what the
// command was doing ("" while connecting), reason why it failed if known.
func unreachableErr(c connection, what, reason string) error {
	msg := "cannot reach Temporal at " + c.address
	if what != "" {
		msg += " to " + what
	}
	var why []string
	if reason != "" {
		why = append(why, reason)
	}
	if c.from != "" {
		why = append(why, "address from "+c.from)
	}
	if len(why) > 0 {
		msg += " (" + strings.Join(why, "; ") + ")"
	}
	return fail(exitcode.Unreachable, "%s: is Temporal running there? Give its address with --address HOST:PORT, LIFEBOAT_ADDRESS or --config FILE", msg)
}

// quietLogger drops the SDK's own log lines: a command line prints its
// results and one-sentence errors, not the SDK's connection chatter.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// uiLink is the Web UI page of a run.
func uiLink(base, namespace, workflowID, runID string) string {
	link := fmt.Sprintf("%s/namespaces/%s/workflows/%s", trimSlash(base), url.PathEscape(namespace), url.PathEscape(workflowID))
	if runID != "" {
		link += "/" + url.PathEscape(runID)
	}
	return link + "/history"
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// dialReason shortens the SDK's dial error to what an operator acts on.
func dialReason(err error) string {
	msg := err.Error()
	for _, r := range []string{"connection refused", "no such host", "i/o timeout", "certificate", "tls:", "namespace"} {
		if i := strings.Index(msg, r); i >= 0 {
			if r == "certificate" || r == "tls:" || r == "namespace" {
				return msg[i:]
			}
			return r
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "deadline exceeded") {
		return fmt.Sprintf("no answer within %s", dialTimeout)
	}
	return msg
}
