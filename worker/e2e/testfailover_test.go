//go:build e2e

package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// TestTestFailover rehearses at DR while the primary keeps running: the VMs
// come up paused, wait at the cleanup gate, and the DR pool is left exactly
// as it was.
func TestTestFailover(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	e := newWorkerEnv(t, w)
	e.start()
	// A drill works on promoted copies of the mirrors (on a real array, clones).
	w.splitMirrors(t)
	before := inventory(t, w, poolDR)
	primaryBefore := w.pool(t, poolPrimary)
	drWatch := startObserver(t, w.PoolURL(poolDR))

	r := startRun(t, e, demoPlan(t, "e2e-test"), plan.ModeTestFailover)
	gate := r.waitGate(plan.GateCleanup)
	for _, vm := range gate.VMs {
		assert.Equal(t, workflows.StatePaused, vm.State, "progress at the cleanup gate: VM %s", vm.Name)
	}
	held := w.pool(t, poolDR)
	checkRecovered(t, primaryBefore, held, "Paused")
	r.signal(workflows.SignalApprove, plan.GateCleanup, "alice", "e2e: inspected")
	rep := r.succeeded()
	r.logTimings(rep)

	journal := w.Journal().Entries(0)
	starts, paused := startCalls(journal, poolDR)
	assert.Equal(t, len(demoSelectedVMs()), starts, "one VM.start per selected VM")
	assert.Equal(t, starts, paused, "every VM.start of a test failover asks for paused")
	checkRecoveredOnce(t, journal)
	checkStartOrder(t, drWatch, demoVApps, vmOrders(w))
	spans, _ := drWatch.spans()
	for _, name := range demoSelectedVMs() {
		assert.True(t, spans[name].paused, "VM %s was paused when its start ended", name)
	}

	after := inventory(t, w, poolDR)
	assertUnchanged(t, before, after, "the test failover")
	assert.Empty(t, rep.Leftovers, "report leftovers")
	// The primary ran on undisturbed.
	assert.Equal(t, primaryBefore.VMs, w.pool(t, poolPrimary).VMs, "primary VMs")
}
