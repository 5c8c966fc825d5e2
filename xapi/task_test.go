package xapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// taskSim is a scripted task: each task.get_record / event.from observation
// advances it through states.
type taskSim struct {
	mu     sync.Mutex
	states []string // task records (XML <value>) in order; the last one sticks
	i      int
}

func (ts *taskSim) next() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	s := ts.states[ts.i]
	if ts.i < len(ts.states)-1 {
		ts.i++
	}
	return s
}

func eventBatch(token string, events ...string) string {
	return success(`<value><struct><member><name>events</name><value><array><data>` + fmt.Sprint(joinStrings(events)) +
		`</data></array></value></member><member><name>valid_ref_counts</name><value><struct><member><name>task</name><value>1</value></member></struct></value></member>` +
		`<member><name>token</name>` + xv(token) + `</member></struct></value>`)
}

func joinStrings(s []string) string {
	out := ""
	for _, x := range s {
		out += x
	}
	return out
}

func taskEvent(ref, op, snapshot string) string {
	return `<value><struct><member><name>id</name><value>7</value></member><member><name>timestamp</name><value>1742357784.000</value></member>` +
		`<member><name>class</name><value>task</value></member><member><name>operation</name>` + xv(op) + `</member>` +
		`<member><name>ref</name>` + xv(ref) + `</member><member><name>snapshot</name>` + snapshot + `</member></struct></value>`
}

const taskRef = "OpaqueRef:task-1"

func asyncFake(t *testing.T, method string, getRecord func() string, eventFrom func(rpcCall) string) *fakeXAPI {
	h := map[string]func(rpcCall) string{
		"session.login_with_password": loginOK("OpaqueRef:s1"),
		"Async." + method:             func(rpcCall) string { return success(xv(taskRef)) },
		"task.get_record":             func(rpcCall) string { return success(getRecord()) },
		"task.destroy":                func(rpcCall) string { return success(`<value></value>`) },
		"task.cancel":                 func(rpcCall) string { return success(`<value></value>`) },
	}
	if eventFrom != nil {
		h["event.from"] = eventFrom
	}
	return newFake(t, h)
}

func TestAsyncCompletesViaEventFrom(t *testing.T) {
	probeResult := `<value>` + escapeText(golden(t, "srlist.xml")) + `</value>`
	var progress []float64
	f := asyncFake(t, "SR.probe",
		func() string { return taskRecord("pending", "0", "") },
		func(c rpcCall) string {
			// One long-poll for every task of the session (taskwatch.go).
			assert.Equal(t, []any{"task"}, c.Params[1])
			if c.str(2) == "" {
				return eventBatch("t1", taskEvent(taskRef, "mod", taskRecord("pending", "0.5", "")))
			}
			return eventBatch("t2", taskEvent(taskRef, "mod", taskRecord("success", "1", probeResult)))
		})
	s := login(t, f)
	ctx := WithProgress(context.Background(), func(task Ref, p float64) {
		assert.Equal(t, Ref(taskRef), task)
		progress = append(progress, p)
	})
	res, err := s.ProbeSRAsync(ctx, "OpaqueRef:host", map[string]string{"SCSIid": "3600"}, SRTypeHBA, MetadataSMConfig())
	require.NoError(t, err)
	require.Len(t, res.SRs, 2)
	assert.True(t, res.SRs[0].PoolMetadataDetected)
	assert.Equal(t, golden(t, "srlist.xml"), res.Raw)
	assert.Equal(t, []float64{0.5, 1}, progress)
	calls := f.callsTo("event.from")
	require.GreaterOrEqual(t, len(calls), 2) // the loop may poll once more before it stops
	assert.Empty(t, f.callsTo("task.get_record"), "the first event.from says the task's state")
	assert.Equal(t, "", calls[0].str(2), "the loop starts from every task's state")
	assert.Equal(t, "t1", calls[1].str(2), "token is carried over")
	require.Len(t, f.callsTo("task.destroy"), 1)
	assert.Equal(t, taskRef, f.callsTo("task.destroy")[0].str(1))
	assert.Equal(t, map[string]any{"metadata": "true"}, f.callsTo("Async.SR.probe")[0].Params[4])
}

func TestAsyncFallsBackToPolling(t *testing.T) {
	ts := &taskSim{states: []string{
		taskRecord("pending", "0", ""),
		taskRecord("pending", "0.3", ""),
		taskRecord("success", "1", `<value>OpaqueRef:drtask-9</value>`),
	}}
	f := asyncFake(t, "DR_task.create", ts.next, nil) // event.from → MESSAGE_METHOD_UNKNOWN
	s := login(t, f)
	ref, err := s.CreateDRTask(context.Background(), SRTypeISCSI, map[string]string{"target": "10.0.0.5"}, []string{"uuid-1"})
	require.NoError(t, err)
	assert.Equal(t, Ref("OpaqueRef:drtask-9"), ref)
	assert.Len(t, f.callsTo("event.from"), 1)
	assert.Len(t, f.callsTo("task.get_record"), 3)
	assert.Len(t, f.callsTo("task.destroy"), 1)
	c := f.callsTo("Async.DR_task.create")[0]
	assert.Equal(t, []any{"uuid-1"}, c.Params[3])
}

