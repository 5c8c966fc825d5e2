package sim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

func TestEventFromLongPoll(t *testing.T) {
	w := startDemo(t)
	c := rpc{t: t, url: w.PoolURL("dr")}
	s := c.login("root")
	first := c.rec("event.from", s, []string{"VM_appliance", "network"}, "", 0.0)
	assert.NotEmpty(t, first["events"])
	tok := first["token"].(string)
	// Nothing new: returns at the timeout with the same token and no events.
	empty := c.rec("event.from", s, []string{"network"}, tok, 0.05)
	assert.Empty(t, empty["events"])
	assert.Equal(t, tok, empty["token"])
	assert.Equal(t, int64(2), empty["valid_ref_counts"].(map[string]any)["network"])

	// A long poll returns as soon as an event arrives (no sleeps: the change is made once
	// the poll is known to wait, i.e. after its journal entry... the poll simply blocks).
	done := make(chan map[string]any, 1)
	go func() { done <- c.rec("event.from", s, []string{"network"}, tok, 30.0) }()
	net, _ := c.byName("network", s, "Production")
	c.must("network.set_name_description", s, net, "changed")
	var b map[string]any
	select {
	case b = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("event.from did not return on a change")
	}
	evs := b["events"].([]any)
	require.Len(t, evs, 1)
	ev := evs[0].(map[string]any)
	assert.Equal(t, "network", ev["class"])
	assert.Equal(t, "mod", ev["operation"])
	assert.Equal(t, net, ev["ref"])
	assert.Equal(t, "changed", ev["snapshot"].(map[string]any)["name_description"])

	// add and del.
	tok = b["token"].(string)
	app := c.str("VM_appliance.create", s, map[string]any{"name_label": "tmp", "name_description": ""})
	c.must("VM_appliance.destroy", s, app)
	b = c.rec("event.from", s, []string{"vm_appliance"}, tok, 1.0)
	assert.Empty(t, b["events"], "created and deleted after the token: nothing to report")
	app = c.str("VM_appliance.create", s, map[string]any{"name_label": "tmp2", "name_description": ""})
	b = c.rec("event.from", s, []string{"vm_appliance"}, tok, 1.0)
	require.Len(t, b["events"], 1)
	assert.Equal(t, "add", b["events"].([]any)[0].(map[string]any)["operation"])
	tok = b["token"].(string)
	c.must("VM_appliance.destroy", s, app)
	b = c.rec("event.from", s, []string{"vm_appliance"}, tok, 1.0)
	require.Len(t, b["events"], 1)
	del := b["events"].([]any)[0].(map[string]any)
	assert.Equal(t, "del", del["operation"])
	assert.NotContains(t, del, "snapshot")
}

func TestAsyncTasksAndCancel(t *testing.T) {
	w := startDemo(t)
	c := rpc{t: t, url: w.PoolURL("dr")}
	s := c.login("root")
	host := c.refs("host.get_all", s)[0]
	task := c.str("Async.SR.probe", s, host, drLUN0, "lvmoiscsi", map[string]string{"metadata": "true"})
	rec := c.waitTask(s, task)
	assert.Equal(t, "success", rec["status"])
	// The SRlist document, XML-escaped inside <value>.
	assert.Contains(t, rec["result"], "<value>&lt;?xml version=&quot;1.0&quot; ?&gt;\n&lt;SRlist&gt;")
	assert.Equal(t, "Async.SR.probe", rec["name_label"])
	assert.Equal(t, 1.0, c.must("task.get_progress", s, task))
	assert.Equal(t, "success", c.str("task.get_status", s, task))
	c.must("task.destroy", s, task)
	assert.Equal(t, xerr{"HANDLE_INVALID", "task", task}, c.fails("task.get_record", s, task))

	// A failing Async call: error_info.
	task = c.str("Async.DR_task.create", s, "nfs", map[string]string{}, []string{})
	rec = c.waitTask(s, task)
	assert.Equal(t, "failure", rec["status"])
	assert.Equal(t, []any{"OPERATION_NOT_ALLOWED", "Disaster recovery not supported on SRs of type nfs"}, rec["error_info"])
	assert.Equal(t, []string{"OPERATION_NOT_ALLOWED", "Disaster recovery not supported on SRs of type nfs"}, strs(c.must("task.get_error_info", s, task)))

	// Cancel: a VM.start whose start_delay is slept in real time (speed 1) is cancelled.
	w.Control().SetSpeed(1)
	jump, _ := c.byName("VM", s, "dr-backup")
	c.must("VM.set_start_delay", s, jump, "3600")
	task = c.str("Async.VM.start", s, jump, false, false)
	c.must("task.cancel", s, task)
	rec = c.waitTask(s, task)
	assert.Equal(t, "cancelled", rec["status"])
	assert.Equal(t, []any{"TASK_CANCELLED", task}, rec["error_info"])
	w.Control().SetSpeed(0)
	e := c.fails("task.cancel", s, task)
	assert.Equal(t, "OPERATION_NOT_ALLOWED", e[0])

	// The journal pairs each Async call with the end of its task.
	var ended []string
	calls := map[string]string{}
	for _, je := range w.Journal().Entries(0) {
		switch {
		case je.Method == sim.TaskEnded:
			assert.Equal(t, calls[je.Task], je.Of, "the end names its call")
			ended = append(ended, je.Of+" "+je.Result)
		case strings.HasPrefix(je.Method, "Async."):
			require.NotEmpty(t, je.Task, "an Async call's entry carries its task")
			calls[je.Task] = je.Method
		}
	}
	assert.Equal(t, []string{"Async.SR.probe Success", "Async.DR_task.create OPERATION_NOT_ALLOWED", "Async.VM.start TASK_CANCELLED"}, ended)
	assert.Equal(t, 1, w.Journal().Count("Async.VM.start", ""), "a task's end is not counted as a call")
}

