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
