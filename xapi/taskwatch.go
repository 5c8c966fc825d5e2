package xapi

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// taskWatch follows every task of the pool with one event.from loop per
// session, so that a thousand Async calls in flight cost one long-poll, not
// two event.from calls each. A waiter registers, and the loop hands it each
// new record of its task; the loop starts with the first waiter (from an
// empty token, which answers the state of every task, so a task that ended
// before anyone looked is found too) and stops a while after the last one
// leaves. Where event.from does not work the waiters fall back on waiting
// for their own task (waitOne).
type taskWatch struct {
	mu      sync.Mutex
	running bool
	failed  bool // the loop cannot serve now: wait one by one
	// noEvents: event.from does not exist here (MESSAGE_METHOD_UNKNOWN).
	noEvents bool
	waiters  int
	idleAt   time.Time
	known    map[Ref]taskSeen
	changed  chan struct{} // closed and replaced after every batch
}

type taskSeen struct {
	rec  TaskRecord
	gone bool // destroyed
	at   time.Time
}

// Bounds of the watcher.
const (
	// taskWatchIdle is how long the loop goes on with no waiter.
	taskWatchIdle = 2 * time.Second
	// taskWatchKeep is how long a finished task's record is kept for a
	// waiter that has not come yet.
	taskWatchKeep = 2 * time.Minute
	// taskWatchPrune is how often the loop drops the records older than
	// taskWatchKeep: looking through every one at each answer, 20,000 of
	// them at 10,000 VMs, was a twentieth of the worker's CPU.
	taskWatchPrune = time.Second
	// taskWatchCoalesce spaces the loop's calls while tasks change all the
	// time, so one call brings many changes. A recovery's slot is held
	// until its task's end is seen, and with 50 ms a single VM's import
	// (about 10 ms at the database lock) held it for 40 (make bench, 1,000
	// VMs: the recovery 0.05 to 0.1 s shorter with 25 ms, 0.12 more calls
	// per VM).
	taskWatchCoalesce = 25 * time.Millisecond
	// taskWatchBusy is how many waiters get the whole taskWatchCoalesce.
	taskWatchBusy = 8
	// taskWatchFollow is how many waiters at most an answer that ended
	// some of them is followed at once for (followsBurst).
	taskWatchFollow = 16
	// taskWatchSettle is how long the follow of followsBurst waits for the
	// woken waiters' own calls.
	taskWatchSettle = 5 * time.Millisecond
)

// waitShared waits for task through the session's watcher. ok is false when
// the watcher cannot serve (event.from does not work here): the caller then
// waits on its own.
func (s *Session) waitShared(ctx context.Context, task Ref, observe func(TaskRecord)) (rec TaskRecord, ok bool, err error) {
	w := &s.tasks
	w.mu.Lock()
	if w.failed {
		w.mu.Unlock()
		return rec, false, nil
	}
	w.waiters++
	if w.known == nil {
		w.known = map[Ref]taskSeen{}
		w.changed = make(chan struct{})
	}
	if !w.running {
		w.running = true
		go s.watchTasks()
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.waiters--
		if w.waiters == 0 {
			w.idleAt = time.Now()
		}
		w.mu.Unlock()
	}()
	unseen := time.Now()
	for {
		w.mu.Lock()
		seen, found := w.known[task]
		failed := w.failed
		ch := w.changed
		w.mu.Unlock()
		if found {
			if seen.gone {
				return seen.rec, true, fmt.Errorf("task %s was destroyed before it finished", task)
			}
			observe(seen.rec)
			if seen.rec.Done() {
				return seen.rec, true, nil
			}
		} else if time.Since(unseen) > 2*s.cfg.eventTimeout {
			// Never seen in two long-polls: read it once, so a missed
			// event cannot make us wait for ever.
			r, err := s.GetTaskRecord(ctx, task)
			if err != nil {
				return r, true, err
			}
			observe(r)
			if r.Done() {
				return r, true, nil
			}
			unseen = time.Now()
		}
		if failed {
			return rec, false, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return rec, true, ctx.Err()
		}
	}
}

