package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// Temporal warns at 512 KiB per payload and refuses 2 MiB.

const payloadWarn = 512 << 10

// bigScan is a world of vApps (5 VMs over 3 orders) and standalone VMs,
// with names as long as real ones.
func bigScan(vapps, standalone int) *activities.ScanResult {
	res := &activities.ScanResult{
		TargetPoolUUID: "pool-dr",
		Sources:        []activities.MetadataSource{{VDIUUID: "mdvdi-1", SRUUID: "sr-1", PoolUUID: "pool-prod", PoolName: "prod"}},
	}
	uuid := func(kind string, i int) string { return fmt.Sprintf("%08d-%s-4000-8000-000000000000", i, kind) }
	vm := func(i int, vapp string, order int64) activities.VMInfo {
		return activities.VMInfo{UUID: uuid("0001", i), Name: fmt.Sprintf("production-vm-%05d", i), VApp: vapp, Order: order,
			StartDelay: 10, PowerState: "Running", SourceVDI: "mdvdi-1", Version: 1, MemoryMax: 4 << 30}
	}
	n := 0
	for a := range vapps {
		va := activities.VAppInfo{UUID: uuid("0002", a), Name: fmt.Sprintf("application-%04d", a), SourceVDI: "mdvdi-1"}
		for k := range 5 {
			va.VMs = append(va.VMs, vm(n, va.UUID, int64(k/2)))
			n++
		}
		res.VApps = append(res.VApps, va)
	}
	for range standalone {
		res.VMs = append(res.VMs, vm(n, "", 0))
		n++
	}
	return res
}

