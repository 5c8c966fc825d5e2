package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

// step is one state of a fake run, as seen by one describe call.
type step struct {
	status   enumspb.WorkflowExecutionStatus
	progress *workflows.Progress // answer of the progress query while running
	result   *workflows.Report   // result once completed
	err      error               // Get's error once failed
	children []fakeChild         // pending child workflows while running
	// noWorker: no worker polls the task queue (stopped, or restarting), so
	// queries are never answered.
	noWorker bool
}

// fakeChild is a pending child workflow of a step and its answer to the
// progress query (or the error it answers with).
type fakeChild struct {
	id, typ string
	answer  any
	err     error
}

// fakeRun advances one step per describe call, staying on the last one, so
// --watch tests move forward deterministically without clocks or sleeps.
//
// A describe that follows a progress query answered in the recover or start
// phase is the live overlay's look at the run's children (live.Overlay): it
// belongs to the same snapshot and does not advance.
type fakeRun struct {
	id, runID string
	steps     []step
	at        int
	described int
	overlay   bool   // the next describe is the overlay's
	queue     string // the run's task queue, if not the CLI's
}

func (r *fakeRun) cur() step { return r.steps[r.at] }

type sentSignal struct {
	id, runID, name string
	arg             any
}

// fakeClient is an in-memory Temporal for the CLI tests.
type fakeClient struct {
	mu          sync.Mutex // status queries the children of a run concurrently
	runs        map[string]*fakeRun
	startErr    error
	started     []client.StartWorkflowOptions
	startArgs   []any
	signals     []sentSignal
	queries     []string
	describeErr error
	schedules   *fakeSchedules
	operator    *fakeOperator
	closed      bool
	// deadSticky: workflows whose sticky worker has died; queries to them
	// time out until their sticky queue is reset.
	deadSticky  map[string]bool
	stickyReset []string
	queueLooks  int // DescribeTaskQueue calls
	// stickyStaysDead: no worker answers even after the reset (the only one died).
	stickyStaysDead bool
	updates         []client.UpdateWorkflowOptions
	updateErr       error // the answer of every Update, if not nil
	// queryErr is the error of every query.
	queryErr error
	// describeErrs are the errors of the describe calls in turn (nil: answer).
	describeErrs []error
}

func newFake(runs ...*fakeRun) *fakeClient {
	f := &fakeClient{runs: map[string]*fakeRun{}, schedules: &fakeSchedules{created: map[string]client.ScheduleOptions{}}, operator: &fakeOperator{attrs: map[string]enumspb.IndexedValueType{}}}
	for _, r := range runs {
		f.runs[r.id] = r
	}
	return f
}

func (f *fakeClient) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	if f.startErr != nil {
		return nil, f.startErr
	}
	f.started = append(f.started, o)
	f.startArgs = append(f.startArgs, append([]any{wf}, args...)...)
	r, ok := f.runs[o.ID]
	if !ok {
		r = &fakeRun{id: o.ID, runID: "run-1", steps: []step{{status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, progress: &workflows.Progress{Phase: workflows.PhaseStarting}}}}
		f.runs[o.ID] = r
	}
	return &fakeWorkflowRun{run: r}, nil
}

func (f *fakeClient) GetWorkflow(_ context.Context, id, _ string) client.WorkflowRun {
	return &fakeWorkflowRun{run: f.runs[id]}
}

func (f *fakeClient) SignalWorkflow(_ context.Context, id, runID, name string, arg any) error {
	f.signals = append(f.signals, sentSignal{id, runID, name, arg})
	return nil
}

