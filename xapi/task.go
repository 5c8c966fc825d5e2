package xapi

import (
	"context"
	"errors"
	"fmt"
)

// ProgressFunc receives a task's progress (0..1). It is called at the first
// observation of the task (so the caller can record the task reference, e.g.
// in an activity heartbeat, and resume with WaitTask) and whenever progress
// changes. A synchronous long call reports task SyncCall once, before it is
// made (resume with AwaitOperations).
type ProgressFunc func(task Ref, progress float64)

type progressKey struct{}

// WithProgress returns a context whose Async calls report task progress to
// fn. Kept in the context so every long call accepts it without an extra
// parameter.
func WithProgress(ctx context.Context, fn ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

func progressFrom(ctx context.Context) ProgressFunc {
	fn, _ := ctx.Value(progressKey{}).(ProgressFunc)
	return fn
}

// runAsync calls Async.<method> and waits for the task, destroying it after.
// It returns the task result fragment.
func (s *Session) runAsync(ctx context.Context, method string, params ...any) (string, error) {
	v, err := s.callTimeout(ctx, s.cfg.asyncTimeout, "Async."+method, params...)
	if err != nil {
		return "", err
	}
	task, err := taskRefFrom(v)
	if err != nil {
		return "", err
	}
	return s.awaitTask(ctx, task)
}

// runAsyncOn is runAsync for an operation op on one object of class that
// xapi lists in the object's current_operations while it runs (VM.start
// as "start"...). If the Async call itself got no answer in time, the task
// may exist all the same: it is looked for there and waited for, rather
// than the operation asked for twice.
func (s *Session) runAsyncOn(ctx context.Context, class string, obj Ref, op, method string, params ...any) (string, error) {
	res, err := s.runAsync(ctx, method, params...)
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return res, err
	}
	if task, ok := s.runningTask(ctx, class, obj, op); ok {
		return s.awaitTask(ctx, task)
	}
	return "", fmt.Errorf("%w: %w", ErrAnswerLost, err)
}

// runningTask finds the task of op in obj's current_operations.
func (s *Session) runningTask(ctx context.Context, class string, obj Ref, op string) (Ref, bool) {
	cur, err := s.currentOperations(ctx, class, obj)
	if tasks := tasksOf(cur, []string{op}); err == nil && len(tasks) > 0 {
		return tasks[0], true
	}
	return "", false
}

// currentOperations reads obj's current_operations: task → operation.
func (s *Session) currentOperations(ctx context.Context, class string, obj Ref) (map[string]string, error) {
	v, err := s.call(ctx, class+".get_current_operations", obj)
	if err != nil {
		return nil, err
	}
	var cur map[string]string
	if err := decodeInto(v, &cur); err != nil {
		return nil, &ProtocolError{Reason: err.Error()}
	}
	return cur, nil
}

// awaitTask waits for task and destroys it afterwards, whatever happened.
func (s *Session) awaitTask(ctx context.Context, task Ref) (string, error) {
	defer s.destroyTaskQuietly(ctx, task)
	return s.WaitTask(ctx, task)
}

func taskRefFrom(v any) (Ref, error) {
	s, err := asString(v)
	if err != nil || s == "" {
		return "", &ProtocolError{Reason: "Async call did not return a task reference"}
	}
	return Ref(s), nil
}

// WaitTask waits until task finishes and returns its result: the XML
// fragment xapi stores in task.result (see ResultString / ResultRef).
// Completion is observed with event.from long-polls on the task; if
// event.from is unavailable or fails, task.get_record is polled instead.
// A failed task returns *Error built from error_info. If ctx ends first, the
// task is cancelled (task.cancel) and awaited for a bounded time, and the
// context's error is returned. WaitTask does not destroy the task.
func (s *Session) WaitTask(ctx context.Context, task Ref) (string, error) {
	rec, err := s.waitDone(ctx, task)
	if err != nil {
		if ctx.Err() == nil {
			return "", err
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.cancelTimeout)
		defer cancel()
		if cerr := s.CancelTask(cctx, task); cerr == nil || IsCode(cerr, CodeOperationNotAllowed) {
			_, _ = s.waitDone(cctx, task)
		}
		return "", fmt.Errorf("task %s abandoned: %w", task, ctx.Err())
	}
	switch rec.Status {
	case TaskSuccess:
		return rec.Result, nil
	case TaskCancelled:
		return "", &Error{Code: CodeTaskCancelled, Params: []string{string(task)}}
	default:
		return "", errorFromInfo(rec.ErrorInfo)
	}
}

