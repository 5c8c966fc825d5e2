package main

import (
	"math/rand"
	"sort"
	"time"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// killPhases are the phases of each mode a worker kill aims at, in runbook
// order: every phase that runs an activity or waits at a gate. select and
// report are workflow code only (one workflow task, milliseconds long), so a
// kill cannot be aimed inside them; a kill that lands there anyway is counted
// under the phase the run was in. In a test failover the demo plan skips the
// storage-ready and recover gates, and the hold is the cleanup gate. In a
// failback of the demo world the primary pool still knows its SRs, so
// introduce and cleanup have no DR task to create or destroy and pass in
// milliseconds without a call: they are not aimed at there.
var killPhases = map[plan.Mode][]string{
	plan.ModeFailover: {
		workflows.PhaseStorageReady, workflows.PhaseProbe, workflows.PhaseIntroduce, workflows.PhaseScan,
		workflows.PhasePrecheck, workflows.PhaseRecoverGate, workflows.PhaseRecover, workflows.PhaseStart,
		workflows.PhaseVerify, workflows.PhaseReprotect, workflows.PhaseCleanup,
	},
	plan.ModeFailback: {
		workflows.PhaseStorageReady, workflows.PhaseProbe, workflows.PhaseScan,
		workflows.PhasePrecheck, workflows.PhaseRecoverGate, workflows.PhaseRecover, workflows.PhaseStart,
		workflows.PhaseVerify, workflows.PhaseReprotect,
	},
	plan.ModeTestFailover: {
		workflows.PhaseProbe, workflows.PhaseIntroduce, workflows.PhaseScan, workflows.PhasePrecheck,
		workflows.PhaseRecover, workflows.PhaseStart, workflows.PhaseVerify, workflows.PhaseHold,
		workflows.PhaseCleanup,
	},
}

// modes in the order the harness reports them.
var modes = []plan.Mode{plan.ModeFailover, plan.ModeFailback, plan.ModeTestFailover}

// gatePhases maps the phases that wait at a gate to the gate.
var gatePhases = map[string]string{
	workflows.PhaseStorageReady: plan.GateStorageReady,
	workflows.PhaseRecoverGate:  plan.GateRecover,
	workflows.PhaseHold:         plan.GateCleanup,
}

// phaseIndex is a phase's position in a mode's runbook (-1 if not aimed at).
func phaseIndex(mode plan.Mode, phase string) int {
	for i, p := range killPhases[mode] {
		if p == phase {
			return i
		}
	}
	return -1
}

// phaseRank orders any phase of a run against the phases aimed at: select
// ranks with scan (it follows it), and the phases after the runbook (report
// and the final ones) after all of them.
func phaseRank(mode plan.Mode, phase string) int {
	switch phase {
	case workflows.PhaseSelect:
		return phaseIndex(mode, workflows.PhaseScan)
	case workflows.PhaseReport, workflows.PhaseDone, workflows.PhaseFailed, workflows.PhaseAborted, workflows.PhaseRejected:
		return len(killPhases[mode])
	}
	return phaseIndex(mode, phase)
}

// defaultKills is the kills per mode when CHAOS_KILLS is not set: at least
// 30, and at least 3 in every phase.
func defaultKills(mode plan.Mode) int {
	if n := 3 * len(killPhases[mode]); n > 30 {
		return n
	}
	return 30
}

// kill is one planned worker kill: in which phase, and how long after the
// run is first seen in that phase.
type kill struct {
	Phase string
	After time.Duration
}

// killRun is the kills of one run, in runbook order, distinct phases.
type killRun []kill

// killSchedule spreads n kills of a mode over its phases: rounds of a seeded
// permutation of the phases (so every phase gets n/len(phases) kills, the
// first n%len(phases) of the last round one more), each round cut into runs
// of at most perRun kills sorted in runbook order. The moment of each kill
// inside its phase is seeded too (jitterMax).
func killSchedule(rng *rand.Rand, mode plan.Mode, n, perRun int) []killRun {
	phases := killPhases[mode]
	if perRun < 1 {
		perRun = 1
	}
	var runs []killRun
	for left := n; left > 0; {
		perm := rng.Perm(len(phases))
		if left < len(perm) {
			perm = perm[:left]
		}
		left -= len(perm)
		for len(perm) > 0 {
			k := perRun
			if k > len(perm) {
				k = len(perm)
			}
			chunk := append([]int(nil), perm[:k]...)
			perm = perm[k:]
			sort.Ints(chunk)
			var r killRun
			for _, i := range chunk {
				r = append(r, kill{Phase: phases[i], After: time.Duration(rng.Int63n(int64(jitterMax(phases[i]))))})
			}
			runs = append(runs, r)
		}
	}
	return runs
}

// jitterMax bounds how long after a phase is first seen its kill comes. At
// the chaos speed the demo's phases last from about 0.1 s (verify,
// reprotect, cleanup) to 4 s (start); a gate waits until it is approved.
func jitterMax(phase string) time.Duration {
	if _, gate := gatePhases[phase]; gate {
		return time.Second
	}
	switch phase {
	case workflows.PhaseVerify, workflows.PhaseReprotect, workflows.PhaseCleanup:
		return 30 * time.Millisecond
	}
	return 100 * time.Millisecond
}

// stretch names the XAPI calls of the steps too short to be hit at the
// chaos speed (verify reads the VMs once; introduce and a failover's
// cleanup create or destroy three DR tasks, milliseconds each): a run with a
// kill aimed there has those calls slowed by stretchDelay (real time), so
// that the kill falls inside the step. The time to resume is measured from
// the kill, so the delay does not count in it.
var stretch = map[string]string{
	workflows.PhaseVerify:    "VM.get_all_records",
	workflows.PhaseIntroduce: "*DR_task.create",
	workflows.PhaseCleanup:   "*DR_task.destroy",
}

const stretchDelay = 300 * time.Millisecond

// restartSchedule picks the phases of a failover in which the Temporal dev
// server is killed and restarted: n distinct phases (at least 3 when the
// runbook has them), in runbook order.
func restartSchedule(rng *rand.Rand, n int) []kill {
	phases := killPhases[plan.ModeFailover]
	if n > len(phases) {
		n = len(phases)
	}
	idx := rng.Perm(len(phases))[:n]
	sort.Ints(idx)
	out := make([]kill, 0, n)
	for _, i := range idx {
		out = append(out, kill{Phase: phases[i], After: time.Duration(rng.Int63n(int64(jitterMax(phases[i]))))})
	}
	return out
}
