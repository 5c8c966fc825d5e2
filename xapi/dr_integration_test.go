package xapi_test

// The acceptance test for the XAPI layer: the DR runbooks (failover, test
// failover, failback, as xapi and the XenServer documentation describe them) driven step by step through the xapi client against the
// in-process simulator (xapi/sim), at speed 0 (no sleeps). Every step is a
// named sub-test or helper so that the test reads like the runbook; the end
// state is checked both through the client and through the simulator's own
// view (Control().State(), Journal()).

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// The demo world (dev/scenarios/demo.yaml) and what demoWorld adds to it.
const (
	primaryPoolUUID = "5f0c6a52-1d7e-4a8b-9c3d-2e4f6a8b0c1d"
	drPoolUUID      = "8d2b7c41-3e5f-4a6b-8c9d-0e1f2a3b4c5d"
	gold01UUID      = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000a01"
	gold02UUID      = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000a02"
	silverUUID      = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000c01"
	drInfraUUID     = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000b09"
	// spare-01 is added by demoWorld: a replicated SR no VM uses, so that
	// DR_task.destroy has an introduced SR to forget.
	spareUUID   = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000a03"
	drIQN       = "iqn.2026-01.lab.dr-array:gold"
	drGold01LUN = "36001405b0000000000000000000000b1"
	drGold02LUN = "36001405b0000000000000000000000b2"
	drSpareLUN  = "36001405b0000000000000000000000b3"
	drSilverLUN = "3600a0b8000000000000000000000d1"
	user        = "root"
	password    = "lifeboat"
)

var vappUUIDs = map[string]string{
	"erp":      "7e3a0d10-5b2c-4e8f-a1d4-000000000e01",
	"crm":      "7e3a0d10-5b2c-4e8f-a1d4-000000000c01",
	"intranet": "7e3a0d10-5b2c-4e8f-a1d4-000000000101",
}

// drDevice is one replicated LUN as seen from the DR site.
type drDevice struct {
	name     string // mirror name = SR name
	srType   string
	dc       map[string]string
	srUUID   string
	metadata bool // the primary replicates its database onto it
}

func drDevices() []drDevice {
	iscsi := func(scsi string) map[string]string {
		return xapi.ISCSIConfig{Target: "dr-array.lab", Port: 3260, TargetIQN: drIQN, SCSIid: scsi}.DeviceConfig()
	}
	return []drDevice{
		{"gold-01", xapi.SRTypeISCSI, iscsi(drGold01LUN), gold01UUID, true},
		{"gold-02", xapi.SRTypeISCSI, iscsi(drGold02LUN), gold02UUID, false},
		{"spare-01", xapi.SRTypeISCSI, iscsi(drSpareLUN), spareUUID, false},
		{"fc-silver-01", xapi.SRTypeHBA, map[string]string{"SCSIid": drSilverLUN}, silverUUID, true},
	}
}

// demoWorld starts the demo scenario plus:
//   - spare-01: a mirrored iSCSI SR on the primary that no VM uses;
//   - report-01: a standalone VM that is Suspended on the primary (suspend
//     image on gold-01), to cover VM.resume after recovery and the
//     "destroy suspended VMs directly" rule of the test-failover cleanup.
func demoWorld(t *testing.T) *sim.World {
	t.Helper()
	sc := sim.DemoScenario()
	pri, dr := &sc.Sites[0], &sc.Sites[1]
	require.Equal(t, "primary", pri.Name)
	require.Equal(t, "dr", dr.Name)
	pri.ISCSI[0].LUNs = append(pri.ISCSI[0].LUNs, sim.LUNSpec{LUN: 2, SCSIid: "36001405a0000000000000000000000a3", Size: 100 << 30, Serial: "primary-gold-2"})
	dr.ISCSI[0].LUNs = append(dr.ISCSI[0].LUNs, sim.LUNSpec{LUN: 3, SCSIid: drSpareLUN, Size: 100 << 30, Serial: "dr-gold-3"})
	pp := &pri.Pools[0]
	pp.SRs = append(pp.SRs, sim.SRSpec{Name: "spare-01", UUID: spareUUID, Type: "lvmoiscsi", LUN: "36001405a0000000000000000000000a3", Description: "Spare"})
	pp.VMs = append(pp.VMs, sim.VMSpec{Name: "report-01", Description: "Suspended reporting VM", Memory: 4 << 30, VCPUs: 2,
		Power: "Suspended", SuspendSR: "gold-01", Disks: []sim.DiskSpec{{SR: "gold-01", Size: 10 << 30}}, Networks: []string{"Backend"}})
	sc.Mirrors = append(sc.Mirrors, sim.MirrorSpec{Name: "spare-01", Source: "36001405a0000000000000000000000a3", Destination: drSpareLUN,
		State: sim.MirrorReplicating, Lag: sim.Duration(30 * time.Second)})
	w, err := sim.Start(context.Background(), sc, sim.Options{Speed: 0, FreePorts: true, ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// step runs one runbook step as a sub-test and stops the test when it fails:
// later steps depend on it.
func step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, fn) {
		t.FailNow()
	}
}

// recovery is the state a runbook accumulates on the target pool.
type recovery struct {
	w      *sim.World
	target string // pool name in the simulator
	s      *xapi.Session
	pool   xapi.Ref
	master xapi.Ref

	tasks      []xapi.Ref           // DR tasks created
	introduced map[xapi.Ref]string  // SRs introduced by them (ref → uuid), recorded at creation
	metaVDIs   []xapi.Ref           // the metadata VDIs chosen (one per source pool)
	source     map[string]foreignVM // by UUID: the VMs as the metadata describes them
	sourcePool string               // UUID of the pool the metadata belongs to

	apps []string // UUIDs of recovered vApps
	vms  []string // UUIDs of recovered standalone VMs
}

type foreignVM struct {
	name, vapp string // vapp: the vApp's UUID, "" when standalone
	version    int64
	order      int64
	power      string
	macs       []string
	networks   []string // names, by VIF device order
	vbds       int
}

// uuidOf finds a source VM's UUID by name.
func (r *recovery) uuidOf(name string) string {
	for u, v := range r.source {
		if v.name == name {
			return u
		}
	}
	return ""
}

// disaster is the storage part of the runbook done outside XAPI: for a real
// failover the primary site is lost; in both cases the mirrors are split so
// that the DR copies are writable.
func disaster(t *testing.T, w *sim.World, siteDown bool) {
	ct := w.Control()
	if siteDown {
		require.NoError(t, ct.SiteDown("primary"))
	}
	for _, d := range drDevices() {
		require.NoError(t, ct.SplitMirror(d.name))
	}
}

// loginTarget logs in through a pool member: Client.Login must follow
// HOST_IS_SLAVE to the master.
func loginTarget(t *testing.T, ctx context.Context, w *sim.World, pool string) *recovery {
	hosts := w.HostURLs(pool)
	require.GreaterOrEqual(t, len(hosts), 2)
	c, err := xapi.NewClient(hosts[1], xapi.WithPollInterval(10*time.Millisecond), xapi.WithEventTimeout(5*time.Second))
	require.NoError(t, err)
	s, err := c.Login(ctx, user, password)
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSuffix(w.PoolURL(pool), "/"), strings.TrimSuffix(s.Endpoint(), "/"), "session bound to the master")
	poolRef, p, err := s.GetPool(ctx)
	require.NoError(t, err)
	return &recovery{w: w, target: pool, s: s, pool: poolRef, master: p.Master, introduced: map[xapi.Ref]string{}, source: map[string]foreignVM{}}
}

