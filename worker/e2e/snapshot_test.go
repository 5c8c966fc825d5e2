//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// TestTestFailoverWhileMirrorsReplicate is the weekly drill: nobody splits a
// mirror. The demo plan's test failover runs on snapshots the xapisim
// storage adapter makes of the DR copies, the mirrors replicate throughout,
// and cleanup deletes the snapshots and leaves the DR pool as it was.
func TestTestFailoverWhileMirrorsReplicate(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	e := newWorkerEnv(t, w)
	e.start()
	replicating := func(when string) { t.Helper(); assertReplicating(t, w, when) }
	replicating("before the drill")
	before := inventory(t, w, poolDR)
	primaryBefore := w.pool(t, poolPrimary)

	r := startRun(t, e, demoPlan(t, "e2e-drill"), plan.ModeTestFailover)
	gate := r.waitGate(plan.GateCleanup)
	for _, vm := range gate.VMs {
		assert.Equal(t, workflows.StatePaused, vm.State, "VM %s at the cleanup gate", vm.Name)
	}
	held := w.Control().State()
	require.Len(t, held.Snapshots, 3, "one snapshot per storage target")
	sources := map[string]bool{}
	for _, s := range held.Snapshots {
		sources[s.Source] = true
		assert.NotEmpty(t, s.Mirror, "snapshot %s is of a mirror's destination", s.Name)
	}
	assert.Len(t, sources, 3)
	checkRecovered(t, primaryBefore, w.pool(t, poolDR), "Paused")
	replicating("during the drill")

	r.signal(workflows.SignalApprove, plan.GateCleanup, "alice", "e2e: drill inspected")
	rep := r.succeeded()
	replicating("after the drill")
	assert.Empty(t, w.Control().State().Snapshots, "cleanup deleted every snapshot")
	assertUnchanged(t, before, inventory(t, w, poolDR), "the drill")
	assert.Empty(t, rep.Leftovers)
	made, deleted := 0, 0
	for _, ev := range rep.Timeline {
		made += strings.Count(ev.Message, "Storage adapter xapisim made snapshot")
		deleted += strings.Count(ev.Message, "Storage adapter xapisim deleted snapshot")
	}
	assert.Equal(t, 3, made, "the report records each snapshot made")
	assert.Equal(t, 3, deleted, "and each deleted")
	assert.Equal(t, primaryBefore.VMs, w.pool(t, poolPrimary).VMs, "the primary ran on undisturbed")
}

// TestAdapterTimeoutLeavesNoSnapshot: an adapter that makes the snapshot and
// then never answers is stopped after its timeout; the run fails with one
// sentence naming the adapter, and cleanup deletes the snapshots it may
// have made, so nothing is left half-done on the array.
func TestAdapterTimeoutLeavesNoSnapshot(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	real := filepath.Join(srv.binDir, "xapisim-adapter")
	script := filepath.Join(t.TempDir(), "hanging-adapter")
	require.NoError(t, os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
# Does what it is asked, but hangs instead of answering a snapshot.
req=$(cat)
case "$req" in
*'"action":"snapshot"'*) echo "$req" | %q -control %q >/dev/null; exec sleep 600 ;;
esac
echo "$req" | exec %q -control %q
`, real, w.ControlURL(), real, w.ControlURL())), 0o755))
	e := newWorkerEnvWith(t, w, workerOptions{adapter: []string{script}})
	cfg, err := os.ReadFile(e.config)
	require.NoError(t, err)
	i := strings.LastIndex(string(cfg), "timeout: 30s") // the adapter's, the last key written
	require.NoError(t, os.WriteFile(e.config, []byte(string(cfg[:i])+"timeout: 1s"+string(cfg[i+len("timeout: 30s"):])), 0o600))
	e.start()

	r := startRun(t, e, demoPlan(t, "e2e-hang"), plan.ModeTestFailover)
	rep, err := r.result()
	require.Error(t, err)
	require.NotNil(t, rep)
	assert.Equal(t, workflows.OutcomeFailed, rep.Outcome)
	assert.Contains(t, rep.Message, "storage adapter xapisim did not answer snapshot within 1s and was stopped")
	assert.Contains(t, rep.Message, "raise the adapter's timeout in the worker configuration")
	assert.Empty(t, rep.Leftovers)
	st := w.Control().State()
	assert.Empty(t, st.Snapshots, "cleanup deleted the snapshots the adapter made before it hung")
	for _, m := range st.Mirrors {
		assert.Equal(t, sim.MirrorReplicating, m.State, "mirror %s", m.Name)
	}
	assert.Empty(t, w.pool(t, poolDR).DRTasks)
}

// assertReplicating checks that every mirror of the world replicates.
func assertReplicating(t *testing.T, w *simWorld, when string) {
	t.Helper()
	st := w.Control().State()
	require.NotEmpty(t, st.Mirrors)
	for _, m := range st.Mirrors {
		assert.Equal(t, sim.MirrorReplicating, m.State, "mirror %s %s", m.Name, when)
	}
}