func TestAsyncTaskFailureBecomesError(t *testing.T) {
	f := asyncFake(t, "SR.probe", func() string {
		v, err := DecodeResponse([]byte(golden(t, "task_failure_96.xml")))
		require.NoError(t, err)
		_ = v
		// Re-emit the golden record as the Value.
		body := golden(t, "task_failure_96.xml")
		start := len(`<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>`)
		end := len(body) - len(`</member></struct></value></param></params></methodResponse>`)
		return body[start:end]
	}, nil)
	s := login(t, f)
	targets, err := s.DiscoverISCSITargets(context.Background(), "OpaqueRef:host", ISCSIConfig{Target: "10.0.0.5", ChapUser: "u", ChapPassword: "chap-secret"})
	require.NoError(t, err)
	assert.Equal(t, []ISCSITarget{
		{Index: 0, IPAddress: "10.0.0.5", Port: 3260, TargetIQN: "iqn.2001-05.com.example:t1"},
		{Index: 1, IPAddress: "10.0.0.6", Port: 3261, TargetIQN: "*"},
	}, targets)
	dc := f.callsTo("Async.SR.probe")[0].Params[2].(map[string]any)
	assert.NotContains(t, dc, "targetIQN")
	assert.Len(t, f.callsTo("task.destroy"), 1, "destroyed on failure too")

	// The same failure for a real probe surfaces as *Error.
	_, err = s.ProbeSRAsync(context.Background(), "OpaqueRef:host", nil, SRTypeISCSI, nil)
	assert.True(t, IsCode(err, CodeSRBackendFailure96), "%v", err)
	assert.NotContains(t, err.Error(), "chap-secret")
}

func TestContextCancelCancelsTask(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	cancelled := false
	f := asyncFake(t, "VM.recover", func() string {
		mu.Lock()
		defer mu.Unlock()
		if cancelled {
			return taskRecord("cancelled", "0.2", "")
		}
		cancel() // the caller gives up while the task runs
		return taskRecord("pending", "0.2", "")
	}, nil)
	f.handlers["task.cancel"] = func(rpcCall) string {
		mu.Lock()
		cancelled = true
		mu.Unlock()
		return success(`<value></value>`)
	}
	f.handlers["session.login_with_password"] = loginOK("OpaqueRef:real")
	s := login(t, f)
	fs := s.NewForeignSession("OpaqueRef:foreign", "OpaqueRef:vdi")
	err := fs.RecoverVM(ctx, "OpaqueRef:fvm", s, true)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.Len(t, f.callsTo("task.cancel"), 1)
	assert.Equal(t, "OpaqueRef:real", f.callsTo("task.cancel")[0].str(0), "tasks are handled through the real session")
	require.Len(t, f.callsTo("task.destroy"), 1)
	assert.Equal(t, "OpaqueRef:real", f.callsTo("task.destroy")[0].str(0))
	rec := f.callsTo("Async.VM.recover")[0]
	assert.Equal(t, []any{"OpaqueRef:foreign", "OpaqueRef:fvm", "OpaqueRef:real", true}, rec.Params)
}

