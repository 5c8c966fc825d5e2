package workflows

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// This file holds the run's progress and report: how steps record what
// happened, and how the queries, search attributes and the UI's current
// details are built from it.

// setPhase enters a phase: timeline, search attribute and UI details.
func (r *run) setPhase(ctx workflow.Context, phase string) {
	if r.phase == phase {
		return
	}
	r.phase = phase
	r.touch(ctx)
	if phase != PhaseStarting {
		r.timeline = append(r.timeline, Event{At: r.updatedAt, Phase: phase, Message: "Phase " + phase + "."})
	}
	r.upsert(ctx, temporal.NewSearchAttributeKeyKeyword(SearchAttrPhase).ValueSet(phase))
	r.updateDetails(ctx)
}

// upsert sets search attributes. A cluster without them registered rejects
// the command; `lifeboat setup` registers them.
func (r *run) upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		r.logger.Warn("Search attributes not updated.", "Error", err)
	}
}

func (r *run) touch(ctx workflow.Context) { r.updatedAt = workflow.Now(ctx) }

// event adds a timeline entry.
func (r *run) event(ctx workflow.Context, format string, args ...any) {
	r.touch(ctx)
	r.timeline = append(r.timeline, Event{At: r.updatedAt, Phase: r.phase, Message: fmt.Sprintf(format, args...)})
}

