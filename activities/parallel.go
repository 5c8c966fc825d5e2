package activities

import (
	"context"
	"sync"
)

// Bounds of the calls one activity makes at once against one pool.
const (
	// storageParallel: SR.probe and DR_task.create log in to the storage
	// target and scan its LUNs from the master (and, for DR_task.create,
	// plug a PBD on every host, one host after another). Each LUN's task is
	// independent in xapi, and a plan of 10,000 VMs has some 40 LUNs: at 4 at
	// once their plugs, not the pool, set the pace (ten rounds of a PBD.plug
	// on every host). 64 keeps an array's iSCSI logins and the master's
	// storage calls bounded while a large plan's LUNs go in one round.
	storageParallel = 64
	// hostReadParallel: host.compute_free_memory is a read of the master's
	// database per host, like any short API call.
	hostReadParallel = 8
)

// forEachLimited runs fn(0..n-1), at most limit at once, and returns each
// call's error at its index (so callers keep their input's order). Calls
// not started when ctx ends get ctx's error.
func forEachLimited(ctx context.Context, n, limit int, fn func(i int) error) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for j := i; j < n; j++ {
				errs[j] = ctx.Err()
			}
			wg.Wait()
			return errs
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
}

// allAtOnce runs the calls side by side (a few reads of one step) and
// returns the first error, in the order given.
func allAtOnce(ctx context.Context, calls ...func() error) error {
	return firstError(forEachLimited(ctx, len(calls), len(calls), func(i int) error { return calls[i]() }))
}

// firstError is the first non-nil error of forEachLimited's, in input order.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
