package main

import (
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

func TestKillScheduleCoversEveryPhase(t *testing.T) {
	for _, m := range modes {
		for _, tc := range []struct {
			kills, perRun, atLeast int
		}{
			{defaultKills(m), 2, 3},
			{defaultKills(m), 1, 3},
			{30, 4, 30 / len(killPhases[m])},
			{3, 2, 0},
		} {
			runs := killSchedule(rand.New(rand.NewSource(42)), m, tc.kills, tc.perRun)
			hits := map[string]int{}
			total := 0
			for _, r := range runs {
				require.LessOrEqual(t, len(r), tc.perRun, "%s: kills per run", m)
				last := -1
				for _, k := range r {
					i := phaseIndex(m, k.Phase)
					require.Greater(t, i, last, "%s: a run's kills are in distinct phases in runbook order: %v", m, r)
					last = i
					assert.Less(t, k.After, jitterMax(k.Phase))
					assert.LessOrEqual(t, jitterMax(k.Phase), time.Second)
					hits[k.Phase]++
					total++
				}
			}
			assert.Equal(t, tc.kills, total, "%s: every kill is planned", m)
			for _, ph := range killPhases[m] {
				assert.GreaterOrEqual(t, hits[ph], tc.atLeast, "%s: phase %s hit %d times with %d kills", m, ph, hits[ph], tc.kills)
			}
		}
		assert.GreaterOrEqual(t, defaultKills(m), 30)
	}
	// The same seed, the same schedule; another seed, another one.
	a := killSchedule(rand.New(rand.NewSource(7)), plan.ModeFailover, 33, 2)
	b := killSchedule(rand.New(rand.NewSource(7)), plan.ModeFailover, 33, 2)
	c := killSchedule(rand.New(rand.NewSource(8)), plan.ModeFailover, 33, 2)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
}

func TestPhaseRank(t *testing.T) {
	m := plan.ModeFailover
	assert.Equal(t, phaseIndex(m, "scan"), phaseRank(m, "select"))
	assert.Less(t, phaseRank(m, "select"), phaseIndex(m, "precheck"))
	assert.Greater(t, phaseRank(m, "report"), phaseIndex(m, "cleanup"))
	assert.Equal(t, -1, phaseRank(m, "starting"))
	// A failback's introduce (nothing to introduce) ranks nowhere.
	assert.Equal(t, -1, phaseRank(plan.ModeFailback, "introduce"))
}

func TestBuildCasesIsSeeded(t *testing.T) {
	cfg := &config{seed: 3, kills: 0, perRun: 2, faultRuns: 2, restartRuns: 2}
	a, b := buildCases(cfg), buildCases(cfg)
	require.Equal(t, a, b)
	rows := map[string]int{}
	kills := map[plan.Mode]int{}
	for _, c := range a {
		rows[c.Row]++
		kills[c.Mode] += len(c.Kills)
		if len(c.Restarts) > 0 {
			assert.Len(t, c.Restarts, 3, "the server restarts in three phases of a run")
		}
	}
	for _, m := range modes {
		assert.Equal(t, defaultKills(m), kills[m], "kills in %s", m)
	}
	for _, r := range rowOrder {
		assert.Equal(t, 2, rows[r], "runs of %s", r)
	}
}

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestRecoveredTwice(t *testing.T) {
	j := []sim.JournalEntry{
		// erp recovered by an Async call whose task succeeded, then again.
		{Pool: "DR", Method: "Async.VM_appliance.recover", Params: []any{"s", "OpaqueRef:erp"}, Result: "Success", Task: "t1"},
		{Pool: "DR", Method: sim.TaskEnded, Task: "t1", Result: "Success"},
		{Pool: "DR", Method: "Async.VM_appliance.recover", Params: []any{"s", "OpaqueRef:erp"}, Result: "Success", Task: "t2"},
		{Pool: "DR", Method: sim.TaskEnded, Task: "t2", Result: "Success"},
		// mail-01: the retry's recover fails, so it was recovered once.
		{Pool: "DR", Method: "Async.VM.recover", Params: []any{"s", "OpaqueRef:mail"}, Result: "Success", Task: "t3"},
		{Pool: "DR", Method: sim.TaskEnded, Task: "t3", Result: "Success"},
		{Pool: "DR", Method: "Async.VM.recover", Params: []any{"s", "OpaqueRef:mail"}, Result: "Success", Task: "t4"},
		{Pool: "DR", Method: sim.TaskEnded, Task: "t4", Result: "VM_BAD_POWER_STATE"},
		// dns-01: twice, but the second time in another pool.
		{Pool: "DR", Method: "VM.recover", Params: []any{"s", "OpaqueRef:dns"}, Result: "Success"},
		{Pool: "Primary", Method: "VM.recover", Params: []any{"s", "OpaqueRef:dns"}, Result: "Success"},
		// monitoring: twice, synchronously.
		{Pool: "DR", Method: "VM.recover", Params: []any{"s", "OpaqueRef:mon"}, Result: "Success"},
		{Pool: "DR", Method: "VM.recover", Params: []any{"s", "OpaqueRef:mon"}, Result: "Success"},
		// lab-tool: a call refused, one that succeeded.
		{Pool: "DR", Method: "VM.recover", Params: []any{"s", "OpaqueRef:lab"}, Result: "SESSION_INVALID"},
		{Pool: "DR", Method: "VM.recover", Params: []any{"s", "OpaqueRef:lab"}, Result: "Success"},
	}
	assert.Equal(t, []string{"VM.recover OpaqueRef:mon ×2", "VM_appliance.recover OpaqueRef:erp ×2"}, recoveredTwice(j, "DR"))

	dup := sim.PoolState{VMs: []sim.VMState{{Name: "a", UUID: "1"}, {Name: "a", UUID: "2"}, {Name: "b", UUID: "3"}, {Name: "c", UUID: "3"}}}
	assert.Equal(t, []string{"name a ×2", "uuid 3 ×2"}, duplicateVMs(dup))
}

func TestOrderViolations(t *testing.T) {
	p := &plan.Plan{PriorityGroups: []plan.PriorityGroup{{Name: "db", VApps: []string{"erp"}}, {Name: "core", VMs: []string{"dns"}}}}
	vms := []sim.VMState{
		{Name: "erp-db", VApp: "erp"}, {Name: "erp-app", VApp: "erp"}, {Name: "dns"}, {Name: "mon"},
	}
	order := startOrder(p, vms, map[string]int64{"erp-db": 0, "erp-app": 1})
	assert.Equal(t, vmOrder{VApp: "erp", Order: 1, Group: 0}, order["erp-app"])
	assert.Equal(t, vmOrder{Group: 1}, order["dns"])
	assert.Equal(t, vmOrder{Group: 2}, order["mon"])

	span := func(vm string, b, e int, ok bool) startSpan {
		return startSpan{VM: vm, Begin: at(b), End: at(e), OK: ok}
	}
	for _, tc := range []struct {
		name  string
		spans []startSpan
		want  []string
	}{
		{"in order", []startSpan{span("erp-db", 0, 10, true), span("erp-app", 20, 30, true), span("dns", 40, 50, true), span("mon", 60, 70, true)}, nil},
		// erp-db's first start failed and was retried: erp-app must wait for the retry.
		{"after a retry", []startSpan{span("erp-db", 0, 5, false), span("erp-db", 8, 10, true), span("erp-app", 20, 30, true), span("dns", 40, 50, true), span("mon", 60, 70, true)}, nil},
		{"early in the vApp", []startSpan{span("erp-db", 0, 10, true), span("erp-app", 5, 30, true), span("dns", 40, 50, true), span("mon", 60, 70, true)},
			[]string{"erp-app began before erp-db had started"}},
		{"a later group first", []startSpan{span("mon", 0, 5, true), span("erp-db", 0, 10, true), span("erp-app", 20, 30, true), span("dns", 25, 50, true)},
			[]string{"dns began before erp-app had started", "mon began before dns, erp-app, erp-db had started"}},
		{"retry of a later VM counts from its first start", []startSpan{span("erp-db", 0, 10, true), span("erp-app", 2, 4, false), span("erp-app", 20, 30, true), span("dns", 40, 50, true), span("mon", 60, 70, true)},
			[]string{"erp-app began before erp-db had started"}},
		// A VM whose start never succeeded constrains nothing (it is lost).
		{"a failed VM", []startSpan{span("erp-db", 0, 10, false), span("erp-app", 20, 30, true), span("dns", 40, 50, true), span("mon", 60, 70, true)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, orderViolations(tc.spans, order))
		})
	}
}