// UpdateWorkflow answers an approve or reject Update as the run would have
// counted it, or with updateErr.
func (f *fakeClient) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	f.updates = append(f.updates, o)
	if f.updateErr != nil {
		return fakeUpdate{err: f.updateErr}, nil
	}
	a := o.Args[0].(workflows.Approval)
	ans := workflows.GateAnswer{Gate: a.Gate, State: workflows.GateApproved, Approvals: 1, Quorum: 1,
		Message: fmt.Sprintf("Gate %s approved by %s (1 of 1): the run goes on.", a.Gate, a.By)}
	if o.UpdateName == workflows.UpdateReject {
		ans = workflows.GateAnswer{Gate: a.Gate, State: workflows.GateRejected, Quorum: 1,
			Message: fmt.Sprintf("Gate %s rejected by %s: the run cleans up and ends as rejected.", a.Gate, a.By)}
	}
	return fakeUpdate{answer: ans}, nil
}

type fakeUpdate struct {
	answer workflows.GateAnswer
	err    error
}

func (u fakeUpdate) WorkflowID() string { return "" }
func (u fakeUpdate) RunID() string      { return "" }
func (u fakeUpdate) UpdateID() string   { return "" }
func (u fakeUpdate) Get(_ context.Context, v any) error {
	if u.err != nil {
		return u.err
	}
	*v.(*workflows.GateAnswer) = u.answer
	return nil
}

func (f *fakeClient) QueryWorkflow(_ context.Context, id, _, name string, _ ...any) (converter.EncodedValue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, name)
	if r, ok := f.runs[id]; ok && r.cur().noWorker {
		return nil, serviceerror.NewDeadlineExceeded("context deadline exceeded")
	}
	if f.queryErr != nil {
		return nil, f.queryErr
	}
	if f.deadSticky[id] {
		return nil, serviceerror.NewDeadlineExceeded("context deadline exceeded")
	}
	r, ok := f.runs[id]
	if !ok {
		return f.queryChild(id, name)
	}
	s := r.cur()
	if name == workflows.QueryReport {
		return jsonValue{s.result}, nil
	}
	r.overlay = s.progress != nil && (s.progress.Phase == workflows.PhaseStart || s.progress.Phase == workflows.PhaseRecover)
	return jsonValue{s.progress}, nil
}

// queryChild answers a child's progress query from its run's current step.
func (f *fakeClient) queryChild(id, name string) (converter.EncodedValue, error) {
	for _, r := range f.runs {
		for _, ch := range r.cur().children {
			if ch.id != id {
				continue
			}
			if ch.err != nil {
				return nil, ch.err
			}
			return jsonValue{ch.answer}, nil
		}
	}
	return nil, serviceerror.NewNotFound("workflow not found: " + id + " (query " + name + ")")
}

func (f *fakeClient) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	if len(f.describeErrs) > 0 {
		err := f.describeErrs[0]
		f.describeErrs = f.describeErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	r, ok := f.runs[id]
	if !ok {
		return nil, serviceerror.NewNotFound("workflow not found")
	}
	if r.described > 0 && r.at < len(r.steps)-1 && !r.overlay {
		r.at++
	}
	r.described++
	r.overlay = false
	d := &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: r.id, RunId: r.runID},
		Status:    r.cur().status,
	}}
	if r.queue != "" {
		d.ExecutionConfig = &workflowpb.WorkflowExecutionConfig{TaskQueue: &taskqueuepb.TaskQueue{Name: r.queue}}
	}
	if p := r.cur().progress; p != nil {
		// The search attributes the workflow keeps up to date.
		attrs := map[string]*commonpb.Payload{}
		for k, v := range map[string]string{workflows.SearchAttrPlan: p.Plan, workflows.SearchAttrMode: string(p.Mode), workflows.SearchAttrPhase: p.Phase} {
			attrs[k], _ = converter.GetDefaultDataConverter().ToPayload(v)
		}
		d.WorkflowExecutionInfo.SearchAttributes = &commonpb.SearchAttributes{IndexedFields: attrs}
		d.WorkflowExecutionInfo.StartTime = timestamppb.New(p.StartedAt)
	}
	for _, ch := range r.cur().children {
		d.PendingChildren = append(d.PendingChildren, &workflowpb.PendingChildExecutionInfo{
			WorkflowId: ch.id, RunId: ch.id + "-run", WorkflowTypeName: ch.typ})
	}
	return d, nil
}

