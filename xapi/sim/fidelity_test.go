package sim_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// These tests hold the simulator to real xapi's behaviour where it used to
// differ (each names the xen-api function it follows), all through XML-RPC.

// drWith takes the primary down (the DR copies are those of the last mirror
// copy), introduces the given DR LUNs with DR_task.create and opens the primary's metadata from the
// first one: the DR session, the foreign session and the introduced SRs.
func drWith(t *testing.T, w *sim.World, luns ...map[string]string) (f *failoverRun, foreign string, srs []string) {
	t.Helper()
	disaster(t, w)
	f = newFailover(t, w)
	for _, dc := range luns {
		list := f.c.str("SR.probe", f.s, f.host, dc, "lvmoiscsi", map[string]string{"metadata": "true"})
		uuid := between(list, "<UUID>", "</UUID>")
		dt := f.c.str("DR_task.create", f.s, "lvmoiscsi", dc, []string{uuid})
		srs = append(srs, f.c.refs("DR_task.get_introduced_SRs", f.s, dt)...)
	}
	metas := findMetadata(t, f)
	require.NotEmpty(t, metas)
	return f, f.c.str("VDI.open_database", f.s, metas[0]), srs
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	return s[:strings.Index(s, to)]
}

// vdiOf returns the VDI of a VM's first disk.
func vdiOf(c rpc, s, vm string) string {
	for _, vbd := range c.refs("VM.get_VBDs", s, vm) {
		if c.str("VBD.get_type", s, vbd) == "Disk" {
			return c.str("VBD.get_VDI", s, vbd)
		}
	}
	return ""
}

// ownMetadata returns the pool's own metadata VDI on an SR ("" if none).
func ownMetadata(c rpc, s, pool, sr string) string {
	for _, v := range c.refs("SR.get_VDIs", s, sr) {
		if c.str("VDI.get_type", s, v) == "metadata" && c.str("VDI.get_metadata_of_pool", s, v) == pool {
			return v
		}
	}
	return ""
}

// Point 1 (Xapi_pbd.unplug): a PBD is not unplugged while a VM on its host
// uses a disk on the SR (VDI_IN_USE [vdis]); the master's unplug drops the
// SR's foreign metadata from the cache (metadata_latest false) and stops the
// pool's own replication there; Xapi_dr.handle_metadata_vdis at the next
// master plug reads the foreign metadata again and re-enables replication.
func TestFidelityPBDUnplug(t *testing.T) {
	w := startDemo(t)
	f, fs, srs := drWith(t, w, drLUN0)
	c, s := f.c, f.s
	gold01 := srs[0]
	c.must("SR.enable_database_replication", s, gold01)
	own := ownMetadata(c, s, f.poolRef, gold01)
	require.NotEmpty(t, own)
	foreignMeta := findMetadata(t, f)
	require.Len(t, foreignMeta, 1)

	dns, _ := c.byName("VM", fs, "dns-01")
	c.must("VM.recover", fs, dns, s, false)
	vm := c.str("VM.get_by_uuid", s, c.str("VM.get_uuid", fs, dns))
	c.must("session.logout", fs)
	c.must("VM.start", s, vm, false, false)
	host := c.str("VM.get_resident_on", s, vm)
	var busy, others []string
	for _, pbd := range c.refs("SR.get_PBDs", s, gold01) {
		if c.str("PBD.get_host", s, pbd) == host {
			busy = append(busy, pbd)
		} else {
			others = append(others, pbd)
		}
	}
	require.Len(t, busy, 1)
	assert.Equal(t, xerr{"VDI_IN_USE", vdiOf(c, s, vm)}, c.fails("PBD.unplug", s, busy[0]))
	assert.Equal(t, true, c.must("PBD.get_currently_attached", s, busy[0]))
	// Async, as lifeboat calls it: the task fails with the same error.
	task := c.str("Async.PBD.unplug", s, busy[0])
	tr := c.waitTask(s, task)
	assert.Equal(t, "failure", tr["status"])
	assert.Equal(t, []string{"VDI_IN_USE", vdiOf(c, s, vm)}, strs(tr["error_info"]))

	c.must("VM.hard_shutdown", s, vm)
	master := c.str("pool.get_master", s, f.poolRef)
	pbds := append(others, busy...)
	sort.SliceStable(pbds, func(i, j int) bool { return c.str("PBD.get_host", s, pbds[j]) == master })
	for _, pbd := range pbds {
		c.must("PBD.unplug", s, pbd)
	}
	assert.Equal(t, false, c.must("VDI.get_metadata_latest", s, foreignMeta[0]), "foreign metadata left the cache")
	assert.Equal(t, false, c.must("VDI.get_metadata_latest", s, own), "own replication stopped")
	assert.Empty(t, c.refs("VDI.get_VBDs", s, own), "the redo log's VBD is gone")
	c.must("VDI.get_uuid", s, own) // the VDI stays

	// Plug again, master first.
	for i := len(pbds) - 1; i >= 0; i-- {
		c.must("PBD.plug", s, pbds[i])
	}
	assert.Equal(t, true, c.must("VDI.get_metadata_latest", s, foreignMeta[0]))
	assert.Equal(t, true, c.must("VDI.get_metadata_latest", s, own), "replication re-enabled at the master's plug")
	assert.Len(t, c.refs("VDI.get_VBDs", s, own), 1)
}

