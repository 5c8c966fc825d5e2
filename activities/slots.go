package activities

import (
	"context"
	"slices"
	"sync"
	"time"
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
	hosts   int
	hostsAt time.Time
	// reading is held by the one caller that reads the hosts; the others
	// wait for its answer (hundreds of starts begin at once).
	reading sync.Mutex
}

type slotWaiter struct {
	ready   chan struct{} // closed when the slot is granted
	granted bool
	later   int // startSlot's: the higher, the earlier
}

// startSlot waits for a slot to start a VM at c's site and returns its
// release. The site has StartsPerHost slots per host, capped by limit (the
// plan's concurrency.start) when limit > 0. Waiting starts get freed slots
// by later (how many orders of a vApp wait for the VM), then in the order
// they came: at 10,000 VMs a vApp's first order queued behind hundreds of
// standalone VMs that nothing waits for, and every order after it started
// a round of boots later. The caller heartbeats meanwhile.
func (a *Activities) startSlot(ctx context.Context, c *conn, limit, later int) (func(), error) {
	v, _ := a.starts.LoadOrStore(c.site, &slotPool{})
	p := v.(*slotPool)
	size := p.hostCount(ctx, c) * StartsPerHost
	if limit > 0 {
		size = min(size, limit)
	}
	size = max(size, 1)
	p.mu.Lock()
	p.size = size
	if p.used < size && len(p.waiting) == 0 {
		p.used++
		p.mu.Unlock()
		return sync.OnceFunc(p.release), nil
	}
	w := &slotWaiter{ready: make(chan struct{}), later: later}
	// After every waiter with as many orders waiting, before those with fewer.
	at := len(p.waiting)
	for at > 0 && p.waiting[at-1].later < later {
		at--
	}
	p.waiting = slices.Insert(p.waiting, at, w)
	p.grant()
	p.mu.Unlock()
	select {
	case <-w.ready:
		return sync.OnceFunc(p.release), nil
	case <-ctx.Done():
		p.mu.Lock()
		if w.granted {
			p.mu.Unlock()
			p.release()
		} else {
			for i, x := range p.waiting {
				if x == w {
					p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
					break
				}
			}
			p.mu.Unlock()
		}
		return nil, ctx.Err()
	}
}

func (p *slotPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used--
	p.grant()
}

// grant hands the free slots to the first waiters. Called with p.mu held.
func (p *slotPool) grant() {
	for p.used < p.size && len(p.waiting) > 0 {
		w := p.waiting[0]
		p.waiting[0] = nil
		p.waiting = p.waiting[1:]
		w.granted = true
		p.used++
		close(w.ready)
	}
}

// hostCount is the site's number of hosts, read at most every hostsRefresh;
// 1 when it cannot be read (the start itself then reports why).
func (p *slotPool) hostCount(ctx context.Context, c *conn) int {
	cached := func() (int, bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.hosts, p.hosts > 0 && time.Since(p.hostsAt) < hostsRefresh
	}
	if n, fresh := cached(); fresh {
		return n
	}
	// One read for every caller that finds the count stale: at 10,000 VMs
	// the first starts made 150 host.get_all_records at once.
	p.reading.Lock()
	defer p.reading.Unlock()
	n, fresh := cached()
	if fresh {
		return n
	}
	hosts, err := c.s.GetAllHosts(ctx)
	if err != nil || len(hosts) == 0 {
		return max(n, 1)
	}
	p.mu.Lock()
	p.hosts, p.hostsAt = len(hosts), time.Now()
	p.mu.Unlock()
	return len(hosts)
}
