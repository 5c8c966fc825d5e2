package sim_test

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTestFailoverLeavesDRPoolAsBefore runs a drill: storage is refused while the mirror
// replicates, then (split) VMs are recovered and started paused, then everything is
// cleaned up and the DR pool must be exactly as before.
func TestTestFailoverLeavesDRPoolAsBefore(t *testing.T) {
	w := startDemo(t)
	before := w.Control().State().Pools[1]
	f := newFailover(t, w)
	c, s := f.c, f.s
	// While the mirror replicates the DR LUN is read-only: probing works, attaching fails.
	c.str("SR.probe", s, f.host, drLUN0, "lvmoiscsi", map[string]string{"metadata": "true"})
	e := c.fails("DR_task.create", s, "lvmoiscsi", drLUN0, []string{gold01UUID})
	require.Equal(t, "SR_BACKEND_FAILURE_47", e[0])
	assert.Contains(t, e[2], "read-only destination of mirror gold-01")
	// The failed DR task stays (xapi does not destroy it); clean it up like a client must.
	for _, dt := range c.refs("DR_task.get_all", s) {
		assert.Empty(t, c.refs("DR_task.get_introduced_SRs", s, dt))
		c.must("DR_task.destroy", s, dt)
	}
	for _, m := range []string{"gold-01", "gold-02", "fc-silver-01"} {
		require.NoError(t, w.Control().SplitMirror(m))
	}
	introduceStorage(t, f)
	recoverAll(t, f)
	for _, u := range f.recvApps {
		app := c.str("VM_appliance.get_by_uuid", s, u)
		c.must("VM_appliance.start", s, app, true)
	}
	for _, name := range []string{"mail-01", "dns-01"} {
		c.must("VM.start", s, c.str("VM.get_by_uuid", s, f.recvVMs[name]), true, false)
		assert.Equal(t, "Paused", c.str("VM.get_power_state", s, c.str("VM.get_by_uuid", s, f.recvVMs[name])))
	}
	// Cleanup: DR tasks, then VMs and vApps (records only), SRs, created networks.
	for _, dt := range f.tasks {
		c.must("DR_task.destroy", s, dt)
	}
	for _, u := range f.recvApps {
		app := c.str("VM_appliance.get_by_uuid", s, u)
		c.must("VM_appliance.hard_shutdown", s, app)
		for _, vm := range c.refs("VM_appliance.get_VMs", s, app) {
			c.must("VM.destroy", s, vm)
		}
		c.must("VM_appliance.destroy", s, app)
	}
	for name, u := range f.recvVMs {
		ref, _, _ := c.call("VM.get_by_uuid", s, u)
		if ref == nil {
			continue // a vApp member, already destroyed
		}
		if c.str("VM.get_power_state", s, ref.(string)) != "Halted" {
			c.must("VM.hard_shutdown", s, ref.(string))
		}
		c.must("VM.destroy", s, ref.(string))
		_ = name
	}
	for _, u := range []string{gold01UUID, gold02UUID, silverUUID} {
		sr := c.str("SR.get_by_uuid", s, u)
		e := c.fails("SR.forget", s, sr)
		assert.Equal(t, xerr{"SR_HAS_PBD", sr}, e)
		for _, pbd := range c.refs("SR.get_PBDs", s, sr) {
			c.must("PBD.unplug", s, pbd)
		}
		c.must("SR.forget", s, sr)
	}
	lab, _ := c.byName("network", s, "Lab-only")
	c.must("network.destroy", s, lab)
	after := w.Control().State().Pools[1]
	assert.Equal(t, before.VMs, after.VMs)
	assert.Equal(t, before.SRs, after.SRs)
	assert.Equal(t, before.Networks, after.Networks)
	assert.Equal(t, before.VApps, after.VApps)
	assert.Empty(t, after.DRTasks)
	// The disks are still on the DR LUN: cleanup never destroys VDIs.
	for _, l := range w.Control().State().LUNs {
		if l.SCSIid == drLUN0["SCSIid"] {
			assert.Greater(t, l.VDIs, 5)
		}
	}
}

