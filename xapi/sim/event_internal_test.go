package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// event.from paces itself as xapi's Throttle.Batching does: no pause before
// a subscription to tasks alone, 50 ms before any other; 50 ms at most
// between looks after a wake.
func TestEventFromBatching(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		classes []string
		want    batching
	}{
		{[]string{"task"}, batching{between: 50 * ms}},
		{[]string{"task/OpaqueRef:1", "TASK"}, batching{between: 50 * ms}},
		{nil, batching{between: 50 * ms}},
		{[]string{"task", "VM"}, batching{before: 50 * ms, between: 50 * ms}},
		{[]string{"*"}, batching{before: 50 * ms, between: 50 * ms}},
	} {
		assert.Equal(t, tc.want, eventBatching(tc.classes), "%v", tc.classes)
	}
}
