package activities

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// A batch starts its VMs side by side; a VM whose start fails once with a
// transient error is retried inside the batch (the others are not asked
// again), and one that cannot start is reported with its code while the
// rest start.
func TestStartBatchRetriesTransientAndReportsEachVM(t *testing.T) {
	f := newFixture(t)
	startBackoff = time.Millisecond
	t.Cleanup(func() { startBackoff = 5 * time.Second })
	uuids, _ := haltedPrimaryVMs(t, f, 4)
	// The first start fails once (transient); one VM is not in the pool.
	f.w.Control().AddFault(sim.Fault{Pool: "Primary", Method: "VM.start", Nth: 1, Error: []string{"INTERNAL_ERROR", "xenopsd: domain build failed"}})
	uuids[3] = "00000000-0000-4000-8000-00000000dead"
	mark := len(f.w.Journal().Entries(0))

	var res StartBatchResult
	f.must(&res, f.a.StartBatch, &StartBatchInput{Site: "primary", VMUUIDs: uuids})
	require.Len(t, res.VMs, 4)
	running, failed := 0, 0
	for i, r := range res.VMs {
		assert.Equal(t, uuids[i], r.UUID, "in input order")
		switch {
		case r.Error == "":
			assert.Equal(t, "Running", r.PowerState)
			assert.False(t, r.StartedAt.IsZero())
			running++
		default:
			assert.Equal(t, codeNotFound, r.Code, r.Error)
			assert.Contains(t, r.Error, "is not in the pool at site primary")
			failed++
		}
	}
	assert.Equal(t, 3, running, "the transient failure was retried inside the batch")
	assert.Equal(t, 1, failed)
	assert.Equal(t, 4, callsOf(f, mark, "VM.start", ""), "three VMs, and the one that failed once asked again")

	// Run again: every VM already running is reported so at once.
	var again StartBatchResult
	f.must(&again, f.a.StartBatch, &StartBatchInput{Site: "primary", VMUUIDs: uuids})
	for _, r := range again.VMs {
		if r.Error == "" {
			assert.True(t, r.Already || r.PowerState == "Running")
		}
	}
}

// With spread, a batch's boots go to the pool's hosts in turn (VM.start_on);
// a VM the chosen host refuses (memory) is left to the pool's placement,
// and that host takes no more for a while.
func TestStartBatchSpreadsTheBoots(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	uuids, c := haltedPrimaryVMs(t, f, 4)
	hosts, err := c.s.GetAllHosts(ctx)
	require.NoError(t, err)
	require.Len(t, hosts, 2, "the demo's primary pool")
	for _, u := range uuids {
		ref, err := c.s.GetVMByUUID(ctx, u)
		require.NoError(t, err)
		vm, err := c.s.GetVMRecord(ctx, ref)
		require.NoError(t, err)
		require.True(t, xapi.IsNullRef(vm.Affinity), "no affinity host: spread")
	}
	calls := func(since int) (on, plain int) {
		return callsOf(f, since, "VM.start_on", ""), callsOf(f, since, "VM.start", "")
	}
	residents := func() map[string]int {
		out := map[string]int{}
		for _, u := range uuids {
			ref, err := c.s.GetVMByUUID(ctx, u)
			require.NoError(t, err)
			vm, err := c.s.GetVMRecord(ctx, ref)
			require.NoError(t, err)
			require.Equal(t, "Running", vm.PowerState)
			out[string(vm.ResidentOn)]++
		}
		return out
	}

	mark := len(f.w.Journal().Entries(0))
	var res StartBatchResult
	f.must(&res, f.a.StartBatch, &StartBatchInput{Site: "primary", VMUUIDs: uuids, Spread: true})
	for _, r := range res.VMs {
		require.Empty(t, r.Error)
	}
	on, plain := calls(mark)
	assert.Equal(t, 4, on)
	assert.Zero(t, plain)
	assert.Equal(t, map[string]int{string(hosts[0]): 2, string(hosts[1]): 2}, residents(), "two on each host")

	for _, u := range uuids {
		ref, err := c.s.GetVMByUUID(ctx, u)
		require.NoError(t, err)
		require.NoError(t, c.s.HardShutdownVM(ctx, ref))
	}
	f.w.Control().AddFault(sim.Fault{Pool: "Primary", Method: "VM.start_on", Nth: 1, Error: []string{"HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"}})
	mark = len(f.w.Journal().Entries(0))
	// One start at a time: each host is chosen after the one before answered.
	f.must(&res, f.a.StartBatch, &StartBatchInput{Site: "primary", VMUUIDs: uuids, Spread: true, Slots: 1})
	for _, r := range res.VMs {
		require.Empty(t, r.Error, "the refused VM started where the pool placed it")
	}
	on, plain = calls(mark)
	assert.Equal(t, 1, plain, "the refused VM, placed by the pool")
	assert.Equal(t, 4, on, "one refused, three placed")
	refused := ""
	for _, e := range f.w.Journal().Entries(0)[mark:] {
		if strings.TrimPrefix(e.Method, "Async.") != "VM.start_on" {
			continue
		}
		host, _ := e.Params[2].(string)
		if e.Result != "Success" {
			refused = host
			continue
		}
		if refused != "" {
			assert.NotEqual(t, refused, host, "the host that refused a VM takes no more")
		}
	}
	assert.NotEmpty(t, refused)
	residents()
}

