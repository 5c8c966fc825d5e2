package activities

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// VM starts share one pool of slots per site in this worker, whatever run,
// child workflow or priority group they belong to: a slot freed by one VM is
// taken by the next VM waiting anywhere, so no child holds slots it does not
// use (a vApp waiting out a start_delay, a batch whose last VM is still
// booting). The workflows schedule every VM that may start now and this
// bounds how many VM.start calls are in flight at the pool.

// StartsPerHost is how many VM.start calls per host of the pool a worker keeps
// in flight by default. xenopsd runs VM operations on a pool of worker threads
// per host, and VM.start sleeps the VM's start_delay inside the call (so a
// slot is held for longer than the host works on it); docs/timing-model.md
// gives the figures.
const StartsPerHost = 8

// hostsRefresh is how long a site's host count is trusted: pools grow and
// shrink rarely, and a stale count only sizes the slots.
const hostsRefresh = 5 * time.Minute

type slotPool struct {
	mu   sync.Mutex
	used int
	// size is the latest caller's number of slots (it follows the pool's
	// hosts and the plan's cap).
	size int
	// waiting are the starts waiting for a slot, first come first served:
	// a freed slot goes to one of them, where waking every waiter on each
	// release made thousands of goroutines race for each slot at 10,000
	// VMs (make bench).
	waiting []*slotWaiter
	hosts   []xapi.Ref // the pool's hosts, in the order host.get_all gave them
	hostsAt time.Time
	// busy and placed are this worker's boots in flight and placed so far
	// per host, for spread placement (pick); avoid holds the hosts that
	// refused a VM lately, until when.
	busy   map[xapi.Ref]int
	placed map[xapi.Ref]int
	avoid  map[xapi.Ref]time.Time
	// reading is held by the one caller that reads the hosts; the others
	// wait for its answer (hundreds of starts begin at once).
	reading sync.Mutex
	// held is how many slots each rank (slotWaiter.later) holds, and
	// laterShare, when set, caps the lower ranks' share (grant).
	held       map[int]int
	laterShare int
	// queued is when each run's group last queued its recoveries, and
	// queuedCh is closed at each (queueRecoveries).
	queued   map[string]time.Time
	queuedCh chan struct{}
	// gathering: a burst of starts is being gathered (gathered).
	gathering bool
}

type slotWaiter struct {
	ready   chan struct{} // closed when the slot is granted
	granted bool
	later   int  // startSlot's: the higher, the earlier
	spread  bool // pick a host when granted
	host    xapi.Ref
	delay   time.Duration // to wait once granted (startOverflowDelay)
}

// startSlot is a start slot held: its release, and the host the VM is to
// boot on ("" for the pool's own placement).
type startSlot struct {
	release func()
	host    xapi.Ref
	p       *slotPool
}

