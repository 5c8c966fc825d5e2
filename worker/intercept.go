package main

import (
	"context"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/metrics"
	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// runHeader is the header that carries a run's plan and mode from the run
// to its activities and child workflows, and from those to theirs: only
// the run's input names them, yet every log line and step metric of the run
// should carry them. Headers are not part of what a replay compares, so
// adding one changes no run's determinism.
const runHeader = "lifeboat-run"

// runTags is what runHeader carries: names, never a secret.
type runTags struct {
	Plan string `json:"plan"`
	Mode string `json:"mode"`
}

// modeOf is the mode of a runbook workflow type ("" for the children).
func modeOf(workflowType string) plan.Mode {
	switch workflowType {
	case workflows.FailoverWorkflowName:
		return plan.ModeFailover
	case workflows.FailbackWorkflowName:
		return plan.ModeFailback
	case workflows.TestFailoverWorkflowName:
		return plan.ModeTestFailover
	}
	return ""
}

func readTags(h map[string]*commonpb.Payload) runTags {
	var t runTags
	if p := h[runHeader]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &t)
	}
	return t
}

func writeTags(h map[string]*commonpb.Payload, t runTags) {
	if h == nil || t.Plan == "" {
		return
	}
	if p, err := converter.GetDefaultDataConverter().ToPayload(t); err == nil {
		h[runHeader] = p
	}
}

// runInterceptor gives every log line of a run its workflow ID, run ID,
// plan, mode and step, and records the steps' metrics: one place for what
// every workflow and activity would otherwise repeat.
type runInterceptor struct {
	interceptor.WorkerInterceptorBase
	metrics *metrics.Registry
}

func newRunInterceptor(m *metrics.Registry) *runInterceptor { return &runInterceptor{metrics: m} }

// workflowRun is one workflow execution's tags and, for a runbook, its
// phase (read from the LifeboatPhase search attribute it upserts).
type workflowRun struct {
	tags runTags
	step string
}

func (i *runInterceptor) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &workflowIn{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, run: &workflowRun{}}
}

type workflowIn struct {
	interceptor.WorkflowInboundInterceptorBase
	run *workflowRun
}

func (w *workflowIn) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return w.Next.Init(&workflowOut{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}, run: w.run})
}

func (w *workflowIn) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	typ := workflow.GetInfo(ctx).WorkflowType.Name
	w.run.tags = readTags(interceptor.WorkflowHeader(ctx))
	w.run.step = typ
	if mode := modeOf(typ); mode != "" && len(in.Args) > 0 {
		if ri, ok := in.Args[0].(*workflows.RunInput); ok && ri != nil {
			w.run.tags = runTags{Plan: ri.Plan.Name, Mode: string(mode)}
		}
		w.run.step = workflows.PhaseStarting
	}
	return w.Next.ExecuteWorkflow(ctx, in)
}

type workflowOut struct {
	interceptor.WorkflowOutboundInterceptorBase
	run *workflowRun
}

func (w *workflowOut) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	writeTags(interceptor.WorkflowHeader(ctx), w.run.tags)
	return w.Next.ExecuteActivity(ctx, activityType, args...)
}

func (w *workflowOut) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	writeTags(interceptor.WorkflowHeader(ctx), w.run.tags)
	return w.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

func (w *workflowOut) ExecuteChildWorkflow(ctx workflow.Context, childType string, args ...any) workflow.ChildWorkflowFuture {
	writeTags(interceptor.WorkflowHeader(ctx), w.run.tags)
	return w.Next.ExecuteChildWorkflow(ctx, childType, args...)
}

var phaseKey = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrPhase)

// UpsertTypedSearchAttributes notes the runbook's phase, the step of its
// own log lines.
func (w *workflowOut) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	if phase, ok := temporal.NewSearchAttributes(attrs...).GetKeyword(phaseKey); ok {
		w.run.step = phase
	}
	return w.Next.UpsertTypedSearchAttributes(ctx, attrs...)
}

