//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// poolInventory is what a test failover must leave as it found it: the
// simulator's state dump of the pool plus its PBDs (read over XAPI, which
// the dump does not list).
type poolInventory struct {
	VMs      []sim.VMState
	VApps    []sim.VAppState
	SRs      []sim.SRState
	Networks []string
	DRTasks  []sim.DRState
	PBDs     []string // "SR uuid on host: attached"
}

// assertUnchanged checks that the pool is as it was, part by part (so that a
// failure names the part), after what (such as "the abort").
func assertUnchanged(t *testing.T, before, after poolInventory, what string) {
	t.Helper()
	assert.Equal(t, before.VMs, after.VMs, "DR pool VMs after %s", what)
	assert.Equal(t, before.VApps, after.VApps, "DR pool vApps after %s", what)
	assert.Equal(t, before.SRs, after.SRs, "DR pool SRs after %s", what)
	assert.Equal(t, before.PBDs, after.PBDs, "DR pool PBDs after %s", what)
	assert.Equal(t, before.Networks, after.Networks, "DR pool networks after %s", what)
	assert.Equal(t, before.DRTasks, after.DRTasks, "DR pool DR tasks after %s", what)
}

func inventory(t *testing.T, w *simWorld, pool string) poolInventory {
	t.Helper()
	p := w.pool(t, pool)
	inv := poolInventory{VMs: p.VMs, VApps: p.VApps, SRs: p.SRs, Networks: p.Networks, DRTasks: p.DRTasks}
	s := login(t, w, pool, "auditor")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pbds, err := s.GetAllPBDRecords(ctx)
	require.NoError(t, err, "PBD.get_all_records on %s", pool)
	srs, err := s.GetAllSRRecords(ctx)
	require.NoError(t, err)
	hosts, err := s.GetAllHostRecords(ctx)
	require.NoError(t, err)
	for _, pbd := range pbds {
		inv.PBDs = append(inv.PBDs, fmt.Sprintf("%s on %s: attached=%t", srs[pbd.SR].UUID, hosts[pbd.Host].NameLabel, pbd.CurrentlyAttached))
	}
	sort.Strings(inv.PBDs)
	return inv
}

// login opens an XAPI session on a pool of the simulator, logged out at the
// end of the test.
func login(t *testing.T, w *simWorld, pool, user string) *xapi.Session {
	t.Helper()
	c, err := xapi.NewClient(w.PoolURL(pool), xapi.WithCallTimeout(30*time.Second))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.Login(ctx, user, simPassword)
	require.NoError(t, err, "log in to %s as %s", pool, user)
	t.Cleanup(func() { _ = s.Logout(context.Background()) })
	return s
}

// shutDownVMs shuts the named VMs of a pool down over XAPI, as an operator
// does before failing back (the source must not run the copies any more).
func shutDownVMs(t *testing.T, w *simWorld, pool string, names []string) {
	t.Helper()
	s := login(t, w, pool, "operator")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vms := vmsByName(w.pool(t, pool))
	for _, n := range names {
		vm, ok := vms[n]
		require.True(t, ok, "VM %s in pool %s", n, pool)
		if vm.PowerState == xapi.PowerHalted {
			continue
		}
		ref, err := s.GetVMByUUID(ctx, vm.UUID)
		require.NoError(t, err)
		require.NoError(t, s.CleanShutdownVM(ctx, ref), "shut down %s on %s", n, pool)
	}
}

// vmOrders returns each demo VM's start order within its vApp, from the scenario.
func vmOrders(w *simWorld) map[string]int64 {
	out := map[string]int64{}
	for _, site := range w.sc.Sites {
		for _, p := range site.Pools {
			for _, vm := range p.VMs {
				out[vm.Name] = vm.Order
			}
		}
	}
	return out
}
