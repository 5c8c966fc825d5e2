package xapi

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vmOpsEvent is an event.from event on VM ref whose snapshot holds
// current_operations ops (task ref → operation).
func vmOpsEvent(ref string, ops map[string]string) string {
	members := ""
	for task, op := range ops {
		members += `<member><name>` + task + `</name>` + xv(op) + `</member>`
	}
	return `<value><struct><member><name>id</name><value>9</value></member><member><name>timestamp</name><value>1742357784.000</value></member>` +
		`<member><name>class</name><value>VM</value></member><member><name>operation</name><value>mod</value></member>` +
		`<member><name>ref</name>` + xv(ref) + `</member><member><name>snapshot</name><value><struct>` +
		`<member><name>power_state</name><value>Running</value></member>` +
		`<member><name>current_operations</name><value><struct>` + members + `</struct></value></member>` +
		`</struct></value></member></struct></value>`
}

// A synchronous start is one call: no task to destroy, no event.from to
// wait for it; the caller's progress function learns that it is in flight.
func TestSyncStartIsOneCall(t *testing.T) {
	f := asyncFake(t, "VM.start", func() string { return taskRecord("success", "1", "") }, nil)
	f.handlers["VM.start"] = func(rpcCall) string { return success(`<value></value>`) }
	s := login(t, f)
	var seen []Ref
	ctx := WithProgress(context.Background(), func(task Ref, _ float64) { seen = append(seen, task) })
	require.NoError(t, s.StartVM(ctx, "OpaqueRef:vm", false, false))
	assert.Len(t, f.callsTo("VM.start"), 1)
	assert.Empty(t, f.callsTo("Async.VM.start"))
	assert.Empty(t, f.callsTo("task.destroy"))
	assert.Empty(t, f.callsTo("event.from"))
	assert.Equal(t, []Ref{SyncCall}, seen)
}

// A synchronous start whose answer never came may still run at the pool:
// it is waited for in the VM's current_operations, not asked twice, and
// the timeout returned (transient) for the caller to read the VM again.
func TestSyncStartWithoutAnswerWaitsForItsOperation(t *testing.T) {
	release := make(chan struct{})
	f := asyncFake(t, "VM.start", func() string { return taskRecord("success", "1", "") }, nil)
	t.Cleanup(func() { close(release) })
	f.handlers["VM.start"] = func(rpcCall) string { <-release; return success(`<value></value>`) }
	f.handlers["event.from"] = func(c rpcCall) string {
		assert.Equal(t, []any{"VM/OpaqueRef:vm"}, c.Params[1])
		if c.str(2) == "" {
			return eventBatch("t1", vmOpsEvent("OpaqueRef:vm", map[string]string{taskRef: "start"}))
		}
		return eventBatch("t2", vmOpsEvent("OpaqueRef:vm", nil))
	}
	s := login(t, f, WithCallTimeout(20*time.Millisecond), WithAsyncCallTimeout(20*time.Millisecond))
	err := s.StartVM(context.Background(), "OpaqueRef:vm", false, false)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, ErrAnswerLost, "the caller reads what came of it")
	assert.Equal(t, Transient, Classify(err))
	assert.Len(t, f.callsTo("VM.start"), 1, "not asked twice")
	assert.Len(t, f.callsTo("event.from"), 2, "followed until the start left current_operations")
}

// A caller that gives up while it waits for a start whose answer was lost
// cancels that start's task too.
func TestSyncStartCancelledWhileWaitedForCancelsItsTask(t *testing.T) {
	release := make(chan struct{})
	waiting := make(chan struct{})
	f := asyncFake(t, "VM.start", func() string { return taskRecord("success", "1", "") }, nil)
	t.Cleanup(func() { close(release) })
	f.handlers["VM.start"] = func(rpcCall) string { <-release; return success(`<value></value>`) }
	f.handlers["VM.get_current_operations"] = func(rpcCall) string {
		return success(`<value><struct><member><name>` + taskRef + `</name><value>start</value></member></struct></value>`)
	}
	f.handlers["event.from"] = inTurn(
		func(rpcCall) string {
			return eventBatch("t1", vmOpsEvent("OpaqueRef:vm", map[string]string{taskRef: "start"}))
		},
		func(rpcCall) string { // the long-poll the caller gives up on
			close(waiting)
			<-release
			return eventBatch("t2")
		},
		func(rpcCall) string { return eventBatch("t3", vmOpsEvent("OpaqueRef:vm", nil)) })
	s := login(t, f, WithCallTimeout(20*time.Millisecond), WithAsyncCallTimeout(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-waiting; cancel() }()
	err := s.StartVM(ctx, "OpaqueRef:vm", false, false)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, f.callsTo("task.cancel"), 1)
	assert.Equal(t, taskRef, f.callsTo("task.cancel")[0].str(1))
}