func TestStartSpansFromJournal(t *testing.T) {
	j := []sim.JournalEntry{
		{Pool: "DR", Method: "Async.VM.start", Params: []any{"s", "OpaqueRef:1", false, false}, Result: "Success", Task: "t1", Time: at(0)},
		{Pool: "DR", Method: "VM.start", Params: []any{"s", "OpaqueRef:2", false, false}, Result: "INTERNAL_ERROR", Time: at(5), Duration: time.Millisecond},
		{Pool: "DR", Method: sim.TaskEnded, Task: "t1", Result: "Success", Time: at(100)},
		{Pool: "DR", Method: "VM.start", Params: []any{"s", "OpaqueRef:2", false, false}, Result: "Success", Time: at(110), Duration: 50 * time.Millisecond},
		{Pool: "DR", Method: "Async.VM.start", Params: []any{"s", "OpaqueRef:3", false, false}, Result: "Success", Task: "t9", Time: at(120)}, // still running
		{Pool: "Primary", Method: "VM.start", Params: []any{"s", "OpaqueRef:1", false, false}, Result: "Success", Time: at(0)},
	}
	got := startSpans(j, "DR", map[string]string{"OpaqueRef:1": "a", "OpaqueRef:2": "b"})
	assert.Equal(t, []startSpan{
		{VM: "a", Begin: at(0), End: at(100), OK: true},
		{VM: "b", Begin: at(5), End: at(6)},
		{VM: "b", Begin: at(110), End: at(160), OK: true},
	}, got)
}

