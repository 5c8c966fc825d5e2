package xapi_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// Many Async calls in flight on one session share one event.from loop: a
// VM start each, far fewer long-polls than starts, and every start ends.
func TestConcurrentTasksShareOneEventLoop(t *testing.T) {
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{Speed: 0, FreePorts: true, ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	c, err := xapi.NewClient(w.PoolURL("primary"), xapi.WithSyncCalls(0))
	require.NoError(t, err)
	s, err := c.Login(context.Background(), user, password)
	require.NoError(t, err)
	ctx := context.Background()
	vms, err := s.GetAllVMRecords(ctx)
	require.NoError(t, err)
	var refs []xapi.Ref
	for ref, vm := range vms {
		if vm.IsRealVM() && vm.PowerState == xapi.PowerRunning {
			require.NoError(t, s.HardShutdownVM(ctx, ref))
			refs = append(refs, ref)
		}
	}
	require.GreaterOrEqual(t, len(refs), 8)
	since := int64(len(w.Journal().Entries(0)))
	var wg sync.WaitGroup
	errs := make([]error, len(refs))
	for i, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.StartVM(ctx, ref, false, false)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	polls, starts := 0, 0
	for _, e := range w.Journal().Entries(since) {
		switch e.Method {
		case "event.from":
			polls++
		case "Async.VM.start":
			starts++
		}
	}
	assert.Equal(t, len(refs), starts)
	assert.LessOrEqual(t, polls, starts/2, "the waits share the session's long-poll (one each before)")
	after, err := s.GetAllVMRecords(ctx)
	require.NoError(t, err)
	for _, ref := range refs {
		assert.Equal(t, xapi.PowerRunning, after[ref].PowerState)
	}
}