// A paged scan returns every unit once, in order, whether a later page is
// served from the first page's read or read again.
func TestPagedScanMatchesTheFullScan(t *testing.T) {
	f := newFixture(t)
	f.splitMirrors()
	intro := f.introduceAll()
	full := f.scan(intro.AttachedSRs)
	var uuids []string
	for _, s := range intro.AttachedSRs {
		uuids = append(uuids, s.UUID)
	}
	for _, cached := range []bool{true, false} {
		var vapps, vms []string
		for off := 0; ; {
			if !cached {
				f.a.scans = scanCache{}
			}
			var page ScanResult
			f.must(&page, f.a.Scan, &ScanInput{Site: "dr", SRUUIDs: uuids, Offset: off, Limit: 3})
			for _, va := range page.VApps {
				vapps = append(vapps, va.UUID)
			}
			for _, vm := range page.VMs {
				vms = append(vms, vm.UUID)
			}
			if page.Next == 0 {
				break
			}
			off = page.Next
		}
		var wantApps, wantVMs []string
		for _, va := range full.VApps {
			wantApps = append(wantApps, va.UUID)
		}
		for _, vm := range full.VMs {
			wantVMs = append(wantVMs, vm.UUID)
		}
		assert.Equal(t, wantApps, vapps, "cached %v", cached)
		assert.Equal(t, wantVMs, vms, "cached %v", cached)
	}
}

// The chains of a start child run side by side, each order after the one
// before: the second order of a chain starts only after its first order
// returned, and when a VM of a chain fails its later orders are skipped
// while the other chain goes on. The journal says when each start began.
func TestStartBatchRunsChainsOrderByOrder(t *testing.T) {
	f := newFixture(t)
	uuids, c := haltedPrimaryVMs(t, f, 4)
	missing := "00000000-0000-4000-8000-00000000dead"
	mark := len(f.w.Journal().Entries(0))
	var res StartBatchResult
	f.must(&res, f.a.StartBatch, &StartBatchInput{Site: "primary", Chains: []StartChain{
		{Label: "vApp 'a'", Steps: [][]VMRef{{{UUID: uuids[0], Name: "a-db"}}, {{UUID: uuids[1], Name: "a-app"}}}},
		{Label: "vApp 'b'", Steps: [][]VMRef{{{UUID: missing, Name: "b-db"}}, {{UUID: uuids[2], Name: "b-app"}, {UUID: uuids[3], Name: "b-web"}}}},
	}})
	require.Len(t, res.VMs, 5)
	assert.Equal(t, []string{uuids[0], uuids[1], missing, uuids[2], uuids[3]}, []string{res.VMs[0].UUID, res.VMs[1].UUID, res.VMs[2].UUID, res.VMs[3].UUID, res.VMs[4].UUID})
	assert.Equal(t, "Running", res.VMs[0].PowerState)
	assert.Equal(t, "Running", res.VMs[1].PowerState)
	assert.Equal(t, codeNotFound, res.VMs[2].Code)
	for _, r := range res.VMs[3:] {
		assert.True(t, r.Skipped, r.UUID)
		assert.Equal(t, "not started because VM 'b-db' of an earlier order failed to start", r.Error)
	}
	// a-app's start began after a-db's ended; b's later order never started.
	dbRef, err := c.s.GetVMByUUID(context.Background(), uuids[0])
	require.NoError(t, err)
	appRef, err := c.s.GetVMByUUID(context.Background(), uuids[1])
	require.NoError(t, err)
	var dbEnded, appStarted time.Time
	asyncEnd := map[string]time.Time{}
	entries := f.w.Journal().Entries(0)[mark:]
	for _, e := range entries {
		if e.Method == sim.TaskEnded {
			asyncEnd[e.Task] = e.Time
		}
	}
	for _, e := range entries {
		if strings.TrimPrefix(e.Method, "Async.") != "VM.start" || len(e.Params) < 2 {
			continue
		}
		ref, _ := e.Params[1].(string)
		end := e.Time.Add(e.Duration)
		if e.Task != "" {
			end = asyncEnd[e.Task]
		}
		switch ref {
		case string(dbRef):
			dbEnded = end
		case string(appRef):
			appStarted = e.Time
		}
		for _, u := range uuids[2:] {
			vm, _ := c.s.GetVMByUUID(context.Background(), u)
			assert.NotEqual(t, string(vm), ref, "a skipped VM was started")
		}
	}
	require.False(t, dbEnded.IsZero())
	require.False(t, appStarted.IsZero())
	assert.True(t, appStarted.After(dbEnded), "the second order began after the first ended")
}