// refused keeps the slot's host out of spread placement for a while: it
// could not run a VM (memory, storage, network), and the pool's placement
// takes over for the VMs that would have gone to it.
func (s startSlot) refused() {
	if s.host == "" {
		return
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.avoid == nil {
		s.p.avoid = map[xapi.Ref]time.Time{}
	}
	s.p.avoid[s.host] = time.Now().Add(hostsRefresh)
}

// startSlot waits for a slot to start a VM at c's site and returns it. The
// site has StartsPerHost slots per host, capped by limit (the plan's
// concurrency.start) when limit > 0. Waiting starts get freed slots by later
// (how many orders of a vApp wait for the VM), then in the order they came:
// at 10,000 VMs a vApp's first order queued behind hundreds of standalone
// VMs that nothing waits for, and every order after it started a round of
// boots later. With spread, the slot names the host to boot on (pick). The
// caller heartbeats meanwhile.
func (a *Activities) startSlot(ctx context.Context, c *conn, limit, later int, spread bool) (startSlot, error) {
	v, _ := a.starts.LoadOrStore(c.site, &slotPool{})
	p := v.(*slotPool)
	size := len(p.hostList(ctx, c)) * StartsPerHost
	if limit > 0 {
		size = min(size, limit)
	}
	size = max(size, 1)
	w := &slotWaiter{ready: make(chan struct{}), later: later, spread: spread}
	if err := p.gathered(ctx, size, w); err != nil {
		return startSlot{}, err
	}
	if w.delay > 0 {
		// Behind the boots this host's xenopsd runs first (pick).
		t := time.NewTimer(w.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			p.release(w)
			return startSlot{}, ctx.Err()
		}
	}
	return p.slot(w), nil
}

// Boots that arrive together are handed out in their rank's order, not in
// the order their goroutines came: the first orders of a priority group's
// vApps all ask at once, and more of them than a host's xenopsd threads
// (hostVMOps) queue there in the order they reach it. At 100 VMs the
// first order of the group's longest vApp came last and queued behind a
// boot nothing waits for, its whole chain a boot later (make bench: one
// run in three). So a start waits startGather for the others of its burst,
// and a spread boot placed beyond a host's hostVMOps boots in flight goes
// out startOverflowDelay after them, queuing at xenopsd behind them.
const (
	startGather        = time.Millisecond
	startOverflowDelay = 2 * time.Millisecond
	// hostVMOps is how many VM operations xenopsd runs at once on a host:
	// its worker_pool_size, 4 by default (docs/timing-model.md).
	hostVMOps = 4
)

// gathered is wait for the starts: w joins the queue, and the queue is
// served startGather after the first start of a burst came (or at once
// when a slot frees).
func (p *slotPool) gathered(ctx context.Context, size int, w *slotWaiter) error {
	p.mu.Lock()
	p.size = size
	p.enqueue(w)
	if !p.gathering {
		p.gathering = true
		time.AfterFunc(startGather, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.gathering = false
			p.grant()
		})
	}
	p.mu.Unlock()
	return p.await(ctx, w)
}

// enqueue puts w after every waiter of as high a rank (later), before
// those of a lower one. Called with p.mu held.
func (p *slotPool) enqueue(w *slotWaiter) {
	at := len(p.waiting)
	for at > 0 && p.waiting[at-1].later < w.later {
		at--
	}
	p.waiting = slices.Insert(p.waiting, at, w)
}

// await waits until the queued w is granted its slot; when ctx ends first,
// w leaves the queue (or gives the slot back) and ctx's error is returned.
func (p *slotPool) await(ctx context.Context, w *slotWaiter) error {
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		p.leave(w)
		return ctx.Err()
	}
}

