package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// statusView is what `lifeboat status` shows of one run.
type statusView struct {
	ref      runRef
	status   string // Temporal's: running, completed, failed, ...
	progress *workflows.Progress
	// outcome is set once the run has ended.
	outcome string
	message string
	// noWorker says that no worker answered for the running run, so what is
	// shown is what Temporal knows or the last progress seen.
	noWorker string
}

// progressFromReport shows a finished run in the same shape as a running one.
func progressFromReport(r *workflows.Report) *workflows.Progress {
	phase := map[string]string{
		workflows.OutcomeSucceeded: workflows.PhaseDone,
		workflows.OutcomeFailed:    workflows.PhaseFailed,
		workflows.OutcomeRejected:  workflows.PhaseRejected,
		workflows.OutcomeAborted:   workflows.PhaseAborted,
	}[r.Outcome]
	if phase == "" {
		phase = workflows.PhaseFailed
	}
	return &workflows.Progress{
		Plan: r.Plan, Mode: r.Mode, Phase: phase,
		Gates: r.Gates, Prechecks: r.Prechecks, VApps: r.VApps, VMs: r.VMs,
		StartedAt: r.StartedAt, UpdatedAt: r.FinishedAt,
	}
}

// renderStatus returns the status screen as lines (so --watch can redraw it).
func renderStatus(v statusView, loc *time.Location) []string {
	p := v.progress
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	add("Run      %s", v.ref.id)
	if v.ref.runID != "" {
		add("Run ID   %s", v.ref.runID)
	}
	add("Plan     %s (%s)", p.Plan, p.Mode)
	state := v.status
	if v.outcome != "" {
		state = v.outcome
	}
	if p.Phase != "" {
		add("State    %s, phase %s", state, p.Phase)
	} else {
		add("State    %s", state)
	}
	if !p.StartedAt.IsZero() {
		add("Started  %s", fmtTime(p.StartedAt, loc))
	}
	if !p.UpdatedAt.IsZero() {
		label := "Updated "
		if v.outcome != "" {
			label = "Finished"
		}
		add("%s %s", label, fmtTime(p.UpdatedAt, loc))
	}
	if v.message != "" {
		add("Message  %s", v.message)
	}
	if v.noWorker != "" {
		add("")
		add("%s", strings.ToUpper(v.noWorker[:1])+v.noWorker[1:])
	}

	if g := p.WaitingGate; g != nil {
		add("")
		who := "anyone"
		if len(g.Approvers) > 0 {
			who = strings.Join(g.Approvers, ", ")
		}
		line := fmt.Sprintf("Waiting at gate %s since %s: %d of %d approvals from %s", g.Gate, fmtTime(g.OpenedAt, loc), approvals(g), g.Quorum, who)
		if g.Deadline != nil {
			line += ", deadline " + fmtTime(*g.Deadline, loc)
		}
		add("%s", line)
		if g.Summary != "" {
			for _, l := range strings.Split(strings.TrimRight(g.Summary, "\n"), "\n") {
				add("  | %s", l)
			}
		}
		add("  approve: lifeboat approve %s --gate %s --as NAME", v.ref.id, g.Gate)
		add("  reject:  lifeboat reject %s --gate %s --as NAME --comment WHY", v.ref.id, g.Gate)
	}

	if len(p.Gates) > 0 {
		add("")
		add("Gates")
		var b bytes.Buffer
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, g := range p.Gates {
			var decs []string
			for _, d := range g.Decisions {
				s := "approved by " + d.By
				if !d.Approved {
					s = "rejected by " + d.By
				}
				s += " at " + fmtTime(d.At, loc)
				if d.Comment != "" {
					s += fmt.Sprintf(" (%q)", d.Comment)
				}
				decs = append(decs, s)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", g.Gate, g.State, strings.Join(decs, "; "))
		}
		tw.Flush()
		out = append(out, lines(b.String())...)
	}

	if len(p.Prechecks) > 0 {
		add("")
		counts := map[string]int{}
		for _, c := range p.Prechecks {
			counts[c.Severity]++
		}
		add("Prechecks: %d ok, %s, %s", counts[workflows.SeverityOK],
			plural(counts[workflows.SeverityWarning], "warning"), plural(counts[workflows.SeverityProblem], "problem"))
		for _, c := range p.Prechecks {
			if c.Severity == workflows.SeverityOK {
				continue
			}
			add("  %-8s %s: %s", c.Severity, checkSubject(c), c.Message)
		}
	}

	if len(p.VMs) > 0 || len(p.VApps) > 0 {
		add("")
		rec, started := vmCounts(p.VMs)
		add("Recovered %s %d/%d", bar(rec, len(p.VMs), 24), rec, len(p.VMs))
		add("Started   %s %d/%d", bar(started, len(p.VMs), 24), started, len(p.VMs))
		add("")
		out = append(out, objectTable(p, loc)...)
	}
	if len(p.Errors) > 0 {
		add("")
		add("Errors")
		for _, e := range p.Errors {
			add("  %s", e)
		}
	}
	return out
}

// checkSubject names what a precheck line is about: its check, then its
// object, without saying a word twice when the object already starts with
// it (check "network", object "network \"Lab-only\"").
func checkSubject(c workflows.CheckResult) string {
	if c.Object == "" {
		return c.Check
	}
	if c.Object == c.Check || strings.HasPrefix(c.Object, c.Check+" ") {
		return c.Object
	}
	return c.Check + " " + c.Object
}

func approvals(g *workflows.GateStatus) int {
	n := 0
	for _, d := range g.Decisions {
		if d.Approved {
			n++
		}
	}
	return n
}

// vmCounts counts VMs past recovery and VMs started (running or paused).
func vmCounts(vms []workflows.ObjectState) (recovered, started int) {
	for _, vm := range vms {
		switch vm.State {
		case workflows.StateRecovered, workflows.StateStarting, workflows.StateHalted:
			recovered++
		case workflows.StateRunning, workflows.StatePaused:
			recovered++
			started++
		case workflows.StateCleanedUp:
			if vm.RecoveredAt != nil {
				recovered++
			}
			if vm.StartedAt != nil {
				started++
			}
		}
	}
	return recovered, started
}

func bar(n, total, width int) string {
	filled := 0
	if total > 0 {
		filled = n * width / total
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

// objectTable lists vApps and their VMs, then standalone VMs, by group.
func objectTable(p *workflows.Progress, loc *time.Location) []string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VAPP/VM\tGROUP\tSTATE\tRECOVERED\tSTARTED\tRTO\tERROR")
	byVApp := map[string][]workflows.ObjectState{}
	var standalone []workflows.ObjectState
	for _, vm := range p.VMs {
		if vm.VApp != "" {
			byVApp[vm.VApp] = append(byVApp[vm.VApp], vm)
		} else {
			standalone = append(standalone, vm)
		}
	}
	row := func(name string, o workflows.ObjectState) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, dash(o.Group), o.State,
			clock(o.RecoveredAt, loc), clock(o.StartedAt, loc), rto(o.RTO), o.Error)
	}
	seen := map[string]bool{}
	for _, va := range p.VApps {
		row(va.Name, va)
		seen[va.Name] = true
		for _, vm := range byVApp[va.Name] {
			row("  "+vm.Name, vm)
		}
	}
	// VMs whose vApp is not (yet) listed still show, under its name.
	var orphans []string
	for name := range byVApp {
		if !seen[name] {
			orphans = append(orphans, name)
		}
	}
	sort.Strings(orphans)
	for _, name := range orphans {
		for _, vm := range byVApp[name] {
			row(name+"/"+vm.Name, vm)
		}
	}
	for _, vm := range standalone {
		row(vm.Name, vm)
	}
	tw.Flush()
	return lines(b.String())
}