// event.from failing while a start is waited for (a token lost in a master
// move) does not end the wait: it goes on from the current state.
func TestAwaitOperationsOutlivesAFailedLongPoll(t *testing.T) {
	f := asyncFake(t, "VM.start", func() string { return taskRecord("success", "1", "") }, nil)
	f.handlers["event.from"] = inTurn(
		func(rpcCall) string {
			return eventBatch("t1", vmOpsEvent("OpaqueRef:vm", map[string]string{taskRef: "start"}))
		},
		func(c rpcCall) string {
			assert.Equal(t, "t1", c.str(2))
			return failure("EVENT_FROM_TOKEN_PARSE_FAILURE", "t1")
		},
		func(c rpcCall) string {
			assert.Equal(t, "", c.str(2), "from the current state again")
			return eventBatch("t4", vmOpsEvent("OpaqueRef:vm", nil))
		})
	s := login(t, f)
	require.NoError(t, s.AwaitOperations(context.Background(), "VM", "OpaqueRef:vm", "start"))
	assert.Len(t, f.callsTo("event.from"), 3)
}

// A caller that gives up on a synchronous start cancels the operation's
// task, found in the VM's current_operations, and waits for it to end, as
// it does an Async call's.
func TestSyncStartCancelledCancelsItsTask(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	f := asyncFake(t, "VM.start", func() string { return taskRecord("success", "1", "") }, nil)
	t.Cleanup(func() { close(release) })
	f.handlers["VM.start"] = func(rpcCall) string { close(started); <-release; return success(`<value></value>`) }
	f.handlers["VM.get_current_operations"] = func(rpcCall) string {
		return success(`<value><struct><member><name>` + taskRef + `</name><value>start</value></member></struct></value>`)
	}
	f.handlers["event.from"] = func(rpcCall) string { return eventBatch("t1", vmOpsEvent("OpaqueRef:vm", nil)) }
	s := login(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	err := s.StartVM(ctx, "OpaqueRef:vm", false, false)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, f.callsTo("task.cancel"), 1)
	assert.Equal(t, taskRef, f.callsTo("task.cancel")[0].str(1))
	assert.Len(t, f.callsTo("event.from"), 1, "waited for the cancelled start")
}

// Past the session's budget of synchronous calls, a start is an Async
// call: the connections a session holds stay bounded.
func TestSyncCallsBeyondTheBudgetAreAsync(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	f := asyncFake(t, "VM.start", func() string { return taskRecord("success", "1", "") }, nil)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	f.handlers["VM.start"] = func(rpcCall) string { close(started); <-release; return success(`<value></value>`) }
	s := login(t, f, WithSyncCalls(1))
	first := make(chan error, 1)
	go func() { first <- s.StartVM(context.Background(), "OpaqueRef:vm1", false, false) }()
	<-started
	require.NoError(t, s.StartVM(context.Background(), "OpaqueRef:vm2", false, false))
	assert.Len(t, f.callsTo("Async.VM.start"), 1)
	assert.Len(t, f.callsTo("task.destroy"), 1)
	close(release)
	require.NoError(t, <-first)
	assert.Len(t, f.callsTo("VM.start"), 1)
}

// An operation whose task no longer exists is stale (xapi restarted under
// it, and its GC has not cleared the entry yet): once a long-poll brings no
// change, it is not waited for.
func TestAwaitOperationsSkipsAStaleEntry(t *testing.T) {
	f := asyncFake(t, "VM.start", func() string { return taskRecord("success", "1", "") }, nil)
	f.handlers["event.from"] = func(c rpcCall) string {
		if c.str(2) == "" {
			return eventBatch("t1", vmOpsEvent("OpaqueRef:vm", map[string]string{taskRef: "start"}))
		}
		return eventBatch("t2") // the long-poll's timeout: no change
	}
	f.handlers["task.get_status"] = func(rpcCall) string { return failure(CodeHandleInvalid, "task", taskRef) }
	s := login(t, f)
	require.NoError(t, s.AwaitOperations(context.Background(), "VM", "OpaqueRef:vm", "start"))
	assert.Len(t, f.callsTo("event.from"), 2)
	assert.Len(t, f.callsTo("task.get_status"), 1)
}

// inTurn is a handler whose n-th call is answered by answers[n-1], the last
// one answering every call after.
func inTurn(answers ...func(rpcCall) string) func(rpcCall) string {
	var mu sync.Mutex
	n := 0
	return func(c rpcCall) string {
		mu.Lock()
		i := min(n, len(answers)-1)
		n++
		mu.Unlock()
		return answers[i](c)
	}
}