func errorFromInfo(info []string) *Error {
	if len(info) == 0 || info[0] == "" {
		return &Error{Code: CodeInternalError, Params: []string{"task failed without error_info"}}
	}
	return &Error{Code: info[0], Params: append([]string(nil), info[1:]...)}
}

// waitDone returns the task record once its status is final.
func (s *Session) waitDone(ctx context.Context, task Ref) (TaskRecord, error) {
	report := progressFrom(ctx)
	last := -1.0
	observe := func(r TaskRecord) {
		if report != nil && r.Progress != last {
			last = r.Progress
			report(task, r.Progress)
		}
	}
	if rec, ok, err := s.waitShared(ctx, task, observe); ok {
		return rec, err
	}
	// The watcher could not serve: event.from does not work here (then
	// poll at once), or failed for a while (then try it for this task).
	s.tasks.mu.Lock()
	useEvents := !s.tasks.noEvents
	s.tasks.mu.Unlock()
	token := ""
	classes := []string{"task/" + string(task)}
	// event.from from the empty token answers at once with the task's
	// state and the token to wait from: one call where task.get_record
	// and a first event.from were two.
	rec, found := TaskRecord{}, false
	if useEvents {
		if batch, err := s.EventFrom(ctx, classes, "", 0); err == nil {
			token = batch.Token
			for _, ev := range batch.Events {
				if ev.Class == "task" && ev.Ref == string(task) && ev.Operation != "del" && ev.Snapshot != nil &&
					decodeInto(ev.Snapshot, &rec) == nil && rec.Status != "" {
					found = true
				}
			}
		} else if ctx.Err() != nil {
			return rec, ctx.Err()
		} else {
			useEvents = false // e.g. MESSAGE_METHOD_UNKNOWN: poll instead
		}
	}
	if !found {
		var err error
		if rec, err = s.GetTaskRecord(ctx, task); err != nil {
			return rec, err
		}
	}
	observe(rec)
	for !rec.Done() {
		if useEvents {
			batch, err := s.EventFrom(ctx, classes, token, s.cfg.eventTimeout)
			if err != nil {
				if ctx.Err() != nil {
					return rec, ctx.Err()
				}
				useEvents = false // e.g. MESSAGE_METHOD_UNKNOWN: poll instead
				continue
			}
			token = batch.Token
			seen := false
			for _, ev := range batch.Events {
				if ev.Class != "task" || ev.Ref != string(task) {
					continue
				}
				if ev.Operation == "del" {
					return rec, fmt.Errorf("task %s was destroyed before it finished", task)
				}
				var snap TaskRecord
				if ev.Snapshot != nil && decodeInto(ev.Snapshot, &snap) == nil && snap.Status != "" {
					rec, seen = snap, true
					observe(rec)
				}
			}
			if seen {
				continue
			}
			// Nothing about our task in this batch (long-poll timeout):
			// read it once so a missed event cannot make us wait forever.
		} else if err := sleepCtx(ctx, s.cfg.pollInterval); err != nil {
			return rec, err
		}
		var err error
		if rec, err = s.GetTaskRecord(ctx, task); err != nil {
			return rec, err
		}
		observe(rec)
	}
	return rec, nil
}

// CancelTask asks xapi to cancel task (task.cancel).
func (s *Session) CancelTask(ctx context.Context, task Ref) error {
	if _, err := s.call(ctx, "task.cancel", task); err != nil {
		return fmt.Errorf("cancel task %s: %w", task, err)
	}
	return nil
}

// DestroyTask removes a finished task record (task.destroy).
func (s *Session) DestroyTask(ctx context.Context, task Ref) error {
	if _, err := s.call(ctx, "task.destroy", task); err != nil {
		return fmt.Errorf("destroy task %s: %w", task, err)
	}
	return nil
}

// destroyTaskQuietly is best effort: a leftover task record is harmless and
// xapi garbage-collects it; it must not hide the operation's own outcome.
func (s *Session) destroyTaskQuietly(ctx context.Context, task Ref) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.cancelTimeout)
	defer cancel()
	_ = s.DestroyTask(cctx, task)
}

// ResultString decodes a task result fragment ("<value>…</value>") holding a
// string; the XML document of an Async SR.probe comes back this way.
func ResultString(result string) (string, error) {
	if result == "" {
		return "", nil
	}
	v, err := DecodeValue(result)
	if err != nil {
		return "", fmt.Errorf("task result: %w", err)
	}
	s, err := asString(v)
	if err != nil {
		return "", fmt.Errorf("task result: %w", err)
	}
	return s, nil
}

// ResultRef decodes a task result fragment holding a reference.
func ResultRef(result string) (Ref, error) {
	s, err := ResultString(result)
	return Ref(s), err
}

func resultRef(result string) (string, error) { return ResultString(result) }