// haltedPrimaryVMs shuts down n VMs of the primary pool and returns their
// UUIDs and a connection to the site.
func haltedPrimaryVMs(t *testing.T, f *fixture, n int) ([]string, *conn) {
	t.Helper()
	var uuids []string
	for _, p := range f.w.Control().State().Pools {
		if p.Name != "Primary" {
			continue
		}
		for _, vm := range p.VMs {
			if len(uuids) < n {
				uuids = append(uuids, vm.UUID)
			}
		}
	}
	require.Len(t, uuids, n)
	c, err := f.a.connect(context.Background(), "primary")
	require.NoError(t, err)
	for _, u := range uuids {
		ref, err := c.s.GetVMByUUID(context.Background(), u)
		require.NoError(t, err)
		require.NoError(t, c.s.HardShutdownVM(context.Background(), ref))
	}
	return uuids, c
}

// A worker died during a synchronous start (its heartbeat says
// xapi.SyncCall): the new attempt waits for that start's operation to end,
// xapi's task it never knew, and reports the VM running without asking
// for a second start. StartVM and StartBatch alike.
func TestStartWaitsForTheSyncStartOfADeadWorker(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(f *fixture, uuid string) StartedVM
	}{
		{"StartVM", func(f *fixture, uuid string) StartedVM {
			f.env.SetHeartbeatDetails(startBeat{Task: string(xapi.SyncCall)})
			var r StartVMResult
			f.must(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: uuid})
			return StartedVM{UUID: uuid, PowerState: r.PowerState, Already: r.Already}
		}},
		{"StartBatch", func(f *fixture, uuid string) StartedVM {
			f.env.SetHeartbeatDetails(StartProgress{Tasks: map[string]string{uuid: string(xapi.SyncCall)}})
			var r StartBatchResult
			f.must(&r, f.a.StartBatch, &StartBatchInput{Site: "dr", VMUUIDs: []string{uuid}})
			require.Len(t, r.VMs, 1)
			return r.VMs[0]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, sc := prepared(t)
			recoverSome(t, f, sc, "dns-01")
			dns := vmByName(sc, "dns-01")
			ctx := context.Background()
			cl, err := xapi.NewClient(f.w.PoolURL("dr"))
			require.NoError(t, err)
			s, err := cl.Login(ctx, "root", "lifeboat")
			require.NoError(t, err)
			ref, err := s.GetVMByUUID(ctx, dns.UUID)
			require.NoError(t, err)
			mark := len(f.w.Journal().Entries(0))
			// The dead worker's start, still booting when the new attempt
			// begins.
			f.w.Control().SetSpeed(0.05)
			t.Cleanup(func() { f.w.Control().SetSpeed(0) })
			crashed := make(chan error, 1)
			go func() { _, err := cl.Call(ctx, "VM.start", string(s.Ref()), string(ref), false, false); crashed <- err }()
			token := ""
			for {
				ops, err := s.Call(ctx, "VM.get_current_operations", ref)
				require.NoError(t, err)
				if len(ops.(map[string]any)) > 0 {
					break
				}
				b, err := s.EventFrom(ctx, []string{"VM/" + string(ref)}, token, 5*time.Second)
				require.NoError(t, err)
				token = b.Token
			}
			got := tc.run(f, dns.UUID)
			// Only once the dead worker's boot is over.
			ops, err := s.Call(ctx, "VM.get_current_operations", ref)
			require.NoError(t, err)
			assert.Empty(t, ops, "the new attempt waited for the boot in flight")
			require.NoError(t, <-crashed)
			assert.Empty(t, got.Error)
			assert.Equal(t, xapi.PowerRunning, got.PowerState)
			assert.True(t, got.Already)
			assert.Equal(t, 1, callsOf(f, mark, "VM.start", ""), "started once")
		})
	}
}

// A site configured with sync_starts: 0 starts every VM through an Async
// call and its task, as for a master behind a proxy that cuts long
// requests.
func TestSiteWithoutSyncStarts(t *testing.T) {
	f, _, sc := prepared(t)
	recoverSome(t, f, sc, "dns-01")
	zero := 0
	a, err := New(map[string]SiteConfig{"dr": {URL: f.w.PoolURL("dr"), Username: "root", Password: "lifeboat", SyncStarts: &zero}}, f.a.secrets, testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = Close(context.Background(), a) })
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(a)
	mark := len(f.w.Journal().Entries(0))
	v, err := env.ExecuteActivity(a.StartVM, &StartVMInput{Site: "dr", VMUUID: vmByName(sc, "dns-01").UUID})
	require.NoError(t, err)
	var r StartVMResult
	require.NoError(t, v.Get(&r))
	assert.Equal(t, xapi.PowerRunning, r.PowerState)
	assert.Equal(t, 1, callsOf(f, mark, "VM.start", "Success"))
	assert.Equal(t, 1, f.w.Journal().Count("Async.VM.start", "Success"), "through a task")
}
