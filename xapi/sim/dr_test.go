package sim_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// Demo world constants (dev/scenarios/demo.yaml).
const (
	primaryPoolUUID = "5f0c6a52-1d7e-4a8b-9c3d-2e4f6a8b0c1d"
	gold01UUID      = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000a01"
	gold02UUID      = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000a02"
	silverUUID      = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000c01"
	erpUUID         = "7e3a0d10-5b2c-4e8f-a1d4-000000000e01"
)

var drLUN0 = map[string]string{"target": "dr-array.lab", "port": "3260", "targetIQN": "iqn.2026-01.lab.dr-array:gold", "SCSIid": "36001405b0000000000000000000000b1"}
var drLUN1 = map[string]string{"target": "dr-array.lab", "port": "3260", "targetIQN": "iqn.2026-01.lab.dr-array:gold", "SCSIid": "36001405b0000000000000000000000b2"}
var drFC = map[string]string{"SCSIid": "3600a0b8000000000000000000000d1"}

// disaster takes the primary site down and promotes the DR copies.
func disaster(t *testing.T, w *sim.World) {
	ct := w.Control()
	require.NoError(t, ct.SiteDown("primary"))
	for _, m := range []string{"gold-01", "gold-02", "fc-silver-01"} {
		require.NoError(t, ct.SplitMirror(m))
	}
}

type failoverRun struct {
	c        rpc
	s        string // real DR session
	host     string
	poolRef  string
	tasks    []string
	metaVDI  string
	recvVMs  map[string]string // name → uuid of recovered VMs
	recvApps []string
}

// introduceStorage probes and introduces the three replicated SRs with DR_task.create.
func introduceStorage(t *testing.T, f *failoverRun) {
	c, s := f.c, f.s
	// The iSCSI discovery ladder.
	e := c.fails("SR.probe", s, f.host, map[string]string{"target": "dr-array.lab", "port": "3260"}, "lvmoiscsi", map[string]string{"metadata": "true"})
	require.Equal(t, "SR_BACKEND_FAILURE_96", e[0])
	require.Len(t, e, 4)
	assert.Equal(t, "", e[1])
	assert.Contains(t, e[3], "<TargetIQN>iqn.2026-01.lab.dr-array:gold</TargetIQN>")
	assert.Contains(t, e[3], "<IPAddress>10.20.0.10</IPAddress>")
	e = c.fails("SR.probe", s, f.host, map[string]string{"target": "10.20.0.10", "port": "3260", "targetIQN": "iqn.2026-01.lab.dr-array:gold"}, "lvmoiscsi", map[string]string{"metadata": "true"})
	require.Equal(t, "SR_BACKEND_FAILURE_107", e[0])
	assert.Contains(t, e[3], "<SCSIid>36001405b0000000000000000000000b1</SCSIid>")
	assert.Contains(t, e[3], "<LUNid>1</LUNid>")
	list := c.str("SR.probe", s, f.host, drLUN0, "lvmoiscsi", map[string]string{"metadata": "true"})
	assert.Contains(t, list, "\t\t<UUID>"+gold01UUID+"</UUID>\n")
	assert.Contains(t, list, "<pool_metadata_detected>true</pool_metadata_detected>")
	list = c.str("SR.probe", s, f.host, drLUN1, "lvmoiscsi", map[string]string{"metadata": "true"})
	assert.Contains(t, list, "<pool_metadata_detected>false</pool_metadata_detected>")
	// FC discovery: the device list comes in the 107 error.
	e = c.fails("SR.probe", s, f.host, map[string]string{}, "lvmohba", map[string]string{})
	require.Equal(t, "SR_BACKEND_FAILURE_107", e[0])
	assert.Contains(t, e[3], "<SCSIid>3600a0b8000000000000000000000d1</SCSIid>")

	for _, in := range []struct {
		typ  string
		dc   map[string]string
		uuid string
	}{{"lvmoiscsi", drLUN0, gold01UUID}, {"lvmoiscsi", drLUN1, gold02UUID}, {"lvmohba", drFC, silverUUID}} {
		// Async, as XenCenter does: the task result is the <value> fragment of the ref.
		task := c.str("Async.DR_task.create", s, in.typ, in.dc, []string{in.uuid})
		tr := c.waitTask(s, task)
		require.Equal(t, "success", tr["status"], "%v", tr["error_info"])
		require.True(t, strings.HasPrefix(tr["result"].(string), "<value>OpaqueRef:"), tr["result"])
		dt := strings.TrimSuffix(strings.TrimPrefix(tr["result"].(string), "<value>"), "</value>")
		c.must("task.destroy", s, task)
		srs := c.refs("DR_task.get_introduced_SRs", s, dt)
		require.Len(t, srs, 1)
		assert.Equal(t, in.uuid, c.str("SR.get_uuid", s, srs[0]))
		f.tasks = append(f.tasks, dt)
	}
}

