package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// The demo world (xapi/sim/demo.yaml): pool Primary at site primary, pool DR
// at site dr; mirrors gold-01, gold-02, fc-silver-01 from primary to dr.
const (
	gold01UUID = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000a01"
	gold02UUID = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000a02"
	silverUUID = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000c01"
	drInfra    = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000b09"
	erpUUID    = "7e3a0d10-5b2c-4e8f-a1d4-000000000e01"
	primaryID  = "5f0c6a52-1d7e-4a8b-9c3d-2e4f6a8b0c1d"
	drPoolID   = "8d2b7c41-3e5f-4a6b-8c9d-0e1f2a3b4c5d"
	chapSecret = "s3cr3t-chap-Pa55"
)

type mapSecrets map[string]string

func (m mapSecrets) Secret(name string) (string, error) {
	if v, ok := m[name]; ok {
		return v, nil
	}
	return "", fmt.Errorf("no secret %q", name)
}

// drStorage is the demo plan's storage at the DR site.
func drStorage() []plan.StorageTarget {
	return []plan.StorageTarget{
		{Name: "dr-gold-1", Type: "lvmoiscsi", DeviceConfig: map[string]string{"target": "dr-array.lab", "port": "3260",
			"targetIQN": "iqn.2026-01.lab.dr-array:gold", "SCSIid": "36001405b0000000000000000000000b1"}},
		{Name: "dr-gold-2", Type: "lvmoiscsi", DeviceConfig: map[string]string{"target": "dr-array.lab", "port": "3260",
			"targetIQN": "iqn.2026-01.lab.dr-array:gold", "SCSIid": "36001405b0000000000000000000000b2"}},
		{Name: "dr-fc", Type: "lvmohba", DeviceConfig: map[string]string{"SCSIid": "3600a0b8000000000000000000000d1"}},
	}
}

type fixture struct {
	t   *testing.T
	w   *sim.World
	a   *Activities
	env *testsuite.TestActivityEnvironment
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, sim.Options{Speed: 0, FreePorts: true, ControlAddr: "-"})
}

func newFixtureWith(t *testing.T, opts sim.Options) *fixture {
	t.Helper()
	w, err := sim.Start(context.Background(), sim.DemoScenario(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	sites := map[string]SiteConfig{
		"dr":      {URL: w.PoolURL("dr"), Username: "root", Password: "lifeboat"},
		"primary": {URL: w.PoolURL("primary"), Username: "root", Password: "lifeboat"},
	}
	a, err := New(sites, mapSecrets{"chap": chapSecret}, testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = Close(context.Background(), a) })
	f := &fixture{t: t, w: w, a: a}
	f.env = f.newEnv()
	return f
}

func (f *fixture) newEnv() *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(f.a)
	return env
}

// run executes one activity and decodes its result into out.
func (f *fixture) run(out any, fn any, in any) error {
	f.t.Helper()
	v, err := f.env.ExecuteActivity(fn, in)
	if err != nil {
		return err
	}
	if out != nil && v != nil && v.HasValue() {
		require.NoError(f.t, v.Get(out))
	}
	return nil
}

func (f *fixture) must(out any, fn any, in any) {
	f.t.Helper()
	require.NoError(f.t, f.run(out, fn, in))
}

// splitMirrors promotes the DR copies (the storage-ready gate's job).
func (f *fixture) splitMirrors() {
	f.w.Control().SyncAll()
	for _, m := range []string{"gold-01", "gold-02", "fc-silver-01"} {
		require.NoError(f.t, f.w.Control().SplitMirror(m))
	}
}

// introduceAll probes and introduces every SR with metadata found at dr.
func (f *fixture) introduceAll() *IntroduceResult {
	var probe ProbeResult
	f.must(&probe, f.a.Probe, &ProbeInput{Site: "dr", Storage: drStorage()})
	wl := make([][]string, 3)
	for _, sr := range probe.SRs {
		if sr.PoolMetadataDetected || sr.UUID == gold02UUID {
			wl[sr.StorageIndex] = append(wl[sr.StorageIndex], sr.UUID)
		}
	}
	var res IntroduceResult
	f.must(&res, f.a.Introduce, &IntroduceInput{Site: "dr", Storage: drStorage(), Whitelist: wl})
	return &res
}

func (f *fixture) scan(srs []SRInfo) *ScanResult {
	var uuids []string
	for _, s := range srs {
		uuids = append(uuids, s.UUID)
	}
	var res ScanResult
	f.must(&res, f.a.Scan, &ScanInput{Site: "dr", SRUUIDs: uuids})
	return &res
}

