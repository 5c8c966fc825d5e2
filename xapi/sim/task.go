package sim

import (
	"context"
	"time"
)

// This file is Async.* and the task class: a task record in the master's real database,
// the call run in the background, result stored as the XML <value> fragment. A
// synchronous call of a message that has an Async form runs in a task too (synced).

// started is the journal entry of the Async call, for the entry
// recorded when the task ends.
func (w *World) startTask(c *call, impl handler, started JournalEntry) string {
	ref := w.openTask(c, "Async."+c.method)
	w.tasks.Add(1)
	go func() {
		defer w.tasks.Done()
		defer w.closeTask(c)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.latency()
		began := time.Now()
		v, f := run(c, impl)
		end := JournalEntry{Time: time.Now(), Pool: started.Pool, Host: started.Host, Method: TaskEnded, Session: started.Session,
			User: started.User, Result: "Success", Duration: time.Since(began), Task: ref, Of: started.Method}
		if f != nil {
			end.Result, end.Error = f.Code, f.Description()
		}
		w.journal.add(end)
		finishTask(c.pool.db, ref, v, f)
	}()
	return ref
}

// synced runs a synchronous call as xapi's Server_helpers.do_dispatch runs one
// of a message that has an Async form (every message the datamodel declares,
// save the task and event classes', Datamodel.no_task_id_for): in a task of its
// own, in the database while the call runs (its progress, the key under which
// it shows in an object's current_operations, what task.cancel stops), then
// completed and destroyed (Context.finally_destroy_context). Like xapi's, the
// operation goes on if the client goes away; only task.cancel stops it. The
// world's lock is held.
func (w *World) synced(c *call, impl handler) (any, *Failure) {
	ref := w.openTask(c, c.method)
	defer w.closeTask(c)
	w.latency()
	v, f := run(c, impl)
	finishTask(c.pool.db, ref, v, f)
	c.pool.db.Delete("task", ref)
	return v, f
}

// hasTask says whether xapi runs a call of msg in a task, synchronous or not.
// session's messages are left out: xapi declares login and logout without an
// Async form, and the simulator does not tell the others apart.
func hasTask(cls *classDef, msg *messageDef) bool {
	return msg.Explicit && cls.Name != "task" && cls.Name != "event" && cls.Name != "session"
}

// openTask creates the pending task c runs in, named label, and makes c's
// context the task's: cancelled by task.cancel or when the world stops.
func (w *World) openTask(c *call, label string) string {
	ref := w.newRef()
	now := time.Now().UTC()
	c.pool.db.Create("task", ref, map[string]any{
		"uuid": w.newUUID(), "name_label": label, "name_description": "", "status": "pending", "progress": 0.0,
		"created": now, "finished": time.Unix(0, 0).UTC(), "resident_on": c.pool.master.ref, "result": "", "error_info": []string{},
		"allowed_operations": []string{"cancel"}, "current_operations": map[string]string{}, "other_config": map[string]string{},
		"type": "<none/>", "subtask_of": NullRef, "subtasks": []string{}, "backtrace": "()",
	})
	ctx, cancel := context.WithCancel(w.ctx)
	c.ctx, c.task, c.cancel = ctx, ref, cancel
	w.taskCancels.Store(ref, cancel)
	return ref
}

// closeTask releases what openTask took.
func (w *World) closeTask(c *call) {
	c.cancel()
	w.taskCancels.Delete(c.task)
}

// finishTask records the outcome of the call run in task ref, if the task
// still exists.
func finishTask(db *DB, ref string, v any, f *Failure) {
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
}

func init() {
	register("task.get_status", func(c *call) any { return c.objIn(1, "task").S("status") })
	register("task.cancel", func(c *call) any {
		t := c.objIn(1, "task")
		if t.S("status") != "pending" {
			c.fail("OPERATION_NOT_ALLOWED", "Task "+t.ref+" is not pending")
		}
		c.pool.db.Set("task", t.ref, "status", "cancelling")
		if cf, ok := c.w.taskCancels.Load(t.ref); ok {
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
