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

// A VM the cleanup could not shut down keeps its SR attached: xapi refuses
// PBD.unplug with VDI_IN_USE, and the leftover names the VM and says what to
// do, after the VM's own leftover. The SR and the VM are really still there.
func TestCleanupSRInUseNamesTheVM(t *testing.T) {
	f, _, sc := prepared(t)
	recoverSome(t, f, sc, "dns-01")
	dns := vmByName(sc, "dns-01")
	var r StartVMResult
	f.must(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: dns.UUID})
	f.w.Control().AddFault(sim.Fault{Pool: "DR", Method: "*VM.hard_shutdown", Nth: 1, Times: 5, Error: []string{"OPERATION_NOT_ALLOWED", "refused"}})
	var res CleanupResult
	f.must(&res, f.a.CleanupTest, &CleanupInput{Site: "dr", VMUUIDs: []string{dns.UUID}, SRUUIDs: []string{gold01UUID}})
	require.Len(t, res.Leftovers, 2, "%v", res.Leftovers)
	assert.Contains(t, res.Leftovers[0], "could not be shut down")
	assert.Equal(t, "SR 'gold-01' could not be detached at site dr: VM 'dns-01' ("+dns.UUID+") still uses a disk on it (VDI_IN_USE); "+
		"shut it down, then detach and forget the SR by hand (xe sr-forget uuid="+gold01UUID+" once unplugged), its data untouched.", res.Leftovers[1])
	var inv Inventory
	f.must(&inv, f.a.Inventory, &InventoryInput{Site: "dr"})
	assert.Contains(t, inv.SRs, gold01UUID)
	assert.Contains(t, inv.VMs, dns.UUID)
}