// units turns a scan into recovery units and the VM list of a precheck.
func units(sc *ScanResult, skip ...string) ([]Unit, []VMInfo) {
	var us []Unit
	var vms []VMInfo
	for _, va := range sc.VApps {
		us = append(us, Unit{Kind: KindVApp, UUID: va.UUID, Name: va.Name, SourceVDI: va.SourceVDI})
		vms = append(vms, va.VMs...)
	}
	for _, vm := range sc.VMs {
		if slices.Contains(skip, vm.Name) {
			continue
		}
		us = append(us, Unit{Kind: KindVM, UUID: vm.UUID, Name: vm.Name, SourceVDI: vm.SourceVDI})
		vms = append(vms, vm)
	}
	return us, vms
}

func vmByName(sc *ScanResult, name string) VMInfo {
	for _, vm := range sc.VMs {
		if vm.Name == name {
			return vm
		}
	}
	for _, va := range sc.VApps {
		for _, vm := range va.VMs {
			if vm.Name == name {
				return vm
			}
		}
	}
	return VMInfo{}
}

func TestProbeFindsDRCopiesWithMetadata(t *testing.T) {
	f := newFixture(t)
	f.splitMirrors()
	var res ProbeResult
	f.must(&res, f.a.Probe, &ProbeInput{Site: "dr", Storage: drStorage()})
	got := map[string]ProbedSR{}
	for _, sr := range res.SRs {
		got[sr.UUID] = sr
	}
	require.Contains(t, got, gold01UUID)
	require.Contains(t, got, silverUUID)
	assert.True(t, got[gold01UUID].PoolMetadataDetected)
	assert.True(t, got[silverUUID].PoolMetadataDetected)
	assert.Equal(t, "gold-01", got[gold01UUID].NameLabel)
	assert.Equal(t, "dr-gold-1", got[gold01UUID].StorageName)
	assert.Equal(t, 2, got[silverUUID].StorageIndex)
	assert.False(t, got[gold01UUID].AlreadyInPool)
	if sr, ok := got[gold02UUID]; ok {
		assert.False(t, sr.PoolMetadataDetected, "gold-02 holds no metadata VDI")
	}
}

func TestIntroduceTwiceSameDRTask(t *testing.T) {
	f := newFixture(t)
	f.splitMirrors()
	first := f.introduceAll()
	require.Len(t, first.DRTasks, 3)
	assert.Len(t, first.AttachedSRs, 3)
	second := f.introduceAll()
	assert.Equal(t, first.DRTasks, second.DRTasks, "the second introduction adopts the first one's DR tasks")
	assert.ElementsMatch(t, first.AttachedSRs, second.AttachedSRs)
	assert.Len(t, f.w.Control().State().Pools[1].DRTasks, 3, "no extra DR task")
	assert.Equal(t, 3, f.w.Journal().Count("Async.DR_task.create", ""))
	for _, dt := range first.DRTasks {
		require.Len(t, dt.IntroducedSRs, 1)
	}
}

func TestIntroduceReplicatingMirrorSaysSplit(t *testing.T) {
	f := newFixture(t)
	before := len(f.w.Control().State().Pools[1].DRTasks)
	err := f.run(nil, f.a.Introduce, &IntroduceInput{Site: "dr", Storage: drStorage()[:1], Whitelist: [][]string{{gold01UUID}}})
	require.Error(t, err)
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae))
	assert.True(t, ae.NonRetryable())
	assert.Equal(t, codeMirror, ae.Type())
	assert.Contains(t, ae.Message(), `storage "dr-gold-1"`)
	assert.Contains(t, ae.Message(), "is still a read-only mirror copy")
	assert.Equal(t, "split or promote the mirror at the storage array (a test failover can run on a snapshot instead: test_storage in the plan), then start the run again", NextStep(err, "fallback"), "the code gives the next step")
	assert.Len(t, f.w.Control().State().Pools[1].DRTasks, before, "the failed DR task was destroyed")
}