// A boot reports its progress as xenopsd's steps end: the task changes
// five times between its creation and its end, each change an event.
func TestStartReportsProgress(t *testing.T) {
	c, s, vm := haltedAtRealTime(t, 600*time.Millisecond) // steps 100 ms apart, above event.from's batching
	tok := c.rec("event.from", s, []string{"task"}, "", 0.0)["token"].(string)
	task := c.str("Async.VM.start", s, vm, false, false)
	var seen []float64
	for done := false; !done; {
		b := c.rec("event.from", s, []string{"task"}, tok, 10.0)
		tok = b["token"].(string)
		for _, e := range b["events"].([]any) {
			ev := e.(map[string]any)
			if ev["ref"] != task || ev["operation"] == "del" {
				continue
			}
			snap := ev["snapshot"].(map[string]any)
			seen = append(seen, snap["progress"].(float64))
			done = snap["status"] != "pending"
		}
	}
	want := []float64{0, 1.0 / 6, 2.0 / 6, 3.0 / 6, 4.0 / 6, 5.0 / 6, 1}
	require.Len(t, seen, len(want), "%v", seen)
	for i := range want {
		assert.InDelta(t, want[i], seen[i], 1e-9, "%v", seen)
	}
}

// A synchronous call of a message that has an Async form runs in a task of
// its own, as in xapi: in the database while the call runs, the key of the
// VM's current_operations, cancelled by task.cancel, destroyed when the
// call returns.
func TestSyncCallRunsInATask(t *testing.T) {
	c, s, vm := haltedAtRealTime(t, time.Minute) // until cancelled
	for ref, rec := range c.records("task", s) {
		assert.NotEqual(t, "VM.hard_shutdown", rec["name_label"], "the shutdown's task %s is gone", ref)
	}
	tok := c.rec("event.from", s, []string{"task"}, "", 0.0)["token"].(string)
	type answer struct {
		f   xerr
		err error
	}
	done := make(chan answer, 1)
	go func() {
		_, f, err := c.call("VM.start", s, vm, false, false)
		done <- answer{f, err}
	}()
	task := ""
	for task == "" {
		b := c.rec("event.from", s, []string{"task"}, tok, 10.0)
		tok = b["token"].(string)
		for _, e := range b["events"].([]any) {
			ev := e.(map[string]any)
			if snap, ok := ev["snapshot"].(map[string]any); ok && snap["name_label"] == "VM.start" {
				task = ev["ref"].(string)
			}
		}
	}
	ops := c.must("VM.get_current_operations", s, vm).(map[string]any)
	assert.Equal(t, map[string]any{task: "start"}, ops)
	c.must("task.cancel", s, task)
	got := <-done
	require.NoError(t, got.err)
	require.NotNil(t, got.f)
	assert.Equal(t, "TASK_CANCELLED", got.f[0])
	assert.Equal(t, "HANDLE_INVALID", c.fails("task.get_record", s, task)[0])
	assert.Empty(t, c.must("VM.get_current_operations", s, vm))
}

// haltedAtRealTime starts the demo world at speed 1 with boots that take
// start and shutdowns a millisecond, and halts the primary pool's dns-01:
// a client, its session and the VM.
func haltedAtRealTime(t *testing.T, start time.Duration) (rpc, string, string) {
	t.Helper()
	sc := sim.DemoScenario()
	boot, shutdown := sim.Duration(start), sim.Duration(time.Millisecond)
	sc.Timing.Start, sc.Timing.Shutdown = &boot, &shutdown
	w, err := sim.Start(context.Background(), sc, sim.Options{Speed: 1, FreePorts: true, ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	c := rpc{t: t, url: w.PoolURL("Primary")}
	s := c.login("root")
	vm, _ := c.byName("VM", s, "dns-01")
	c.must("VM.hard_shutdown", s, vm)
	return c, s, vm
}

// Worlds of one seed draw the same refs: a task.cancel in one cancels its
// own task, never the other world's task of the same ref (tests run several
// worlds at once).
func TestTaskCancelStaysInItsWorld(t *testing.T) {
	ca, sa, vmA := haltedAtRealTime(t, 5*time.Second)
	cb, sb, vmB := haltedAtRealTime(t, 5*time.Second)
	taskA := ca.str("Async.VM.start", sa, vmA, false, false)
	taskB := cb.str("Async.VM.start", sb, vmB, false, false)
	require.Equal(t, taskA, taskB, "the same ref in both worlds, or this proves nothing")
	ca.must("task.cancel", sa, taskA)
	assert.Equal(t, "cancelled", ca.waitTask(sa, taskA)["status"])
	assert.Equal(t, "pending", cb.rec("task.get_record", sb, taskB)["status"])
}