// eightSRs is a pool with nine replicable SRs, eight of them replicating.
var eightSRs = func() string {
	var luns, srs, names []string
	for i := 1; i <= 9; i++ {
		luns = append(luns, fmt.Sprintf(`{lun: %d, scsi_id: "3600B%d", size: 10GiB}`, i, i))
		srs = append(srs, fmt.Sprintf(`{name: s%d, type: lvmoiscsi, lun: "3600B%d"}`, i, i))
		if i <= 8 {
			names = append(names, fmt.Sprintf("s%d", i))
		}
	}
	return `
name: eight
seed: 3
sites:
  - name: a
    iscsi:
      - {name: arr, address: arr.lab, iqn: "iqn.2026-01.lab.arr:t", luns: [` + strings.Join(luns, ", ") + `]}
    pools:
      - name: P
        hosts: [{name: h1}, {name: h2}]
        users: [{name: root, password: pw, role: pool-admin}]
        srs: [` + strings.Join(srs, ", ") + `]
        replicate_metadata: [` + strings.Join(names, ", ") + `]
`
}()

// Point 3 (Xapi_vdi_helpers.enable_database_replication): the limit of 8 redo
// logs is checked before "already enabled", so with 8 active even an SR that
// replicates already fails NO_MORE_REDO_LOGS_ALLOWED; the re-enable at a
// master plug (Xapi_dr.handle_metadata_vdis) ignores that failure.
func TestFidelityEightRedoLogs(t *testing.T) {
	sc, err := sim.ParseScenario([]byte(eightSRs))
	require.NoError(t, err)
	w, err := sim.Start(context.Background(), sc, sim.Options{FreePorts: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	c := rpc{t: t, url: w.PoolURL("P")}
	s := c.str("session.login_with_password", "root", "pw", "1.1", "test")
	pool := c.refs("pool.get_all", s)[0]
	sr := func(name string) string { return c.refs("SR.get_by_name_label", s, name)[0] }

	assert.Equal(t, xerr{"NO_MORE_REDO_LOGS_ALLOWED"}, c.fails("SR.enable_database_replication", s, sr("s1")), "already enabled, but 8 active")
	assert.Equal(t, xerr{"NO_MORE_REDO_LOGS_ALLOWED"}, c.fails("SR.enable_database_replication", s, sr("s9")))
	assert.Empty(t, ownMetadata(c, s, pool, sr("s9")), "no VDI is created past the limit")

	// Detach s1 (its redo log stops: 7 active), use the free slot on s9.
	master := c.str("pool.get_master", s, pool)
	pbds := c.refs("SR.get_PBDs", s, sr("s1"))
	sort.SliceStable(pbds, func(i, j int) bool { return c.str("PBD.get_host", s, pbds[j]) == master })
	for _, pbd := range pbds {
		c.must("PBD.unplug", s, pbd)
	}
	own1 := ownMetadata(c, s, pool, sr("s1"))
	assert.Equal(t, false, c.must("VDI.get_metadata_latest", s, own1))
	c.must("SR.enable_database_replication", s, sr("s9"))
	// Plugging s1 back cannot restart its redo log (8 active); the plug succeeds.
	for i := len(pbds) - 1; i >= 0; i-- {
		c.must("PBD.plug", s, pbds[i])
	}
	assert.Equal(t, false, c.must("VDI.get_metadata_latest", s, own1))
	// Once a slot is free again, enabling reuses s1's VDI.
	c.must("SR.disable_database_replication", s, sr("s9"))
	c.must("SR.enable_database_replication", s, sr("s1"))
	assert.Equal(t, true, c.must("VDI.get_metadata_latest", s, own1))
	assert.Equal(t, own1, ownMetadata(c, s, pool, sr("s1")))
}

// Point 2 (Xapi_vm_appliance.start): VM.start is called on every member not
// running; a paused one fails, and the vApp start fails
// OPERATION_PARTIALLY_FAILED ["VM_appliance.start"; vm].
func TestFidelityApplianceStartWithPausedMember(t *testing.T) {
	w := startDemo(t)
	c := rpc{t: t, url: w.PoolURL("Primary")}
	s := c.login("root")
	erp, _ := c.byName("VM_appliance", s, "erp")
	web, _ := c.byName("VM", s, "erp-web")
	db, _ := c.byName("VM", s, "erp-db")
	app, _ := c.byName("VM", s, "erp-app")
	c.must("VM.pause", s, web)
	c.must("VM.hard_shutdown", s, db)
	c.must("VM.hard_shutdown", s, app)
	assert.Equal(t, xerr{"OPERATION_PARTIALLY_FAILED", "VM_appliance.start", web}, c.fails("VM_appliance.start", s, erp, false))
	assert.Equal(t, "Paused", c.str("VM.get_power_state", s, web))
	assert.Equal(t, "Running", c.str("VM.get_power_state", s, db))
	assert.Equal(t, "Running", c.str("VM.get_power_state", s, app))
	// Started paused, a paused member is already where it should be.
	c.must("VM.hard_shutdown", s, db)
	c.must("VM.hard_shutdown", s, app)
	c.must("VM_appliance.start", s, erp, true)
	for _, vm := range []string{web, db, app} {
		assert.Equal(t, "Paused", c.str("VM.get_power_state", s, vm))
	}
}

// Points 4 and 5 (Xapi_dr.recover_vms, Xapi_vm_helpers): other_config
// import_task is the import's own internal task (one per recover call, gone
// once the call ends), never the caller's; assert_can_be_recovered and
// get_SRs_required_for_recovery do not check session_to's role, recover does.
func TestFidelityRecoverTaskAndSessionTo(t *testing.T) {
	w := startDemo(t)
	f, fs, _ := drWith(t, w, drLUN0, drLUN1)
	c, s := f.c, f.s
	auditor := c.login("auditor")
	dns, _ := c.byName("VM", fs, "dns-01")
	c.must("VM.assert_can_be_recovered", fs, dns, auditor)
	assert.Empty(t, c.refs("VM.get_SRs_required_for_recovery", fs, dns, auditor))
	erp, _ := c.byName("VM_appliance", fs, "erp")
	c.must("VM_appliance.assert_can_be_recovered", fs, erp, auditor)
	assert.Empty(t, c.refs("VM_appliance.get_SRs_required_for_recovery", fs, erp, auditor))
	msg := "The supplied session does not have the required permissions for VM recovery."
	assert.Equal(t, xerr{"RBAC_PERMISSION_DENIED", "VM.recover", msg}, c.fails("VM.recover", fs, dns, auditor, false))
	assert.Equal(t, xerr{"RBAC_PERMISSION_DENIED", "VM_appliance.recover", msg}, c.fails("VM_appliance.recover", fs, erp, auditor, false))

	task := c.str("Async.VM_appliance.recover", fs, erp, s, false)
	tr := c.waitTask(s, task)
	require.Equal(t, "success", tr["status"], "%v", tr["error_info"])
	app := c.str("VM_appliance.get_by_uuid", s, erpUUID)
	seen := map[string]bool{}
	for _, vm := range c.refs("VM_appliance.get_VMs", s, app) {
		seen[c.rec("VM.get_other_config", s, vm)["import_task"].(string)] = true
	}
	require.Len(t, seen, 1, "one import for the vApp")
	for it := range seen {
		assert.NotEqual(t, task, it, "not the caller's task")
		assert.Equal(t, xerr{"HANDLE_INVALID", "task", it}, c.fails("task.get_record", s, it), "the internal task is gone")
	}
	c.must("VM.recover", fs, dns, s, false)
	vm := c.str("VM.get_by_uuid", s, c.str("VM.get_uuid", fs, dns))
	assert.False(t, seen[c.rec("VM.get_other_config", s, vm)["import_task"].(string)], "a new import per call")
}

// Point 6 (Xapi_session.login_with_password): SESSION_AUTHENTICATION_FAILED
// [username; PAM's message]; root is refused by PAM (do_local_auth raises at
// once, after PAM's fail delay), an external user after xapi's 5 s
// thread_delay_and_raise_error. Delays scale with the speed factor; the
// bounds below are lower bounds of sleeps, so they cannot flake.
func TestFidelityLoginFailure(t *testing.T) {
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{Speed: 0.002, FreePorts: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	c := rpc{t: t, url: w.PoolURL("Primary")}
	for _, tc := range []struct {
		user string
		min  time.Duration
	}{{"root", 4 * time.Millisecond}, {"operator", 10 * time.Millisecond}, {"nobody", 10 * time.Millisecond}} {
		began := time.Now()
		e := c.fails("session.login_with_password", tc.user, "wrong", "1.1", "test")
		assert.Equal(t, xerr{"SESSION_AUTHENTICATION_FAILED", tc.user, "Authentication failure"}, e, tc.user)
		assert.GreaterOrEqual(t, time.Since(began), tc.min, tc.user)
	}
	c.login("operator")
}

// Point 8 (Export.update_table ~include_snapshots:true, Import): a VM's
// snapshots are recovered with it, same UUIDs, snapshot_of the recovered VM,
// their disks matched like the VM's.
func TestFidelitySnapshotsRecovered(t *testing.T) {
	w := startDemo(t)
	p := rpc{t: t, url: w.PoolURL("Primary")}
	ps := p.login("root")
	dns, _ := p.byName("VM", ps, "dns-01")
	snap := p.str("VM.snapshot", ps, dns, "before-upgrade", []string{})
	snapUUID := p.str("VM.get_uuid", ps, snap)
	assert.Equal(t, true, p.must("VM.get_is_a_snapshot", ps, snap))
	assert.Equal(t, []string{snap}, p.refs("VM.get_snapshots", ps, dns))
	snapDisk := vdiOf(p, ps, snap)
	assert.NotEqual(t, vdiOf(p, ps, dns), snapDisk)
	assert.Equal(t, true, p.must("VDI.get_is_a_snapshot", ps, snapDisk))

	require.NoError(t, w.Control().SyncMirror("gold-01"))
	f, fs, _ := drWith(t, w, drLUN0)
	c, s := f.c, f.s
	fdns, _ := c.byName("VM", fs, "dns-01")
	c.must("VM.recover", fs, fdns, s, false)
	vm := c.str("VM.get_by_uuid", s, c.str("VM.get_uuid", fs, fdns))
	snaps := c.refs("VM.get_snapshots", s, vm)
	require.Len(t, snaps, 1)
	r := c.rec("VM.get_record", s, snaps[0])
	assert.Equal(t, snapUUID, r["uuid"])
	assert.Equal(t, "before-upgrade", r["name_label"])
	assert.Equal(t, true, r["is_a_snapshot"])
	assert.Equal(t, vm, r["snapshot_of"])
	assert.Equal(t, sim.NullRef, r["appliance"])
	d := vdiOf(c, s, snaps[0])
	require.NotEmpty(t, d)
	assert.Equal(t, c.str("SR.get_by_uuid", s, gold01UUID), c.str("VDI.get_SR", s, d))
	assert.NotEqual(t, vdiOf(c, s, vm), d)
}

// Point 10 (Import.VDI.precheck, Xapi_vm.start): a disk whose SR is unknown
// here fails VDI_CONTENT_ID_MISSING [], one missing from a known SR
// VDI_LOCATION_MISSING [sr; location] (a suspend image, which
// assert_can_be_recovered does not check); VM.start sets ha_always_run when
// the restart priority is "restart".
func TestFidelityRecoverMissingDiskAndHAAlwaysRun(t *testing.T) {
	w := startDemo(t)
	p := rpc{t: t, url: w.PoolURL("Primary")}
	ps := p.login("root")
	pool := p.refs("pool.get_all", ps)[0]
	gold02 := p.str("SR.get_by_uuid", ps, gold02UUID)
	p.must("pool.set_suspend_image_SR", ps, pool, gold02)
	dns, _ := p.byName("VM", ps, "dns-01")
	p.must("VM.suspend", ps, dns)
	loc := p.str("VDI.get_location", ps, p.str("VM.get_suspend_VDI", ps, dns))

	// The metadata (on gold-01) is copied to DR, gold-02 is not: its DR copy
	// predates the suspend.
	require.NoError(t, w.Control().SyncMirror("gold-01"))
	f, fs, _ := drWith(t, w, drLUN0)
	c, s := f.c, f.s
	fdns, _ := c.byName("VM", fs, "dns-01")
	c.must("VM.assert_can_be_recovered", fs, fdns, s)
	assert.Equal(t, xerr{"VDI_CONTENT_ID_MISSING"}, c.fails("VM.recover", fs, fdns, s, false), "gold-02 is not introduced")

	// gold-02 introduced: the SR is known, the image is not on it.
	list := c.str("SR.probe", s, f.host, drLUN1, "lvmoiscsi", map[string]string{"metadata": "true"})
	dt := c.str("DR_task.create", s, "lvmoiscsi", drLUN1, []string{between(list, "<UUID>", "</UUID>")})
	gold02DR := c.refs("DR_task.get_introduced_SRs", s, dt)[0]
	assert.Equal(t, xerr{"VDI_LOCATION_MISSING", gold02DR, loc}, c.fails("VM.recover", fs, fdns, s, false))
	c.must("VM.recover", fs, fdns, s, true) // forced: recovered halted, without its image
	vm := c.str("VM.get_by_uuid", s, c.str("VM.get_uuid", fs, fdns))
	assert.Equal(t, "Halted", c.str("VM.get_power_state", s, vm))

	erp, _ := c.byName("VM_appliance", fs, "erp")
	c.must("VM_appliance.recover", fs, erp, s, false)
	db := c.str("VM.get_by_uuid", s, c.str("VM.get_uuid", fs, mustByName(c, fs, "erp-db")))
	assert.Equal(t, "restart", c.str("VM.get_ha_restart_priority", s, db))
	assert.Equal(t, false, c.must("VM.get_ha_always_run", s, db))
	c.must("VM.start", s, db, false, false)
	assert.Equal(t, true, c.must("VM.get_ha_always_run", s, db))
	c.must("VM.hard_shutdown", s, db)
	assert.Equal(t, false, c.must("VM.get_ha_always_run", s, db))
}

func mustByName(c rpc, s, name string) string {
	ref, _ := c.byName("VM", s, name)
	return ref
}

// The master's PBD.plug handles the metadata VDIs the pool knows on the SR
// (Xapi_dr.handle_metadata_vdis); SR.scan records new ones with
// metadata_latest false (Xapi_sr.update_vdis). With PlugWithoutScan (xapi
// since CA-379112) DR_task.create's plug knows none of a just-introduced SR,
// so the primary's metadata VDI is not latest until a scan and a re-plug.
func TestFidelityPlugWithoutScan(t *testing.T) {
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{FreePorts: true, PlugWithoutScan: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	disaster(t, w)
	f := newFailover(t, w)
	c, s := f.c, f.s
	list := c.str("SR.probe", s, f.host, drLUN0, "lvmoiscsi", map[string]string{"metadata": "true"})
	dt := c.str("DR_task.create", s, "lvmoiscsi", drLUN0, []string{between(list, "<UUID>", "</UUID>")})
	srs := c.refs("DR_task.get_introduced_SRs", s, dt)
	require.Len(t, srs, 1)
	assert.Empty(t, c.refs("SR.get_VDIs", s, srs[0]), "the plug did not scan")

	c.must("SR.scan", s, srs[0])
	var meta string
	for _, v := range c.refs("SR.get_VDIs", s, srs[0]) {
		if c.str("VDI.get_type", s, v) == "metadata" {
			meta = v
		}
	}
	require.NotEmpty(t, meta, "the scan recorded the primary's metadata VDI")
	assert.Equal(t, false, c.must("VDI.get_metadata_latest", s, meta), "a scan opens no metadata database")

	pbds := c.refs("SR.get_PBDs", s, srs[0])
	sort.SliceStable(pbds, func(i, j int) bool { return c.str("PBD.get_host", s, pbds[j]) == f.host })
	for _, pbd := range pbds {
		c.must("PBD.unplug", s, pbd)
	}
	for i := len(pbds) - 1; i >= 0; i-- {
		c.must("PBD.plug", s, pbds[i])
	}
	assert.Equal(t, true, c.must("VDI.get_metadata_latest", s, meta), "the master's plug read it")
	assert.Equal(t, primaryPoolUUID, c.str("VDI.read_database_pool_uuid", s, meta))
}
