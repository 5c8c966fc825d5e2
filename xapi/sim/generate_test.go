package sim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// The benchmark's worlds: hosts in proportion to VMs (at most 64 per pool), vApps with
// several order groups and start delays, standalone VMs, some of them tagged.
func TestGeneratedWorldShape(t *testing.T) {
	for _, tc := range []struct{ vms, hosts int }{{100, 2}, {1000, 20}, {5000, 64}, {10000, 64}} {
		sc, err := sim.Generate(sim.GenSpec{VMs: tc.vms, VApps: tc.vms / 10})
		require.NoError(t, err)
		pri, dr := sc.Sites[0].Pools[0], sc.Sites[1].Pools[0]
		assert.Len(t, pri.Hosts, tc.hosts, "%d VMs", tc.vms)
		assert.Len(t, dr.Hosts, tc.hosts, "%d VMs", tc.vms)
		require.Len(t, pri.VMs, tc.vms)
		orders := map[string]map[int64]bool{}
		delays, standalone, tagged, taggedInVApp := 0, 0, 0, 0
		for _, vm := range pri.VMs {
			if len(vm.Tags) > 0 {
				tagged++
			}
			if vm.VApp == "" {
				standalone++
				continue
			}
			if len(vm.Tags) > 0 {
				taggedInVApp++
			}
			if orders[vm.VApp] == nil {
				orders[vm.VApp] = map[int64]bool{}
			}
			orders[vm.VApp][vm.Order] = true
			if vm.StartDelay > 0 {
				delays++
			}
		}
		assert.Len(t, orders, tc.vms/10, "every vApp has VMs")
		multi := 0
		for _, o := range orders {
			if len(o) >= 2 {
				multi++
			}
		}
		assert.Greater(t, multi, len(orders)/2, "most vApps have several order groups")
		assert.Greater(t, delays, 0, "some VMs have a start_delay")
		assert.Greater(t, standalone, tc.vms/2, "most VMs are standalone")
		assert.Greater(t, tagged, 0)
		assert.Zero(t, taggedInVApp, "tags only on standalone VMs")
		// The DR pool can hold every VM.
		var need, have int64
		for _, vm := range pri.VMs {
			need += int64(vm.Memory)
		}
		for _, h := range dr.Hosts {
			have += int64(h.Memory)
		}
		assert.Greater(t, have, need)
	}
	_, err := sim.Generate(sim.GenSpec{VMs: 100, Hosts: 65})
	assert.ErrorContains(t, err, "at most 64 hosts")
}