// probeStorage is runbook step 2 (docs/xapi-dr.md): SR.probe with sm_config metadata=true on
// every replicated LUN, the SRlist parsed (iSCSI through Async.SR.probe, FC
// synchronously, to cover both forms).
func probeStorage(t *testing.T, ctx context.Context, r *recovery) {
	for _, d := range drDevices() {
		var res *xapi.ProbeResult
		var err error
		if d.srType == xapi.SRTypeISCSI {
			res, err = r.s.ProbeSRAsync(ctx, r.master, d.dc, d.srType, xapi.MetadataSMConfig())
		} else {
			res, err = r.s.ProbeSR(ctx, r.master, d.dc, d.srType, xapi.MetadataSMConfig())
		}
		require.NoError(t, err, d.name)
		require.Len(t, res.SRs, 1, d.name)
		sr := res.SRs[0]
		assert.Equal(t, d.srUUID, sr.UUID, d.name)
		assert.Equal(t, d.name, sr.NameLabel, d.name)
		assert.Equal(t, d.metadata, sr.PoolMetadataDetected, "%s pool_metadata_detected", d.name)
		assert.Positive(t, sr.Size, d.name)
		assert.Contains(t, res.Raw, "<SRlist>", d.name)
		assert.Contains(t, res.Raw, "\t\t<UUID>"+d.srUUID+"</UUID>\n", "%s: minidom formatting kept in Raw", d.name)
	}
}

// introduceStorage is runbook step 3 (docs/xapi-dr.md): one DR_task per device with the probed
// SR in its whitelist; the introduced SRs are recorded right away.
func introduceStorage(t *testing.T, ctx context.Context, r *recovery) {
	hosts, err := r.s.GetAllHostRecords(ctx)
	require.NoError(t, err)
	for _, d := range drDevices() {
		task, err := r.s.CreateDRTask(ctx, d.srType, d.dc, []string{d.srUUID})
		require.NoError(t, err, d.name)
		r.tasks = append(r.tasks, task)
		rec, err := r.s.GetDRTaskRecord(ctx, task)
		require.NoError(t, err, d.name)
		require.Len(t, rec.IntroducedSRs, 1, d.name)
		srRef := rec.IntroducedSRs[0]
		sr, err := r.s.GetSRRecord(ctx, srRef)
		require.NoError(t, err, d.name)
		r.introduced[srRef] = sr.UUID
		assert.Equal(t, d.srUUID, sr.UUID, d.name)
		assert.Equal(t, d.name, sr.NameLabel, d.name)
		assert.Equal(t, d.srType, sr.Type, d.name)
		assert.True(t, sr.Shared, d.name)
		assert.Equal(t, task, sr.IntroducedBy, d.name)
		require.Len(t, sr.PBDs, len(hosts), "%s: one PBD per host", d.name)
		for _, pbdRef := range sr.PBDs {
			pbd, err := r.s.GetPBDRecord(ctx, pbdRef)
			require.NoError(t, err)
			assert.True(t, pbd.CurrentlyAttached, d.name)
			assert.Equal(t, d.dc, pbd.DeviceConfig, d.name)
		}
	}
	// A second DR_task for an SR the pool knows now introduces nothing.
	again, err := r.s.CreateDRTask(ctx, xapi.SRTypeISCSI, drDevices()[0].dc, []string{gold01UUID})
	require.NoError(t, err)
	rec, err := r.s.GetDRTaskRecord(ctx, again)
	require.NoError(t, err)
	assert.Empty(t, rec.IntroducedSRs, "already known SRs are not tied to a DR task")
	require.NoError(t, r.s.DestroyDRTask(ctx, again))
	_, err = r.s.GetSRByUUID(ctx, gold01UUID)
	require.NoError(t, err, "destroying an empty DR task forgets nothing")
}

// findMetadata is runbook step 4 (docs/xapi-dr.md): metadata VDIs with metadata_latest that are
// not the target pool's own, grouped by source pool; one VDI per source pool.
func findMetadata(t *testing.T, ctx context.Context, r *recovery, wantSource string, wantCandidates int) {
	vdis, err := r.s.GetAllVDIRecords(ctx)
	require.NoError(t, err)
	bySource := map[string][]xapi.Ref{}
	own, stale := 0, 0
	for ref, v := range vdis {
		if v.Type != "metadata" {
			continue
		}
		if v.MetadataOfPool == r.pool {
			own++
			continue
		}
		if !v.MetadataLatest {
			stale++
			continue
		}
		attached := false
		for _, vbd := range v.VBDs {
			b, err := r.s.GetVBDRecord(ctx, vbd)
			require.NoError(t, err)
			attached = attached || b.CurrentlyAttached
		}
		require.False(t, attached, "a live redo log target is never opened")
		src, err := r.s.ReadDatabasePoolUUID(ctx, ref)
		require.NoError(t, err)
		require.NotEqual(t, r.poolUUID(t, ctx), src, "never the target's own database")
		bySource[src] = append(bySource[src], ref)
	}
	require.Len(t, bySource, 1, "one source pool")
	require.Len(t, bySource[wantSource], wantCandidates, "metadata_latest VDIs of %s", wantSource)
	refs := bySource[wantSource]
	slices.Sort(refs)
	r.metaVDIs = refs[:1]
	r.sourcePool = wantSource
	t.Logf("metadata VDIs: %d latest of %s, %d own, %d stale", len(refs), wantSource, own, stale)
}

func (r *recovery) poolUUID(t *testing.T, ctx context.Context) string {
	p, err := r.s.GetPoolRecord(ctx, r.pool)
	require.NoError(t, err)
	return p.UUID
}

