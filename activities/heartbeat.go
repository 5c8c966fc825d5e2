package activities

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// tracker holds an activity's heartbeat details. An update heartbeats the
// new state (at most every recordGap; keepAlive records the latest one
// later), and keepAlive re-sends it while a long XAPI call (VM.start
// sleeping start_delay, a recover) reports no progress of its own.
type tracker[T any] struct {
	ctx   context.Context
	mu    sync.Mutex
	val   T
	last  time.Time // when val was last recorded
	dirty bool      // val changed since
	soon  bool      // a record within nowGap is scheduled (updateNow)
	ended bool      // keepAlive stopped: the activity returns, nothing more is recorded

	// Records are sent by a goroutine each (record); sendMu orders them,
	// and one older than the last sent is dropped.
	sendMu  sync.Mutex
	seq     uint64 // records made, under mu
	sentSeq uint64 // the latest record sent, under sendMu
	sending sync.WaitGroup
}

// recordGap is how often an update is recorded at most. The SDK encodes the
// details at every RecordHeartbeat but sends them at most every heartbeat
// throttle (worker.HeartbeatThrottle, 2 s): encoding a Recover's list of
// done units at each of its thousands of updates took a tenth of a worker's
// CPU at 10,000 VMs.
const recordGap = time.Second

func newTracker[T any](ctx context.Context, initial T) *tracker[T] {
	return &tracker[T]{ctx: ctx, val: initial}
}

// update changes the state under the lock and heartbeats it, or leaves it
// to keepAlive when the last record is younger than recordGap.
func (t *tracker[T]) update(fn func(*T)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(&t.val)
	if time.Since(t.last) >= recordGap {
		t.record()
	} else {
		t.dirty = true
	}
}

// nowGap is how soon updateNow records a change at the latest. The SDK
// sends the details recorded last when its throttle ends, so a change
// recorded within nowGap reaches Temporal with the same send as one
// recorded at once (or, rarely, with the next), where recording each of
// the tasks a StartBatch creates at 10,000 VMs encoded its details
// thousands of times a second: an eighth of the worker's CPU while the
// VMs started (make bench).
const nowGap = 100 * time.Millisecond

// updateNow is update recorded within nowGap, when fn says it changed the
// state: for a change a retry must know of, such as the XAPI task just
// created for a recover.
func (t *tracker[T]) updateNow(fn func(*T) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !fn(&t.val) {
		return
	}
	wait := nowGap - time.Since(t.last)
	if wait <= 0 {
		t.record()
		return
	}
	t.dirty = true
	if !t.soon {
		t.soon = true
		time.AfterFunc(wait, t.flushSoon)
	}
}

// flushSoon is updateNow's scheduled record; none once the activity has
// returned (its last state was recorded when keepAlive stopped).
func (t *tracker[T]) flushSoon() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.soon = false
	if t.dirty && !t.ended {
		t.record()
	}
}

// record heartbeats val; called with mu held. The details are encoded
// here, under the lock, and sent from another goroutine: after a quiet
// spell the SDK sends a heartbeat to Temporal at once, within the call, and
// that call held every updater behind the lock for about 10 ms, at the
// first boots of a priority group the XAPI starts waiting for it, and in
// whatever order the lock let them go (make bench).
func (t *tracker[T]) record() {
	t.last, t.dirty, t.soon = time.Now(), false, false
	if !activity.IsActivity(t.ctx) || t.ended {
		return
	}
	data, err := json.Marshal(t.val)
	if err != nil {
		return
	}
	t.seq++
	seq := t.seq
	t.sending.Add(1)
	go func() {
		defer t.sending.Done()
		t.sendMu.Lock()
		defer t.sendMu.Unlock()
		if seq < t.sentSeq {
			return // a newer state went already
		}
		t.sentSeq = seq
		recordHeartbeat(t.ctx, json.RawMessage(data))
	}()
}

// get returns a copy of the current state.
func (t *tracker[T]) get() T {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.val
}

// tick records a pending update, or re-sends the state every interval.
func (t *tracker[T]) tick(every time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dirty || time.Since(t.last) >= every {
		t.record()
	}
}

// keepAlive heartbeats the current state every interval, and a pending
// update within recordGap, until the returned function is called; that
// function records a pending update last, so a failed attempt leaves its
// latest state to the next.
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
		tk := time.NewTicker(min(every, recordGap))
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.ctx.Done():
				return
			case <-tk.C:
				t.tick(every)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			t.mu.Lock()
			if t.dirty {
				t.record()
			}
			t.ended = true
			t.mu.Unlock()
			// The last state reaches the SDK before the activity returns.
			t.sending.Wait()
		})
	}
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
