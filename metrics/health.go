package metrics

import (
	"fmt"
	"sync"
	"time"
)

// pollAnswers are the SDK metrics recorded when a poll of the task queue
// got an answer from Temporal (a task, or none before the long poll's end).
// Temporal answers an idle long poll after about a minute, so a worker whose
// pollers work records one of these at least every minute or so.
var pollAnswers = map[string]bool{
	"temporal_workflow_task_queue_poll_empty":     true,
	"temporal_workflow_task_queue_poll_succeed":   true,
	"temporal_activity_poll_no_task":              true,
	"temporal_activity_schedule_to_start_latency": true,
}

// PollGrace is how long the worker may go without a poll answer before
// /healthz fails: two of Temporal's one-minute long polls, and some.
const PollGrace = 150 * time.Second

// Health is what the worker's health endpoints report: ready once the worker
// polls and until it stops; healthy while its pollers get answers.
type Health struct {
	now func() time.Time

	mu        sync.Mutex
	started   time.Time // when the worker began polling; zero before
	stopping  bool
	lastPoll  time.Time
	taskQueue string
}

func newHealth(now func() time.Time) *Health { return &Health{now: now} }

// Started says the worker polls taskQueue from now on.
func (h *Health) Started(taskQueue string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.started, h.taskQueue = h.now(), taskQueue
}

// Stopping says the worker takes no new work (SIGTERM).
func (h *Health) Stopping() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
}

func (h *Health) seen(name string) {
	if !pollAnswers[name] {
		return
	}
	t := h.now()
	h.mu.Lock()
	h.lastPoll = t
	h.mu.Unlock()
}

// Ready is nil while the worker takes work: started and not stopping.
func (h *Health) Ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.stopping:
		return fmt.Errorf("the worker is stopping; it takes no new work")
	case h.started.IsZero():
		return fmt.Errorf("the worker is starting; it does not poll yet")
	}
	return nil
}

// Healthy is nil while the worker polls and its polls are answered: since
// it started, a poll of the task queue was answered within PollGrace.
func (h *Health) Healthy() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	switch {
	case h.started.IsZero():
		return fmt.Errorf("the worker is starting; it does not poll yet")
	case h.stopping:
		return nil // draining: alive, not ready
	}
	last := h.lastPoll
	if last.Before(h.started) {
		last = h.started
	}
	if since := now.Sub(last); since > PollGrace {
		return fmt.Errorf("no poll of task queue %s was answered for %s; check that Temporal is reachable from this worker", h.taskQueue, since.Round(time.Second))
	}
	return nil
}