// openDatabase is runbook step 5 (docs/xapi-dr.md): open the metadata VDI and read pool, vApps,
// VMs (and their VIFs and networks) through the foreign session.
func openDatabase(t *testing.T, ctx context.Context, r *recovery, vdi xapi.Ref) (*xapi.ForeignSession, map[xapi.ForeignRef]xapi.ForeignVM, map[xapi.ForeignRef]xapi.ForeignVMAppliance) {
	fs, err := r.s.OpenDatabase(ctx, vdi)
	require.NoError(t, err)
	assert.Equal(t, vdi, fs.VDI())
	_, fp, err := fs.GetPool(ctx)
	require.NoError(t, err)
	assert.Equal(t, r.sourcePool, fp.UUID, "the database is the source pool's")
	apps, err := fs.GetAllVMApplianceRecords(ctx)
	require.NoError(t, err)
	vms, err := fs.GetAllVMRecords(ctx)
	require.NoError(t, err)
	vifs, err := fs.GetAllVIFRecords(ctx)
	require.NoError(t, err)
	nets, err := fs.GetAllNetworkRecords(ctx)
	require.NoError(t, err)
	type vifOf struct {
		device, mac, net string
	}
	byVM := map[xapi.ForeignRef][]vifOf{}
	for _, v := range vifs {
		byVM[v.VM] = append(byVM[v.VM], vifOf{v.Device, v.MAC, nets[v.Network].NameLabel})
	}
	for ref, vm := range vms {
		if !vm.IsRealVM() {
			continue
		}
		fv := foreignVM{name: vm.NameLabel, version: vm.Version, order: vm.Order, power: vm.PowerState, vbds: len(vm.VBDs)}
		if vm.InAppliance() {
			fv.vapp = apps[vm.Appliance].UUID
		}
		l := byVM[ref]
		sort.Slice(l, func(i, j int) bool { return l[i].device < l[j].device })
		for _, v := range l {
			fv.macs = append(fv.macs, v.mac)
			fv.networks = append(fv.networks, v.net)
		}
		r.source[vm.UUID] = fv
	}
	// The foreign session is read-only.
	_, err = r.s.Client().Call(ctx, "VM.start", string(fs.Ref()), "OpaqueRef:x", false, false)
	assert.True(t, xapi.IsCode(err, xapi.CodeRBACPermissionDenied), "%v", err)
	return fs, vms, apps
}

// unit is a vApp or a standalone VM, the runbook's recovery unit.
type unit struct {
	name string
	app  bool
	ref  xapi.ForeignRef
	uuid string
}

func sortedUnits(vms map[xapi.ForeignRef]xapi.ForeignVM, apps map[xapi.ForeignRef]xapi.ForeignVMAppliance) []unit {
	var out []unit
	for ref, a := range apps {
		out = append(out, unit{a.NameLabel, true, ref, a.UUID})
	}
	for ref, vm := range vms {
		if vm.IsRealVM() && !vm.InAppliance() {
			out = append(out, unit{vm.NameLabel, false, ref, vm.UUID})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].app != out[j].app {
			return out[i].app // vApps first, as XenCenter recovers them
		}
		return out[i].name < out[j].name
	})
	return out
}

// precheck is runbook step 6 (docs/xapi-dr.md): assert_can_be_recovered per unit. It returns the
// recoverable units and the unrecoverable ones with the SR names they miss.
func precheck(t *testing.T, ctx context.Context, r *recovery, fs *xapi.ForeignSession, units []unit) (ok []unit, blocked map[string][]string) {
	blocked = map[string][]string{}
	for _, u := range units {
		var err error
		if u.app {
			err = fs.AssertVMApplianceCanBeRecovered(ctx, u.ref, r.s)
		} else {
			err = fs.AssertVMCanBeRecovered(ctx, u.ref, r.s)
		}
		if err == nil {
			ok = append(ok, u)
			continue
		}
		var xe *xapi.Error
		require.True(t, errors.As(err, &xe), "%s: typed *xapi.Error, got %T %v", u.name, err, err)
		require.Equal(t, xapi.CodeVMRequiresSR, xe.Code, u.name)
		assert.False(t, xapi.Retryable(err), "a missing SR is not retried")
		var missing []xapi.ForeignRef
		if u.app {
			missing, err = fs.GetSRsRequiredForVMApplianceRecovery(ctx, u.ref, r.s)
		} else {
			assert.Equal(t, string(u.ref), xe.Param(0), "VM_REQUIRES_SR names the VM")
			missing, err = fs.GetSRsRequiredForVMRecovery(ctx, u.ref, r.s)
		}
		require.NoError(t, err)
		require.NotEmpty(t, missing, u.name)
		assert.Equal(t, string(missing[0]), xe.Param(1), "%s: the SR is unknown here, so the error carries its foreign ref", u.name)
		for _, sr := range missing {
			rec, err := fs.GetSRRecord(ctx, sr)
			require.NoError(t, err)
			blocked[u.name] = append(blocked[u.name], rec.NameLabel)
		}
	}
	return ok, blocked
}

// recoverUnits is runbook step 7 (docs/xapi-dr.md): vApps then standalone VMs, force=true; each
// recovery verified by UUID.
func recoverUnits(t *testing.T, ctx context.Context, r *recovery, fs *xapi.ForeignSession, units []unit, vms map[xapi.ForeignRef]xapi.ForeignVM) {
	for _, u := range units {
		if u.app {
			require.NoError(t, fs.RecoverVMAppliance(ctx, u.ref, r.s, true), u.name)
			ref, err := r.s.GetVMApplianceByUUID(ctx, u.uuid)
			require.NoError(t, err, u.name)
			app, err := r.s.GetVMApplianceRecord(ctx, ref)
			require.NoError(t, err)
			assert.Equal(t, u.name, app.NameLabel)
			r.apps = append(r.apps, u.uuid)
			continue
		}
		// A vApp member cannot be recovered on its own.
		for ref, vm := range vms {
			if vm.InAppliance() && vm.IsRealVM() {
				err := fs.RecoverVM(ctx, ref, r.s, true)
				assert.True(t, xapi.IsCode(err, xapi.CodeVMIsPartOfAnAppliance), "%s: %v", vm.NameLabel, err)
				break
			}
		}
		require.NoError(t, fs.RecoverVM(ctx, u.ref, r.s, true), u.name)
		_, err := r.s.GetVMByUUID(ctx, u.uuid)
		require.NoError(t, err, u.name)
		r.vms = append(r.vms, u.uuid)
	}
}

// logoutForeign is runbook step 8 (docs/xapi-dr.md).
func logoutForeign(t *testing.T, ctx context.Context, fs *xapi.ForeignSession) {
	require.NoError(t, fs.Logout(ctx))
	require.NoError(t, fs.Logout(ctx), "idempotent")
	_, err := fs.GetAllVMRecords(ctx)
	assert.True(t, xapi.IsCode(err, xapi.CodeSessionInvalid), "the foreign database is gone: %v", err)
}

