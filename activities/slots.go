package activities

import (
	"context"
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
	mu      sync.Mutex
	used    int
	free    chan struct{} // closed (and replaced) whenever a slot frees
	hosts   int
	hostsAt time.Time
}

// startSlot waits for a slot to start a VM at c's site and returns its
// release. The site has StartsPerHost slots per host, capped by limit (the
// plan's concurrency.start) when limit > 0. The caller heartbeats meanwhile.
func (a *Activities) startSlot(ctx context.Context, c *conn, limit int) (release func(), err error) {
	v, _ := a.starts.LoadOrStore(c.site, &slotPool{free: make(chan struct{})})
	p := v.(*slotPool)
	size := p.size(ctx, c) * StartsPerHost
	if limit > 0 {
		size = min(size, limit)
	}
	size = max(size, 1)
	for {
		p.mu.Lock()
		if p.used < size {
			p.used++
			p.mu.Unlock()
			var once sync.Once
			return func() { once.Do(p.release) }, nil
		}
		ch := p.free
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (p *slotPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used--
	close(p.free)
	p.free = make(chan struct{})
}

// size is the site's number of hosts, read at most every hostsRefresh; 1 when
// it cannot be read (the start itself then reports why).
func (p *slotPool) size(ctx context.Context, c *conn) int {
	p.mu.Lock()
	fresh := p.hosts > 0 && time.Since(p.hostsAt) < hostsRefresh
	n := p.hosts
	p.mu.Unlock()
	if fresh {
		return n
	}
	hosts, err := c.s.GetAllHostRecords(ctx)
	if err != nil || len(hosts) == 0 {
		return max(n, 1)
	}
	p.mu.Lock()
	p.hosts, p.hostsAt = len(hosts), time.Now()
	p.mu.Unlock()
	return len(hosts)
}