// findMetadata returns the foreign metadata VDIs with metadata_latest.
func findMetadata(t *testing.T, f *failoverRun) []string {
	var out []string
	for ref, v := range f.c.records("VDI", f.s) {
		if v["type"] == "metadata" && v["metadata_latest"] == true && v["metadata_of_pool"] != f.poolRef {
			out = append(out, ref)
		}
	}
	sort.Strings(out)
	return out
}

func newFailover(t *testing.T, w *sim.World) *failoverRun {
	c := rpc{t: t, url: w.PoolURL("dr")}
	s := c.login("root")
	pool := c.refs("pool.get_all", s)[0]
	return &failoverRun{c: c, s: s, poolRef: pool, host: c.str("pool.get_master", s, pool), recvVMs: map[string]string{}}
}

// recoverAll opens the metadata, prechecks and recovers every vApp and every recoverable
// standalone VM.
func recoverAll(t *testing.T, f *failoverRun) {
	c, s := f.c, f.s
	metas := findMetadata(t, f)
	require.NotEmpty(t, metas)
	f.metaVDI = metas[0]
	fs := c.str("VDI.open_database", s, f.metaVDI)
	pools := c.records("pool", fs)
	require.Len(t, pools, 1)
	for _, p := range pools {
		assert.Equal(t, primaryPoolUUID, p["uuid"])
	}
	apps := c.records("VM_appliance", fs)
	require.Len(t, apps, 3)
	// The foreign session is read-only.
	e := c.fails("VM.start", fs, "OpaqueRef:x", false, false)
	assert.Equal(t, "RBAC_PERMISSION_DENIED", e[0])
	for ref := range apps {
		c.must("VM_appliance.assert_can_be_recovered", fs, ref, s)
		task := c.str("Async.VM_appliance.recover", fs, ref, s, true)
		// Tasks of a foreign session's Async call are read with the real session.
		tr := c.waitTask(s, task)
		require.Equal(t, "success", tr["status"], "%v", tr["error_info"])
		assert.Equal(t, "<value></value>", tr["result"])
		c.must("task.destroy", s, task)
		f.recvApps = append(f.recvApps, apps[ref]["uuid"].(string))
	}
	for ref, vm := range c.records("VM", fs) {
		if vm["is_control_domain"] == true || vm["is_a_template"] == true {
			continue
		}
		name := vm["name_label"].(string)
		if vm["appliance"] != sim.NullRef {
			e := c.fails("VM.recover", fs, ref, s, true)
			assert.Equal(t, xerr{"VM_IS_PART_OF_AN_APPLIANCE", ref, vm["appliance"].(string)}, e)
			f.recvVMs[name] = vm["uuid"].(string)
			continue
		}
		if name == "build-agent" {
			e := c.fails("VM.assert_can_be_recovered", fs, ref, s)
			require.Equal(t, "VM_REQUIRES_SR", e[0])
			// The local SR is unknown here: the ref is the foreign one.
			assert.Equal(t, "Local storage primary-01", c.str("SR.get_name_label", fs, e[2]))
			req := c.refs("VM.get_SRs_required_for_recovery", fs, ref, s)
			assert.Equal(t, []string{e[2]}, req)
			continue
		}
		c.must("VM.assert_can_be_recovered", fs, ref, s)
		assert.Empty(t, c.refs("VM.get_SRs_required_for_recovery", fs, ref, s))
		c.must("VM.recover", fs, ref, s, true)
		f.recvVMs[name] = vm["uuid"].(string)
	}
	c.must("session.logout", fs)
	e = c.fails("VM.get_all", fs)
	assert.Equal(t, xerr{"SESSION_INVALID", fs}, e)
}