func TestScanFindsDemoAndIgnoresOwnMetadata(t *testing.T) {
	f := newFixture(t)
	f.splitMirrors()
	intro := f.introduceAll()
	// Give the DR pool metadata of its own on dr-infra: the scan must skip it.
	var rp ReprotectResult
	f.must(&rp, f.a.Reprotect, &ReprotectInput{Site: "dr", SRUUIDs: []string{drInfra}})
	require.Equal(t, []string{drInfra}, rp.Enabled)
	srs := append(intro.AttachedSRs, SRInfo{UUID: drInfra})
	sc := f.scan(srs)
	assert.Equal(t, drPoolID, sc.TargetPoolUUID)
	require.NotEmpty(t, sc.Sources)
	for _, s := range sc.Sources {
		assert.Equal(t, primaryID, s.PoolUUID)
	}
	var vapps []string
	for _, va := range sc.VApps {
		vapps = append(vapps, va.Name)
	}
	assert.Equal(t, []string{"crm", "erp", "intranet"}, vapps)
	var vms []string
	for _, vm := range sc.VMs {
		vms = append(vms, vm.Name)
	}
	assert.Equal(t, []string{"build-agent", "dns-01", "lab-tool", "mail-01", "monitoring"}, vms)
	erp := sc.VApps[1]
	assert.Len(t, erp.VMs, 3)
	assert.Equal(t, erpUUID, erp.UUID)
	own := false
	for _, why := range sc.Ignored {
		if strings.Contains(why, "this pool's own metadata") {
			own = true
		}
	}
	assert.True(t, own, "ignored: %v", sc.Ignored)
	// Primary's metadata is on two SRs, the same latest copy on both: one
	// is opened and read, the other is said to be the same.
	require.Len(t, sc.Sources, 1)
	assert.Equal(t, 1, f.w.Journal().Count("Async.VDI.open_database", "Success"))
	same := 0
	for _, why := range sc.Ignored {
		if strings.Contains(why, "holds the same latest copy of its pool's metadata as metadata VDI "+sc.Sources[0].VDIUUID) {
			same++
		}
	}
	assert.Equal(t, 1, same, "ignored: %v", sc.Ignored)
	// Every foreign session is logged out when the worker stops.
	require.NoError(t, Close(context.Background(), f.a))
	assert.Equal(t, f.w.Journal().Count("Async.VDI.open_database", "Success"), countLogouts(f, "foreign"))
}

func countLogouts(f *fixture, kind string) int {
	n := 0
	for _, e := range f.w.Journal().Entries(0) {
		if e.Method == "session.logout" && e.Session == kind {
			n++
		}
	}
	return n
}

// prepared is a DR site with storage introduced and metadata scanned.
func prepared(t *testing.T) (*fixture, *IntroduceResult, *ScanResult) {
	f := newFixture(t)
	f.splitMirrors()
	intro := f.introduceAll()
	return f, intro, f.scan(intro.AttachedSRs)
}

func findCheck(checks []Check, check, object string) (Check, bool) {
	for _, c := range checks {
		if c.Check == check && c.Object == object {
			return c, true
		}
	}
	return Check{}, false
}

func TestPrecheckDemo(t *testing.T) {
	f, _, sc := prepared(t)
	us, vms := units(sc)
	var res PrecheckResult
	f.must(&res, f.a.Precheck, &PrecheckInput{Site: "dr", Mode: plan.ModeTestFailover, Units: us, VMs: vms})
	c, ok := findCheck(res.Checks, checkStorage, "VM 'build-agent'")
	require.True(t, ok, "%+v", res.Checks)
	assert.Equal(t, SeverityProblem, c.Severity)
	assert.Contains(t, c.Message, "uses local storage 'Local storage primary-01', which cannot be recovered")
	c, ok = findCheck(res.Checks, checkNetwork, "network 'Lab-only'")
	require.True(t, ok)
	assert.Equal(t, SeverityWarning, c.Severity)
	assert.Contains(t, c.Message, "VM 'lab-tool'")
	c, ok = findCheck(res.Checks, checkStorage, "vApp 'erp'")
	require.True(t, ok)
	assert.Equal(t, SeverityOK, c.Severity)
	for _, name := range []string{checkRole, checkHA} {
		c, ok = findCheck(res.Checks, name, "pool at site dr")
		require.True(t, ok, name)
		assert.Equal(t, SeverityOK, c.Severity, "%+v", c)
	}
	// The DR hosts have far more free memory than the demo VMs need.
	c, ok = findCheck(res.Checks, checkMemory, "pool at site dr")
	require.True(t, ok)
	assert.Equal(t, SeverityOK, c.Severity, "%+v", c)
	assert.Contains(t, c.Message, "free")
	c, ok = findCheck(res.Checks, checkExisting, "VM 'dns-01'")
	require.True(t, ok)
	assert.Equal(t, SeverityOK, c.Severity)
	_, ok = findCheck(res.Checks, checkVersion, "metadata of pool 'Primary'")
	assert.True(t, ok)
	// Failover: the primary still runs everything.
	f.must(&res, f.a.Precheck, &PrecheckInput{Site: "dr", Mode: plan.ModeFailover, SourceSite: "primary", Units: us, VMs: vms})
	c, ok = findCheck(res.Checks, checkSource, "vApp 'erp'")
	require.True(t, ok)
	assert.Equal(t, SeverityProblem, c.Severity)
	assert.Contains(t, c.Message, "still running at site primary")
	// Once the primary site is down it is a warning.
	require.NoError(t, f.w.Control().SiteDown("primary"))
	f.must(&res, f.a.Precheck, &PrecheckInput{Site: "dr", Mode: plan.ModeFailover, SourceSite: "primary", Units: us, VMs: vms})
	c, ok = findCheck(res.Checks, checkSource, "pool at site primary")
	require.True(t, ok, "%+v", res.Checks)
	assert.Equal(t, SeverityWarning, c.Severity)
	assert.Contains(t, c.Message, "could not check")
	// The warning gives its own advice, not the retry advice of the error.
	assert.NotContains(t, c.Message, "retried")
	t.Log(c.Message)
}