// watchTasks is the loop: event.from on every task, from an empty token (the
// state of every task) and then from the token each answer gives.
func (s *Session) watchTasks() {
	w := &s.tasks
	ctx := context.Background()
	token := ""
	failures := 0
	var pruned time.Time
	followed := false
	for {
		w.mu.Lock()
		stop := w.waiters == 0 && time.Since(w.idleAt) > taskWatchIdle
		if stop {
			w.running = false
			w.known = nil // the next loop starts from every task's state
			w.mu.Unlock()
			return
		}
		// With waiters, the long-poll's whole timeout: a 2 s one came back
		// empty every 2 s through a real pool's boots. With none, short
		// enough to stop soon.
		timeout := s.cfg.eventTimeout
		if w.waiters == 0 {
			timeout = min(timeout, taskWatchIdle)
		}
		w.mu.Unlock()
		batch, err := s.EventFrom(ctx, []string{"task"}, token, timeout)
		answered := time.Now()
		if err != nil {
			failures++
			if IsCode(err, CodeMessageMethodUnknown) || failures >= 3 {
				// Waiters go on one by one; a later wait tries again.
				w.mu.Lock()
				w.failed = IsCode(err, CodeMessageMethodUnknown)
				w.noEvents = w.failed
				w.running = false
				w.known = nil
				close(w.changed)
				w.changed = make(chan struct{})
				w.mu.Unlock()
				if !w.failed {
					// Let the present waiters fall back; new ones restart the loop.
					s.failWaiters()
				}
				return
			}
			token = "" // a master move or a lost token: read every task again
			time.Sleep(time.Duration(failures) * 200 * time.Millisecond)
			continue
		}
		failures = 0
		token = batch.Token
		// Decoded before the lock: the waiters look up their task under
		// it, and a batch holds hundreds of tasks while VMs start.
		type change struct {
			ref  Ref
			del  bool
			rec  TaskRecord
			good bool
		}
		changes := make([]change, 0, len(batch.Events))
		for _, ev := range batch.Events {
			if ev.Class != "task" {
				continue
			}
			ch := change{ref: Ref(ev.Ref), del: ev.Operation == "del"}
			if !ch.del {
				ch.good = ev.Snapshot != nil && decodeInto(ev.Snapshot, &ch.rec) == nil && ch.rec.Status != ""
			}
			changes = append(changes, ch)
		}
		now := time.Now()
		ends := 0
		w.mu.Lock()
		for _, ch := range changes {
			switch {
			case ch.del:
				if prev, ok := w.known[ch.ref]; !ok || !prev.rec.Done() {
					w.known[ch.ref] = taskSeen{rec: prev.rec, gone: true, at: now}
				}
			case ch.good:
				if prev, ok := w.known[ch.ref]; ch.rec.Done() && (!ok || !prev.rec.Done()) {
					ends++
				}
				w.known[ch.ref] = taskSeen{rec: ch.rec, at: now}
			}
		}
		if now.Sub(pruned) >= taskWatchPrune {
			pruned = now
			for ref, seen := range w.known {
				if (seen.gone || seen.rec.Done()) && now.Sub(seen.at) > taskWatchKeep {
					delete(w.known, ref)
				}
			}
		}
		close(w.changed)
		w.changed = make(chan struct{})
		waiting := w.waiters
		w.mu.Unlock()
		// The next call one coalescing interval (coalesceFor) after this
		// answer came, the time spent reading it included: at 10,000 VMs
		// reading a batch took nearly as long again, and each task's end
		// was seen that much later.
		if len(batch.Events) > 0 {
			if followed = followsBurst(ends, waiting, followed); followed {
				// Not at once: the waiters this answer woke destroy their
				// tasks and start the next ones within a few milliseconds,
				// and a call made before that returned with nothing but
				// those events, one more call per round of boots.
				time.Sleep(taskWatchSettle)
				continue
			}
			if d := coalesceFor(waiting) - time.Since(answered); d > 0 {
				time.Sleep(d)
			}
		}
	}
}

// coalesceFor is how long the loop gathers changes for waiters: the whole
// taskWatchCoalesce for taskWatchBusy waiters or more, less for fewer. A
// few tasks change a few times each, and what they wait for is the end of
// a step (the last boot of a priority group, a probe, a database opened)
// that the next step waits for.
func coalesceFor(waiters int) time.Duration {
	return taskWatchCoalesce * time.Duration(min(max(waiters, 1), taskWatchBusy)) / taskWatchBusy
}

// followsBurst says whether the loop asks again at once instead of after
// coalesceFor: the answer ended some waited tasks and others still wait,
// with few in flight, and the answer before did not do so already. Tasks
// started together tend to end together, and an answer that came with the
// first of them left the others' slots idle for a whole interval: at 100
// VMs on 8 boot slots, a start round's last five boots were seen 50 ms
// late (make bench). With more waiters each answer brings many ends, and
// the calls matter more.
func followsBurst(ends, waiting int, followed bool) bool {
	return ends > 0 && waiting > ends && waiting <= taskWatchFollow && !followed
}

// failWaiters makes the waiters present now fall back on their own wait,
// once: the loop could not read the tasks three times in a row.
func (s *Session) failWaiters() {
	w := &s.tasks
	w.mu.Lock()
	w.failed = true
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	// New waiters may use the loop again once these have left.
	go func() {
		time.Sleep(s.cfg.eventTimeout)
		w.mu.Lock()
		w.failed = false
		w.mu.Unlock()
	}()
}
