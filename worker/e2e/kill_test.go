//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// TestWorkerKilledDuringRecovery SIGKILLs the worker while some units are
// recovered and others are not; a new worker process finishes the run, and
// no vApp or VM is recovered twice (the retried Recover activity finds the
// task the dead attempt left running and what it recovered).
func TestWorkerKilledDuringRecovery(t *testing.T) {
	t.Parallel()
	// 40s per VM at speed 0.05: 2s per VM, so recovery of the 12 VMs lasts long
	// enough to be caught half-way.
	w := startSimulator(t, simOptions{speed: demoSpeed, recover: 40 * time.Second})
	primaryBefore := w.pool(t, poolPrimary)
	e := newWorkerEnv(t, w)
	first := e.start()

	w.primaryDown(t)
	drWatch := startObserver(t, w.PoolURL(poolDR))
	r := startRun(t, e, demoPlan(t, "e2e-kill"), plan.ModeFailover)
	r.approve(plan.GateStorageReady, "alice")
	r.approve(plan.GateRecover, "bob")
	total := len(demoSelectedVMs())
	p := r.waitUntil("some but not all VMs recovered", gateWithin, func(p *workflows.Progress) bool {
		n := recoveredCount(p)
		return p.Phase == workflows.PhaseRecover && n > 0 && n < total
	})
	vms, vapps := recoverCalls(w.Journal().Entries(0))
	killedAt := time.Now()
	first.kill(t)
	t.Logf("worker SIGKILLed with %d of %d VMs recovered (%d vApp and %d VM recover calls made)",
		recoveredCount(p), total, len(vapps), len(vms))

	e.start()
	// Temporal still routes the run's queries to the dead worker's sticky
	// queue; status resets it and the new worker answers.
	began := time.Now()
	res := lifeboat(t, e, "status", r.id)
	assert.Equal(t, exitcode.Running, res.code, "status right after the crash answers: the run is running")
	t.Logf("status answered %s after the new worker started", time.Since(began).Round(time.Millisecond))
	rep := r.succeeded()
	r.logTimings(rep)
	t.Logf("from SIGKILL to success: %s", time.Since(killedAt).Round(time.Millisecond))

	dr := w.pool(t, poolDR)
	checkRecovered(t, primaryBefore, dr, "Running")
	assert.Empty(t, dr.DRTasks, "DR tasks destroyed")
	checkRecoveredOnce(t, w.Journal().Entries(0))
	checkStartOrder(t, drWatch, demoVApps, vmOrders(w))
	starts, _ := startCalls(w.Journal().Entries(0), poolDR)
	assert.Equal(t, total, starts, "each VM started once")
}