func TestForeignSessionReadsAndRecoveryCalls(t *testing.T) {
	f := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": loginOK("OpaqueRef:real"),
		"Async.VDI.open_database":     func(rpcCall) string { return success(xv(taskRef)) },
		"task.get_record": func(rpcCall) string {
			return success(taskRecord("success", "1", "<value>OpaqueRef:foreign</value>"))
		},
		"task.destroy": func(rpcCall) string { return success(`<value/>`) },
		"VM.get_all_records": func(c rpcCall) string {
			assert.Equal(t, "OpaqueRef:foreign", c.str(0))
			return golden(t, "vm_all_records.xml")
		},
		"VM.assert_can_be_recovered": func(c rpcCall) string { return golden(t, "failure_vm_requires_sr.xml") },
		"VM.get_SRs_required_for_recovery": func(c rpcCall) string {
			return success(`<value><array><data><value>OpaqueRef:fsr-9</value></data></array></value>`)
		},
		"PBD.get_device_config": func(c rpcCall) string {
			return success(`<value><struct><member><name>SCSIid</name><value>3600</value></member><member><name>chapuser</name><value></value></member></struct></value>`)
		},
		"session.logout": func(rpcCall) string { return success(`<value></value>`) },
	})
	s := login(t, f)
	ctx := context.Background()
	fs, err := s.OpenDatabase(ctx, "OpaqueRef:vdi")
	require.NoError(t, err)
	assert.Equal(t, ForeignRef("OpaqueRef:foreign"), fs.Ref())
	vms, err := fs.GetAllVMRecords(ctx)
	require.NoError(t, err)
	var vmRef ForeignRef
	for r, vm := range vms {
		if vm.NameLabel == "db" {
			vmRef = r
		}
	}
	require.Equal(t, ForeignRef("OpaqueRef:vm-2"), vmRef)
	err = fs.AssertVMCanBeRecovered(ctx, vmRef, s)
	assert.True(t, IsCode(err, CodeVMRequiresSR))
	assert.Contains(t, err.Error(), "check VM OpaqueRef:vm-2 can be recovered")
	srs, err := fs.GetSRsRequiredForVMRecovery(ctx, vmRef, s)
	require.NoError(t, err)
	assert.Equal(t, []ForeignRef{"OpaqueRef:fsr-9"}, srs)
	dc, err := fs.GetPBDDeviceConfig(ctx, "OpaqueRef:fpbd")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"SCSIid": "3600", "chapuser": ""}, dc)
	require.NoError(t, fs.Logout(ctx))
	require.NoError(t, fs.Logout(ctx))
	lo := f.callsTo("session.logout")
	require.Len(t, lo, 1)
	assert.Equal(t, "OpaqueRef:foreign", lo[0].str(0))
	a := f.callsTo("VM.assert_can_be_recovered")[0]
	assert.Equal(t, []any{"OpaqueRef:foreign", "OpaqueRef:vm-2", "OpaqueRef:real"}, a.Params)
}

func TestEventFromPublic(t *testing.T) {
	f := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": loginOK("OpaqueRef:s"),
		"event.from":                  func(rpcCall) string { return golden(t, "event_from.xml") },
	})
	s := login(t, f)
	b, err := s.EventFrom(context.Background(), []string{"task"}, "", 0)
	require.NoError(t, err)
	require.Len(t, b.Events, 1)
	assert.Equal(t, int64(42), b.Events[0].ID)
	assert.Equal(t, "mod", b.Events[0].Operation)
	assert.Equal(t, map[string]int64{"task": 1}, b.ValidRefCounts)
	var rec TaskRecord
	require.NoError(t, b.Events[0].DecodeSnapshot(&rec))
	assert.Equal(t, TaskSuccess, rec.Status)
	doc, err := ResultString(rec.Result)
	require.NoError(t, err)
	assert.Equal(t, golden(t, "srlist.xml"), doc)
	c := f.callsTo("event.from")[0]
	assert.Equal(t, []any{"OpaqueRef:s", []any{"task"}, nil, 0.0}, c.Params)
}

// An Async call whose answer is later than its timeout may have created the
// task all the same: it is found in the VM's current_operations and waited
// for, and VM.start is not asked twice.
func TestSlowAsyncCallIsWaitedForThroughItsTask(t *testing.T) {
	release := make(chan struct{})
	f := asyncFake(t, "VM.start", func() string { return taskRecord("success", "1", "") }, nil)
	t.Cleanup(func() { close(release) })
	f.mu.Lock()
	f.handlers["Async.VM.start"] = func(rpcCall) string { <-release; return success(xv(taskRef)) }
	f.handlers["VM.get_current_operations"] = func(rpcCall) string {
		return success(`<value><struct><member><name>` + taskRef + `</name><value>start</value></member></struct></value>`)
	}
	f.mu.Unlock()
	s := login(t, f, WithCallTimeout(20*time.Millisecond), WithAsyncCallTimeout(20*time.Millisecond), WithSyncCalls(0))
	require.NoError(t, s.StartVM(context.Background(), "OpaqueRef:vm", false, false))
	assert.Len(t, f.callsTo("Async.VM.start"), 1, "not asked twice")
	assert.Len(t, f.callsTo("task.get_record"), 1)
	require.Len(t, f.callsTo("task.destroy"), 1)
}

// With no task to be found, the timeout is returned (transient): the caller
// re-reads the VM before it asks again.
func TestSlowAsyncCallWithoutTask(t *testing.T) {
	release := make(chan struct{})
	f := asyncFake(t, "VM.start", func() string { return taskRecord("success", "1", "") }, nil)
	t.Cleanup(func() { close(release) })
	f.mu.Lock()
	f.handlers["Async.VM.start"] = func(rpcCall) string { <-release; return success(xv(taskRef)) }
	f.handlers["VM.get_current_operations"] = func(rpcCall) string { return success(`<value><struct></struct></value>`) }
	f.mu.Unlock()
	s := login(t, f, WithCallTimeout(20*time.Millisecond), WithAsyncCallTimeout(20*time.Millisecond), WithSyncCalls(0))
	err := s.StartVM(context.Background(), "OpaqueRef:vm", false, false)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, ErrAnswerLost)
	assert.Equal(t, Transient, Classify(err))
	assert.Len(t, f.callsTo("Async.VM.start"), 1)
}