func TestRecoverTwiceIsAlready(t *testing.T) {
	for _, tc := range []struct{ parallel, slots int }{{0, 0}, {3, 0}, {0, 2}} {
		t.Run(fmt.Sprintf("parallel %d slots %d", tc.parallel, tc.slots), func(t *testing.T) { testRecoverTwiceIsAlready(t, tc.parallel, tc.slots) })
	}
}

func testRecoverTwiceIsAlready(t *testing.T, parallel, slots int) {
	f, _, sc := prepared(t)
	us, _ := units(sc, "build-agent")
	opened := f.w.Journal().Count("Async.VDI.open_database", "Success")
	require.NotZero(t, opened, "the scan opened the metadata")
	var first RecoverResult
	f.must(&first, f.a.Recover, &RecoverInput{Site: "dr", Units: us, Parallel: parallel, Slots: slots, Group: 1})
	for i, u := range first.Units {
		assert.Equal(t, us[i].UUID, u.UUID, "results in the input's order")
	}
	require.Len(t, first.Units, len(us))
	for _, u := range first.Units {
		assert.Empty(t, u.Error, u.UUID)
		assert.False(t, u.Already)
		assert.NotEmpty(t, u.VMUUIDs)
	}
	var second RecoverResult
	f.must(&second, f.a.Recover, &RecoverInput{Site: "dr", Units: us})
	for _, u := range second.Units {
		assert.True(t, u.Already, u.UUID)
	}
	assert.Equal(t, 3, f.w.Journal().Count("Async.VM_appliance.recover", ""))
	assert.Equal(t, 4, f.w.Journal().Count("Async.VM.recover", ""))
	assert.Equal(t, opened, f.w.Journal().Count("Async.VDI.open_database", "Success"), "recovery reuses the scan's databases")
	assert.Zero(t, countLogouts(f, "foreign"), "kept open for the run")
	// build-agent fails alone, with its reason, without failing the batch.
	var bad RecoverResult
	agent := vmByName(sc, "build-agent")
	f.must(&bad, f.a.Recover, &RecoverInput{Site: "dr", Units: []Unit{
		{Kind: KindVM, UUID: agent.UUID, Name: agent.Name, SourceVDI: agent.SourceVDI}, us[len(us)-1]}})
	defer func() {
		require.NoError(t, Close(context.Background(), f.a))
		assert.Equal(t, f.w.Journal().Count("Async.VDI.open_database", "Success"), countLogouts(f, "foreign"), "every database is logged out at worker stop")
	}()
	require.Len(t, bad.Units, 2)
	assert.Contains(t, bad.Units[0].Error, "VM 'build-agent' uses local storage")
	assert.True(t, bad.Units[1].Already)
}