// leave takes w out of the queue, or gives back its slot if granted.
func (p *slotPool) leave(w *slotWaiter) {
	p.mu.Lock()
	if w.granted {
		p.mu.Unlock()
		p.release(w)
		return
	}
	for i, x := range p.waiting {
		if x == w {
			p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
}

// recoverQueue is one recovery's units queued for the site's recovery
// slots (RecoverInput.Slots). The recoveries of a worker share one pool per
// site, whatever child workflow they belong to: a slot freed by one unit
// goes to the waiting unit of the earliest priority group, then in the
// order they came. A run that recovers its groups side by side then keeps
// concurrency.recover imports in flight across the groups' ends, where
// children with lanes of their own held them through their last unit
// while the next group's children waited (make bench).
type recoverQueue struct {
	p       *slotPool
	ws      []*slotWaiter
	claimed []bool // by wait or drop, each from its unit's goroutine
}

// queueRecoveries queues n units of one recovery of group for size slots
// at c's site, in the order given and all at once: a unit queued one by one
// from its own goroutine could be passed by another child's. A recovery of
// a group after first (the run's earliest group still recovering) first
// waits until that group's units are queued, at most recoverLeadWait: the
// children of a run start together, and the first to come took every free
// slot, at 1,000 VMs the last group's standalone VMs while the first
// group's vApps, the run's critical path, waited behind them (make bench).
func (a *Activities) queueRecoveries(ctx context.Context, c *conn, run string, group, first, size, n int) (recoverQueue, error) {
	v, _ := a.recoveries.LoadOrStore(c.site, &slotPool{})
	p := v.(*slotPool)
	if group > first {
		if err := p.awaitQueued(ctx, queuedKey(run, first), recoverLeadWait); err != nil {
			return recoverQueue{}, err
		}
	}
	q := recoverQueue{p: p, ws: make([]*slotWaiter, n), claimed: make([]bool, n)}
	p.mu.Lock()
	p.size = max(size, 1)
	p.laterShare = recoverLaterShare
	for i := range q.ws {
		w := &slotWaiter{ready: make(chan struct{}), later: -group}
		q.ws[i] = w
		p.enqueue(w)
	}
	p.grant()
	p.markQueued(queuedKey(run, group))
	p.mu.Unlock()
	return q, nil
}

// queuedKey names a run's group in slotPool.queued.
func queuedKey(run string, group int) string { return fmt.Sprintf("%s#%d", run, group) }

// recoverLaterShare caps the recovery slots that later groups hold while an
// earlier group's imports run at half: the imports queue at the master's
// database lock, one at a time, and a vApp's VMs are imported one after
// another, each taking its turn there. With every slot busy, the first
// group's largest vApp, the run's critical path, waited at the lock behind
// the later groups' standalone VMs on each of its VMs (1,000 VMs: the first
// group recovered in 1.7 s, against 1.0 s for its imports alone). Half
// still keeps the lock busy while the earlier group's last vApps run (a
// quarter made the recovery of 1,000 VMs 0.1-0.2 s longer, make bench).
const recoverLaterShare = 2

// recoverLeadWait bounds how long a later group's recovery waits for the
// first group's to queue: that one may run on another worker, or be done.
const recoverLeadWait = 200 * time.Millisecond

// wait blocks until unit i holds a slot and returns its release.
func (q recoverQueue) wait(ctx context.Context, i int) (func(), error) {
	q.claimed[i] = true
	if err := q.p.await(ctx, q.ws[i]); err != nil {
		return nil, err
	}
	w := q.ws[i]
	return sync.OnceFunc(func() { q.p.release(w) }), nil
}

// drop gives up unit i's place (a unit not begun): its slot, if granted,
// goes to the next waiter.
func (q recoverQueue) drop(i int) {
	q.claimed[i] = true
	q.p.leave(q.ws[i])
}

// dropRest drops every unit neither waited for nor dropped (their
// goroutines never ran: the context ended first). Called once they all
// have returned.
func (q recoverQueue) dropRest() {
	for i, c := range q.claimed {
		if !c {
			q.drop(i)
		}
	}
}

// markQueued records that the recovery key's units are queued, and wakes
// the recoveries waiting for it. Called with p.mu held.
func (p *slotPool) markQueued(key string) {
	now := time.Now()
	if p.queued == nil {
		p.queued = map[string]time.Time{}
	}
	for k, at := range p.queued {
		if now.Sub(at) > queuedKeep {
			delete(p.queued, k)
		}
	}
	p.queued[key] = now
	if p.queuedCh != nil {
		close(p.queuedCh)
	}
	p.queuedCh = make(chan struct{})
}

// queuedKeep is how long a group's units count as queued: a retry of a
// later group's recovery after that is held back once more, briefly.
const queuedKeep = 5 * time.Minute

// awaitQueued waits until key's units are queued, at most d.
func (p *slotPool) awaitQueued(ctx context.Context, key string, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		p.mu.Lock()
		at, ok := p.queued[key]
		if ok && time.Since(at) <= queuedKeep {
			p.mu.Unlock()
			return nil
		}
		if p.queuedCh == nil {
			p.queuedCh = make(chan struct{})
		}
		ch := p.queuedCh
		p.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *slotPool) slot(w *slotWaiter) startSlot {
	return startSlot{release: sync.OnceFunc(func() { p.release(w) }), host: w.host, p: p}
}

// take gives w a slot, and a host when it spreads. Called with p.mu held.
func (p *slotPool) take(w *slotWaiter) {
	w.granted = true
	p.used++
	if p.held == nil {
		p.held = map[int]int{}
	}
	p.held[w.later]++
	if w.spread {
		w.host = p.pick()
		if w.host != "" {
			p.busy[w.host]++
			p.placed[w.host]++
			if p.busy[w.host] > hostVMOps {
				w.delay = startOverflowDelay
			}
		}
	}
}

// pick is the host a spread boot goes to: the one with the fewest of this
// worker's boots in flight, then the fewest placed so far, then the first
// the pool listed. xapi's own placement ranks hosts by free memory and
// knows nothing of the boots under way: some hosts' four VM operation
// threads queued while others idled (make bench). "" when every host
// refused a VM lately. Called with p.mu held.
func (p *slotPool) pick() xapi.Ref {
	if p.busy == nil {
		p.busy, p.placed = map[xapi.Ref]int{}, map[xapi.Ref]int{}
	}
	now := time.Now()
	var best xapi.Ref
	for _, h := range p.hosts {
		if until, ok := p.avoid[h]; ok && now.Before(until) {
			continue
		}
		if best == "" || p.busy[h] < p.busy[best] || (p.busy[h] == p.busy[best] && p.placed[h] < p.placed[best]) {
			best = h
		}
	}
	return best
}

func (p *slotPool) release(w *slotWaiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used--
	if p.held != nil {
		p.held[w.later]--
	}
	if w.host != "" {
		p.busy[w.host]--
	}
	p.grant()
}

// grant hands the free slots to the first waiters. With laterShare, a
// waiter of a lower rank than a slot holder's (a later priority group's
// recovery while an earlier group's runs) gets one only while that rank and
// the ranks below it hold fewer than size / laterShare. Called with p.mu
// held.
func (p *slotPool) grant() {
	for p.used < p.size && len(p.waiting) > 0 {
		w := p.waiting[0]
		if p.laterShare > 0 && p.heldAbove(w.later) && p.heldFrom(w.later) >= max(p.size/p.laterShare, 1) {
			return
		}
		p.waiting[0] = nil
		p.waiting = p.waiting[1:]
		p.take(w)
		close(w.ready)
	}
}

// heldAbove says whether a slot is held by a rank above later's; heldFrom
// is how many are held by later's rank and those below. Called with p.mu
// held.
func (p *slotPool) heldAbove(later int) bool {
	for r, n := range p.held {
		if r > later && n > 0 {
			return true
		}
	}
	return false
}

func (p *slotPool) heldFrom(later int) int {
	n := 0
	for r, k := range p.held {
		if r <= later {
			n += k
		}
	}
	return n
}

// hostList is the site's hosts, read at most every hostsRefresh; empty when
// they cannot be read (one slot then, and the start itself reports why).
func (p *slotPool) hostList(ctx context.Context, c *conn) []xapi.Ref {
	cached := func() ([]xapi.Ref, bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.hosts, len(p.hosts) > 0 && time.Since(p.hostsAt) < hostsRefresh
	}
	if hosts, fresh := cached(); fresh {
		return hosts
	}
	// One read for every caller that finds the list stale: at 10,000 VMs
	// the first starts made 150 host.get_all_records at once.
	p.reading.Lock()
	defer p.reading.Unlock()
	old, fresh := cached()
	if fresh {
		return old
	}
	hosts, err := c.s.GetAllHosts(ctx)
	if err != nil || len(hosts) == 0 {
		return old
	}
	p.mu.Lock()
	p.hosts, p.hostsAt = hosts, time.Now()
	p.mu.Unlock()
	return hosts
}