// changes are the lines --watch prints when stdout is not a terminal: what
// changed since the previous progress, one event per line.
func changes(prev, cur *workflows.Progress, loc *time.Location) []string {
	var out []string
	stamp := fmtClock(cur.UpdatedAt, loc)
	add := func(format string, args ...any) { out = append(out, stamp+" "+fmt.Sprintf(format, args...)) }
	if prev == nil {
		prev = &workflows.Progress{}
	}
	if cur.Phase != prev.Phase {
		add("phase %s", cur.Phase)
	}
	pg, cg := prev.WaitingGate, cur.WaitingGate
	if cg != nil && (pg == nil || pg.Gate != cg.Gate) {
		who := "anyone"
		if len(cg.Approvers) > 0 {
			who = strings.Join(cg.Approvers, ", ")
		}
		add("waiting at gate %s for %d approval(s) from %s", cg.Gate, cg.Quorum, who)
	}
	prevGates := map[string]workflows.GateStatus{}
	for _, g := range prev.Gates {
		prevGates[g.Gate] = g
	}
	for _, g := range cur.Gates {
		old := prevGates[g.Gate]
		decided := false
		for _, d := range g.Decisions[min(len(old.Decisions), len(g.Decisions)):] {
			verb := "approved"
			if !d.Approved {
				verb = "rejected"
			}
			add("gate %s %s by %s", g.Gate, verb, d.By)
			decided = true
		}
		// A state reached by the decisions just printed goes without saying;
		// one reached otherwise (a timeout, a skip) is printed.
		implied := decided && (g.State == workflows.GateApproved || g.State == workflows.GateRejected)
		if old.State != g.State && g.State != workflows.GateWaiting && !implied {
			add("gate %s %s", g.Gate, g.State)
		}
	}
	if len(cur.Prechecks) > 0 && len(prev.Prechecks) == 0 {
		n := 0
		for _, c := range cur.Prechecks {
			if c.Severity == workflows.SeverityProblem {
				n++
			}
		}
		add("prechecks done: %d checks, %s", len(cur.Prechecks), plural(n, "problem"))
	}
	prevStates := map[string]string{}
	for _, o := range append(append([]workflows.ObjectState{}, prev.VApps...), prev.VMs...) {
		prevStates[o.Kind+"/"+o.UUID] = o.State
	}
	for _, o := range append(append([]workflows.ObjectState{}, cur.VApps...), cur.VMs...) {
		if s, ok := prevStates[o.Kind+"/"+o.UUID]; ok && s == o.State {
			continue
		}
		if o.State == workflows.StatePending {
			continue
		}
		line := fmt.Sprintf("%s %s %s", o.Kind, o.Name, o.State)
		if o.Error != "" {
			line += ": " + o.Error
		}
		add("%s", line)
	}
	for _, e := range cur.Errors[min(len(prev.Errors), len(cur.Errors)):] {
		add("error: %s", e)
	}
	return out
}

// lines splits tabwriter output, dropping the spaces an empty last column
// leaves at the end of a line.
func lines(s string) []string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range ls {
		ls[i] = strings.TrimRight(l, " ")
	}
	return ls
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

func fmtClock(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "--:--:--"
	}
	return t.In(loc).Format("15:04:05")
}

func clock(t *time.Time, loc *time.Location) string {
	if t == nil {
		return "-"
	}
	return fmtClock(*t, loc)
}

// rto prints a recovery time rounded to the second.
func rto(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return plan.Duration(d.Round(time.Second)).String()
}