func TestRecoverResumesInFlightTask(t *testing.T) {
	for _, tc := range []struct {
		name     string
		parallel int
		beat     func(unit, task, foreign string) recoverBeat
	}{
		{"one unit at a time", 0, func(unit, task, foreign string) recoverBeat {
			return recoverBeat{Unit: unit, Task: task, Foreign: []string{foreign}}
		}},
		{"units at once", 4, func(unit, task, foreign string) recoverBeat {
			return recoverBeat{InFlight: map[string]string{unit: task}, Foreign: []string{foreign}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { testRecoverResumesInFlightTask(t, tc.parallel, tc.beat) })
	}
}

func testRecoverResumesInFlightTask(t *testing.T, parallel int, beat func(unit, task, foreign string) recoverBeat) {
	f, _, sc := prepared(t)
	dns := vmByName(sc, "dns-01")
	unit := Unit{Kind: KindVM, UUID: dns.UUID, Name: dns.Name, SourceVDI: dns.SourceVDI}
	// A "crashed worker" started the recover and died: the task runs on.
	ctx := context.Background()
	cl, err := xapi.NewClient(f.w.PoolURL("dr"))
	require.NoError(t, err)
	s, err := cl.Login(ctx, "root", "lifeboat")
	require.NoError(t, err)
	vdi, err := s.GetVDIByUUID(ctx, dns.SourceVDI)
	require.NoError(t, err)
	fs, err := s.OpenDatabase(ctx, vdi)
	require.NoError(t, err)
	vm, err := fs.GetVMByUUID(ctx, dns.UUID)
	require.NoError(t, err)
	f.w.Control().SetSpeed(0.05) // the recover takes a moment, so it is still pending
	task, err := cl.Call(ctx, "Async.VM.recover", string(fs.Ref()), string(vm), string(s.Ref()), true)
	require.NoError(t, err)
	f.env.SetHeartbeatDetails(beat(dns.UUID, task.(string), string(fs.Ref())))
	var res RecoverResult
	f.must(&res, f.a.Recover, &RecoverInput{Site: "dr", Units: []Unit{unit}, Parallel: parallel})
	f.w.Control().SetSpeed(0)
	require.Len(t, res.Units, 1)
	assert.Empty(t, res.Units[0].Error)
	assert.True(t, res.Units[0].Already, "the crashed attempt's task recovered it")
	assert.Equal(t, 1, f.w.Journal().Count("Async.VM.recover", ""), "recovered exactly once")
	// The crashed attempt's foreign session and task were cleaned up.
	_, _, err = fs.GetPool(ctx)
	assert.True(t, xapi.IsCode(err, xapi.CodeSessionInvalid), "%v", err)
	_, err = s.GetTaskRecord(ctx, xapi.Ref(task.(string)))
	assert.True(t, gone(err), "%v", err)
}

func recoverSome(t *testing.T, f *fixture, sc *ScanResult, names ...string) []Unit {
	var us []Unit
	for _, va := range sc.VApps {
		if slices.Contains(names, va.Name) {
			us = append(us, Unit{Kind: KindVApp, UUID: va.UUID, Name: va.Name, SourceVDI: va.SourceVDI})
		}
	}
	for _, vm := range sc.VMs {
		if slices.Contains(names, vm.Name) {
			us = append(us, Unit{Kind: KindVM, UUID: vm.UUID, Name: vm.Name, SourceVDI: vm.SourceVDI})
		}
	}
	var res RecoverResult
	f.must(&res, f.a.Recover, &RecoverInput{Site: "dr", Units: us})
	for _, u := range res.Units {
		require.Empty(t, u.Error)
	}
	return us
}

func TestStartAndVerify(t *testing.T) {
	f, _, sc := prepared(t)
	recoverSome(t, f, sc, "dns-01", "mail-01")
	dns, mail := vmByName(sc, "dns-01"), vmByName(sc, "mail-01")
	var r StartVMResult
	f.must(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: dns.UUID, Paused: true})
	assert.Equal(t, "Paused", r.PowerState)
	assert.False(t, r.Already)
	f.must(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: dns.UUID, Paused: true})
	assert.True(t, r.Already)
	f.must(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: dns.UUID, Paused: false})
	assert.Equal(t, "Running", r.PowerState, "paused → unpaused")
	f.must(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: mail.UUID})
	assert.Equal(t, "Running", r.PowerState)
	var v VerifyResult
	f.must(&v, f.a.Verify, &VerifyInput{Site: "dr", Expect: map[string]string{dns.UUID: "Running", mail.UUID: "Running"}})
	assert.Empty(t, v.Mismatches)
	f.must(&v, f.a.Verify, &VerifyInput{Site: "dr", Expect: map[string]string{dns.UUID: "Paused", "00000000-0000-0000-0000-000000000000": "Running"}})
	require.Len(t, v.Mismatches, 2)
	assert.Contains(t, v.Mismatches[0], "is not in the pool at site dr")
	assert.Contains(t, v.Mismatches[1], "VM 'dns-01'")
	assert.Contains(t, v.Mismatches[1], "is Running at site dr; it should be Paused.")
	// Suspended → resume, never start.
	suspendVM(t, f, mail.UUID)
	f.must(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: mail.UUID, Paused: true})
	assert.Equal(t, "Paused", r.PowerState)
	assert.Equal(t, 1, callsOf(f, 0, "VM.resume", "Success"))
	assert.Equal(t, 2, callsOf(f, 0, "VM.start", ""), "dns-01 and mail-01 once each")
	// A VM that is not there is a non-retryable error naming it.
	err := f.run(nil, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: "00000000-0000-0000-0000-000000000000"})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae))
	assert.True(t, ae.NonRetryable())
	assert.Contains(t, ae.Message(), "00000000-0000-0000-0000-000000000000")
}

