package activities

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// callCount is the XAPI calls of a run, by method (a task's end is not a call).
type callCount map[string]int

func (c callCount) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// table prints the calls per VM by method, largest first.
func (c callCount) table(vms int) string {
	methods := make([]string, 0, len(c))
	for m := range c {
		methods = append(methods, m)
	}
	sort.Slice(methods, func(i, j int) bool {
		if c[methods[i]] != c[methods[j]] {
			return c[methods[i]] > c[methods[j]]
		}
		return methods[i] < methods[j]
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%-45s %7s %8s\n", "method", "calls", "per VM")
	for _, m := range methods {
		fmt.Fprintf(&b, "%-45s %7d %8.2f\n", m, c[m], float64(c[m])/float64(vms))
	}
	fmt.Fprintf(&b, "%-45s %7d %8.2f\n", "total", c.total(), float64(c.total())/float64(vms))
	return b.String()
}

// callsSince counts the journal's calls after seq.
func callsSince(w *sim.World, seq int64) (callCount, int64) {
	out := callCount{}
	last := seq
	for _, e := range w.Journal().Entries(seq) {
		last = max(last, e.Seq)
		if e.Method != sim.TaskEnded {
			out[e.Method]++
		}
	}
	return out, last
}

// generatedRun is a failover of a generated world driven activity by
// activity as the workflows do (vApps one unit each, standalone VMs in
// batches, one StartVM per VM, starts in parallel), with the calls each
// phase made.
type generatedRun struct {
	vms    int
	phases []string
	calls  map[string]callCount
}

func (r *generatedRun) all() callCount {
	out := callCount{}
	for _, c := range r.calls {
		for m, n := range c {
			out[m] += n
		}
	}
	return out
}

// sum adds the calls of the named phases.
func (r *generatedRun) sum(phases ...string) callCount {
	out := callCount{}
	for _, p := range phases {
		for m, n := range r.calls[p] {
			out[m] += n
		}
	}
	return out
}

func runGenerated(t *testing.T, spec sim.GenSpec, batch, parallel int, speed float64) *generatedRun {
	t.Helper()
	ctx := context.Background()
	sc, err := sim.Generate(spec)
	require.NoError(t, err)
	w, err := sim.Start(ctx, sc, sim.Options{Speed: speed, FreePorts: true, ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	a, err := New(map[string]SiteConfig{
		"dr":      {URL: w.PoolURL("dr"), Username: "root", Password: "lifeboat"},
		"primary": {URL: w.PoolURL("primary"), Username: "root", Password: "lifeboat"},
	}, mapSecrets{}, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = Close(ctx, a) })

	luns := spec.LUNs
	if luns <= 0 {
		luns = max(2, spec.VMs/250)
	}
	w.Control().SyncAll()
	require.NoError(t, w.Control().SiteDown("primary"))
	var storage []plan.StorageTarget
	for i := 0; i < luns; i++ {
		name := fmt.Sprintf("gold-%02d", i+1)
		require.NoError(t, w.Control().SplitMirror(name))
		storage = append(storage, plan.StorageTarget{Name: "dr-" + name, Type: "lvmoiscsi", DeviceConfig: map[string]string{
			"target": "dr-array.lab", "port": "3260", "targetIQN": "iqn.2026-01.lab.dr-array:gold", "SCSIid": fmt.Sprintf("36001405b%024x", i+1)}})
	}
	require.NoError(t, w.Control().SplitMirror("fc-silver-01"))
	storage = append(storage, plan.StorageTarget{Name: "dr-fc", Type: "lvmohba", DeviceConfig: map[string]string{"SCSIid": "3600a0b8000000000000000000000d1"}})

	run := &generatedRun{calls: map[string]callCount{}}
	_, seq := callsSince(w, 0)
	phase := func(name string) {
		var c callCount
		c, seq = callsSince(w, seq)
		run.phases = append(run.phases, name)
		run.calls[name] = c
	}

	probe, err := a.Probe(ctx, &ProbeInput{Site: "dr", Storage: storage})
	require.NoError(t, err)
	phase("probe")
	wl := make([][]string, len(storage))
	for _, sr := range probe.SRs {
		wl[sr.StorageIndex] = append(wl[sr.StorageIndex], sr.UUID)
	}
	intro, err := a.Introduce(ctx, &IntroduceInput{Site: "dr", Storage: storage, Whitelist: wl})
	require.NoError(t, err)
	phase("introduce")
	var srs []string
	for _, s := range intro.AttachedSRs {
		srs = append(srs, s.UUID)
	}
	scan, err := a.Scan(ctx, &ScanInput{Site: "dr", SRUUIDs: srs})
	require.NoError(t, err)
	phase("scan")
	us, vms := units(scan)
	run.vms = len(vms)
	pre, err := a.Precheck(ctx, &PrecheckInput{Site: "dr", Mode: plan.ModeFailover, SourceSite: "primary", Units: us, VMs: vms})
	require.NoError(t, err)
	for _, c := range pre.Checks {
		require.NotEqual(t, SeverityProblem, c.Severity, "%+v", c)
	}
	phase("precheck")

	// Recover: each vApp its own call, standalone VMs in batches (per
	// metadata VDI), up to parallel calls at once, as the child workflows do.
	var inputs []*RecoverInput
	var pending []Unit
	for _, u := range us {
		if u.Kind == KindVApp {
			inputs = append(inputs, &RecoverInput{Site: "dr", Plan: "calls", Mode: plan.ModeFailover, Units: []Unit{u}})
			continue
		}
		if len(pending) > 0 && (len(pending) == batch || pending[0].SourceVDI != u.SourceVDI) {
			inputs = append(inputs, &RecoverInput{Site: "dr", Plan: "calls", Mode: plan.ModeFailover, Units: pending})
			pending = nil
		}
		pending = append(pending, u)
	}
	if len(pending) > 0 {
		inputs = append(inputs, &RecoverInput{Site: "dr", Plan: "calls", Mode: plan.ModeFailover, Units: pending})
	}
	forEach(len(inputs), parallel, func(i int) {
		res, err := a.Recover(ctx, inputs[i])
		require.NoError(t, err)
		for _, u := range res.Units {
			require.Empty(t, u.Error)
		}
	})
	phase("recover")
	forEach(len(vms), parallel, func(i int) {
		_, err := a.StartVM(ctx, &StartVMInput{Site: "dr", VMUUID: vms[i].UUID})
		require.NoError(t, err)
	})
	phase("start")
	expect := map[string]string{}
	for _, vm := range vms {
		expect[vm.UUID] = "Running"
	}
	ver, err := a.Verify(ctx, &VerifyInput{Site: "dr", Expect: expect})
	require.NoError(t, err)
	require.Empty(t, ver.Mismatches)
	phase("verify")
	_, err = a.Reprotect(ctx, &ReprotectInput{Site: "dr", SRUUIDs: srs})
	require.NoError(t, err)
	phase("reprotect")
	return run
}

// forEach runs fn(0..n-1), at most limit at once.
func forEach(n, limit int, fn func(i int)) {
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// TestCallsPerVM bounds the XAPI calls a failover makes per VM: a count,
// not a time, so it is deterministic. LIFEBOAT_CALLS_VMS=1000 (and
// LIFEBOAT_CALLS_VAPPS) measure a larger world and print the table;
// LIFEBOAT_CALLS_SPEED=0.02 runs the simulator's timing model, where each
// task's wait costs event.from calls too.
func TestCallsPerVM(t *testing.T) {
	spec := sim.GenSpec{VMs: 200, VApps: 20}
	if n, err := strconv.Atoi(os.Getenv("LIFEBOAT_CALLS_VMS")); err == nil && n > 0 {
		spec.VMs, spec.VApps = n, n/10
		if v, err := strconv.Atoi(os.Getenv("LIFEBOAT_CALLS_VAPPS")); err == nil {
			spec.VApps = v
		}
	}
	speed, _ := strconv.ParseFloat(os.Getenv("LIFEBOAT_CALLS_SPEED"), 64)
	run := runGenerated(t, spec, 50, 8, speed)
	for _, p := range run.phases {
		c := run.calls[p]
		t.Logf("%s: %d calls (%.2f per VM)", p, c.total(), float64(c.total())/float64(run.vms))
	}
	all := run.all()
	t.Logf("%d VMs, %d vApps, whole failover:\n%s", run.vms, spec.VApps, all.table(run.vms))
	path := run.sum("recover", "start", "verify")
	perVM := float64(path.total()) / float64(run.vms)
	t.Logf("recover+start+verify: %.2f calls per VM", perVM)
	if speed > 0 {
		return // the bounds are for speed 0, where tasks end before they are read
	}
	// Re-run adoption marks each recovered VM: one call each, and only one
	// (no remove_from_other_config when the copy has no mark yet).
	require.Equal(t, run.vms, all["VM.add_to_other_config"], "one mark per VM")
	require.Zero(t, all["VM.remove_from_other_config"])
	marks := path["VM.add_to_other_config"]
	require.LessOrEqual(t, float64(path.total()-marks)/float64(run.vms), 6.0, "recover+start+verify calls per VM, the marks aside")
	// No VM is looked up or read one by one: the view and the metadata
	// database's records say it all.
	// Nor asked about one by one in the precheck (required.go).
	for _, m := range []string{"VM.get_by_uuid", "VM.get_record", "VM_appliance.get_by_uuid", "VM_appliance.get_record", "task.get_record",
		"VM.assert_can_be_recovered", "VM_appliance.assert_can_be_recovered"} {
		require.Zero(t, all[m], m)
	}
	// Each start is one synchronous call (its boots are fewer than the
	// session's budget of them, xapi.DefaultSyncCalls); the rest is the
	// task overhead of each Async recover (task.destroy, the shared
	// event.from), which xapi's task wait owns.
	require.Zero(t, all["Async.VM.start"]+all["Async.VM.start_on"], "no start through a task of its own")
	require.LessOrEqual(t, float64(all.total())/float64(run.vms), 6.0, "whole failover calls per VM")
	require.LessOrEqual(t, all["Async.VDI.open_database"], 3, "one open per metadata VDI (2 here) and the precheck's role probe")
}
