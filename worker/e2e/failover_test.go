//go:build e2e

package e2e

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// demoSpeed makes the demo world 20 times faster than real time: a VM boots
// in 250ms, erp-db's start delay of 20s takes 1s, so orders are observable.
const demoSpeed = 0.05

// TestFailoverThenFailback loses the primary site, fails the demo plan over
// to DR, then brings the primary back, reverses the mirrors and fails back.
func TestFailoverThenFailback(t *testing.T) {
	t.Parallel()
	began := time.Now()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	primaryBefore := w.pool(t, poolPrimary)
	drBefore := w.pool(t, poolDR)
	e := newWorkerEnv(t, w)
	e.start()

	w.primaryDown(t)
	drWatch := startObserver(t, w.PoolURL(poolDR))
	p := demoPlan(t, "e2e-failover")
	r := startRun(t, e, p, plan.ModeFailover)
	r.approve(plan.GateStorageReady, "alice")
	r.approve(plan.GateRecover, "bob")
	rep := r.succeeded()
	r.logTimings(rep)
	// The data is as of the mirrors' last copy before the primary was lost,
	// which the DR array's adapter says once alice approved the LUNs.
	require.NotNil(t, rep.DataAsOf, "the report's data as of")
	assert.False(t, rep.DataAsOf.Before(began) || rep.DataAsOf.After(rep.StartedAt), "data as of %s: a copy made before the run (%s)", rep.DataAsOf, rep.StartedAt)

	dr := w.pool(t, poolDR)
	checkRecovered(t, primaryBefore, dr, "Running")
	assert.Empty(t, dr.DRTasks, "DR tasks destroyed after the failover")
	checkReprotected(t, w, dr.UUID, []string{
		"36001405b0000000000000000000000b1", "36001405b0000000000000000000000b2", "3600a0b8000000000000000000000d1"})
	journal := w.Journal().Entries(0)
	checkRecoveredOnce(t, journal)
	checkStartOrder(t, drWatch, demoVApps, vmOrders(w))
	for _, vm := range rep.VMs {
		assert.Equal(t, workflows.StateRunning, vm.State, "report: VM %s", vm.Name)
	}
	// The DR site's own VMs are untouched.
	drVMs := vmsByName(dr)
	for _, vm := range drBefore.VMs {
		assert.Equal(t, vm, drVMs[vm.Name], "DR's own VM %s", vm.Name)
	}

	// Failback: the recovered copies stop at DR, the primary site comes back
	// (its VMs halted, as after a power loss), the mirrors are reversed to
	// copy DR's content back and then split, so the primary's LUNs are
	// writable again (what the operator confirms at the storage-ready gate).
	shutDownVMs(t, w, poolDR, demoSelectedVMs())
	ct := w.Control()
	require.NoError(t, ct.SiteUp("primary", false))
	for _, m := range demoMirrors {
		require.NoError(t, ct.ReverseMirror(m))
		require.NoError(t, ct.SplitMirror(m))
	}
	var mark int64 // journal entries after this one belong to the failback
	if n := len(journal); n > 0 {
		mark = journal[n-1].Seq
	}
	primaryWatch := startObserver(t, w.PoolURL(poolPrimary))
	back := startRun(t, e, p, plan.ModeFailback)
	back.approve(plan.GateStorageReady, "alice")
	back.approve(plan.GateRecover, "alice")
	backRep := back.succeeded()
	back.logTimings(backRep)
	assert.Nil(t, backRep.DataAsOf, "the failback storage names no adapter: its age is not known")

	primary := w.pool(t, poolPrimary)
	checkRecovered(t, primaryBefore, primary, "Running")
	now := vmsByName(primary)
	drNow := vmsByName(w.pool(t, poolDR))
	for _, name := range demoSelectedVMs() {
		was := vmsByName(primaryBefore)[name]
		assert.Greater(t, now[name].Version, was.Version, "VM %s: version on the primary after failback above the one before the failover", name)
		assert.Greater(t, now[name].Version, drNow[name].Version, "VM %s: version on the primary above the DR copy's", name)
	}
	for _, name := range notRecovered {
		assert.Equal(t, vmsByName(primaryBefore)[name].Version, now[name].Version, "VM %s is not part of the plan: not recovered back", name)
	}
	assert.Empty(t, primary.DRTasks, "DR tasks destroyed after the failback")
	checkRecoveredOnce(t, w.Journal().Entries(mark))
	checkStartOrder(t, primaryWatch, demoVApps, vmOrders(w))
	t.Logf("failover + failback test: %s in all", time.Since(began).Round(time.Millisecond))
}

// checkRecovered checks that every selected vApp and VM of the source pool
// (as it was before the disaster) exists in the target pool with the same
// UUID, vApp and the wanted power state, and that the others do not.
func checkRecovered(t *testing.T, source, target sim.PoolState, power string) {
	t.Helper()
	src, dst := vmsByName(source), vmsByName(target)
	for _, name := range demoSelectedVMs() {
		vm, ok := dst[name]
		if !assert.True(t, ok, "VM %s recovered in pool %s", name, target.Name) {
			continue
		}
		assert.Equal(t, src[name].UUID, vm.UUID, "VM %s keeps its UUID", name)
		assert.Equal(t, src[name].VApp, vm.VApp, "VM %s keeps its vApp", name)
		assert.Equal(t, power, vm.PowerState, "VM %s power state in %s", name, target.Name)
	}
	if target.Name == poolDR {
		for _, name := range notRecovered {
			assert.NotContains(t, dst, name, "VM %s is excluded (local storage): not recovered", name)
		}
	}
	srcApps, dstApps := vappsByName(source), vappsByName(target)
	for name, members := range demoVApps {
		a, ok := dstApps[name]
		if !assert.True(t, ok, "vApp %s recovered in pool %s", name, target.Name) {
			continue
		}
		assert.Equal(t, srcApps[name].UUID, a.UUID, "vApp %s keeps its UUID", name)
		got := append([]string(nil), a.VMs...)
		want := append([]string(nil), members...)
		sort.Strings(got)
		sort.Strings(want)
		assert.Equal(t, want, got, "vApp %s members", name)
	}
}

// checkReprotected checks that the target pool now replicates its metadata
// to the LUNs of the recovered SRs (a metadata VDI holding its database).
func checkReprotected(t *testing.T, w *simWorld, poolUUID string, luns []string) {
	t.Helper()
	st := w.Control().State()
	for _, id := range luns {
		found := false
		for _, l := range st.LUNs {
			if l.SCSIid != id {
				continue
			}
			for _, m := range l.Metadata {
				if m.Pool == poolUUID {
					found = true
				}
			}
		}
		assert.True(t, found, "LUN %s holds the metadata of pool %s (reprotect enabled replication)", id, poolUUID)
	}
}

// checkRecoveredOnce checks the journal: one VM_appliance.recover per vApp,
// one VM.recover per standalone VM, never twice for one object.
func checkRecoveredOnce(t *testing.T, entries []sim.JournalEntry) {
	t.Helper()
	vms, vapps := recoverCalls(entries)
	assert.Len(t, vapps, len(demoVApps), "one VM_appliance.recover per vApp: %v", vapps)
	assert.Len(t, vms, len(demoStandalone), "one VM.recover per standalone VM: %v", vms)
	for ref, n := range vapps {
		assert.Equal(t, 1, n, "VM_appliance.recover of %s called %d times", ref, n)
	}
	for ref, n := range vms {
		assert.Equal(t, 1, n, "VM.recover of %s called %d times", ref, n)
	}
}