func suspendVM(t *testing.T, f *fixture, uuid string) {
	ctx := context.Background()
	s, err := f.a.sites["dr"].session(ctx)
	require.NoError(t, err)
	ref, err := s.GetVMByUUID(ctx, uuid)
	require.NoError(t, err)
	if st, _ := s.GetVMRecord(ctx, ref); st.PowerState == xapi.PowerPaused {
		require.NoError(t, s.UnpauseVM(ctx, ref))
	}
	_, err = s.Call(ctx, "VM.suspend", string(ref))
	require.NoError(t, err)
}

func TestReprotectAndDestroyDRTasks(t *testing.T) {
	f, intro, sc := prepared(t)
	recoverSome(t, f, sc, "erp")
	var rp ReprotectResult
	in := &ReprotectInput{Site: "dr", SRUUIDs: []string{gold01UUID, gold02UUID, "11111111-1111-1111-1111-111111111111"}}
	f.must(&rp, f.a.Reprotect, in)
	assert.Equal(t, []string{gold01UUID, gold02UUID}, rp.Enabled)
	require.Len(t, rp.Errors, 1)
	assert.Contains(t, rp.Errors[0], "11111111-1111-1111-1111-111111111111")
	n := f.w.Journal().Count("Async.SR.enable_database_replication", "")
	f.must(&rp, f.a.Reprotect, in)
	assert.Equal(t, n, f.w.Journal().Count("Async.SR.enable_database_replication", ""), "already replicating: skipped")
	var uuids []string
	for _, dt := range intro.DRTasks {
		uuids = append(uuids, dt.UUID)
	}
	require.NoError(t, f.run(nil, f.a.DestroyDRTasks, &DestroyDRTasksInput{Site: "dr", DRTaskUUIDs: uuids}))
	require.NoError(t, f.run(nil, f.a.DestroyDRTasks, &DestroyDRTasksInput{Site: "dr", DRTaskUUIDs: uuids}), "gone = fine")
	st := f.w.Control().State().Pools[1]
	assert.Empty(t, st.DRTasks)
	var inv Inventory
	f.must(&inv, f.a.Inventory, &InventoryInput{Site: "dr"})
	assert.Contains(t, inv.SRs, gold01UUID, "in use by the recovered erp: kept")
	assert.NotContains(t, inv.SRs, silverUUID, "unused: forgotten by DR_task.destroy")
}

// TestDestroyDRTasksFindsUnreportedTasksBySR: Introduce was interrupted
// (an abort, a crash) after XAPI created a DR task it never reported; the
// SRs it was asked for lead to that task, which is destroyed, and the pool
// is as before (DR_task.destroy forgets the SRs it introduced).
func TestDestroyDRTasksFindsUnreportedTasksBySR(t *testing.T) {
	f := newFixture(t)
	var before Inventory
	f.must(&before, f.a.Inventory, &InventoryInput{Site: "dr"})
	f.splitMirrors()
	intro := f.introduceAll()
	require.NotEmpty(t, intro.DRTasks)
	var asked []string
	for _, dt := range intro.DRTasks {
		for _, sr := range dt.IntroducedSRs {
			asked = append(asked, sr.UUID)
		}
	}
	asked = append(asked, "22222222-2222-2222-2222-222222222222") // never introduced

	// No DR task known to the workflow: only the SRs it asked for.
	require.NoError(t, f.run(nil, f.a.DestroyDRTasks, &DestroyDRTasksInput{Site: "dr", SRUUIDs: asked}))
	assert.Empty(t, f.w.Control().State().Pools[1].DRTasks)
	var after Inventory
	f.must(&after, f.a.Inventory, &InventoryInput{Site: "dr"})
	assert.Equal(t, before, after)
	require.NoError(t, f.run(nil, f.a.DestroyDRTasks, &DestroyDRTasksInput{Site: "dr", SRUUIDs: asked}), "again: nothing to do")
}

