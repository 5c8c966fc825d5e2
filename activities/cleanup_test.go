package activities

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// A vApp's members are also in the cleanup's VM list: a member whose destroy
// failed in the vApp's pass is one leftover, reported once, and really left.
func TestCleanupReportsAFailedMemberOnce(t *testing.T) {
	f, _, sc := prepared(t)
	us := recoverSome(t, f, sc, "crm")
	var vms []string
	for _, va := range sc.VApps {
		if va.Name == "crm" {
			for _, vm := range va.VMs {
				vms = append(vms, vm.UUID)
			}
		}
	}
	f.w.Control().AddFault(sim.Fault{Pool: "DR", Method: "VM.destroy", Nth: 1, Error: []string{"VM_BAD_POWER_STATE", "OpaqueRef:x", "Halted", "Running"}})
	var res CleanupResult
	f.must(&res, f.a.CleanupTest, &CleanupInput{Site: "dr", VAppUUIDs: []string{us[0].UUID}, VMUUIDs: vms})
	require.Len(t, res.Leftovers, 1, "%v", res.Leftovers)
	assert.Contains(t, res.Leftovers[0], "could not be destroyed")
	var inv Inventory
	f.must(&inv, f.a.Inventory, &InventoryInput{Site: "dr"})
	left := 0
	for _, uuid := range vms {
		if _, ok := inv.VMs[uuid]; ok {
			left++
		}
	}
	assert.Equal(t, 1, left, "the leftover is really there, the other member is gone")
}