// DescribeTaskQueue lists a worker polling unless a run's current step has
// none.
func (f *fakeClient) DescribeTaskQueue(_ context.Context, queue string, _ enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queueLooks++
	for _, r := range f.runs {
		if r.cur().noWorker {
			return &workflowservice.DescribeTaskQueueResponse{}, nil
		}
	}
	return &workflowservice.DescribeTaskQueueResponse{Pollers: []*taskqueuepb.PollerInfo{
		{Identity: "worker@" + queue, LastAccessTime: timestamppb.Now()}}}, nil
}

func (f *fakeClient) ListWorkflow(context.Context, *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	return &workflowservice.ListWorkflowExecutionsResponse{}, nil
}

func (f *fakeClient) ScheduleClient() client.ScheduleClient { return f.schedules }

func (f *fakeClient) OperatorService() operatorservice.OperatorServiceClient { return f.operator }

func (f *fakeClient) Close() { f.closed = true }

func (f *fakeClient) WorkflowService() workflowservice.WorkflowServiceClient {
	return &fakeWorkflowService{f: f}
}

type fakeWorkflowService struct {
	workflowservice.WorkflowServiceClient // only ResetStickyTaskQueue is used
	f                                     *fakeClient
}

func (s *fakeWorkflowService) ResetStickyTaskQueue(_ context.Context, in *workflowservice.ResetStickyTaskQueueRequest, _ ...grpc.CallOption) (*workflowservice.ResetStickyTaskQueueResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	id := in.GetExecution().GetWorkflowId()
	s.f.stickyReset = append(s.f.stickyReset, id)
	if !s.f.stickyStaysDead {
		delete(s.f.deadSticky, id)
	}
	return &workflowservice.ResetStickyTaskQueueResponse{}, nil
}

type fakeWorkflowRun struct{ run *fakeRun }

func (w *fakeWorkflowRun) GetID() string                  { return w.run.id }
func (w *fakeWorkflowRun) GetRunID() string               { return w.run.runID }
func (w *fakeWorkflowRun) GetFirstExecutionRunID() string { return w.run.runID }
func (w *fakeWorkflowRun) Get(_ context.Context, v any) error {
	s := w.run.cur()
	if s.err != nil {
		return s.err
	}
	return jsonValue{s.result}.Get(v)
}
func (w *fakeWorkflowRun) GetWithOptions(ctx context.Context, v any, _ client.WorkflowRunGetOptions) error {
	return w.Get(ctx, v)
}

// jsonValue encodes like the default data converter does for structs.
type jsonValue struct{ v any }

func (j jsonValue) HasValue() bool { return j.v != nil }
func (j jsonValue) Get(ptr any) error {
	b, err := json.Marshal(j.v)
	if err != nil {
		return err
	}
	return json.NewDecoder(bytes.NewReader(b)).Decode(ptr)
}

type fakeSchedules struct {
	created map[string]client.ScheduleOptions
	entries []*client.ScheduleListEntry
	deleted []string
	// lag is how many more List calls still show the schedules as they were
	// before the last create or delete, as a lagging visibility store does.
	lag, lagLeft int
	stale        []*client.ScheduleListEntry
	lists        int
	// triggered and running serve the handle's Trigger and Describe (schedule_test.go).
	triggered []string
	running   map[string]string
}

func (s *fakeSchedules) Create(_ context.Context, o client.ScheduleOptions) (client.ScheduleHandle, error) {
	if _, dup := s.created[o.ID]; dup {
		return nil, errScheduleExists
	}
	s.changing()
	s.created[o.ID] = o
	return &fakeHandle{s: s, id: o.ID}, nil
}