func TestTestFailoverCleanupRestoresInventory(t *testing.T) {
	f := newFixture(t)
	var before Inventory
	f.must(&before, f.a.Inventory, &InventoryInput{Site: "dr"})
	f.splitMirrors()
	intro := f.introduceAll()
	sc := f.scan(intro.AttachedSRs)
	us, _ := units(sc, "build-agent")
	var rec RecoverResult
	f.must(&rec, f.a.Recover, &RecoverInput{Site: "dr", Units: us})
	var vms []string
	var vapps []string
	for _, u := range rec.Units {
		require.Empty(t, u.Error)
		vms = append(vms, u.VMUUIDs...)
		if u.Kind == KindVApp {
			vapps = append(vapps, u.UUID)
		}
	}
	for i, uuid := range vms {
		var r StartVMResult
		if err := f.run(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: uuid, Paused: i%2 == 0}); err != nil {
			for _, e := range f.w.Journal().Entries(0) {
				if e.Result != "Success" {
					t.Logf("%s %v %v", e.Method, e.Params, e.Error)
				}
			}
			t.Fatal(err)
		}
	}
	suspendVM(t, f, vmByName(sc, "dns-01").UUID)
	var dtUUIDs, srs []string
	for _, dt := range intro.DRTasks {
		dtUUIDs = append(dtUUIDs, dt.UUID)
		for _, sr := range dt.IntroducedSRs {
			srs = append(srs, sr.UUID)
		}
	}
	require.NoError(t, f.run(nil, f.a.DestroyDRTasks, &DestroyDRTasksInput{Site: "dr", DRTaskUUIDs: dtUUIDs}))
	in := &CleanupInput{Site: "dr", VAppUUIDs: vapps, VMUUIDs: vms, SRUUIDs: srs, BaselineNetworks: before.Networks}
	var res CleanupResult
	f.must(&res, f.a.CleanupTest, in)
	assert.Empty(t, res.Leftovers)
	assert.NotEmpty(t, res.Removed)
	var after Inventory
	f.must(&after, f.a.Inventory, &InventoryInput{Site: "dr"})
	assert.Equal(t, before, after)
	// Never a VDI.destroy, and the suspended VM was not hard-shut-down.
	assert.Zero(t, f.w.Journal().Count("VDI.destroy", ""))
	for _, e := range f.w.Journal().Entries(0) {
		if e.Method == "Async.VM.hard_shutdown" {
			assert.NotContains(t, fmt.Sprint(e.Params), vmByName(sc, "dns-01").UUID)
		}
	}
	// Twice is harmless.
	f.must(&res, f.a.CleanupTest, in)
	assert.Empty(t, res.Leftovers)
	assert.Empty(t, res.Removed)
}

func TestSecretResolvedNeverEchoed(t *testing.T) {
	f := newFixture(t)
	f.splitMirrors()
	st := drStorage()[:1]
	st[0].DeviceConfig["chapuser"] = "lifeboat"
	st[0].DeviceConfig["chappassword"] = "${secret:chap}"
	var probe ProbeResult
	err := f.run(&probe, f.a.Probe, &ProbeInput{Site: "dr", Storage: st})
	b, _ := json.Marshal(probe)
	assert.NotContains(t, string(b), chapSecret)
	if err != nil {
		assert.NotContains(t, fullText(err), chapSecret)
	}
	var sentSecret bool
	for _, e := range f.w.Journal().Entries(0) {
		if strings.HasSuffix(e.Method, "SR.probe") {
			sentSecret = sentSecret || strings.Contains(fmt.Sprint(e.Params), "chappassword")
		}
	}
	assert.True(t, sentSecret, "the resolved device_config reached XAPI")
	var intro IntroduceResult
	err = f.run(&intro, f.a.Introduce, &IntroduceInput{Site: "dr", Storage: st, Whitelist: [][]string{{gold01UUID}}})
	b, _ = json.Marshal(intro)
	assert.NotContains(t, string(b), chapSecret)
	if err != nil {
		assert.NotContains(t, fullText(err), chapSecret)
	}
	// An unknown secret is a non-retryable error naming it, not its value.
	st[0].DeviceConfig["chappassword"] = "${secret:nope}"
	err = f.run(nil, f.a.Probe, &ProbeInput{Site: "dr", Storage: st})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae))
	assert.True(t, ae.NonRetryable())
	assert.Equal(t, codeSecret, ae.Type())
	assert.Contains(t, ae.Message(), `secret "nope"`)
	assert.Contains(t, ae.Message(), `storage "dr-gold-1"`)
}

