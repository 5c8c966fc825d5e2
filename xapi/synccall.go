package xapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Synchronous long calls. xapi runs a synchronous call of any message that
// has an Async form in a task of its own, listed in the object's
// current_operations while it runs and destroyed when the call returns
// (Server_helpers.do_dispatch). So a synchronous VM.start is one call where
// Async.VM.start is three (the call, task.destroy, and the watcher's
// event.from for the task's changes, of which a boot makes six), and its
// answer comes the moment the boot ends. Its price is a connection held
// for the whole call, out of the master's 800 (Xapi_globs.conn_limit_tcp):
// a session makes at most WithSyncCalls of them at once and goes on with
// Async calls past that.

// SyncCall is the task a ProgressFunc is given for a call made
// synchronously: xapi's own task, which the caller cannot know. A retry
// after a crash waits for it with AwaitOperations.
const SyncCall Ref = "(synchronous call)"

// DefaultSyncCalls is how many synchronous long calls a session makes at
// once by default: the boots a 64-host pool's xenopsd runs at once (4 per
// host), and with the two workers deploy.md recommends, one per site, both
// starting VMs at one pool, 512 of the master's 800 connections. With 64
// (before), most of a large pool's starts were Async: at 10,000 VMs their
// tasks made six changes each for the task watcher to read, and a boot's
// end was seen 0.17 s after it (make bench: the last group's 5,801 starts
// took 5.4 s, 4.0 s with 256, where the model allows 3.45 s).
const DefaultSyncCalls = 256

// WithSyncCalls bounds the synchronous long calls a session makes at once
// (DefaultSyncCalls); past that, or with n = 0, they are Async calls.
func WithSyncCalls(n int) Option { return func(c *config) { c.syncCalls = max(n, 0) } }

// runOn runs op on obj as runSyncOn does if the session has a synchronous
// call to spare, else as runAsyncOn.
func (s *Session) runOn(ctx context.Context, class string, obj Ref, op, method string, params ...any) error {
	if s.takeSync() {
		defer func() { <-s.syncSlots }()
		return s.runSyncOn(ctx, class, obj, op, method, params...)
	}
	_, err := s.runAsyncOn(ctx, class, obj, op, method, params...)
	return err
}

// takeSync takes one of the session's synchronous calls if one is free:
// syncSlots holds a token per call in flight.
func (s *Session) takeSync() bool {
	if s.cfg.syncCalls == 0 {
		return false
	}
	s.syncOnce.Do(func() { s.syncSlots = make(chan struct{}, s.cfg.syncCalls) })
	select {
	case s.syncSlots <- struct{}{}:
		return true
	default:
		return false
	}
}