func TestFailoverDemoWorld(t *testing.T) {
	w := startDemo(t)
	pri := rpc{t: t, url: w.PoolURL("primary")}
	ps := pri.login("root")
	primaryVMs := pri.records("VM", ps)
	primaryMACs := map[string]bool{}
	for _, vif := range pri.records("VIF", ps) {
		primaryMACs[vif["MAC"].(string)] = true
	}
	disaster(t, w)

	f := newFailover(t, w)
	c, s := f.c, f.s
	introduceStorage(t, f)
	metas := findMetadata(t, f)
	assert.Len(t, metas, 2, "gold-01 and fc-silver-01 both carry the primary's metadata at the same generation")
	recoverAll(t, f)

	// Recovered VMs keep UUIDs and MACs, version + 1, Halted, import_task set.
	vms := c.records("VM", s)
	byUUID := map[string]map[string]any{}
	refByUUID := map[string]string{}
	for ref, v := range vms {
		byUUID[v["uuid"].(string)] = v
		refByUUID[v["uuid"].(string)] = ref
	}
	for _, orig := range primaryVMs {
		name := orig["name_label"].(string)
		if orig["is_control_domain"] == true || name == "build-agent" {
			continue
		}
		got := byUUID[orig["uuid"].(string)]
		require.NotNil(t, got, name)
		assert.Equal(t, "1", got["version"], name)
		assert.Equal(t, "Halted", got["power_state"], name)
		assert.Equal(t, orig["other_config"].(map[string]any)["mac_seed"], got["other_config"].(map[string]any)["mac_seed"], name)
		assert.NotEmpty(t, got["other_config"].(map[string]any)["import_task"], name)
		for _, vif := range strs(got["VIFs"]) {
			assert.True(t, primaryMACs[c.str("VIF.get_MAC", s, vif)], "MAC of %s kept", name)
		}
		assert.Equal(t, len(strs(orig["VBDs"])), len(strs(got["VBDs"])), name)
	}
	assert.NotContains(t, byUUID, "build-agent")
	// The vApp is re-linked with its UUID.
	erp := c.str("VM_appliance.get_by_uuid", s, erpUUID)
	assert.Len(t, c.refs("VM_appliance.get_VMs", s, erp), 3)
	// Lab-only did not exist on DR: recover created it.
	labRef, lab := c.byName("network", s, "Lab-only")
	assert.NotEmpty(t, lab["other_config"].(map[string]any)["import_task"])
	assert.Len(t, c.refs("network.get_VIFs", s, labRef), 1)
	// Networks matched by name: DR's own bridges.
	prodRef, _ := c.byName("network", s, "Production")
	assert.Equal(t, "xenbr10", c.str("network.get_bridge", s, prodRef))
	// introduced_by cleared on the SRs the recovered VMs use.
	for _, u := range []string{gold01UUID, gold02UUID, silverUUID} {
		sr := c.str("SR.get_by_uuid", s, u)
		assert.Equal(t, sim.NullRef, c.str("SR.get_introduced_by", s, sr))
	}

	// Start the vApps by order and the standalone VMs; watch the order with events.
	tok := c.rec("event.from", s, []string{"VM"}, "", 0.0)["token"].(string)
	c.must("VM_appliance.start", s, erp, false)
	batch := c.rec("event.from", s, []string{"VM"}, tok, 1.0)
	started := map[string]int{}
	for i, ev := range batch["events"].([]any) {
		e := ev.(map[string]any)
		snap := e["snapshot"].(map[string]any)
		if _, seen := started[snap["name_label"].(string)]; !seen && snap["power_state"] == "Running" {
			started[snap["name_label"].(string)] = i
		}
	}
	require.Len(t, started, 3)
	assert.Less(t, started["erp-db"], started["erp-app"])
	assert.Less(t, started["erp-app"], started["erp-web"])
	for _, name := range []string{"crm", "intranet"} {
		ref, _ := c.byName("VM_appliance", s, name)
		c.must("VM_appliance.start", s, ref, false)
	}
	for _, name := range []string{"mail-01", "dns-01", "monitoring", "lab-tool"} {
		c.must("VM.start", s, refByUUID[f.recvVMs[name]], false, false)
	}
	for _, dt := range f.tasks {
		c.must("DR_task.destroy", s, dt)
	}
	// Final state: recovered VMs running, SRs stay attached (used), no DR task left.
	st := w.Control().State()
	dr := st.Pools[1]
	assert.Empty(t, dr.DRTasks)
	running := 0
	for _, vm := range dr.VMs {
		if vm.PowerState == "Running" {
			running++
		}
	}
	assert.Equal(t, 1+12, running, "dr-jumpbox + 12 recovered VMs")
	attached := 0
	for _, sr := range dr.SRs {
		if sr.Attached && sr.Shared {
			attached++
		}
	}
	assert.Equal(t, 4, attached, "dr-infra + 3 recovered SRs")
}