// TestFailback fails over, reprotects on DR, brings the primary back, reverses the mirrors
// and recovers back onto the primary from the DR pool's metadata.
func TestFailback(t *testing.T) {
	w := startDemo(t)
	disaster(t, w)
	f := newFailover(t, w)
	introduceStorage(t, f)
	recoverAll(t, f)
	c, s := f.c, f.s
	for _, dt := range f.tasks {
		c.must("DR_task.destroy", s, dt)
	}
	// Reprotect: the DR pool replicates its metadata to the recovered gold-01.
	gold01 := c.str("SR.get_by_uuid", s, gold01UUID)
	c.must("SR.enable_database_replication", s, gold01)
	// Something changes on DR after reprotection (a VM started): generation moves on.
	c.must("VM.start", s, c.str("VM.get_by_uuid", s, f.recvVMs["mail-01"]), false, false)

	ct := w.Control()
	require.NoError(t, ct.SiteUp("primary", false))
	// Reversed (DR's content copied back), then split: the primary's LUNs
	// are writable again, as a plug needs.
	for _, m := range []string{"gold-01", "gold-02", "fc-silver-01"} {
		require.NoError(t, ct.ReverseMirror(m))
		require.NoError(t, ct.SplitMirror(m))
	}
	p := rpc{t: t, url: w.PoolURL("Primary")}
	ps := p.login("operator")
	ppool := p.refs("pool.get_all", ps)[0]
	// After the power loss the primary's VMs are halted.
	dns := p.str("VM.get_by_uuid", ps, f.recvVMs["dns-01"])
	assert.Equal(t, "Halted", p.str("VM.get_power_state", ps, dns))
	// The primary re-scans gold-01 and sees the DR pool's metadata VDI, not
	// yet as the latest: a scan opens no metadata database (Xapi_sr.update_vdis).
	pgold := p.str("SR.get_by_uuid", ps, gold01UUID)
	p.must("SR.scan", ps, pgold)
	drMeta := func() (meta string, own int) {
		for ref, v := range p.records("VDI", ps) {
			if v["type"] != "metadata" {
				continue
			}
			if v["metadata_of_pool"] == ppool {
				own++
				continue
			}
			meta = ref
		}
		return meta, own
	}
	meta, own := drMeta()
	require.NotEmpty(t, meta, "DR metadata VDI visible on the primary after scan")
	assert.Equal(t, 2, own, "its own metadata VDIs on gold-01 and fc-silver-01")
	assert.Equal(t, false, p.must("VDI.get_metadata_latest", ps, meta), "a scan does not read the metadata")
	assert.Equal(t, "", p.str("VDI.read_database_pool_uuid", ps, meta), "not in the cache yet")
	// Re-plugging the SR (unplug slaves first, master last; plug the master
	// first) makes the master read it (Xapi_dr.handle_metadata_vdis).
	pmaster := p.str("pool.get_master", ps, ppool)
	pbds := p.refs("SR.get_PBDs", ps, pgold)
	sort.SliceStable(pbds, func(i, j int) bool { return p.str("PBD.get_host", ps, pbds[j]) == pmaster })
	for _, pbd := range pbds {
		p.must("PBD.unplug", ps, pbd)
	}
	for i := len(pbds) - 1; i >= 0; i-- {
		p.must("PBD.plug", ps, pbds[i])
	}
	meta, _ = drMeta()
	assert.Equal(t, true, p.must("VDI.get_metadata_latest", ps, meta))
	p.must("SR.scan", ps, pgold)
	assert.Equal(t, true, p.must("VDI.get_metadata_latest", ps, meta), "a scan leaves metadata_latest as the plug set it")
	// dns-01 is restarted by hand.
	p.must("VM.start", ps, dns, false, false)
	assert.Equal(t, "8d2b7c41-3e5f-4a6b-8c9d-0e1f2a3b4c5d", p.str("VDI.read_database_pool_uuid", ps, meta))
	fs := p.str("VDI.open_database", ps, meta)
	fvms := map[string]string{}
	for ref, v := range p.records("VM", fs) {
		fvms[v["name_label"].(string)] = ref
	}
	require.Contains(t, fvms, "dr-jumpbox")
	// force=false over the running dns-01: explicit error; force=true: silently skipped.
	e := p.fails("VM.recover", fs, fvms["dns-01"], ps, false)
	assert.Equal(t, xerr{"VM_BAD_POWER_STATE", dns, "Halted", "Running"}, e)
	p.must("VM.recover", fs, fvms["dns-01"], ps, true)
	assert.Equal(t, "0", p.str("VM.get_version", ps, dns))
	// Halted same-UUID VMs are replaced: version = DR's (1) + 1.
	fapps := p.records("VM_appliance", fs)
	for ref := range fapps {
		p.must("VM_appliance.recover", fs, ref, ps, true)
	}
	erpDB := p.str("VM.get_by_uuid", ps, f.recvVMs["erp-db"])
	assert.Equal(t, "2", p.str("VM.get_version", ps, erpDB))
	p.must("VM.recover", fs, fvms["mail-01"], ps, false)
	mail := p.str("VM.get_by_uuid", ps, f.recvVMs["mail-01"])
	assert.Equal(t, "2", p.str("VM.get_version", ps, mail))
	e = p.fails("VM.recover", fs, fvms["mail-01"], ps, false)
	assert.Equal(t, xerr{"VM_TO_IMPORT_IS_NOT_NEWER_VERSION", mail, "2", "1"}, e)
	// A read-only user cannot be session_to.
	aud := p.login("auditor")
	e = p.fails("VM.recover", fs, fvms["mail-01"], aud, true)
	assert.Equal(t, xerr{"RBAC_PERMISSION_DENIED", "VM.recover", "The supplied session does not have the required permissions for VM recovery."}, e)
	p.must("session.logout", fs)
	erp := p.str("VM_appliance.get_by_uuid", ps, erpUUID)
	assert.Len(t, p.refs("VM_appliance.get_VMs", ps, erp), 3)
	p.must("VM_appliance.start", ps, erp, false)
}