// List lists the entries a test set, then the schedules created and not
// listed among those, as a visibility store does once it has caught up.
func (s *fakeSchedules) List(context.Context, client.ScheduleListOptions) (client.ScheduleListIterator, error) {
	s.lists++
	if s.lagLeft > 0 {
		s.lagLeft--
		return &fakeIterator{entries: s.stale}, nil
	}
	return &fakeIterator{entries: s.current()}, nil
}

func (s *fakeSchedules) current() []*client.ScheduleListEntry {
	entries := append([]*client.ScheduleListEntry(nil), s.entries...)
	listed := map[string]bool{}
	for _, e := range entries {
		listed[e.ID] = true
	}
	ids := make([]string, 0, len(s.created))
	for id := range s.created {
		if !listed[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		wf := s.created[id].Action.(*client.ScheduleWorkflowAction).Workflow.(string)
		e := &client.ScheduleListEntry{ID: id}
		e.WorkflowType.Name = wf
		entries = append(entries, e)
	}
	return entries
}

// changing freezes what List shows for the next lag calls.
func (s *fakeSchedules) changing() {
	s.stale, s.lagLeft = s.current(), s.lag
}

func (s *fakeSchedules) GetHandle(_ context.Context, id string) client.ScheduleHandle {
	return &fakeHandle{s: s, id: id}
}

type fakeHandle struct {
	client.ScheduleHandle // only Delete and GetID are used
	s                     *fakeSchedules
	id                    string
}

func (h *fakeHandle) GetID() string { return h.id }
func (h *fakeHandle) Delete(context.Context) error {
	if _, ok := h.s.created[h.id]; !ok {
		return serviceerror.NewNotFound("schedule not found")
	}
	h.s.changing()
	delete(h.s.created, h.id)
	h.s.deleted = append(h.s.deleted, h.id)
	return nil
}

type fakeIterator struct{ entries []*client.ScheduleListEntry }

func (it *fakeIterator) HasNext() bool { return len(it.entries) > 0 }
func (it *fakeIterator) Next() (*client.ScheduleListEntry, error) {
	e := it.entries[0]
	it.entries = it.entries[1:]
	return e, nil
}

type fakeOperator struct {
	operatorservice.OperatorServiceClient // only the search attribute calls are used
	attrs                                 map[string]enumspb.IndexedValueType
	addErr                                error
}

func (o *fakeOperator) ListSearchAttributes(context.Context, *operatorservice.ListSearchAttributesRequest, ...grpc.CallOption) (*operatorservice.ListSearchAttributesResponse, error) {
	return &operatorservice.ListSearchAttributesResponse{CustomAttributes: o.attrs}, nil
}

func (o *fakeOperator) AddSearchAttributes(_ context.Context, in *operatorservice.AddSearchAttributesRequest, _ ...grpc.CallOption) (*operatorservice.AddSearchAttributesResponse, error) {
	if o.addErr != nil {
		return nil, o.addErr
	}
	for k, v := range in.SearchAttributes {
		o.attrs[k] = v
	}
	return &operatorservice.AddSearchAttributesResponse{}, nil
}

// testApp runs the CLI against a fake, in UTC, never on a terminal, with a
// ticker that is always ready.
type testApp struct {
	*app
	out, errOut *bytes.Buffer
	fake        *fakeClient
	dialed      bool
}

func newTestApp(f *fakeClient, env map[string]string) *testApp {
	var out, errOut bytes.Buffer
	t := &testApp{out: &out, errOut: &errOut, fake: f}
	a := newApp(&out, &errOut, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	a.dial = func(context.Context, connection) (temporalClient, error) {
		t.dialed = true
		return f, nil
	}
	a.loc = time.UTC
	a.now = func() time.Time { return t0 }
	a.isTerminal = false
	ready := make(chan time.Time)
	close(ready)
	a.tick = func() (<-chan time.Time, func()) { return ready, func() {} }
	t.app = a
	return t
}

func (t *testApp) run(args ...string) int {
	t.out.Reset()
	t.errOut.Reset()
	return t.execute(args)
}

type (
	ctxT  = context.Context
	timeT = time.Time
)