// The scan step asks for every later page at once, once the first page
// listed them, and keeps each unit once, in page order.
func TestScanAsksForTheLaterPagesTogether(t *testing.T) {
	world := bigScan(60, 1700) // 600 + 1,700 VMs: five pages
	world.Sources = []activities.MetadataSource{{PoolName: "dc1"}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	scanOnly := func(ctx workflow.Context) (*activities.ScanResult, error) {
		r := &run{target: "dc2", scanSRs: []string{"sr-1"}}
		if err := r.scan(ctx); err != nil {
			return nil, err
		}
		return r.found, nil
	}
	env.RegisterWorkflowWithOptions(scanOnly, workflow.RegisterOptions{Name: "scan-only"})
	var mu sync.Mutex
	asked := 0
	all := make(chan struct{})
	env.OnActivity(acts.Scan, mock.Anything, mock.Anything).Return(func(_ context.Context, in *activities.ScanInput) (*activities.ScanResult, error) {
		page := activities.ScanPage(world, in)
		if in.Offset == 0 {
			return page, nil
		}
		// Each later page answers only once every later page was asked for.
		mu.Lock()
		asked++
		if asked == len(activities.ScanPage(world, &activities.ScanInput{Limit: scanPageVMs}).Pages) {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("page at %d asked for alone", in.Offset)
		}
		return page, nil
	})
	env.ExecuteWorkflow("scan-only")
	require.NoError(t, env.GetWorkflowError())
	var got activities.ScanResult
	require.NoError(t, env.GetWorkflowResult(&got))
	assert.Equal(t, world.VApps, got.VApps)
	assert.Equal(t, world.VMs, got.VMs)
	assert.Empty(t, got.Pages)
}

// TestTenThousandVMPayloads computes, without running the world, every
// payload a 10,000-VM failover sends whose size depends on the plan: the scan
// pages, precheck chunks, recover and start child inputs, verify and cleanup
// chunks, the progress answer, its pages, the final report and its parts.
func TestTenThousandVMPayloads(t *testing.T) {
	world := bigScan(1000, 5000)
	p := fixturePlan()
	p.PriorityGroups = []plan.PriorityGroup{{Name: "first", VApps: []string{"application-00*"}}}
	r := &run{mode: plan.ModeFailover, plan: &p, in: &RunInput{Plan: p}, source: "dc1", target: "dc2", startMode: plan.StartRunning,
		waiting: -1, vappIndex: map[string]int{}, vmIndex: map[string]int{}, attempted: map[string]bool{}, recovered: map[string]bool{}}
	largest, what := 0, ""
	measure := func(name string, v any) {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		if len(b) > largest {
			largest, what = len(b), name
		}
	}

	// Scan, page by page, as the workflow reads it.
	var found activities.ScanResult
	pages := 0
	for off := 0; ; {
		page := activities.ScanPage(world, &activities.ScanInput{Offset: off, Limit: scanPageVMs})
		measure("scan page", page)
		found.VApps = append(found.VApps, page.VApps...)
		found.VMs = append(found.VMs, page.VMs...)
		pages++
		if page.Next == 0 {
			break
		}
		off = page.Next
	}
	found.Sources = world.Sources
	assert.Equal(t, 10000/scanPageVMs, pages)
	sel, err := Select(p.Selection, p.PriorityGroups, &found)
	require.NoError(t, err)
	r.selected, r.found = sel, &found
	for _, u := range sel.Units {
		r.addUnit(u, groupName(sel, u.Group))
	}
	require.Len(t, r.vms, 10000)

	chunks := r.precheckChunks()
	vms := 0
	for _, c := range chunks {
		measure("precheck chunk", c)
		vms += len(c.VMs)
	}
	assert.Equal(t, 10000, vms, "every VM is prechecked once")
	for range 10000 {
		r.prechecks = append(r.prechecks, CheckResult{Check: "existing", Object: "VM 'production-vm-00001'", Severity: SeverityOK, Message: "no VM with this UUID at site dc2"})
	}

	// The recovery children this version makes (recover-one-child).
	jobs, _ := r.laneJobs(r.plan.Limits().Recover)
	widest := 0
	for _, j := range jobs {
		widest = max(widest, jobVMs(j))
	}
	require.Greater(t, widest, r.plan.Limits().BatchSize, "batches above batch_size are measured")
	for _, job := range jobs {
		in := &activities.RecoverInput{Site: r.target}
		for _, u := range job.units {
			in.Units = append(in.Units, u.Unit)
		}
		measure("recover child input", in)
		res := &activities.RecoverResult{}
		for _, u := range job.units {
			ru := activities.RecoveredUnit{UUID: u.UUID, Kind: u.Kind, RecoveredAt: time.Now()}
			for _, vm := range u.VMs {
				ru.VMUUIDs = append(ru.VMUUIDs, vm.UUID)
			}
			res.Units = append(res.Units, ru)
			r.unitRecovered(nil, u, ru)
		}
		measure("recover child result", res)
	}
	children := len(jobs)
	for g := range sel.Groups {
		for _, job := range r.startJobs(g, true, startWiden) {
			children++
			measure("start child input", &StartVMsInput{Site: r.target, Chains: job.chains})
			res := &StartVMsResult{}
			job.each(func(vm VMRef) {
				res.VMs = append(res.VMs, VMStart{UUID: vm.UUID, PowerState: "Running", StartedAt: time.Now()})
				r.setStarted(r.vm(vm.UUID), "Running", time.Now())
			})
			measure("start child result", res)
		}
	}
	assert.Less(t, children, 1000, "children per run: the parent's history stays small")

	prog := r.progress()
	measure("progress", prog)
	require.NotEmpty(t, prog.Paged, "the progress answer pages its long lists")
	for _, pl := range prog.Paged {
		for off := 0; off < pl.Total; off += PageSize {
			pg, err := r.runLists().page(PageRequest{List: pl.List, Offset: off})
			require.NoError(t, err)
			measure("progress page", pg)
		}
	}
	rep := r.report(OutcomeSucceeded, "ok")
	full := *rep
	paged := reportLists(rep).inline()
	measure("final report", rep)
	for _, pl := range paged {
		for off := 0; off < pl.Total; off += PageSize {
			pg, _ := reportLists(&full).page(PageRequest{List: pl.List, Offset: off})
			measure("report part", pg)
		}
	}
	assert.Empty(t, rep.VMs)
	assert.Equal(t, 10000, rep.VMCounts[StateRunning])

	t.Logf("largest payload at 10,000 VMs: %s, %d bytes", what, largest)
	assert.Less(t, largest, payloadWarn, "%s reaches Temporal's warning threshold", what)
}

// A run whose lists fit is answered inline, as before paging existed.
func TestSmallRunsCarryTheirListsInline(t *testing.T) {
	e := newEnv(t)
	e.approve(time.Minute, plan.GateStorageReady, "alice")
	e.approve(2*time.Minute, plan.GateRecover, "alice")
	e.run(plan.ModeFailover, fixturePlan())
	require.NoError(t, e.GetWorkflowError())
	rep := e.report()
	assert.Empty(t, rep.Paged)
	assert.Len(t, rep.VMs, len(allVMs))
}

// The reader side puts pages back in order.
func TestPagesRoundTrip(t *testing.T) {
	var src []ObjectState
	for i := range 2500 {
		src = append(src, ObjectState{UUID: fmt.Sprint(i)})
	}
	r := &run{vms: src}
	rep := &Report{}
	for off := 0; off < len(src); off += PageSize {
		pg, err := r.runLists().page(PageRequest{List: ListVMs, Offset: off})
		require.NoError(t, err)
		rep.AddPage(pg)
	}
	assert.Equal(t, src, rep.VMs)
	_, err := r.runLists().page(PageRequest{List: "nope"})
	assert.Error(t, err)
}

// writePartsWorkflow ends a run of 2,500 VMs: its report's VMs go into
// ReportPart children.
func writePartsWorkflow(ctx workflow.Context) (*Report, error) {
	r := &run{workflowID: "lifeboat-p-failover", logger: workflow.GetLogger(ctx)}
	for i := range 2500 {
		r.vms = append(r.vms, ObjectState{UUID: fmt.Sprint(i), Name: fmt.Sprintf("vm-%04d", i), State: StateRunning})
	}
	rep := &Report{VMs: r.vms, Timeline: []Event{{Message: "Phase done."}}}
	r.writeParts(ctx, rep)
	return rep, nil
}

func TestFinalReportWritesItsPagesIntoParts(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(writePartsWorkflow)
	env.RegisterWorkflowWithOptions(ReportPart, workflow.RegisterOptions{Name: ReportPartWorkflowName})
	var parts []*Page
	env.SetOnChildWorkflowCompletedListener(func(_ *workflow.Info, result converter.EncodedValue, err error) {
		require.NoError(t, err)
		var pg Page
		require.NoError(t, result.Get(&pg))
		parts = append(parts, &pg)
	})
	env.ExecuteWorkflow(writePartsWorkflow)
	require.NoError(t, env.GetWorkflowError())
	var rep Report
	require.NoError(t, env.GetWorkflowResult(&rep))
	assert.Empty(t, rep.VMs, "the VMs are in the parts")
	assert.Len(t, rep.Timeline, 1, "a short list stays inline")
	require.Len(t, rep.Paged, 1)
	assert.Equal(t, ListVMs, rep.Paged[0].List)
	assert.Equal(t, 2500, rep.Paged[0].Total)
	require.Len(t, rep.Paged[0].Parts, 3)
	assert.Equal(t, "lifeboat-p-failover/report-vms-3", rep.Paged[0].Parts[2].WorkflowID)
	// The parts' results, in order, are every VM once.
	back := &Report{}
	for _, pg := range parts {
		back.AddPage(pg)
	}
	require.Len(t, back.VMs, 2500)
	seen := map[string]bool{}
	for _, vm := range back.VMs {
		seen[vm.UUID] = true
	}
	assert.Len(t, seen, 2500)
}
