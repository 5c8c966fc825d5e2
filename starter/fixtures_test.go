package main

import (
	"errors"
	"time"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func ptr(t time.Time) *time.Time { return &t }

// waitingProgress is a demo failover waiting at the recover gate.
func waitingProgress() *workflows.Progress {
	deadline := at(64).Add(4 * time.Hour)
	recoverGate := workflows.GateStatus{Gate: plan.GateRecover, State: "waiting", Quorum: 1, Approvers: []string{"alice", "bob"},
		OpenedAt: at(4), Deadline: &deadline, Summary: "12 checks: 11 ok, 1 warning, 0 problems"}
	return &workflows.Progress{
		Plan: "demo", Mode: plan.ModeFailover, Phase: workflows.PhaseRecoverGate,
		WaitingGate: &recoverGate,
		Gates: []workflows.GateStatus{
			{Gate: plan.GateStorageReady, State: "approved", Quorum: 1, Approvers: []string{"alice", "bob"}, OpenedAt: at(0),
				Decisions: []workflows.Decision{{By: "alice", Approved: true, Comment: "mirror split at 08:58", At: at(2)}}},
			recoverGate,
		},
		Prechecks: []workflows.CheckResult{
			{Check: "same-uuid", Object: "erp", Severity: workflows.SeverityOK, Message: "not present at dr"},
			{Check: "memory", Object: "dr", Severity: workflows.SeverityWarning, Message: "free memory after recovery is 6% of the pool"},
			{Check: "network", Object: `network "Lab-only"`, Severity: workflows.SeverityWarning, Message: "does not exist at site dr"},
		},
		VApps: []workflows.ObjectState{
			{UUID: "va-erp", Name: "erp", Kind: "vapp", Group: "databases-first", State: workflows.StatePending},
		},
		VMs: []workflows.ObjectState{
			{UUID: "vm-erp-db", Name: "erp-db", Kind: "vm", VApp: "erp", Group: "databases-first", State: workflows.StatePending},
			{UUID: "vm-erp-app", Name: "erp-app", Kind: "vm", VApp: "erp", Group: "databases-first", State: workflows.StatePending},
			{UUID: "vm-dns", Name: "dns-01", Kind: "vm", Group: "core", State: workflows.StatePending},
		},
		StartedAt: t0, UpdatedAt: at(4),
	}
}

// recoveringProgress is the same run, approved and half-way through.
func recoveringProgress() *workflows.Progress {
	p := waitingProgress()
	p.Phase = workflows.PhaseStart
	p.WaitingGate = nil
	p.Gates[1].State = "approved"
	p.Gates[1].Decisions = []workflows.Decision{{By: "bob", Approved: true, At: at(6)}}
	p.VApps[0].State = workflows.StateRecovered
	p.VApps[0].RecoveredAt = ptr(at(8))
	p.VMs[0].State, p.VMs[0].RecoveredAt, p.VMs[0].StartedAt, p.VMs[0].RTO = workflows.StateRunning, ptr(at(8)), ptr(at(9)), 9*time.Minute
	p.VMs[1].State, p.VMs[1].RecoveredAt = workflows.StateStarting, ptr(at(8))
	p.UpdatedAt = at(9)
	return p
}

// doneReport is the report of the demo failover once succeeded.
func doneReport() *workflows.Report {
	p := recoveringProgress()
	p.VMs[1].State, p.VMs[1].StartedAt, p.VMs[1].RTO = workflows.StateRunning, ptr(at(10)), 10*time.Minute+30*time.Second
	p.VMs[2].State, p.VMs[2].RecoveredAt, p.VMs[2].StartedAt, p.VMs[2].RTO = workflows.StateRunning, ptr(at(9)), ptr(at(11)), 11*time.Minute
	p.VMs[2].Name = "dns|01" // a pipe must not break the Markdown table
	return &workflows.Report{
		Plan: "demo", Mode: plan.ModeFailover, WorkflowID: "lifeboat-demo-failover", RunID: "run-1",
		RequestedBy: "alice", Outcome: workflows.OutcomeSucceeded, Source: "primary", Target: "dr",
		StartedAt: t0, FinishedAt: at(12),
		Timeline: []workflows.Event{
			{At: at(0), Phase: workflows.PhaseStorageReady, Message: "waiting for approval of storage-ready"},
			{At: at(3), Phase: workflows.PhaseProbe, Message: "probed 3 storage targets: 2 SRs with metadata"},
			{At: at(8), Phase: workflows.PhaseRecover, Message: "recovered 1 vApp and 1 VM"},
			{At: at(12), Phase: workflows.PhaseDone, Message: "3 VMs running at dr"},
		},
		Gates: p.Gates, Prechecks: p.Prechecks, VApps: p.VApps, VMs: p.VMs,
		Leftovers: []string{"DR task OpaqueRef:1234 at dr could not be destroyed: <session expired>; destroy it with xe drtask-destroy"},
	}
}

// startingProgress is the demo failover starting vApp erp: the parent marks
// all its VMs starting when its start child begins, and learns their states
// only when the child ends.
func startingProgress() *workflows.Progress {
	p := recoveringProgress()
	p.VMs = []workflows.ObjectState{
		{UUID: "vm-erp-db", Name: "erp-db", Kind: "vm", VApp: "erp", Group: "databases-first", State: workflows.StateStarting, RecoveredAt: ptr(at(8))},
		{UUID: "vm-erp-app", Name: "erp-app", Kind: "vm", VApp: "erp", Group: "databases-first", State: workflows.StateStarting, RecoveredAt: ptr(at(8))},
		{UUID: "vm-erp-web", Name: "erp-web", Kind: "vm", VApp: "erp", Group: "databases-first", State: workflows.StateStarting, RecoveredAt: ptr(at(8))},
		{UUID: "vm-dns", Name: "dns-01", Kind: "vm", Group: "core", State: workflows.StateStarting, RecoveredAt: ptr(at(8))},
	}
	p.UpdatedAt = at(8)
	return p
}

// erpStart is the progress answer of erp's start child: each VM's state in
// order, with the time its start began and, once started, the time it did.
func erpStart(states ...string) *workflows.StartVMsProgress {
	names := []string{"erp-db", "erp-app", "erp-web"}
	out := &workflows.StartVMsProgress{}
	for i, st := range states {
		v := workflows.VMStartProgress{VMStart: workflows.VMStart{UUID: "vm-" + names[i]}, Name: names[i], State: st}
		if st != workflows.StateRecovered {
			v.StartingAt = ptr(at(8).Add(time.Duration(i) * 30 * time.Second))
		}
		switch st {
		case workflows.StateRunning:
			v.PowerState, v.StartedAt = "Running", at(9).Add(time.Duration(i)*30*time.Second)
		case workflows.StateFailed:
			v.Error = "starting VM 'erp-web' at site dr failed: HOST_NOT_ENOUGH_FREE_MEMORY"
		}
		out.VMs = append(out.VMs, v)
	}
	return out
}

const erpChild = "lifeboat-demo-failover/start/vapp-va-erp"

// liveStep is a running step in the start phase with erp's child answering
// and the standalone VMs' child unable to answer.
func liveStep(erp *workflows.StartVMsProgress) step {
	st := running(startingProgress())
	st.children = []fakeChild{
		{id: erpChild, typ: workflows.StartVMsWorkflowName, answer: erp},
		{id: "lifeboat-demo-failover/start/group-1-vms-1", typ: workflows.StartVMsWorkflowName, err: errors.New("context deadline exceeded")},
	}
	return st
}
