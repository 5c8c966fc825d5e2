package activities

import (
	"context"
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
}

type slotWaiter struct {
	ready   chan struct{} // closed when the slot is granted
	granted bool
	later   int  // startSlot's: the higher, the earlier
	spread  bool // pick a host when granted
	host    xapi.Ref
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
	if err := p.wait(ctx, size, w); err != nil {
		return startSlot{}, err
	}
	return p.slot(w), nil
}

// wait gives w one of size slots of p, at once or once freed: after every
// waiter with as high a rank (later), before those with a lower one. The
// slot is w's when wait returns nil.
func (p *slotPool) wait(ctx context.Context, size int, w *slotWaiter) error {
	p.mu.Lock()
	p.size = size
	if p.used < size && len(p.waiting) == 0 {
		p.take(w)
		p.mu.Unlock()
		return nil
	}
	at := len(p.waiting)
	for at > 0 && p.waiting[at-1].later < w.later {
		at--
	}
	p.waiting = slices.Insert(p.waiting, at, w)
	p.grant()
	p.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		if w.granted {
			p.mu.Unlock()
			p.release(w.host)
		} else {
			for i, x := range p.waiting {
				if x == w {
					p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
					break
				}
			}
			p.mu.Unlock()
		}
		return ctx.Err()
	}
}

// recoverSlot waits for one of size recovery slots at c's site and returns
// its release (RecoverInput.Slots). The recoveries of a worker share one
// pool per site, whatever child workflow they belong to: a slot freed by
// one unit goes to the waiting unit of the earliest priority group, then in
// the order they came. A run that recovers its groups side by side then
// keeps concurrency.recover imports in flight across the groups' ends,
// where children with lanes of their own held them through their last
// unit while the next group's children waited (make bench).
func (a *Activities) recoverSlot(ctx context.Context, c *conn, size, group int) (func(), error) {
	v, _ := a.recoveries.LoadOrStore(c.site, &slotPool{})
	p := v.(*slotPool)
	w := &slotWaiter{ready: make(chan struct{}), later: -group}
	if err := p.wait(ctx, max(size, 1), w); err != nil {
		return nil, err
	}
	return sync.OnceFunc(func() { p.release("") }), nil
}

func (p *slotPool) slot(w *slotWaiter) startSlot {
	return startSlot{release: sync.OnceFunc(func() { p.release(w.host) }), host: w.host, p: p}
}

// take gives w a slot, and a host when it spreads. Called with p.mu held.
func (p *slotPool) take(w *slotWaiter) {
	w.granted = true
	p.used++
	if w.spread {
		w.host = p.pick()
		if w.host != "" {
			p.busy[w.host]++
			p.placed[w.host]++
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

func (p *slotPool) release(host xapi.Ref) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used--
	if host != "" {
		p.busy[host]--
	}
	p.grant()
}

// grant hands the free slots to the first waiters. Called with p.mu held.
func (p *slotPool) grant() {
	for p.used < p.size && len(p.waiting) > 0 {
		w := p.waiting[0]
		p.waiting[0] = nil
		p.waiting = p.waiting[1:]
		p.take(w)
		close(w.ready)
	}
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
