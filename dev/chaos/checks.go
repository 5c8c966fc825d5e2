package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// The checks of a run, on the simulator's journal and state. They are pure
// functions of those, so that they can be tested on synthetic journals.

// recoveredTwice returns the objects (foreign references: the recovered VM or
// vApp in the metadata, the same in every run that reads the same metadata)
// that a VM.recover or VM_appliance.recover in pool recovered successfully
// more than once. An Async call succeeds when its task ends in Success.
func recoveredTwice(entries []sim.JournalEntry, pool string) []string {
	taskResult := map[string]string{}
	for _, e := range entries {
		if e.Method == sim.TaskEnded {
			taskResult[e.Task] = e.Result
		}
	}
	ok := map[string]int{}
	for _, e := range entries {
		m := strings.TrimPrefix(e.Method, "Async.")
		if (m != "VM.recover" && m != "VM_appliance.recover") || !strings.EqualFold(e.Pool, pool) || e.Result != "Success" {
			continue
		}
		if strings.HasPrefix(e.Method, "Async.") && taskResult[e.Task] != "Success" {
			continue
		}
		ref := "?"
		if len(e.Params) > 1 {
			if s, isStr := e.Params[1].(string); isStr {
				ref = s
			}
		}
		ok[m+" "+ref]++
	}
	var out []string
	for k, n := range ok {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	sort.Strings(out)
	return out
}

// duplicateVMs returns the names and UUIDs held by more than one VM of a pool:
// a copy recovered twice under a new UUID, or twice under one.
func duplicateVMs(p sim.PoolState) []string {
	names, uuids := map[string]int{}, map[string]int{}
	for _, vm := range p.VMs {
		names[vm.Name]++
		uuids[vm.UUID]++
	}
	var out []string
	for n, c := range names {
		if c > 1 {
			out = append(out, fmt.Sprintf("name %s ×%d", n, c))
		}
	}
	for u, c := range uuids {
		if c > 1 {
			out = append(out, fmt.Sprintf("uuid %s ×%d", u, c))
		}
	}
	sort.Strings(out)
	return out
}

// lostVMs returns the selected VMs (name → UUID at the source) that are not in
// the target pool with their UUID in the expected power state.
func lostVMs(selected map[string]string, target sim.PoolState, power string) []string {
	have := map[string]sim.VMState{}
	for _, vm := range target.VMs {
		if vm.UUID == selected[vm.Name] {
			have[vm.Name] = vm
		}
	}
	var out []string
	for name := range selected {
		vm, ok := have[name]
		switch {
		case !ok:
			out = append(out, name+" missing")
		case vm.PowerState != power:
			out = append(out, fmt.Sprintf("%s %s, not %s", name, vm.PowerState, power))
		}
	}
	sort.Strings(out)
	return out
}

// inventory is what a test failover must leave as it found it in the target
// pool: VMs, vApps, SRs (with their attachment), networks and DR tasks.
func inventory(p sim.PoolState) map[string]bool {
	out := map[string]bool{}
	for _, vm := range p.VMs {
		out["VM "+vm.Name+" "+vm.UUID+" "+vm.PowerState] = true
	}
	for _, a := range p.VApps {
		out["vApp "+a.Name+" "+a.UUID] = true
	}
	for _, sr := range p.SRs {
		out[fmt.Sprintf("SR %s %s attached=%v", sr.Name, sr.UUID, sr.Attached)] = true
	}
	for _, n := range p.Networks {
		out["network "+n] = true
	}
	for _, t := range p.DRTasks {
		out["DR task "+t.UUID] = true
	}
	return out
}

// leftovers returns what differs between two inventories (added or gone).
func leftovers(before, after map[string]bool) []string {
	var out []string
	for k := range after {
		if !before[k] {
			out = append(out, "+"+k)
		}
	}
	for k := range before {
		if !after[k] {
			out = append(out, "-"+k)
		}
	}
	sort.Strings(out)
	return out
}

// vmOrder is where a VM stands in the plan's start order.
type vmOrder struct {
	VApp  string // "" for a standalone VM
	Order int64  // its order inside the vApp
	Group int    // priority group index; everything not in a group is last
}

// startOrder computes each selected VM's place: the plan's priority groups
// (vApps and VMs by name) in order, everything else last; the vApp's order
// field inside a vApp.
func startOrder(p *plan.Plan, vms []sim.VMState, orders map[string]int64) map[string]vmOrder {
	out := map[string]vmOrder{}
	for _, vm := range vms {
		g := len(p.PriorityGroups)
		for i, pg := range p.PriorityGroups {
			if (vm.VApp != "" && slices.Contains(pg.VApps, vm.VApp)) || (vm.VApp == "" && slices.Contains(pg.VMs, vm.Name)) {
				g = i
				break
			}
		}
		out[vm.Name] = vmOrder{VApp: vm.VApp, Order: orders[vm.Name], Group: g}
	}
	return out
}

// startSpan is one VM.start (or VM.start_on) in the journal: when it began
// and ended, and whether it succeeded.
type startSpan struct {
	VM         string
	Begin, End time.Time
	OK         bool
}

// startSpans reads the VM.start calls of a pool from the journal (sync ones
// end after their duration, Async ones when their task ends); names maps the
// pool's VM references to names.
func startSpans(entries []sim.JournalEntry, pool string, names map[string]string) []startSpan {
	ends := map[string]sim.JournalEntry{}
	for _, e := range entries {
		if e.Method == sim.TaskEnded {
			ends[e.Task] = e
		}
	}
	var out []startSpan
	for _, e := range entries {
		if m := strings.TrimPrefix(e.Method, "Async."); (m != "VM.start" && m != "VM.start_on") || !strings.EqualFold(e.Pool, pool) || len(e.Params) < 2 {
			continue
		}
		ref, _ := e.Params[1].(string)
		sp := startSpan{VM: names[ref], Begin: e.Time}
		if sp.VM == "" {
			sp.VM = ref
		}
		switch {
		case e.Result != "Success":
			sp.End = e.Time.Add(e.Duration)
		case strings.HasPrefix(e.Method, "Async."):
			end, ok := ends[e.Task]
			if !ok {
				continue // still running: no order to judge yet
			}
			sp.End, sp.OK = end.Time, end.Result == "Success"
		default:
			sp.End, sp.OK = e.Time.Add(e.Duration), true
		}
		out = append(out, sp)
	}
	return out
}

// orderViolations returns the VMs whose first start began before a VM that
// must precede it had finished its first successful start: an earlier
// priority group, or a lower order in the same vApp. A VM that never started
// successfully constrains nothing (its failure is reported as lost).
func orderViolations(spans []startSpan, order map[string]vmOrder) []string {
	firstBegin := map[string]time.Time{}
	firstOK := map[string]time.Time{}
	for _, s := range spans {
		if b, ok := firstBegin[s.VM]; !ok || s.Begin.Before(b) {
			firstBegin[s.VM] = s.Begin
		}
		if s.OK {
			if e, ok := firstOK[s.VM]; !ok || s.End.Before(e) {
				firstOK[s.VM] = s.End
			}
		}
	}
	var out []string
	for b, begin := range firstBegin {
		ob, known := order[b]
		if !known {
			continue
		}
		var before []string
		for a, end := range firstOK {
			oa, known := order[a]
			if !known || a == b {
				continue
			}
			precedes := oa.Group < ob.Group || (oa.VApp != "" && oa.VApp == ob.VApp && oa.Order < ob.Order)
			if precedes && begin.Before(end) {
				before = append(before, a)
			}
		}
		if len(before) > 0 {
			sort.Strings(before)
			out = append(out, fmt.Sprintf("%s began before %s had started", b, strings.Join(before, ", ")))
		}
	}
	sort.Strings(out)
	return out
}