func fullText(err error) string {
	var b strings.Builder
	for e := err; e != nil; e = errors.Unwrap(e) {
		b.WriteString(e.Error())
		b.WriteString("\n")
	}
	return b.String()
}

func TestUnknownSiteAndBadPassword(t *testing.T) {
	f := newFixture(t)
	err := f.run(nil, f.a.Inventory, &InventoryInput{Site: "mars"})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae))
	assert.True(t, ae.NonRetryable())
	assert.Contains(t, ae.Message(), `site "mars"`)
	a, err := New(map[string]SiteConfig{"dr": {URL: f.w.PoolURL("dr"), Username: "root", Password: "wrong-Pa55word"}}, nil, testLogger(t))
	require.NoError(t, err)
	f.a = a
	f.env = f.newEnv()
	err = f.run(nil, a.Inventory, &InventoryInput{Site: "dr"})
	require.True(t, errors.As(err, &ae))
	assert.True(t, ae.NonRetryable())
	assert.Equal(t, codeAuth, ae.Type())
	assert.NotContains(t, fullText(err), "wrong-Pa55word")
}

func TestCloseLogsOutAndReconnects(t *testing.T) {
	f := newFixture(t)
	var inv Inventory
	f.must(&inv, f.a.Inventory, &InventoryInput{Site: "dr"})
	require.NoError(t, Close(context.Background(), f.a))
	assert.Equal(t, 1, countLogouts(f, "real"))
	// Used again (Close is also registered as an activity), a site logs in again.
	f.must(&inv, f.a.Inventory, &InventoryInput{Site: "dr"})
	assert.Equal(t, drPoolID, inv.PoolUUID)
}

func TestIntroducePartialFailureCarriesDRTasks(t *testing.T) {
	f := newFixture(t)
	f.w.Control().SyncAll()
	require.NoError(t, f.w.Control().SplitMirror("gold-01")) // gold-02 still replicates
	err := f.run(nil, f.a.Introduce, &IntroduceInput{Site: "dr", Storage: drStorage()[:2], Whitelist: [][]string{{gold01UUID}, {gold02UUID}}})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae))
	assert.Equal(t, codeMirror, ae.Type())
	assert.True(t, ae.NonRetryable())
	assert.Contains(t, ae.Message(), `storage "dr-gold-2"`)
	var partial IntroduceResult
	require.NoError(t, ae.Details(&partial))
	require.Len(t, partial.DRTasks, 1, "the workflow learns the DR task it must destroy")
	assert.Equal(t, gold01UUID, partial.DRTasks[0].IntroducedSRs[0].UUID)
	assert.Len(t, f.w.Control().State().Pools[1].DRTasks, 1, "only the successful storage's DR task remains")
}

// TestPrecheckRole: DR needs pool-operator or higher; a read-only user is a
// problem, a pool-operator is fine (the simulator lists the role's
// permissions as session.get_rbac_permissions does for non-root users).
func TestPrecheckRole(t *testing.T) {
	f, _, sc := prepared(t)
	us, vms := units(sc)
	for user, want := range map[string]string{"operator": SeverityOK, "auditor": SeverityProblem} {
		a, err := New(map[string]SiteConfig{"dr": {URL: f.w.PoolURL("dr"), Username: user, Password: "lifeboat"}}, mapSecrets{}, testLogger(t))
		require.NoError(t, err)
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		v, err := env.ExecuteActivity(a.Precheck, &PrecheckInput{Site: "dr", Mode: plan.ModeTestFailover, Units: us, VMs: vms})
		require.NoError(t, err, user)
		var res PrecheckResult
		require.NoError(t, v.Get(&res))
		c, ok := findCheck(res.Checks, checkRole, "pool at site dr")
		require.True(t, ok, user)
		assert.Equal(t, want, c.Severity, "%s: %+v", user, c)
		require.NoError(t, Close(context.Background(), a))
	}
}
