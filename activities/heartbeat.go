package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// tracker holds an activity's heartbeat details. Every update heartbeats the
// new state, and keepAlive re-sends it while a long XAPI call (VM.start
// sleeping start_delay, a recover) reports no progress of its own.
type tracker[T any] struct {
	ctx context.Context
	mu  sync.Mutex
	val T
}

func newTracker[T any](ctx context.Context, initial T) *tracker[T] {
	return &tracker[T]{ctx: ctx, val: initial}
}

// update changes the state under the lock and heartbeats it.
func (t *tracker[T]) update(fn func(*T)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(&t.val)
	recordHeartbeat(t.ctx, t.val)
}

// get returns a copy of the current state.
func (t *tracker[T]) get() T {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.val
}

func (t *tracker[T]) beat() {
	t.mu.Lock()
	defer t.mu.Unlock()
	recordHeartbeat(t.ctx, t.val)
}

// keepAlive heartbeats the current state every interval until the returned
// function is called.
func (t *tracker[T]) keepAlive(every time.Duration) (stop func()) {
	if !activity.IsActivity(t.ctx) {
		return func() {}
	}
	if hb := activity.GetInfo(t.ctx).HeartbeatTimeout; hb > 0 && hb/3 < every {
		every = max(hb/3, 100*time.Millisecond)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.ctx.Done():
				return
			case <-tk.C:
				t.beat()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// keepAlive heartbeats an activity that has no progress of its own to
// resume from, from its first line to its last: every wait on XAPI in
// between (a login, an SR.probe, a VDI.open_database, a task) is covered,
// so a worker that dies anywhere in it is noticed within the heartbeat
// timeout rather than the start-to-close timeout.
func (a *Activities) keepAlive(ctx context.Context) (stop func()) {
	return newTracker(ctx, struct{}{}).keepAlive(a.lim.heartbeatEvery)
}

func recordHeartbeat(ctx context.Context, details any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details)
	}
}

// previousHeartbeat loads the details of an earlier attempt into out.
func previousHeartbeat(ctx context.Context, out any) bool {
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return false
	}
	return activity.GetHeartbeatDetails(ctx, out) == nil
}