func TestLostAndLeftovers(t *testing.T) {
	sel := map[string]string{"a": "1", "b": "2", "c": "3"}
	target := sim.PoolState{VMs: []sim.VMState{{Name: "a", UUID: "1", PowerState: "Running"}, {Name: "b", UUID: "2", PowerState: "Halted"}, {Name: "c", UUID: "9", PowerState: "Running"}}}
	assert.Equal(t, []string{"b Halted, not Running", "c missing"}, lostVMs(sel, target, "Running"))

	before := sim.PoolState{VMs: []sim.VMState{{Name: "jump", UUID: "j", PowerState: "Running"}}, Networks: []string{"lan"}}
	after := sim.PoolState{VMs: before.VMs, Networks: []string{"lan", "Lab-only"}, DRTasks: []sim.DRState{{UUID: "t"}},
		SRs: []sim.SRState{{Name: "gold", UUID: "g", Attached: true}}}
	assert.Empty(t, leftovers(inventory(before), inventory(before)))
	assert.Equal(t, []string{"+DR task t", "+SR gold g attached=true", "+network Lab-only"}, leftovers(inventory(before), inventory(after)))
}

func TestAggregate(t *testing.T) {
	rs := []caseResult{
		{Completed: true, Kills: []killResult{{Phase: "probe", Resume: 2 * time.Second}, {Phase: "scan", Resume: 4 * time.Second}}},
		{Completed: false, Lost: []string{"x"}, Kills: []killResult{{Phase: "probe", Resume: 90 * time.Second, Stalled: true}}},
	}
	r := aggregate("k", rs, "")
	assert.Equal(t, 2, r.Runs)
	assert.Equal(t, 1, r.Completed)
	assert.Equal(t, 1, r.Lost)
	assert.Equal(t, 3, r.Kills)
	assert.Equal(t, 1, r.Stalled)
	assert.Equal(t, 4.0, *r.ResumeMedian)
	assert.Equal(t, 90.0, *r.ResumeMax)
	p := aggregate("k @ probe", rs, "probe")
	assert.Equal(t, 2, p.Kills)
	assert.Equal(t, 46.0, *p.ResumeMedian)
	assert.False(t, clean([]row{r}))
	assert.True(t, clean([]row{aggregate("ok", rs[:1], "")}))
}
