package sim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLifecycleAndStorageErrors checks the error codes and parameter order of the VM
// lifecycle, vApp validity, replication and open_database checks on the demo primary.
func TestLifecycleAndStorageErrors(t *testing.T) {
	w := startDemo(t)
	c := rpc{t: t, url: w.PoolURL("Primary")}
	s := c.login("root")
	dns, _ := c.byName("VM", s, "dns-01")
	assert.Equal(t, xerr{"VM_BAD_POWER_STATE", dns, "halted", "running"}, c.fails("VM.start", s, dns, false, false))
	assert.Equal(t, xerr{"VM_BAD_POWER_STATE", dns, "halted, suspended", "running"}, c.fails("VM.destroy", s, dns))
	// Suspend, then hard_shutdown deletes the suspend VDI; destroy never deletes disks.
	c.must("VM.suspend", s, dns)
	sv := c.str("VM.get_suspend_VDI", s, dns)
	c.must("VDI.get_uuid", s, sv)
	c.must("VM.hard_shutdown", s, dns)
	assert.Equal(t, xerr{"HANDLE_INVALID", "VDI", sv}, c.fails("VDI.get_uuid", s, sv))
	disk := c.str("VBD.get_VDI", s, c.refs("VM.get_VBDs", s, dns)[0])
	c.must("VM.destroy", s, dns)
	c.must("VDI.get_uuid", s, disk)
	// Memory.
	mail, _ := c.byName("VM", s, "mail-01")
	c.must("VM.hard_shutdown", s, mail)
	c.must("VM.set_memory_static_max", s, mail, "1099511627776")
	e := c.fails("VM.start", s, mail, false, false)
	assert.Equal(t, "HOST_NOT_ENOUGH_FREE_MEMORY", e[0])
	assert.Equal(t, "1099511627776", e[1])
	// vApp validity.
	erp, _ := c.byName("VM_appliance", s, "erp")
	assert.Equal(t, xerr{"OPERATION_NOT_ALLOWED", "There are no halted VMs in this appliance."}, c.fails("VM_appliance.start", s, erp, false))
	c.must("VM_appliance.shutdown", s, erp)
	assert.Equal(t, xerr{"OPERATION_NOT_ALLOWED", "All VMs in this appliance are halted."}, c.fails("VM_appliance.hard_shutdown", s, erp))
	empty := c.str("VM_appliance.create", s, map[string]any{"name_label": "empty", "name_description": ""})
	assert.Equal(t, xerr{"OPERATION_NOT_ALLOWED", "Appliance has no VMs."}, c.fails("VM_appliance.start", s, empty, false))
	// A VM whose SR is unplugged cannot start; the vApp start then partially fails.
	erpWeb, _ := c.byName("VM", s, "erp-web")
	gold02 := c.str("SR.get_by_uuid", s, gold02UUID)
	// Running VMs still use gold-02 (xapi refuses the unplug): halt them first.
	for _, name := range []string{"crm-db", "intranet-search", "mail-01", "lab-tool"} {
		vm, _ := c.byName("VM", s, name)
		if c.str("VM.get_power_state", s, vm) != "Halted" {
			c.must("VM.hard_shutdown", s, vm)
		}
	}
	for _, pbd := range c.refs("SR.get_PBDs", s, gold02) {
		c.must("PBD.unplug", s, pbd)
	}
	e = c.fails("VM_appliance.start", s, erp, false)
	require.Equal(t, "OPERATION_PARTIALLY_FAILED", e[0])
	assert.Equal(t, "VM_appliance.start", e[1])
	assert.Contains(t, e[2:], erpWeb)
	assert.Equal(t, xerr{"VM_REQUIRES_SR", erpWeb, gold02}, c.fails("VM.start", s, erpWeb, false, false))

	// Replication: local SRs of a 2-host pool lack PBDs on the other host; 8 at most.
	local, _ := c.byName("SR", s, "Local storage primary-01")
	assert.Equal(t, xerr{"SR_HAS_NO_PBDS", local}, c.fails("SR.enable_database_replication", s, local))
	assert.Equal(t, xerr{"SR_HAS_NO_PBDS", gold02}, c.fails("SR.enable_database_replication", s, gold02))
	// The live redo-log VDI cannot be opened; a user VDI has the wrong type.
	gold01 := c.str("SR.get_by_uuid", s, gold01UUID)
	var meta string
	for _, v := range c.refs("SR.get_VDIs", s, gold01) {
		if c.str("VDI.get_type", s, v) == "metadata" {
			meta = v
		}
	}
	require.NotEmpty(t, meta)
	assert.Equal(t, "COULD_NOT_IMPORT_DATABASE", c.fails("VDI.open_database", s, meta)[0])
	assert.Equal(t, xerr{"VDI_INCOMPATIBLE_TYPE", disk, "User"}, c.fails("VDI.open_database", s, disk))
	c.must("SR.disable_database_replication", s, gold01)
	assert.Equal(t, xerr{"HANDLE_INVALID", "VDI", meta}, c.fails("VDI.get_type", s, meta))
	c.must("SR.enable_database_replication", s, gold01)
	// DR_task.create on an unsupported type.
	assert.Equal(t, xerr{"OPERATION_NOT_ALLOWED", "Disaster recovery not supported on SRs of type lvm"},
		c.fails("DR_task.create", s, "lvm", map[string]string{}, []string{}))
	// DR_task.create skips SRs the pool already knows: nothing introduced.
	dt := c.str("DR_task.create", s, "lvmoiscsi", map[string]string{"target": "primary-array.lab", "targetIQN": "iqn.2026-01.lab.primary-array:gold", "SCSIid": "36001405a0000000000000000000000a1"}, []string{gold01UUID})
	assert.Empty(t, c.refs("DR_task.get_introduced_SRs", s, dt))
	c.must("DR_task.destroy", s, dt)
	c.must("SR.get_uuid", s, gold01)
}

// VM.start_on boots the VM on the host asked for, whatever the others' free
// memory, and refuses with that host's own figures when it lacks the memory.
func TestStartOnBootsOnTheHostAskedFor(t *testing.T) {
	w := startDemo(t)
	c := rpc{t: t, url: w.PoolURL("Primary")}
	s := c.login("root")
	hosts := c.refs("host.get_all", s)
	require.Len(t, hosts, 2)
	dns, _ := c.byName("VM", s, "dns-01")
	c.must("VM.hard_shutdown", s, dns)
	for _, h := range []string{hosts[1], hosts[0], hosts[1]} {
		c.must("VM.start_on", s, dns, h, false, false)
		assert.Equal(t, h, c.str("VM.get_resident_on", s, dns))
		c.must("VM.hard_shutdown", s, dns)
	}
	c.must("VM.set_memory_static_max", s, dns, "1099511627776")
	e := c.fails("VM.start_on", s, dns, hosts[0], false, false)
	require.NotEmpty(t, e)
	assert.Equal(t, "HOST_NOT_ENOUGH_FREE_MEMORY", e[0])
}
