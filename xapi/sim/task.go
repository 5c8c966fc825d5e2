package sim

import (
	"context"
	"time"
)

// This file is Async.* and the task class: a task record in the master's real database,
// the call run in the background, result stored as the XML <value> fragment.

// started is the journal entry of the Async call, for the entry
// recorded when the task ends.
func (w *World) startTask(c *call, impl handler, started JournalEntry) string {
	ref := w.newRef()
	now := time.Now().UTC()
	c.pool.db.Create("task", ref, map[string]any{
		"uuid": w.newUUID(), "name_label": "Async." + c.method, "name_description": "", "status": "pending", "progress": 0.0,
		"created": now, "finished": time.Unix(0, 0).UTC(), "resident_on": c.pool.master.ref, "result": "", "error_info": []string{},
		"allowed_operations": []string{"cancel"}, "current_operations": map[string]string{}, "other_config": map[string]string{},
		"type": "<none/>", "subtask_of": NullRef, "subtasks": []string{}, "backtrace": "()",
	})
	ctx, cancel := context.WithCancel(w.ctx)
	c.ctx = ctx
	c.task = ref
	taskCancels.Store(ref, cancel)
	w.tasks.Add(1)
	go func() {
		defer w.tasks.Done()
		defer cancel()
		defer taskCancels.Delete(ref)
		w.mu.Lock()
		defer w.mu.Unlock()
		if d := w.scaled(w.timing.Latency); d > 0 {
			w.mu.Unlock()
			time.Sleep(d)
			w.mu.Lock()
		}
		began := time.Now()
		v, f := run(c, impl)
		end := JournalEntry{Time: time.Now(), Pool: started.Pool, Host: started.Host, Method: TaskEnded, Session: started.Session,
			User: started.User, Result: "Success", Duration: time.Since(began), Task: ref, Of: started.Method}
		if f != nil {
			end.Result, end.Error = f.Code, f.Description()
		}
		w.journal.add(end)
		db := c.pool.db
		if db.Get("task", ref) == nil {
			return
		}
		fields := map[string]any{"progress": 1.0, "finished": time.Now().UTC(), "allowed_operations": []string{}}
		switch {
		case f != nil && f.Code == "TASK_CANCELLED":
			fields["status"] = "cancelled"
			fields["error_info"] = f.Description()
		case f != nil:
			fields["status"] = "failure"
			fields["error_info"] = f.Description()
		default:
			// An operation that finished before noticing a cancellation succeeds, as in xapi.
			fields["status"] = "success"
			fields["result"] = valueFragment(v)
		}
		db.Update("task", ref, fields)
	}()
	return ref
}

func init() {
	register("task.get_status", func(c *call) any { return c.objIn(1, "task").S("status") })
	register("task.cancel", func(c *call) any {
		t := c.objIn(1, "task")
		if t.S("status") != "pending" {
			c.fail("OPERATION_NOT_ALLOWED", "Task "+t.ref+" is not pending")
		}
		c.pool.db.Set("task", t.ref, "status", "cancelling")
		if cf, ok := taskCancels.Load(t.ref); ok {
			cf.(context.CancelFunc)()
		}
		return nil
	})
	register("task.destroy", func(c *call) any {
		t := c.objIn(1, "task")
		c.pool.db.Delete("task", t.ref)
		return nil
	})
	register("task.create", func(c *call) any {
		ref := c.w.newRef()
		c.pool.db.Create("task", ref, map[string]any{"uuid": c.w.newUUID(), "name_label": c.str(1), "name_description": c.str(2),
			"status": "pending", "created": time.Now().UTC(), "resident_on": c.pool.master.ref, "error_info": []string{}})
		return ref
	})
}