// recoverFromMetadata runs steps 5–8 for every chosen metadata VDI and
// checks the precheck verdicts (build-agent needs its local SR).
func recoverFromMetadata(t *testing.T, ctx context.Context, r *recovery, wantBlocked map[string][]string, keep func(unit) bool) {
	for _, vdi := range r.metaVDIs {
		var fs *xapi.ForeignSession
		var vms map[xapi.ForeignRef]xapi.ForeignVM
		var apps map[xapi.ForeignRef]xapi.ForeignVMAppliance
		step(t, "VDI.open_database", func(t *testing.T) { fs, vms, apps = openDatabase(t, ctx, r, vdi) })
		defer fs.Logout(context.WithoutCancel(ctx))
		var ok []unit
		step(t, "assert_can_be_recovered", func(t *testing.T) {
			var blocked map[string][]string
			units := sortedUnits(vms, apps)
			if keep != nil {
				units = slices.DeleteFunc(units, func(u unit) bool { return !keep(u) })
			}
			ok, blocked = precheck(t, ctx, r, fs, units)
			assert.Equal(t, wantBlocked, blocked)
		})
		step(t, "recover force=true", func(t *testing.T) { recoverUnits(t, ctx, r, fs, ok, vms) })
		step(t, "foreign logout", func(t *testing.T) { logoutForeign(t, ctx, fs) })
	}
}

// vmsByUUID reads the target's VMs keyed by UUID.
func vmsByUUID(t *testing.T, ctx context.Context, s *xapi.Session) (map[string]xapi.Ref, map[string]xapi.VM) {
	all, err := s.GetAllVMRecords(ctx)
	require.NoError(t, err)
	refs, recs := map[string]xapi.Ref{}, map[string]xapi.VM{}
	for ref, vm := range all {
		refs[vm.UUID], recs[vm.UUID] = ref, vm
	}
	return refs, recs
}

// startUnits is runbook step 9 (docs/xapi-dr.md). vApps are started by ascending order group:
// erp and intranet by the runbook itself (VM.start per VM, the VMs of one
// order in parallel, the next group once they all returned), crm by xapi
// (VM_appliance.start); standalone VMs with VM.start, suspended ones with
// VM.resume. skip names vApps/VMs left stopped ("Don't start").
func startUnits(t *testing.T, ctx context.Context, r *recovery, paused bool, skip ...string) {
	refs, recs := vmsByUUID(t, ctx, r.s)
	for _, appUUID := range r.apps {
		appRef, err := r.s.GetVMApplianceByUUID(ctx, appUUID)
		require.NoError(t, err)
		app, err := r.s.GetVMApplianceRecord(ctx, appRef)
		require.NoError(t, err)
		if slices.Contains(skip, app.NameLabel) {
			continue
		}
		if app.NameLabel == "crm" {
			require.NoError(t, r.s.StartVMAppliance(ctx, appRef, paused))
			continue
		}
		groups := map[int64][]xapi.Ref{}
		for _, vm := range app.VMs {
			rec, err := r.s.GetVMRecord(ctx, vm)
			require.NoError(t, err)
			groups[rec.Order] = append(groups[rec.Order], vm)
		}
		orders := make([]int64, 0, len(groups))
		for o := range groups {
			orders = append(orders, o)
		}
		slices.Sort(orders)
		for _, o := range orders {
			var wg sync.WaitGroup
			errs := make([]error, len(groups[o]))
			for i, vm := range groups[o] {
				wg.Go(func() { errs[i] = r.s.StartVM(ctx, vm, paused, false) })
			}
			wg.Wait()
			require.NoError(t, errors.Join(errs...), "%s order %d", app.NameLabel, o)
		}
	}
	for _, u := range r.vms {
		if slices.Contains(skip, recs[u].NameLabel) {
			continue
		}
		if recs[u].PowerState == xapi.PowerSuspended {
			require.NoError(t, r.s.ResumeVM(ctx, refs[u], paused, false), recs[u].NameLabel)
			continue
		}
		require.NoError(t, r.s.StartVM(ctx, refs[u], paused, false), recs[u].NameLabel)
	}
}

// destroyDRTasks is runbook step 10 (docs/xapi-dr.md).
func destroyDRTasks(t *testing.T, ctx context.Context, r *recovery) {
	for _, task := range r.tasks {
		require.NoError(t, r.s.DestroyDRTask(ctx, task))
	}
	left, err := r.s.GetAllDRTaskRecords(ctx)
	require.NoError(t, err)
	assert.Empty(t, left)
}

// journalSince returns the simulator's journal entries for one pool.
func journalSince(w *sim.World, pool string, since int64) []sim.JournalEntry {
	var out []sim.JournalEntry
	for _, e := range w.Journal().Entries(since) {
		if strings.EqualFold(e.Pool, pool) {
			out = append(out, e)
		}
	}
	return out
}

func lastSeq(w *sim.World) int64 {
	e := w.Journal().Entries(0)
	if len(e) == 0 {
		return 0
	}
	return e[len(e)-1].Seq
}

// checkNoSessionsLeft: every foreign database opened was logged out (the
// journal pairs them), and once the real session logs out the pool holds no
// session at all.
func checkNoSessionsLeft(t *testing.T, ctx context.Context, r *recovery, since int64) {
	opened, closed := 0, 0
	for _, e := range journalSince(r.w, r.target, since) {
		switch {
		case e.Method == "Async.VDI.open_database" && e.Result == "Success":
			opened++
		case e.Method == "session.logout" && e.Session == "foreign" && e.Result == "Success":
			closed++
		}
	}
	assert.Equal(t, len(r.metaVDIs), opened)
	assert.Equal(t, opened, closed, "every foreign session logged out")
	require.NoError(t, r.s.Logout(ctx))
	assert.Equal(t, 0, poolState(t, r.w, r.target).Sessions, "no session left on %s", r.target)
}

func poolState(t *testing.T, w *sim.World, name string) sim.PoolState {
	for _, p := range w.Control().State().Pools {
		if strings.EqualFold(p.Name, name) {
			return p
		}
	}
	t.Fatalf("no pool %s", name)
	return sim.PoolState{}
}

// failover runs the failover runbook (runbook steps 2–10 of docs/xapi-dr.md) on the DR pool and
// returns its state; the DR pool's networks before recovery are returned by name.
func failover(t *testing.T, ctx context.Context, w *sim.World) (*recovery, map[string]xapi.Ref) {
	var r *recovery
	var drNetworks map[string]xapi.Ref
	step(t, "site down and mirrors split", func(t *testing.T) { disaster(t, w, true) })
	step(t, "login to the DR master", func(t *testing.T) {
		r = loginTarget(t, ctx, w, "dr")
		drNetworks = networksByName(t, ctx, r.s)
	})
	step(t, "SR.probe metadata", func(t *testing.T) { probeStorage(t, ctx, r) })
	step(t, "DR_task.create", func(t *testing.T) { introduceStorage(t, ctx, r) })
	step(t, "find metadata VDIs", func(t *testing.T) {
		findMetadata(t, ctx, r, primaryPoolUUID, 2) // gold-01 and fc-silver-01, same generation
	})
	recoverFromMetadata(t, ctx, r, map[string][]string{"build-agent": {"Local storage primary-01"}}, nil)
	step(t, "start by order", func(t *testing.T) {
		tok, err := r.s.EventFrom(ctx, []string{"VM"}, "", 0)
		require.NoError(t, err)
		startUnits(t, ctx, r, false)
		checkStartOrder(t, ctx, r, tok.Token)
	})
	step(t, "DR_task.destroy", func(t *testing.T) { destroyDRTasks(t, ctx, r) })
	return r, drNetworks
}

