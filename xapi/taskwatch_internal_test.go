package xapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The loop gathers changes for as long as its waiters make worth it: the
// whole interval from taskWatchBusy waiters on, a share of it below.
func TestCoalesceFollowsTheWaiters(t *testing.T) {
	for _, tc := range []struct {
		waiters int
		want    time.Duration
	}{
		{0, taskWatchCoalesce / taskWatchBusy},
		{1, taskWatchCoalesce / taskWatchBusy},
		{taskWatchBusy / 2, taskWatchCoalesce / 2},
		{taskWatchBusy, taskWatchCoalesce},
		{10 * taskWatchBusy, taskWatchCoalesce},
	} {
		assert.Equal(t, tc.want, coalesceFor(tc.waiters), "%d waiters", tc.waiters)
	}
}

// An answer that ended some of few waiters' tasks is followed at once, once;
// anything else waits for the coalescing interval.
func TestFollowsABurstOfEndsOnce(t *testing.T) {
	for _, tc := range []struct {
		name            string
		ends, waiting   int
		followed, wants bool
	}{
		{"some of eight ended", 3, 8, false, true},
		{"followed already", 3, 8, true, false},
		{"nothing ended (a creation, a destroy)", 0, 8, false, false},
		{"every waiter's task ended", 8, 8, false, false},
		{"many in flight: each answer brings many ends", 5, taskWatchFollow + 1, false, false},
		{"at the limit", 1, taskWatchFollow, false, true},
	} {
		assert.Equal(t, tc.wants, followsBurst(tc.ends, tc.waiting, tc.followed), tc.name)
	}
}
