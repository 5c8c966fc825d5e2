package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// precheck runs the prechecks; a problem blocks the run, a warning does not.
func (r *run) precheck(ctx workflow.Context) error {
	chunks := r.precheckChunks()
	results := make([]activities.PrecheckResult, len(chunks))
	var failed error
	actx := withActivity(ctx, optPrecheck, fmt.Sprintf("precheck %s at site %s", plural(len(r.selected.Units), "unit"), r.target))
	err := runLimited(ctx, len(chunks), func(int) int { return 1 }, checkParallel(ctx),
		func(i, _ int) workflow.Future {
			return workflow.ExecuteActivity(actx, acts.Precheck, chunks[i])
		},
		func(i int, f workflow.Future) {
			if err := f.Get(ctx, &results[i]); err != nil && failed == nil {
				failed = err
			}
		})
	if err == nil {
		err = failed
	}
	if err != nil {
		return stepError("running the prechecks at site "+r.target, err, "check the site is reachable, then start the run again")
	}
	var res activities.PrecheckResult
	seen := map[CheckResult]bool{}
	for _, part := range results {
		for _, c := range part.Checks {
			// Chunks report what they share (a missing network) once each.
			if !seen[c] {
				seen[c] = true
				res.Checks = append(res.Checks, c)
			}
		}
		res.Adopted = append(res.Adopted, part.Adopted...)
		res.OwnCopies = append(res.OwnCopies, part.OwnCopies...)
	}
	r.prechecks = res.Checks
	r.noteAdopted(ctx, res.Adopted, res.OwnCopies)
	problems := problemsByObject(res.Checks)
	r.errors = append(r.errors, problems...)
	if len(problems) > 0 {
		return fmt.Errorf("the prechecks found %s that block the recovery: %s; fix them and start the run again", plural(len(problems), "problem"), firstOf(problems, 5))
	}
	r.event(ctx, "Prechecks passed: %s.", checkCounts(res.Checks))
	return nil
}

// precheckParallel is how many precheck or verify chunks ran at once in
// runs begun before checks-all-chunks; checkChunksParallel since. A chunk's
// reads are a few records of the pool (its VMs come from the worker's
// shared view, its metadata from the scan's), and at 10,000 VMs the twenty
// precheck chunks ran in three rounds of Temporal turns, 0.2 s each, where
// they take one.
const (
	precheckParallel    = 8
	checkChunksParallel = 32
)

// checkParallel is how many precheck or verify chunks run at once.
func checkParallel(ctx workflow.Context) int {
	if workflow.GetVersion(ctx, "checks-all-chunks", workflow.DefaultVersion, 1) == 1 {
		return checkChunksParallel
	}
	return precheckParallel
}

// precheckChunks cuts the selection into chunks of at most scanPageVMs VMs (a
// vApp is never split); a selection that fits is one chunk, as it always was.
func (r *run) precheckChunks() []*activities.PrecheckInput {
	var total int64
	for _, vm := range r.selected.VMs() {
		total += vm.MemoryMax
	}
	var chunks []*activities.PrecheckInput
	var cur *activities.PrecheckInput
	for _, u := range r.selected.Units {
		if cur == nil || (len(cur.VMs) > 0 && len(cur.VMs)+len(u.VMs) > scanPageVMs) {
			cur = &activities.PrecheckInput{Site: r.target, Mode: r.mode, Plan: r.plan.Name, SkipPoolChecks: len(chunks) > 0}
			if r.mode != plan.ModeTestFailover {
				cur.SourceSite = r.source
			}
			chunks = append(chunks, cur)
		}
		cur.Units = append(cur.Units, u.Unit)
		cur.VMs = append(cur.VMs, u.VMs...)
	}
	if len(chunks) == 0 {
		chunks = append(chunks, &activities.PrecheckInput{Site: r.target, Mode: r.mode, Plan: r.plan.Name, VMs: r.selected.VMs()})
		if r.mode != plan.ModeTestFailover {
			chunks[0].SourceSite = r.source
		}
	}
	if len(chunks) > 1 {
		for _, c := range chunks {
			c.TotalMemory = total
		}
	}
	return chunks
}

// problemsByObject returns one sentence per object with problems, in the
// order the objects first appear.
func problemsByObject(checks []CheckResult) []string {
	var objects []string
	msgs := map[string][]string{}
	for _, c := range checks {
		if c.Severity != SeverityProblem {
			continue
		}
		if _, seen := msgs[c.Object]; !seen {
			objects = append(objects, c.Object)
		}
		msgs[c.Object] = append(msgs[c.Object], strings.TrimSuffix(c.Message, "."))
	}
	var out []string
	for _, o := range objects {
		out = append(out, fmt.Sprintf("%s: %s.", o, strings.Join(msgs[o], "; ")))
	}
	return out
}

func checkCounts(checks []CheckResult) string {
	n := map[string]int{}
	for _, c := range checks {
		n[c.Severity]++
	}
	return fmt.Sprintf("%d ok, %s, %s", n[SeverityOK], plural(n[SeverityWarning], "warning"), plural(n[SeverityProblem], "problem"))
}

// precheckSummary is what the recover gate asks to approve.
func (r *run) precheckSummary() string {
	var b strings.Builder
	vapps := len(r.vapps)
	writef(&b, "Recover %s and %s (%s) from site %s at site %s, then leave them %s.\n",
		plural(vapps, "vApp"), plural(len(r.selected.Units)-vapps, "standalone VM"), plural(len(r.vms), "VM")+" in all",
		r.source, r.target, r.startMode)
	writef(&b, "Prechecks: %s.\n", checkCounts(r.prechecks))
	if r.adoptedText != "" {
		writef(&b, "%s\n", r.adoptedText)
	}
	lines := 0
	for _, c := range r.prechecks {
		if c.Severity == SeverityOK {
			continue
		}
		if lines == 50 {
			b.WriteString("… more in the progress query's prechecks.\n")
			break
		}
		writef(&b, "- %s %s (%s): %s\n", c.Severity, c.Object, c.Check, c.Message)
		lines++
	}
	for _, w := range r.warnings {
		writef(&b, "- warning: %s\n", w)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