func networksByName(t *testing.T, ctx context.Context, s *xapi.Session) map[string]xapi.Ref {
	nets, err := s.GetAllNetworkRecords(ctx)
	require.NoError(t, err)
	out := map[string]xapi.Ref{}
	for ref, n := range nets {
		out[n.NameLabel] = ref
	}
	return out
}

// TestDRFailoverDemo is the complete failover of the demo world.
func TestDRFailoverDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := demoWorld(t)
	begin := lastSeq(w)
	r, drNetworks := failover(t, ctx, w)

	step(t, "final state (client)", func(t *testing.T) {
		_, recs := vmsByUUID(t, ctx, r.s)
		want := wantRecovered(r)
		require.Len(t, want, 13, "3 vApps (8 VMs) + mail-01, dns-01, monitoring, lab-tool, report-01")
		checkRecoveredVMs(t, ctx, r, recs, want, xapi.PowerRunning, drNetworks)
		assert.NotContains(t, recs, r.uuidOf("build-agent"), "build-agent stays on the lost site")
		checkStorageAfterDRTasks(t, ctx, r)
		tasks, err := r.s.GetAllTaskRecords(ctx)
		require.NoError(t, err)
		assert.Empty(t, tasks, "every task destroyed")
	})
	step(t, "final state (simulator)", func(t *testing.T) {
		dr := poolState(t, w, "dr")
		assert.Empty(t, dr.DRTasks)
		power := map[string]string{}
		version := map[string]int64{}
		vapp := map[string]string{}
		for _, vm := range dr.VMs {
			power[vm.UUID], version[vm.UUID], vapp[vm.UUID] = vm.PowerState, vm.Version, vm.VApp
		}
		for u, fv := range wantRecovered(r) {
			assert.Equal(t, "Running", power[u], fv.name)
			assert.Equal(t, fv.version+1, version[u], fv.name)
			if fv.vapp != "" {
				assert.NotEmpty(t, vapp[u], fv.name)
			}
		}
		assert.Equal(t, "Running", power[vmUUIDByName(t, dr, "dr-jumpbox")], "the DR pool's own VMs untouched")
		assert.Equal(t, "Halted", power[vmUUIDByName(t, dr, "dr-backup")])
		for _, sr := range dr.SRs {
			switch sr.UUID {
			case gold01UUID, gold02UUID, silverUUID, drInfraUUID:
				assert.True(t, sr.Attached, sr.Name)
				assert.Empty(t, sr.IntroducedBy, sr.Name)
			case spareUUID:
				t.Errorf("spare-01 should have been forgotten")
			}
		}
		assert.ElementsMatch(t, []string{"Production", "Backend", "Lab-only"}, dr.Networks)
		for _, e := range journalSince(w, "dr", begin) {
			assert.NotEqual(t, "VDI.destroy", strings.TrimPrefix(e.Method, "Async."), "no VDI destroyed")
		}
	})
	step(t, "no session left", func(t *testing.T) { checkNoSessionsLeft(t, ctx, r, begin) })
}

func vmUUIDByName(t *testing.T, p sim.PoolState, name string) string {
	for _, vm := range p.VMs {
		if vm.Name == name {
			return vm.UUID
		}
	}
	t.Fatalf("no VM %s in %s", name, p.Name)
	return ""
}

// wantRecovered is every VM recovered: vApp members and standalone units.
func wantRecovered(r *recovery) map[string]foreignVM {
	out := map[string]foreignVM{}
	for u, fv := range r.source {
		if slices.Contains(r.vms, u) || fv.vapp != "" && slices.Contains(r.apps, fv.vapp) {
			out[u] = fv
		}
	}
	return out
}

// checkRecoveredVMs: same UUID, version = metadata version + 1, MACs kept,
// vApp membership kept, power state, networks matched by name (Lab-only
// created by the import, the DR pool's own Production/Backend reused).
func checkRecoveredVMs(t *testing.T, ctx context.Context, r *recovery, recs map[string]xapi.VM, want map[string]foreignVM, power string, before map[string]xapi.Ref) {
	nets, err := r.s.GetAllNetworkRecords(ctx)
	require.NoError(t, err)
	for u, fv := range want {
		vm, ok := recs[u]
		if !assert.True(t, ok, "%s recovered with its UUID", fv.name) {
			continue
		}
		assert.Equal(t, fv.name, vm.NameLabel)
		assert.Equal(t, fv.version+1, vm.Version, "%s version", fv.name)
		assert.Equal(t, power, vm.PowerState, fv.name)
		assert.NotEmpty(t, vm.OtherConfig["import_task"], fv.name)
		assert.Equal(t, fv.vbds, len(vm.VBDs), "%s disks", fv.name)
		if fv.vapp == "" {
			assert.True(t, vm.Appliance.IsNull(), fv.name)
		} else {
			app, err := r.s.GetVMApplianceRecord(ctx, vm.Appliance)
			require.NoError(t, err, fv.name)
			assert.Equal(t, fv.vapp, app.UUID, "%s vApp membership", fv.name)
			assert.Equal(t, fv.order, vm.Order, fv.name)
		}
		var macs, netNames []string
		vifs := map[string]xapi.VIF{}
		for _, ref := range vm.VIFs {
			v, err := r.s.GetVIFRecord(ctx, ref)
			require.NoError(t, err)
			vifs[v.Device] = v
		}
		devs := make([]string, 0, len(vifs))
		for d := range vifs {
			devs = append(devs, d)
		}
		slices.Sort(devs)
		for _, d := range devs {
			v := vifs[d]
			macs = append(macs, v.MAC)
			n := nets[v.Network]
			netNames = append(netNames, n.NameLabel)
			if ref, existed := before[n.NameLabel]; existed {
				assert.Equal(t, ref, v.Network, "%s: %s is the target's own network", fv.name, n.NameLabel)
			} else {
				assert.Equal(t, "Lab-only", n.NameLabel)
				assert.NotEmpty(t, n.OtherConfig["import_task"], "created by the import")
			}
		}
		assert.Equal(t, fv.macs, macs, "%s MACs", fv.name)
		assert.Equal(t, fv.networks, netNames, "%s networks", fv.name)
	}
}

// checkStorageAfterDRTasks: SRs used by recovered VMs stay attached with
// introduced_by cleared; the unused introduced SR is forgotten.
func checkStorageAfterDRTasks(t *testing.T, ctx context.Context, r *recovery) {
	for _, d := range drDevices() {
		ref, err := r.s.GetSRByUUID(ctx, d.srUUID)
		if d.srUUID == spareUUID {
			assert.True(t, xapi.IsCode(err, xapi.CodeUUIDInvalid), "spare-01 forgotten by DR_task.destroy: %v", err)
			continue
		}
		require.NoError(t, err, d.name)
		sr, err := r.s.GetSRRecord(ctx, ref)
		require.NoError(t, err)
		assert.True(t, sr.IntroducedBy.IsNull(), "%s introduced_by cleared", d.name)
		for _, p := range sr.PBDs {
			pbd, err := r.s.GetPBDRecord(ctx, p)
			require.NoError(t, err)
			assert.True(t, pbd.CurrentlyAttached, d.name)
		}
	}
}