func (w *workflowOut) GetLogger(ctx workflow.Context) log.Logger {
	next := w.Next.GetLogger(ctx)
	if s, ok := next.(log.WithSkipCallers); ok {
		next = s.WithCallerSkip(1) // runLogger's own frame
	}
	return runLogger{next: next, fields: func() []any {
		return []any{"plan", w.run.tags.Plan, "mode", w.run.tags.Mode, "step", w.run.step}
	}}
}

// runLogger adds the run's fields as they are when each line is logged (a
// runbook's step changes under the logger it keeps).
type runLogger struct {
	next   log.Logger
	fields func() []any
}

func (l runLogger) Debug(msg string, kv ...any) { l.next.Debug(msg, append(l.fields(), kv...)...) }
func (l runLogger) Info(msg string, kv ...any)  { l.next.Info(msg, append(l.fields(), kv...)...) }
func (l runLogger) Warn(msg string, kv ...any)  { l.next.Warn(msg, append(l.fields(), kv...)...) }
func (l runLogger) Error(msg string, kv ...any) { l.next.Error(msg, append(l.fields(), kv...)...) }

func (l runLogger) With(kv ...any) log.Logger {
	return runLogger{next: log.With(l.next, kv...), fields: l.fields}
}

func (i *runInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityIn{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, metrics: i.metrics}
}

type activityIn struct {
	interceptor.ActivityInboundInterceptorBase
	metrics *metrics.Registry
}

type tagsKey struct{}

func (a *activityIn) Init(out interceptor.ActivityOutboundInterceptor) error {
	return a.Next.Init(&activityOut{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: out}})
}

func (a *activityIn) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	tags := readTags(interceptor.Header(ctx))
	step := info.ActivityType.Name
	ctx = context.WithValue(ctx, tagsKey{}, tags)
	ctx = activities.WithLogFields(ctx,
		zap.String("workflow_id", info.WorkflowExecution.ID), zap.String("run_id", info.WorkflowExecution.RunID),
		zap.String("plan", tags.Plan), zap.String("mode", tags.Mode), zap.String("step", step))
	began := time.Now()
	res, err := a.Next.ExecuteActivity(ctx, in)
	if a.metrics != nil {
		a.metrics.Step(step, tags.Mode, time.Since(began), err)
		countVMs(a.metrics, tags.Mode, in.Args, res)
	}
	return res, err
}

type activityOut struct {
	interceptor.ActivityOutboundInterceptorBase
}

func (a *activityOut) GetLogger(ctx context.Context) log.Logger {
	tags, _ := ctx.Value(tagsKey{}).(runTags)
	return log.With(a.Next.GetLogger(ctx), "plan", tags.Plan, "mode", tags.Mode, "step", a.Next.GetInfo(ctx).ActivityType.Name)
}

// countVMs counts the VMs an activity recovered or started now (not those
// an earlier attempt or run had), from its result.
func countVMs(m *metrics.Registry, mode string, args []any, res any) {
	site := ""
	if len(args) > 0 {
		switch in := args[0].(type) {
		case *activities.RecoverInput:
			site = in.Site
		case *activities.StartBatchInput:
			site = in.Site
		case *activities.StartVMInput:
			site = in.Site
		}
	}
	switch r := res.(type) {
	case *activities.RecoverResult:
		n := 0
		for _, u := range r.Units {
			if u.Error == "" && !u.Already {
				n += len(u.VMUUIDs)
			}
		}
		m.Recovered(mode, site, n)
	case *activities.StartBatchResult:
		n := 0
		for _, vm := range r.VMs {
			if vm.Error == "" && !vm.Already {
				n++
			}
		}
		m.Started(mode, site, n)
	case *activities.StartVMResult:
		if r != nil && !r.Already {
			m.Started(mode, site, 1)
		}
	}
}