// runSyncOn calls method synchronously, waiting for its answer up to
// WithAsyncCallTimeout. An answer from xapi ends the call, success or
// error. Without one (a dropped connection, the timeout) the operation may
// still run at the pool: it is waited for in obj's current_operations, not
// asked twice, and the call's error returned wrapped in ErrAnswerLost, for
// the caller to read what came of it. If ctx ends first, even during that
// wait, the operation's task is cancelled (task.cancel), as WaitTask
// cancels an abandoned Async task.
func (s *Session) runSyncOn(ctx context.Context, class string, obj Ref, op, method string, params ...any) error {
	if report := progressFrom(ctx); report != nil {
		report(SyncCall, 0)
	}
	_, err := s.callTimeout(ctx, s.cfg.asyncTimeout, method, params...)
	var xe *Error
	if err == nil || errors.As(err, &xe) {
		return err
	}
	if ctx.Err() == nil {
		if werr := s.AwaitOperations(ctx, class, obj, op); werr == nil || ctx.Err() == nil {
			return fmt.Errorf("%w: %w", ErrAnswerLost, err)
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.cancelTimeout)
	defer cancel()
	if task, ok := s.runningTask(cctx, class, obj, op); ok {
		if cerr := s.CancelTask(cctx, task); cerr == nil || IsCode(cerr, CodeOperationNotAllowed) {
			_ = s.AwaitOperations(cctx, class, obj, op)
		}
	}
	return fmt.Errorf("%s abandoned: %w", method, ctx.Err())
}

// ErrAnswerLost wraps the error of a call whose answer never came though
// its operation may have run (and was waited for): what came of it is to
// be read from the object, and a VM found started by it was started by
// this call, not already running before.
var ErrAnswerLost = errors.New("the call's answer was lost")

// AwaitOperations waits until obj's current_operations holds none of ops
// (any operation if none is given), following obj with event.from, or
// reading it every WithPollInterval where event.from does not work. It is
// how a retry waits for an operation a dead worker's synchronous call left
// running: xapi's task for it, which that worker never knew, is the key
// there. A missing obj has none; an entry whose task no longer exists
// (its xapi restarted) is stale, and is not waited for once a long-poll
// brought no change: xapi's GC clears such entries only later.
func (s *Session) AwaitOperations(ctx context.Context, class string, obj Ref, ops ...string) error {
	token := ""
	var waiting []Ref // the tasks of ops that obj listed last
	for failures := 0; ; {
		batch, err := s.EventFrom(ctx, []string{class + "/" + string(obj)}, token, s.cfg.eventTimeout)
		if IsCode(err, CodeMessageMethodUnknown) || (err != nil && ctx.Err() == nil && failures >= 2) {
			return s.pollOperations(ctx, class, obj, ops)
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("wait for the operations on %s %s: %w", class, obj, err)
			}
			// A lost token (a master move) or a passing failure: from the
			// current state again, then by reading current_operations.
			failures++
			token = ""
			if werr := sleepCtx(ctx, time.Duration(failures)*200*time.Millisecond); werr != nil {
				return werr
			}
			continue
		}
		failures = 0
		first := token == ""
		token = batch.Token
		changed := false
		for _, ev := range batch.Events {
			if ev.Ref != string(obj) {
				continue
			}
			changed = true
			var rec struct {
				CurrentOperations map[string]string `xapi:"current_operations"`
			}
			if ev.Operation == "del" {
				return nil
			}
			if decodeInto(ev.Snapshot, &rec) == nil {
				if waiting = tasksOf(rec.CurrentOperations, ops); len(waiting) == 0 {
					return nil
				}
			}
		}
		switch {
		case first && !changed:
			return nil // not in the pool: nothing runs on it
		case !changed && s.tasksGone(ctx, waiting):
			return nil
		}
	}
}

// tasksOf is the tasks that current_operations cur lists for ops (any
// operation if none is given).
func tasksOf(cur map[string]string, ops []string) []Ref {
	var out []Ref
	for task, o := range cur {
		if len(ops) == 0 || slices.Contains(ops, o) {
			out = append(out, Ref(task))
		}
	}
	return out
}

// tasksGone says whether none of tasks exists any more (task.get_status
// answers HANDLE_INVALID for each).
func (s *Session) tasksGone(ctx context.Context, tasks []Ref) bool {
	for _, t := range tasks {
		if _, err := s.call(ctx, "task.get_status", t); !IsCode(err, CodeHandleInvalid) {
			return false
		}
	}
	return len(tasks) > 0
}

// pollOperations is AwaitOperations by reading current_operations.
func (s *Session) pollOperations(ctx context.Context, class string, obj Ref, ops []string) error {
	for {
		cur, err := s.currentOperations(ctx, class, obj)
		if IsCode(err, CodeHandleInvalid) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wait for the operations on %s %s: %w", class, obj, err)
		}
		if len(tasksOf(cur, ops)) == 0 {
			return nil
		}
		if err := sleepCtx(ctx, s.cfg.pollInterval); err != nil {
			return err
		}
	}
}

// sleepCtx waits d, or less if ctx ends (its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