// checkStartOrder reads the VM events since tok and checks that, in each vApp,
// no VM of a higher order came up before every VM of a lower order did.
func checkStartOrder(t *testing.T, ctx context.Context, r *recovery, tok string) {
	b, err := r.s.EventFrom(ctx, []string{"VM"}, tok, time.Second)
	require.NoError(t, err)
	first := map[string]int{} // uuid → index of the first event showing it up
	for i, ev := range b.Events {
		var vm xapi.VM
		if ev.Operation == "del" || ev.DecodeSnapshot(&vm) != nil {
			continue
		}
		if _, seen := first[vm.UUID]; !seen && (vm.PowerState == xapi.PowerRunning || vm.PowerState == xapi.PowerPaused) {
			first[vm.UUID] = i
		}
	}
	for u, fv := range wantRecovered(r) {
		if fv.vapp == "" {
			continue
		}
		require.Contains(t, first, u, fv.name)
		for u2, fv2 := range wantRecovered(r) {
			if fv2.vapp == fv.vapp && fv2.order > fv.order {
				require.Contains(t, first, u2, fv2.name)
				assert.Less(t, first[u], first[u2], "%s (order %d) up before %s (order %d)", fv.name, fv.order, fv2.name, fv2.order)
			}
		}
	}
}

// poolSnapshot is what a test failover must leave as it found it.
type poolSnapshot struct {
	VMs      map[string]string // uuid → power state (control domains included)
	VApps    map[string]string // uuid → name
	SRs      map[string]string // uuid → "name type shared introduced_by"
	PBDs     map[string]string // uuid → "host-uuid sr-uuid attached"
	Networks map[string]string // uuid → "name bridge"
	DRTasks  []string
}