// note records something the operator should see that changes nothing
// (an ignored signal): timeline and progress errors.
func (r *run) note(ctx workflow.Context, format string, args ...any) {
	r.event(ctx, format, args...)
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// warn records a warning: the report's warnings and the timeline.
func (r *run) warn(ctx workflow.Context, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.event(ctx, "Warning: %s", msg)
	r.warnings = append(r.warnings, msg)
}

// fail records a failure that lets the run go on but makes it fail at the end.
func (r *run) fail(ctx workflow.Context, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.event(ctx, "%s", msg)
	r.errors = append(r.errors, msg)
	r.failures = append(r.failures, msg)
}

// addUnit adds a selected unit and its VMs to the progress, pending.
func (r *run) addUnit(u SelectedUnit, group string) {
	if u.Kind == activities.KindVApp {
		r.vappIndex[u.UUID] = len(r.vapps)
		r.vapps = append(r.vapps, ObjectState{UUID: u.UUID, Name: u.Name, Kind: activities.KindVApp, Group: group, State: StatePending})
	}
	for _, vm := range u.VMs {
		st := ObjectState{UUID: vm.UUID, Name: vm.Name, Kind: activities.KindVM, Group: group, State: StatePending}
		if u.Kind == activities.KindVApp {
			st.VApp = u.Name
		}
		r.vmIndex[vm.UUID] = len(r.vms)
		r.vms = append(r.vms, st)
	}
}

// skipUnreached marks the objects a stopped run never reached (still
// pending) as skipped, saying where the run stopped, so no report of a
// finished run shows a VM as if it were still to come.
func (r *run) skipUnreached(phase string) {
	for _, list := range [][]ObjectState{r.vapps, r.vms} {
		for i := range list {
			if list[i].State == StatePending {
				list[i].State = StateSkipped
				list[i].Error = "not recovered: the run stopped during " + phase
			}
		}
	}
}

// vm returns a VM's progress entry, or nil for a VM the run does not know.
func (r *run) vm(uuid string) *ObjectState {
	if i, ok := r.vmIndex[uuid]; ok {
		return &r.vms[i]
	}
	return nil
}

func (r *run) vapp(uuid string) *ObjectState {
	if i, ok := r.vappIndex[uuid]; ok {
		return &r.vapps[i]
	}
	return nil
}

// setRecovered marks an object recovered at t, with its RTO so far.
func (r *run) setRecovered(o *ObjectState, t time.Time) {
	o.State, o.Error = StateRecovered, ""
	o.RecoveredAt = &t
	o.RTO = t.Sub(r.startedAt)
}

// setStarted marks a VM running or paused at t; its RTO ends there.
func (r *run) setStarted(o *ObjectState, powerState string, t time.Time) {
	o.State = PowerToState(powerState)
	o.Error = ""
	o.StartedAt = &t
	o.RTO = t.Sub(r.startedAt)
}

// PowerToState is the progress state of a started VM's power state.
func PowerToState(powerState string) string {
	switch strings.ToLower(powerState) {
	case "paused":
		return StatePaused
	case "halted":
		return StateHalted
	}
	return StateRunning
}

// progress answers the progress query.
func (r *run) progress() *Progress {
	p := &Progress{
		Plan:      r.plan.Name,
		Mode:      r.mode,
		Phase:     r.phase,
		Gates:     r.gates,
		Prechecks: r.prechecks,
		VApps:     r.vapps,
		VMs:       r.vms,
		Errors:    r.errors,
		StartedAt: r.startedAt,
		UpdatedAt: r.updatedAt,
	}
	if r.waiting >= 0 {
		g := r.gates[r.waiting]
		p.WaitingGate = &g
	}
	p.Paged = progressLists(p).inline()
	return p
}

// report builds the report; outcome is empty while the run goes on.
func (r *run) report(outcome, msg string) *Report {
	rep := &Report{
		Plan:        r.plan.Name,
		Mode:        r.mode,
		WorkflowID:  r.workflowID,
		RunID:       r.runID,
		RequestedBy: r.in.RequestedBy,
		Outcome:     outcome,
		Message:     msg,
		Source:      r.source,
		Target:      r.target,
		StartedAt:   r.startedAt,
		Timeline:    r.timeline,
		Gates:       r.gates,
		Prechecks:   r.prechecks,
		VApps:       r.vapps,
		VMs:         r.vms,
		Leftovers:   r.leftovers,
		Warnings:    r.warnings,
	}
	if outcome != "" {
		rep.FinishedAt = r.updatedAt
	}
	if len(r.vms) > 0 {
		rep.VMCounts = map[string]int{}
		for _, vm := range r.vms {
			rep.VMCounts[vm.State]++
			rep.RTO = max(rep.RTO, vm.RTO)
		}
	}
	rep.TargetRTO = time.Duration(r.plan.TargetRTO)
	rep.Unattended = r.in.Unattended
	if !r.dataAsOf.IsZero() {
		asOf := r.dataAsOf
		rep.DataAsOf = &asOf
	}
	return rep
}

// updateDetails sets the markdown the Temporal UI shows for the run.
func (r *run) updateDetails(ctx workflow.Context) {
	var b strings.Builder
	writef(&b, "**%s** of plan `%s` · site %s → site %s\n\n", modeTitle(r.mode), r.plan.Name, r.source, r.target)
	writef(&b, "Phase: **%s**", r.phase)
	if r.waiting >= 0 {
		g := r.gates[r.waiting]
		writef(&b, " · waiting for approval of gate `%s` (%d of %d)", g.Gate, approvalsOf(g), g.Quorum)
	}
	b.WriteString("\n\n")
	if len(r.vms) > 0 {
		counts := map[string]int{}
		for _, vm := range r.vms {
			counts[vm.State]++
		}
		writef(&b, "VMs: %d selected · %d recovered · %d running · %d paused · %d failed",
			len(r.vms), len(r.vms)-counts[StatePending]-counts[StateRecovering]-counts[StateFailed]-counts[StateSkipped],
			counts[StateRunning], counts[StatePaused], counts[StateFailed])
		if len(r.vapps) > 0 {
			writef(&b, " · vApps: %d", len(r.vapps))
		}
		b.WriteString("\n\n")
	}
	if len(r.errors) > 0 {
		writef(&b, "Last error: %s\n", r.errors[len(r.errors)-1])
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

func approvalsOf(g GateStatus) int {
	n := 0
	for _, d := range g.Decisions {
		if d.Approved {
			n++
		}
	}
	return n
}

func modeTitle(m plan.Mode) string {
	switch m {
	case plan.ModeFailover:
		return "Failover"
	case plan.ModeFailback:
		return "Failback"
	case plan.ModeTestFailover:
		return "Test failover"
	}
	return string(m)
}

// sentence makes an error string an operator's sentence: capitalised, ending
// with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// appendNew adds s to list unless it is there already: the run's lists of
// UUIDs are sets kept in the order things happened.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// sortedKeys is slices.Sorted(maps.Keys(m)) with its one exception spelled
// out: workflowcheck flags maps.Keys (it iterates a map), and the sort is what
// keeps the map's order from leaking into the run.
func sortedKeys(m map[string]string) []string {
	//workflowcheck:ignore
	return slices.Sorted(maps.Keys(m))
}
