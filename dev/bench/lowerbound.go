package main

import (
	"fmt"
	"time"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// Work is what a failover has to do, as the timing model sees it.
type Work struct {
	Timing sim.Timing
	Hosts  int // hosts of the target pool
	LUNs   int // storage targets: one SR.probe and one DR_task.create each
	// Databases is how many foreign databases must be opened (VDI.open_database): one per
	// source pool, since metadata_latest names the newest of its copies without opening any.
	Databases int
	// Groups are the priority groups in start order, each a list of units.
	Groups [][]Unit
}

// Unit is a vApp (several VMs) or a standalone VM (one).
type Unit struct {
	Name string
	VMs  []VMWork
}

// VMWork is one VM's place in its vApp's start order.
type VMWork struct {
	Order      int64
	StartDelay time.Duration
}

// PhaseBound is one phase's lower bound and how it was computed.
type PhaseBound struct {
	Phase string
	Bound time.Duration // simulated time
	How   string
}

// Bound is the lower bound of a failover under the timing model.
type Bound struct {
	Phases []PhaseBound
	Total  time.Duration
}

// LowerBound is the shortest failover the simulated pools allow: each phase runs after
// the previous one (the runbook's order; recovery and start overlap, see below), and each
// phase takes at least
// max(its critical path through the ordering constraints, its total work over the
// concurrency the pools allow for it). Calls a client could batch or overlap count one
// latency per phase. Gate waits are not work and are left out.
func LowerBound(w Work) Bound {
	t := w.Timing
	hosts := max(w.Hosts, 1)
	lat := t.Latency
	var b Bound
	add := func(phase string, d time.Duration, how string, args ...any) {
		b.Phases = append(b.Phases, PhaseBound{phase, d, fmt.Sprintf(how, args...)})
		b.Total += d
	}
	if w.LUNs > 0 {
		add("probe", lat+t.Probe, "%d SR.probe in parallel: latency + probe = %s", w.LUNs, lat+t.Probe)
		// DR_task.create probes, then plugs the SR's PBD on each host in turn (master first).
		intro := lat + t.Probe + time.Duration(hosts)*t.Plug
		add("introduce", intro, "%d DR_task.create in parallel, each probe + %d hosts x plug = %s", w.LUNs, hosts, intro)
	}
	open := lat + time.Duration(w.Databases)*t.OpenDatabase
	add("scan", open, "%d VDI.open_database (the newest copy of each source pool's metadata), serialised per pool: %d x %s (+ latency)", w.Databases, w.Databases, t.OpenDatabase)
	add("precheck", lat, "the metadata's disks and the pool's storage read in parallel: one latency")

	// Recover and start. Every VM's import takes Recover, of which RecoverDB holds the
	// pool's database lock; a vApp's VMs are imported one after another by one call. So
	// the units of groups 1..g cannot all be recovered before
	// rec(g) = max(largest of their units x Recover, their VMs x RecoverDB + the first
	// import's unlocked part). A group starts once its units are recovered and the group
	// before it has started (the runbook's order), so group g's start begins at rec(g) at
	// the earliest and the groups from g on start in turn after it: recovery and start
	// take at least max over g of rec(g) + start(g) + ... + start(last).
	//
	// A group's start: a vApp's order groups one after another (each as long as its
	// slowest boot + start_delay), every boot holding one of hosts x HostVMOps slots for
	// the whole of Start. Every boot takes the same Start and a slot boots one VM at a
	// time, so some slot boots ceil(boots / slots) VMs in turn: ten boots on eight slots
	// take two boots' time, not 1.25.
	slots := hosts * max(t.HostVMOps, 1)
	type group struct {
		rec, start time.Duration
		boots      int
	}
	groups := make([]group, len(w.Groups))
	vms, longest := 0, 0
	startHow := fmt.Sprintf("each group's start: max(critical path, ceil(boots / (%d hosts x %d slots)) x %s):", hosts, max(t.HostVMOps, 1), t.Start)
	for i, g := range w.Groups {
		var path time.Duration
		for _, u := range g {
			vms += len(u.VMs)
			longest = max(longest, len(u.VMs))
			groups[i].boots += len(u.VMs)
			path = max(path, unitPath(u, t.Start, lat))
		}
		groups[i].rec = max(lat+time.Duration(longest)*t.Recover, lat+time.Duration(vms)*t.RecoverDB+(t.Recover-t.RecoverDB))
		if groups[i].boots == 0 {
			continue
		}
		rounds := (groups[i].boots + slots - 1) / slots
		work := lat + time.Duration(rounds)*t.Start
		groups[i].start = max(path, work)
		startHow += fmt.Sprintf(" g%d max(%s, %d boots = %d in turn -> %s) = %s;", i+1, path.Round(time.Millisecond),
			groups[i].boots, rounds, work.Round(time.Millisecond), groups[i].start.Round(time.Millisecond))
	}
	crit := lat + time.Duration(longest)*t.Recover
	db := lat + time.Duration(vms)*t.RecoverDB + (t.Recover - t.RecoverDB)
	rec := max(crit, db)
	add("recover", rec, "max(critical path: largest unit %d VMs x %s = %s, database lock: %d VMs x %s + first import's unlocked part %s = %s)",
		longest, t.Recover, crit, vms, t.RecoverDB, t.Recover-t.RecoverDB, db)
	both, how := rec, "recovery and start together: max over g of (groups 1..g recovered + the starts from g on):"
	for i := range groups {
		if groups[i].boots == 0 {
			continue
		}
		d := groups[i].rec
		for _, later := range groups[i:] {
			d += later.start
		}
		both = max(both, d)
		how += fmt.Sprintf(" g%d %s;", i+1, d.Round(time.Millisecond))
	}
	add("start", both-rec, "%s %s = %s, less recovery's %s; %s", how, "max", both.Round(time.Millisecond), rec.Round(time.Millisecond), startHow)

	add("verify", lat, "one read of every VM: one latency")
	add("reprotect", lat, "metadata replication enabled on the SRs in parallel: one latency")
	add("cleanup", lat, "DR tasks destroyed in parallel: one latency")
	return b
}

// unitPath is a unit's start critical path: its order groups in ascending order, each
// as long as its slowest VM (boot + start_delay, xapi sleeping start_delay inside VM.start).
func unitPath(u Unit, boot, lat time.Duration) time.Duration {
	byOrder := map[int64]time.Duration{}
	for _, v := range u.VMs {
		byOrder[v.Order] = max(byOrder[v.Order], lat+boot+v.StartDelay)
	}
	var d time.Duration
	for _, o := range byOrder {
		d += o
	}
	return d
}