func snapshotPool(t *testing.T, ctx context.Context, s *xapi.Session) poolSnapshot {
	snap := poolSnapshot{VMs: map[string]string{}, VApps: map[string]string{}, SRs: map[string]string{}, PBDs: map[string]string{}, Networks: map[string]string{}, DRTasks: []string{}}
	vms, err := s.GetAllVMRecords(ctx)
	require.NoError(t, err)
	for _, vm := range vms {
		snap.VMs[vm.UUID] = vm.PowerState
	}
	apps, err := s.GetAllVMApplianceRecords(ctx)
	require.NoError(t, err)
	for _, a := range apps {
		snap.VApps[a.UUID] = a.NameLabel
	}
	hosts, err := s.GetAllHostRecords(ctx)
	require.NoError(t, err)
	srs, err := s.GetAllSRRecords(ctx)
	require.NoError(t, err)
	for _, sr := range srs {
		snap.SRs[sr.UUID] = strings.Join([]string{sr.NameLabel, sr.Type, boolStr(sr.Shared), string(sr.IntroducedBy)}, " ")
	}
	pbds, err := s.GetAllPBDRecords(ctx)
	require.NoError(t, err)
	for _, p := range pbds {
		snap.PBDs[p.UUID] = strings.Join([]string{hosts[p.Host].UUID, srs[p.SR].UUID, boolStr(p.CurrentlyAttached)}, " ")
	}
	nets, err := s.GetAllNetworkRecords(ctx)
	require.NoError(t, err)
	for _, n := range nets {
		snap.Networks[n.UUID] = n.NameLabel + " " + n.Bridge
	}
	tasks, err := s.GetAllDRTaskRecords(ctx)
	require.NoError(t, err)
	for _, dt := range tasks {
		snap.DRTasks = append(snap.DRTasks, dt.UUID)
	}
	return snap
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// drLUNVDIs counts the VDIs on each DR-site LUN image (the replicated data).
func drLUNVDIs(w *sim.World) map[string]int {
	out := map[string]int{}
	for _, l := range w.Control().State().LUNs {
		if l.Site == "dr" {
			out[l.SCSIid] = l.VDIs
		}
	}
	return out
}

// cleanupTestFailover is the test-failover cleanup of docs/xapi-dr.md
// ("Test-failover cleanup", runbook step 11), in the order: vApps (hard_shutdown where allowed, member
// VMs, vApp record), standalone VMs, DR_task.destroy, introduced SRs
// (PBDs unplugged non-master first, master last, then SR.forget), networks
// created by the import. Records only: never VDI.destroy. It returns the
// names of the vApps that were hard shut down.
func cleanupTestFailover(t *testing.T, ctx context.Context, r *recovery, before poolSnapshot) (hardShutdown []string) {
	destroyVM := func(vm xapi.Ref) {
		rec, err := r.s.GetVMRecord(ctx, vm)
		require.NoError(t, err)
		switch rec.PowerState {
		case xapi.PowerRunning, xapi.PowerPaused:
			require.NoError(t, r.s.HardShutdownVM(ctx, vm), rec.NameLabel)
		case xapi.PowerSuspended:
			// Straight to destroy: hard_shutdown would delete the suspend
			// image, which lives on the replicated LUN.
		}
		require.NoError(t, r.s.DestroyVM(ctx, vm), rec.NameLabel)
	}
	for _, u := range r.apps {
		ref, err := r.s.GetVMApplianceByUUID(ctx, u)
		require.NoError(t, err)
		app, err := r.s.GetVMApplianceRecord(ctx, ref)
		require.NoError(t, err)
		if slices.Contains(app.AllowedOperations, "hard_shutdown") {
			require.NoError(t, r.s.HardShutdownVMAppliance(ctx, ref), app.NameLabel)
			hardShutdown = append(hardShutdown, app.NameLabel)
		}
		for _, vm := range app.VMs {
			destroyVM(vm)
		}
		require.NoError(t, r.s.DestroyVMAppliance(ctx, ref), app.NameLabel)
	}
	for _, u := range r.vms {
		ref, err := r.s.GetVMByUUID(ctx, u)
		require.NoError(t, err)
		destroyVM(ref)
	}
	destroyDRTasks(t, ctx, r)
	srRefs := make([]xapi.Ref, 0, len(r.introduced))
	for ref := range r.introduced {
		srRefs = append(srRefs, ref)
	}
	slices.Sort(srRefs)
	for _, ref := range srRefs {
		sr, err := r.s.GetSRRecord(ctx, ref)
		if xapi.IsCode(err, xapi.CodeHandleInvalid) {
			continue // forgotten by DR_task.destroy already
		}
		require.NoError(t, err)
		var slaves, master []xapi.Ref
		for _, p := range sr.PBDs {
			pbd, err := r.s.GetPBDRecord(ctx, p)
			require.NoError(t, err)
			if !pbd.CurrentlyAttached {
				continue
			}
			if pbd.Host == r.master {
				master = append(master, p)
			} else {
				slaves = append(slaves, p)
			}
		}
		for _, p := range append(slaves, master...) {
			require.NoError(t, r.s.UnplugPBD(ctx, p), sr.NameLabel)
		}
		require.NoError(t, r.s.ForgetSR(ctx, ref), sr.NameLabel)
	}
	nets, err := r.s.GetAllNetworkRecords(ctx)
	require.NoError(t, err)
	for ref, n := range nets {
		if _, existed := before.Networks[n.UUID]; !existed && n.OtherConfig["import_task"] != "" {
			_, err := r.s.Call(ctx, "network.destroy", string(ref))
			require.NoError(t, err, n.NameLabel)
		}
	}
	return hardShutdown
}

// TestDRTestFailoverDemo is a test failover (drill) of the demo world with
// full cleanup: the DR pool must end exactly as it was, and no VDI may be
// destroyed.
func TestDRTestFailoverDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := demoWorld(t)
	var r *recovery
	var before poolSnapshot
	var beforeSim sim.PoolState
	var beforeLUNs map[string]int
	var begin int64

	step(t, "mirrors split, primary keeps running", func(t *testing.T) { disaster(t, w, false) })
	step(t, "login to the DR master", func(t *testing.T) { r = loginTarget(t, ctx, w, "dr") })
	step(t, "snapshot the DR pool", func(t *testing.T) {
		p, err := r.s.GetPoolRecord(ctx, r.pool)
		require.NoError(t, err)
		require.False(t, p.HAEnabled, "a drill needs HA off on the DR pool")
		before = snapshotPool(t, ctx, r.s)
		beforeSim = poolState(t, w, "dr")
		beforeLUNs = drLUNVDIs(w)
		begin = lastSeq(w)
		require.Len(t, before.DRTasks, 0)
	})
	step(t, "SR.probe metadata", func(t *testing.T) { probeStorage(t, ctx, r) })
	step(t, "DR_task.create", func(t *testing.T) { introduceStorage(t, ctx, r) })
	step(t, "find metadata VDIs", func(t *testing.T) { findMetadata(t, ctx, r, primaryPoolUUID, 2) })
	recoverFromMetadata(t, ctx, r, map[string][]string{"build-agent": {"Local storage primary-01"}}, nil)
	step(t, "start paused", func(t *testing.T) {
		// intranet is left stopped ("Don't start"), which makes its
		// hard_shutdown not allowed at cleanup; report-01 stays Suspended.
		startUnits(t, ctx, r, true, "intranet", "report-01")
		_, recs := vmsByUUID(t, ctx, r.s)
		for u, fv := range wantRecovered(r) {
			want := xapi.PowerPaused
			switch {
			case fv.name == "report-01":
				want = xapi.PowerSuspended
			case fv.vapp == vappUUIDs["intranet"]:
				want = xapi.PowerHalted
			}
			assert.Equal(t, want, recs[u].PowerState, fv.name)
			assert.Equal(t, fv.version+1, recs[u].Version, fv.name)
		}
	})
	var pbds map[xapi.Ref]xapi.PBD
	var suspended xapi.Ref
	step(t, "cleanup", func(t *testing.T) {
		var err error
		pbds, err = r.s.GetAllPBDRecords(ctx)
		require.NoError(t, err)
		suspended, err = r.s.GetVMByUUID(ctx, r.uuidOf("report-01"))
		require.NoError(t, err)
		hard := cleanupTestFailover(t, ctx, r, before)
		assert.ElementsMatch(t, []string{"erp", "crm"}, hard, "VM_appliance.hard_shutdown only where allowed")
	})
	step(t, "DR pool as before (client)", func(t *testing.T) {
		after := snapshotPool(t, ctx, r.s)
		assert.Equal(t, before, after)
		tasks, err := r.s.GetAllTaskRecords(ctx)
		require.NoError(t, err)
		assert.Empty(t, tasks, "every task destroyed")
	})
	step(t, "DR pool as before (simulator)", func(t *testing.T) {
		after := poolState(t, w, "dr")
		assert.Equal(t, beforeSim.VMs, after.VMs)
		assert.Equal(t, beforeSim.VApps, after.VApps)
		assert.Equal(t, beforeSim.SRs, after.SRs)
		assert.Equal(t, beforeSim.Networks, after.Networks)
		assert.Empty(t, after.DRTasks)
		assert.Equal(t, beforeLUNs, drLUNVDIs(w), "every VDI still on the DR LUNs (suspend image included)")
	})
	step(t, "journal: no VDI destroyed, PBDs unplugged master last, suspended VM destroyed directly", func(t *testing.T) {
		unplugged := map[xapi.Ref][]xapi.Ref{} // SR → its PBDs in unplug order
		var hardShutdown, destroyed []string
		for _, e := range journalSince(w, "dr", begin) {
			m := strings.TrimPrefix(e.Method, "Async.")
			assert.NotEqual(t, "VDI.destroy", m, "a test failover never destroys a VDI")
			if e.Result != "Success" || len(e.Params) < 2 {
				continue
			}
			target, _ := e.Params[1].(string)
			switch m {
			case "PBD.unplug":
				pbd := pbds[xapi.Ref(target)]
				unplugged[pbd.SR] = append(unplugged[pbd.SR], xapi.Ref(target))
			case "VM.hard_shutdown":
				hardShutdown = append(hardShutdown, target)
			case "VM.destroy":
				destroyed = append(destroyed, target)
			}
		}
		// Three introduced SRs stayed attached (used by recovered VMs); spare-01
		// was unplugged and forgotten by DR_task.destroy itself.
		require.Len(t, unplugged, 3)
		for sr, order := range unplugged {
			require.Len(t, order, 2, "both hosts' PBDs of %s", r.introduced[sr])
			assert.NotEqual(t, r.master, pbds[order[0]].Host, "%s: non-master first", r.introduced[sr])
			assert.Equal(t, r.master, pbds[order[1]].Host, "%s: master last", r.introduced[sr])
		}
		assert.NotContains(t, hardShutdown, string(suspended), "a suspended VM is not hard shut down")
		assert.Contains(t, destroyed, string(suspended))
		assert.Len(t, hardShutdown, 4, "the paused standalone VMs (mail-01, dns-01, monitoring, lab-tool); vApp members went down with their vApp")
	})
	step(t, "no session left", func(t *testing.T) { checkNoSessionsLeft(t, ctx, r, begin) })
}

// TestSimDoesNotImportXAPI keeps the simulator independent of the client it
// is used to test: a shared bug could otherwise cancel itself out.
func TestSimDoesNotImportXAPI(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("sim", "*.go"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range af.Imports {
			assert.NotEqual(t, `"github.com/lifeboat-dr/lifeboat/xapi"`, imp.Path.Value, f)
		}
	}
}

// TestDRFailbackDemo fails over, reprotects on the DR pool (its database
// replicated to the recovered gold-01 and fc-silver-01), shuts the workload
// down on DR, brings the primary back with the mirrors reversed, and runs the
// same runbook against the primary with the DR pool's metadata: the old
// halted copies are replaced, versions go up once more.
func TestDRFailbackDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := demoWorld(t)
	dr, _ := failover(t, ctx, w)
	failedOver := wantRecovered(dr)
	var p *recovery
	var primaryNets map[string]xapi.Ref

	step(t, "reprotect: DR pool replicates its metadata", func(t *testing.T) {
		for _, u := range []string{gold01UUID, silverUUID} {
			sr, err := dr.s.GetSRByUUID(ctx, u)
			require.NoError(t, err)
			require.NoError(t, dr.s.AssertSupportsDatabaseReplication(ctx, sr))
			require.NoError(t, dr.s.EnableDatabaseReplication(ctx, sr))
		}
		// Local storage cannot hold a metadata VDI (xapi checks the PBDs on
		// every host first, so a local SR fails with SR_HAS_NO_PBDS).
		srs, err := dr.s.GetAllSRRecords(ctx)
		require.NoError(t, err)
		for ref, sr := range srs {
			if sr.Type == "lvm" {
				err := dr.s.AssertSupportsDatabaseReplication(ctx, ref)
				assert.True(t, xapi.IsCode(err, xapi.CodeSRHasNoPBDs), "%s: %v", sr.NameLabel, err)
				break
			}
		}
	})
	step(t, "planned shutdown on DR", func(t *testing.T) {
		for _, u := range dr.apps {
			ref, err := dr.s.GetVMApplianceByUUID(ctx, u)
			require.NoError(t, err)
			require.NoError(t, dr.s.ShutdownVMAppliance(ctx, ref))
		}
		refs, _ := vmsByUUID(t, ctx, dr.s)
		for _, u := range dr.vms {
			require.NoError(t, dr.s.CleanShutdownVM(ctx, refs[u]))
		}
		_, recs := vmsByUUID(t, ctx, dr.s)
		for u, fv := range failedOver {
			assert.Equal(t, xapi.PowerHalted, recs[u].PowerState, fv.name)
		}
		require.NoError(t, dr.s.Logout(ctx))
	})
	step(t, "primary back, mirrors reversed", func(t *testing.T) {
		ct := w.Control()
		require.NoError(t, ct.SiteUp("primary", false))
		// DR's content copied back, then split: the primary's LUNs are
		// writable again, as plugging their SRs needs.
		for _, m := range []string{"gold-01", "gold-02", "fc-silver-01"} {
			require.NoError(t, ct.ReverseMirror(m))
			require.NoError(t, ct.SplitMirror(m))
		}
	})
	step(t, "login to the primary master", func(t *testing.T) {
		p = loginTarget(t, ctx, w, "primary")
		primaryNets = networksByName(t, ctx, p.s)
		_, recs := vmsByUUID(t, ctx, p.s)
		for u, fv := range failedOver {
			assert.Equal(t, xapi.PowerHalted, recs[u].PowerState, "%s: the old copy is halted after the power loss", fv.name)
			assert.Equal(t, fv.version, recs[u].Version, fv.name)
		}
	})
	step(t, "SR.scan the primary's replicated SRs", func(t *testing.T) {
		for _, u := range []string{gold01UUID, gold02UUID, silverUUID} {
			sr, err := p.s.GetSRByUUID(ctx, u)
			require.NoError(t, err)
			require.NoError(t, p.s.ScanSR(ctx, sr))
		}
	})
	step(t, "re-plug them, so the master reads the foreign metadata", func(t *testing.T) {
		// SR.scan records the DR pool's metadata VDIs with metadata_latest
		// false; only the master's PBD.plug reads them. Unplug the other
		// hosts' PBDs first and the master's last, plug the master's first.
		pool, err := p.s.GetPoolRecord(ctx, p.pool)
		require.NoError(t, err)
		for _, u := range []string{gold01UUID, gold02UUID, silverUUID} {
			sr, err := p.s.GetSRByUUID(ctx, u)
			require.NoError(t, err)
			rec, err := p.s.GetSRRecord(ctx, sr)
			require.NoError(t, err)
			pbds := slices.Clone(rec.PBDs)
			master := func(ref xapi.Ref) bool {
				pr, err := p.s.GetPBDRecord(ctx, ref)
				require.NoError(t, err)
				return pr.Host == pool.Master
			}
			sort.SliceStable(pbds, func(i, j int) bool { return !master(pbds[i]) && master(pbds[j]) })
			for _, pbd := range pbds {
				require.NoError(t, p.s.UnplugPBD(ctx, pbd))
			}
			for i := len(pbds) - 1; i >= 0; i-- {
				require.NoError(t, p.s.PlugPBD(ctx, pbds[i]))
			}
		}
	})
	step(t, "find the DR pool's metadata", func(t *testing.T) { findMetadata(t, ctx, p, drPoolUUID, 2) })
	// The DR pool's own VMs live on dr-infra, which the primary cannot see.
	recoverFromMetadata(t, ctx, p, map[string][]string{"dr-jumpbox": {"dr-infra"}, "dr-backup": {"dr-infra"}}, nil)
	step(t, "recovered over the old copies", func(t *testing.T) {
		_, recs := vmsByUUID(t, ctx, p.s)
		want := map[string]foreignVM{}
		for u, fv := range wantRecovered(p) {
			want[u] = fv
			assert.Equal(t, failedOver[u].version+2, recs[u].Version, "%s: recovered twice", fv.name)
		}
		require.Len(t, want, len(failedOver), "everything that failed over comes back")
		checkRecoveredVMs(t, ctx, p, recs, want, xapi.PowerHalted, primaryNets)
		for u, fv := range failedOver {
			assert.Equal(t, dr.source[u].macs, fv.macs)
			assert.Equal(t, fv.macs, p.source[u].macs, "%s: MACs stable across failover and failback", fv.name)
		}
		assert.Equal(t, int64(0), recs[p.uuidOf("build-agent")].Version, "build-agent never left: untouched")
		// Lab-only was matched by name to the primary's own network.
		assert.Len(t, primaryNets, len(networksByName(t, ctx, p.s)), "no network created on failback")
	})
	step(t, "start on the primary", func(t *testing.T) {
		startUnits(t, ctx, p, false)
		_, recs := vmsByUUID(t, ctx, p.s)
		for u, fv := range wantRecovered(p) {
			assert.Equal(t, xapi.PowerRunning, recs[u].PowerState, fv.name)
		}
		assert.Empty(t, p.tasks, "the primary knew its SRs: no DR task needed")
		tasks, err := p.s.GetAllTaskRecords(ctx)
		require.NoError(t, err)
		assert.Empty(t, tasks)
	})
	step(t, "no session left", func(t *testing.T) { checkNoSessionsLeft(t, ctx, p, 0) })
}
