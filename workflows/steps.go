package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// The runbook's steps, in table order. Each returns an error only when the run
// cannot go on; what fails for one object is recorded with r.fail and the run
// goes on with the others.

func (r *run) probe(ctx workflow.Context) error {
	if err := r.makeTestStorage(ctx); err != nil {
		return err
	}
	storage := r.storage()
	if len(storage) == 0 {
		field := "storage"
		if r.mode == plan.ModeFailback {
			field = "failback_storage"
		}
		return fmt.Errorf("plan %s lists no %s to probe at site %s; add it to the plan and start the run again", r.plan.Name, field, r.target)
	}
	var res activities.ProbeResult
	actx := withActivity(ctx, optProbe, fmt.Sprintf("probe %s at site %s", plural(len(storage), "storage target"), r.target))
	if err := workflow.ExecuteActivity(actx, acts.Probe, &activities.ProbeInput{Site: r.target, Storage: storage}).Get(ctx, &res); err != nil {
		return stepError("probing the storage at site "+r.target, err, "check the storage targets in the plan and that the LUNs are visible to the pool, then start the run again")
	}
	r.probed = res.SRs
	r.event(ctx, "Probe found %s on %s.", plural(len(res.SRs), "SR"), plural(len(storage), "storage target"))
	return nil
}

// inventoryBefore records the test pool's state before the test changes it,
// so cleanup can prove it was left exactly as it was.
func (r *run) inventoryBefore(ctx workflow.Context) error {
	inv, err := r.inventory(ctx)
	if err != nil {
		return stepError("taking the inventory of the pool at site "+r.target, err, "check the site is reachable, then start the run again")
	}
	r.before = inv
	return nil
}

func (r *run) inventory(ctx workflow.Context) (*activities.Inventory, error) {
	var inv activities.Inventory
	actx := withActivity(ctx, optInventory, "inventory of site "+r.target)
	err := workflow.ExecuteActivity(actx, acts.Inventory, &activities.InventoryInput{Site: r.target}).Get(ctx, &inv)
	return &inv, err
}

// introduce creates the DR tasks. The whitelist of each storage target is the
// plan's srs if given, else every probed SR with pool metadata. SRs already in
// the pool are not introduced (no DR task would own them) but are scanned.
func (r *run) introduce(ctx workflow.Context) error {
	storage := r.storage()
	whitelist := make([][]string, len(storage))
	var inPool []string
	for i, st := range storage {
		var wanted []activities.ProbedSR
		if len(st.SRs) > 0 {
			for _, uuid := range st.SRs {
				sr, ok := r.probedSR(i, uuid)
				if !ok {
					r.warn(ctx, "SR %s listed for storage %s was not found by the probe; it is not introduced.", uuid, storageName(st, i))
					continue
				}
				wanted = append(wanted, sr)
			}
		} else {
			for _, sr := range r.probed {
				if sr.StorageIndex == i && sr.PoolMetadataDetected {
					wanted = append(wanted, sr)
				}
			}
		}
		for _, sr := range wanted {
			if sr.AlreadyInPool {
				inPool = append(inPool, sr.UUID)
				r.event(ctx, "SR %s (%s) is already in the pool at site %s: it is scanned but not introduced.", sr.NameLabel, sr.UUID, r.target)
				continue
			}
			whitelist[i] = append(whitelist[i], sr.UUID)
		}
	}
	introduce := 0
	for _, w := range whitelist {
		introduce += len(w)
	}
	if introduce == 0 && len(inPool) == 0 {
		return fmt.Errorf("no SR with pool metadata was found on the storage of plan %s at site %s; check that the mirrored LUNs are promoted and hold replicated metadata, then start the run again", r.plan.Name, r.target)
	}
	if introduce > 0 {
		var res activities.IntroduceResult
		for _, w := range whitelist {
			r.introducing = append(r.introducing, w...)
		}
		actx := withActivity(ctx, optIntroduce, fmt.Sprintf("introduce %s at site %s", plural(introduce, "SR"), r.target))
		err := workflow.ExecuteActivity(actx, acts.Introduce, &activities.IntroduceInput{Site: r.target, Storage: storage, Whitelist: whitelist}).Get(ctx, &res)
		// Remember the DR tasks before anything else, so cleanup destroys them.
		// A failed Introduce carries the tasks it had created in its details.
		r.drTasks = res.DRTasks
		if err != nil {
			var appErr *temporal.ApplicationError
			var partial activities.IntroduceResult
			if errors.As(err, &appErr) && appErr.HasDetails() && appErr.Details(&partial) == nil {
				r.drTasks = partial.DRTasks
			}
			return stepError("introducing the SRs at site "+r.target, err, "check the storage is promoted and reachable from every host, then start the run again")
		}
		r.introducing = nil // every DR task is known
		for _, sr := range res.AttachedSRs {
			r.scanSRs = appendNew(r.scanSRs, sr.UUID)
		}
		r.event(ctx, "Introduced %s through %s.", plural(len(res.AttachedSRs), "SR"), plural(len(res.DRTasks), "DR task"))
	}
	for _, uuid := range inPool {
		r.scanSRs = appendNew(r.scanSRs, uuid)
	}
	return nil
}

func (r *run) probedSR(storageIndex int, uuid string) (activities.ProbedSR, bool) {
	for _, sr := range r.probed {
		if sr.StorageIndex == storageIndex && sr.UUID == uuid {
			return sr, true
		}
	}
	return activities.ProbedSR{}, false
}

func (r *run) scan(ctx workflow.Context) error {
	var res activities.ScanResult
	actx := withActivity(ctx, optScan, fmt.Sprintf("scan metadata on %s at site %s", plural(len(r.scanSRs), "SR"), r.target))
	// The result comes in pages of scanPageVMs VMs (no payload grows with the
	// plan); a plan that fits one page makes one call.
	// Runs begun before the first page listed the others asked for each
	// page after the one before; they replay so.
	together := workflow.GetVersion(ctx, "scan-pages-together", workflow.DefaultVersion, 1) == 1
	seen := map[string]bool{}
	var later []workflow.Future
	for offset, page := 0, 1; ; page++ {
		var part activities.ScanResult
		in := &activities.ScanInput{Site: r.target, SRUUIDs: r.scanSRs, Offset: offset, Limit: scanPageVMs}
		var err error
		if page == 1 || later == nil {
			err = workflow.ExecuteActivity(actx, acts.Scan, in).Get(ctx, &part)
		} else {
			err = later[page-2].Get(ctx, &part)
		}
		if err != nil {
			return stepError("reading the metadata on the SRs at site "+r.target, err, "check the SRs hold replicated metadata, then start the run again")
		}
		if page == 1 && together && len(part.Pages) > 0 {
			// Every later page at once: they slice what the first page read.
			for _, off := range part.Pages {
				pin := &activities.ScanInput{Site: r.target, SRUUIDs: r.scanSRs, Offset: off, Limit: scanPageVMs}
				later = append(later, workflow.ExecuteActivity(actx, acts.Scan, pin))
			}
		}
		if page == 1 {
			res = part
		} else {
			// A unit read twice (the metadata changed between pages) counts once.
			for _, va := range part.VApps {
				if !seen[va.UUID] {
					res.VApps = append(res.VApps, va)
				}
			}
			for _, vm := range part.VMs {
				if !seen[vm.UUID] {
					res.VMs = append(res.VMs, vm)
				}
			}
		}
		for _, va := range part.VApps {
			seen[va.UUID] = true
		}
		for _, vm := range part.VMs {
			seen[vm.UUID] = true
		}
		if later != nil {
			if page-1 == len(later) {
				break
			}
			continue
		}
		if part.Next <= offset {
			break
		}
		offset = part.Next
	}
	res.Next, res.Pages = 0, nil
	r.found = &res
	for _, why := range res.Ignored {
		r.event(ctx, "Ignored: %s", why)
	}
	if len(res.Sources) == 0 {
		return fmt.Errorf("no metadata of another pool was found on %s at site %s; check the plan's storage is the mirror of the protected pool's replicated SRs (see the timeline for what was ignored), then start the run again", plural(len(r.scanSRs), "SR"), r.target)
	}
	var pools []string
	for _, s := range res.Sources {
		pools = appendNew(pools, orText(s.PoolName, s.PoolUUID))
	}
	r.event(ctx, "Metadata of pool %s holds %s and %s.", strings.Join(pools, ", "), plural(len(res.VApps), "vApp"), plural(len(res.VMs), "standalone VM"))
	return nil
}

func (r *run) selectUnits(ctx workflow.Context) error {
	sel, err := Select(r.plan.Selection, r.plan.PriorityGroups, r.found)
	for _, w := range sel.Warnings {
		r.warn(ctx, "%s", w)
	}
	if err != nil {
		return err
	}
	r.selected = sel
	vapps := 0
	for _, u := range sel.Units {
		r.addUnit(u, groupName(sel, u.Group))
		if u.Kind == activities.KindVApp {
			vapps++
		}
	}
	r.event(ctx, "Selected %s and %s (%s in all).", plural(vapps, "vApp"), plural(len(sel.Units)-vapps, "standalone VM"), plural(len(r.vms), "VM"))
	r.updateDetails(ctx)
	return nil
}

func groupName(sel *Selected, g int) string {
	if g >= len(sel.Groups)-1 {
		return ""
	}
	return sel.Groups[g]
}

// precheck runs the prechecks; a problem blocks the run, a warning does not.
func (r *run) precheck(ctx workflow.Context) error {
	chunks := r.precheckChunks()
	results := make([]activities.PrecheckResult, len(chunks))
	var failed error
	actx := withActivity(ctx, optPrecheck, fmt.Sprintf("precheck %s at site %s", plural(len(r.selected.Units), "unit"), r.target))
	err := runLimited(ctx, len(chunks), func(int) int { return 1 }, precheckParallel,
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

// scanPageVMs is how many VMs' worth of units one scan page or precheck
// chunk carries: a VMInfo with tags and a long name is ~400 bytes of JSON,
// so a page stays near 200 KB.
const scanPageVMs = 500

// precheckParallel is how many precheck chunks run at once: each reads the
// pool's records and asserts its units, which xapi answers from the master's
// database in parallel.
const precheckParallel = 8

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

// recoverJob is one child workflow of the recover step: one vApp, or a batch
// of standalone VMs of one group and one metadata VDI.
type recoverJob struct {
	id    string
	units []SelectedUnit
}

func (r *run) recoverJobs() []recoverJob {
	return r.recoverJobsOf(r.plan.Limits().BatchSize, r.packVApps())
}

// balancedRecoverBatch is the batch size of recovery that keeps the lanes
// (concurrency.recover) even: a child recovers its units one after another,
// so a batch of 50 standalone VMs started last would still run when every
// other lane is done.
//
// Runs before recover-lanes made about two batches per lane of at most
// batch_size VMs. At 10,000 VMs that was five rounds of equal batches whose
// lanes all changed child at once, the pool's database lock idle for
// seconds while 40 children ended and 40 began; and each change of child
// costs Temporal more than a small unit's recovery. From recover-lanes on,
// one batch per lane (up to ten times batch_size VMs, far below any payload
// limit); the longest first, so the few partial batches of a group's or a
// metadata VDI's end fill in.
func (r *run) balancedRecoverBatch(lanes bool) int {
	lim := r.plan.Limits()
	if lanes {
		return min(10*lim.BatchSize, max(1, (len(r.vms)+lim.Recover-1)/lim.Recover))
	}
	return min(lim.BatchSize, max(1, (len(r.vms)+2*lim.Recover-1)/(2*lim.Recover)))
}

// recoverJobsOf makes the children of up to batch VMs each; with pack,
// vApps share children too.
func (r *run) recoverJobsOf(batch int, pack bool) []recoverJob {
	var jobs []recoverJob
	n := 0
	units := r.selected.Units
	var packed []SelectedUnit
	packedVMs := 0
	flush := func() {
		if len(packed) > 0 {
			n++
			jobs = append(jobs, recoverJob{id: fmt.Sprintf("recover/vapps-%d", n), units: packed})
			packed, packedVMs = nil, 0
		}
	}
	for i := 0; i < len(units); {
		u := units[i]
		if u.Kind == activities.KindVApp {
			if !pack {
				jobs = append(jobs, recoverJob{id: "recover/vapp-" + u.UUID, units: units[i : i+1]})
			} else {
				if packedVMs > 0 && packedVMs+len(u.VMs) > batch {
					flush()
				}
				packed = append(packed, u)
				packedVMs += len(u.VMs)
			}
			i++
			continue
		}
		flush()
		// Standalone VMs of one group, sorted by metadata VDI, in batches.
		j := i
		for j < len(units) && units[j].Kind == activities.KindVM && units[j].Group == u.Group {
			j++
		}
		vms := append([]SelectedUnit(nil), units[i:j]...)
		sort.SliceStable(vms, func(a, b int) bool { return vms[a].SourceVDI < vms[b].SourceVDI })
		for k := 0; k < len(vms); {
			end := k
			for end < len(vms) && end-k < batch && vms[end].SourceVDI == vms[k].SourceVDI {
				end++
			}
			n++
			jobs = append(jobs, recoverJob{id: fmt.Sprintf("recover/vms-%d", n), units: vms[k:end]})
			k = end
		}
		i = j
	}
	flush()
	return jobs
}

// packVAppsAbove is the number of vApps above which several vApps share one
// child workflow (up to BatchSize VMs), so that the parent's history stays
// far below 10,000 events at 10,000 VMs; below it each vApp has its own
// child, which reads best in the Temporal UI.
const packVAppsAbove = 100

func (r *run) packVApps() bool {
	return r.vappUnits() > packVAppsAbove
}

func (r *run) vappUnits() int {
	n := 0
	for _, u := range r.selected.Units {
		if u.Kind == activities.KindVApp {
			n++
		}
	}
	return n
}

// recover recovers the selected units in child workflows, at most
// Limits().Recover at once. A unit that fails does not stop the others.
func (r *run) recover(ctx workflow.Context) error {
	jobs := r.recoverJobs()
	// Runs begun before recovery was balanced replay as they ran: batches
	// of batch_size in selection order.
	if workflow.GetVersion(ctx, "balanced-recover", workflow.DefaultVersion, 1) == 1 {
		lanes := workflow.GetVersion(ctx, "recover-lanes", workflow.DefaultVersion, 1) == 1
		pack := r.packVApps()
		if lanes {
			// More vApps than lanes: a child per vApp would leave the lanes
			// waiting for the parent to start the next one, each vApp's
			// recovery being shorter than Temporal's turn of a child.
			pack = r.vappUnits() > r.plan.Limits().Recover
		}
		jobs = r.recoverJobsOf(r.balancedRecoverBatch(lanes), pack)
		// The longest first (LPT): the lanes then end together.
		sort.SliceStable(jobs, func(a, b int) bool { return jobVMs(jobs[a]) > jobVMs(jobs[b]) })
	}
	return runLimited(ctx, len(jobs), func(int) int { return 1 }, r.plan.Limits().Recover,
		func(i, _ int) workflow.Future {
			job := jobs[i]
			in := &activities.RecoverInput{Site: r.target, Plan: r.plan.Name, Mode: r.mode}
			for _, u := range job.units {
				in.Units = append(in.Units, u.Unit)
				r.attempted[u.UUID] = true
				r.setUnitState(u, StateRecovering, "")
			}
			cctx := withChild(ctx, job.id, "recover "+describeUnits(in.Units))
			return workflow.ExecuteChildWorkflow(cctx, RecoverUnitsWorkflowName, in)
		},
		func(i int, f workflow.Future) {
			var res activities.RecoverResult
			err := f.Get(ctx, &res)
			r.applyRecover(ctx, jobs[i], &res, err)
			r.updateDetails(ctx)
		})
}

func jobVMs(j recoverJob) int {
	n := 0
	for _, u := range j.units {
		n += len(u.VMs)
	}
	return n
}

func (r *run) setUnitState(u SelectedUnit, state, errText string) {
	if o := r.vapp(u.UUID); o != nil {
		o.State, o.Error = state, errText
	}
	for _, vm := range u.VMs {
		if o := r.vm(vm.UUID); o != nil {
			o.State, o.Error = state, errText
		}
	}
}

func (r *run) applyRecover(ctx workflow.Context, job recoverJob, res *activities.RecoverResult, err error) {
	if err != nil {
		if ctx.Err() != nil {
			for _, u := range job.units {
				r.setUnitState(u, StateFailed, "recovery interrupted by the abort")
			}
			return
		}
		for _, u := range job.units {
			r.unitFailed(ctx, u, errorText(err))
		}
		return
	}
	results := map[string]activities.RecoveredUnit{}
	for _, ru := range res.Units {
		results[ru.UUID] = ru
	}
	for _, u := range job.units {
		ru, ok := results[u.UUID]
		switch {
		case !ok:
			r.unitFailed(ctx, u, "the recovery returned no result for it")
		case ru.Error != "":
			r.unitFailed(ctx, u, ru.Error)
		default:
			r.unitRecovered(ctx, u, ru)
		}
	}
}

func (r *run) unitFailed(ctx workflow.Context, u SelectedUnit, why string) {
	r.setUnitState(u, StateFailed, why)
	r.fail(ctx, "%s could not be recovered: %s.", describeUnit(u.Kind, u.Name), strings.TrimSuffix(why, "."))
}

func (r *run) unitRecovered(ctx workflow.Context, u SelectedUnit, ru activities.RecoveredUnit) {
	at := ru.RecoveredAt
	if at.IsZero() {
		at = workflow.Now(ctx)
	}
	vms := ru.VMUUIDs
	if len(vms) == 0 {
		for _, vm := range u.VMs {
			vms = append(vms, vm.UUID)
		}
	}
	if o := r.vapp(u.UUID); o != nil {
		r.setRecovered(o, at)
	}
	r.recovered[u.UUID] = true
	got := map[string]bool{}
	for _, uuid := range vms {
		got[uuid] = true
		r.recovered[uuid] = true
		if o := r.vm(uuid); o != nil {
			r.setRecovered(o, at)
		}
	}
	for _, vm := range u.VMs {
		if !got[vm.UUID] {
			o := r.vm(vm.UUID)
			o.State, o.Error = StateFailed, "not recovered with its vApp"
			r.fail(ctx, "VM '%s' of vApp '%s' was not recovered with its vApp.", vm.Name, u.Name)
		}
	}
}

// rerunAdopts is the next step of a VM that did not start: a re-run adopts
// what this run recovered (docs/reruns.md) and starts the rest.
const rerunAdopts = "fix the cause, then run the plan again: it adopts the VMs this run recovered and starts them"

// startJob is one child workflow of the start step.
type startJob struct {
	id     string
	label  string
	vapps  []string // the vApps' UUIDs, for a job of vApps
	chains []StartChain
}

func (j startJob) widest() int {
	w := 0
	for _, ch := range j.chains {
		for _, s := range ch.Steps {
			w = max(w, len(s))
		}
	}
	return w
}

func (j startJob) each(fn func(VMRef)) {
	for _, ch := range j.chains {
		for _, s := range ch.Steps {
			for _, vm := range s {
				fn(vm)
			}
		}
	}
}

// startJobs returns the children that start one priority group: one per vApp
// (its recovered VMs by order) or, in plans of many vApps, one per few vApps
// of up to BatchSize VMs; and one per batch of its recovered standalone VMs.
//
// widen multiplies batch_size for the children's size: since one StartBatch
// activity runs a whole child (start-chains), a child costs Temporal the
// same whatever it holds, and at 10,000 VMs 116 children of 50 standalone
// VMs kept the last group's starts waiting for Temporal to run them
// (make bench); runs from start-wide take four times batch_size per child.
func (r *run) startJobs(group int, packAll bool, widen int) []startJob {
	var jobs, batches []startJob
	var standalone []VMRef
	batch := r.plan.Limits().BatchSize * max(widen, 1)
	pack := packAll || r.packVApps()
	var packed *startJob
	packedVMs, n := 0, 0
	for _, u := range r.selected.Units {
		if u.Group != group {
			continue
		}
		var ready []activities.VMInfo
		for _, vm := range u.VMs {
			if o := r.vm(vm.UUID); o != nil && o.State == StateRecovered {
				ready = append(ready, vm)
			}
		}
		if len(ready) == 0 {
			continue
		}
		if u.Kind == activities.KindVM {
			standalone = append(standalone, VMRef{UUID: ready[0].UUID, Name: ready[0].Name})
			continue
		}
		chain := StartChain{Label: "vApp '" + u.Name + "'"}
		for _, step := range startSteps(ready) {
			var refs []VMRef
			for _, vm := range step {
				refs = append(refs, VMRef{UUID: vm.UUID, Name: vm.Name})
			}
			chain.Steps = append(chain.Steps, refs)
		}
		if !pack {
			jobs = append(jobs, startJob{id: "start/vapp-" + u.UUID, label: chain.Label, vapps: []string{u.UUID}, chains: []StartChain{chain}})
			continue
		}
		if packed == nil || packedVMs+len(ready) > batch {
			n++
			jobs = append(jobs, startJob{id: fmt.Sprintf("start/group-%d-vapps-%d", group, n)})
			packed, packedVMs = &jobs[len(jobs)-1], 0
		}
		packed.vapps = append(packed.vapps, u.UUID)
		packed.chains = append(packed.chains, chain)
		packedVMs += len(ready)
	}
	for i := range jobs {
		switch {
		case len(jobs[i].chains) > 1:
			jobs[i].label = fmt.Sprintf("%s of group %s", plural(len(jobs[i].chains), "vApp"), orText(groupName(r.selected, group), RestGroup))
		case jobs[i].label == "":
			jobs[i].label = jobs[i].chains[0].Label
		}
	}
	for k := 0; k < len(standalone); k += batch {
		end := min(k+batch, len(standalone))
		label := fmt.Sprintf("%s of group %s", plural(end-k, "VM"), groupName(r.selected, group))
		batches = append(batches, startJob{
			id:     fmt.Sprintf("start/group-%d-vms-%d", group, k/batch+1),
			label:  label,
			chains: []StartChain{{Label: label, Steps: [][]VMRef{standalone[k:end]}}},
		})
	}
	return append(jobs, batches...)
}

// startWiden is how many batch_size a start child holds (start-wide).
const startWiden = 4

// maxStartChildren bounds the start children in flight: every VM that may
// start is scheduled at once and the StartVM activities share the site's
// start slots, so this only keeps the pending children of one run far below
// Temporal's limit of 2,000.
const maxStartChildren = 500

// start starts the recovered VMs group by group. Inside a group every vApp and
// batch starts at once; their StartVM activities share the site's start
// slots (activities/slots.go) as they free up, capped by the plan's
// concurrency.start. The next group starts when every VM of this one
// returned. A group whose VMs failed to start does not hold back the next: in
// a disaster, starting what can start matters more (the failures fail the
// run at the end).
func (r *run) start(ctx workflow.Context) error {
	if r.startMode == plan.StartNone {
		r.event(ctx, "Start mode none: the recovered VMs are left halted.")
		return nil
	}
	// Runs begun before the start slots were shared gave each child a fixed
	// share of concurrency.start; they replay that way.
	shared := workflow.GetVersion(ctx, "shared-start-slots", workflow.DefaultVersion, 1) == 1
	widen := 1
	if workflow.GetVersion(ctx, "start-wide", workflow.DefaultVersion, 1) == 1 {
		widen = startWiden
	}
	paused := r.startMode == plan.StartPaused
	for g := range r.selected.Groups {
		// Runs with shared slots pack every group's vApps into children of
		// up to batch_size VMs: a child's start costs more than a vApp's
		// order step, and the chains of one child run side by side.
		jobs := r.startJobs(g, shared, widen)
		if len(jobs) == 0 {
			continue
		}
		r.event(ctx, "Starting group %s: %s.", orText(groupName(r.selected, g), RestGroup), plural(len(jobs), "start job"))
		weight, limit := func(int) int { return 1 }, maxStartChildren
		if !shared {
			weight, limit = func(i int) int { return jobs[i].widest() }, r.plan.Limits().Start
		}
		err := runLimited(ctx, len(jobs), weight, limit,
			func(i, slots int) workflow.Future {
				job := jobs[i]
				job.each(func(vm VMRef) { r.vm(vm.UUID).State = StateStarting })
				in := &StartVMsInput{Site: r.target, Paused: paused, Chains: job.chains, Slots: r.plan.Concurrency.Start}
				if !shared {
					in = &StartVMsInput{Site: r.target, Paused: paused, Label: job.label, Steps: job.chains[0].Steps, Parallel: slots}
				}
				cctx := withChild(ctx, job.id, "start "+job.label)
				return workflow.ExecuteChildWorkflow(cctx, StartVMsWorkflowName, in)
			},
			func(i int, f workflow.Future) {
				var res StartVMsResult
				err := f.Get(ctx, &res)
				r.applyStart(ctx, jobs[i], &res, err)
				r.updateDetails(ctx)
			})
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *run) applyStart(ctx workflow.Context, job startJob, res *StartVMsResult, err error) {
	for _, uuid := range job.vapps {
		defer r.rollUpVApp(uuid)
	}
	if err != nil {
		job.each(func(vm VMRef) {
			o := r.vm(vm.UUID)
			if ctx.Err() != nil {
				o.State, o.Error = StateFailed, "start interrupted by the abort"
				return
			}
			o.State, o.Error = StateFailed, errorText(err)
			r.fail(ctx, "VM '%s' could not be started: %s; %s.", vm.Name, strings.TrimSuffix(errorText(err), "."), activities.NextStep(err, rerunAdopts))
		})
		return
	}
	for _, v := range res.VMs {
		o := r.vm(v.UUID)
		if o == nil {
			continue
		}
		switch {
		case v.Skipped:
			o.State, o.Error = StateSkipped, v.Error
			r.fail(ctx, "VM '%s' of %s was not started: %s.", o.Name, job.label, v.Error)
		case v.Error != "":
			o.State, o.Error = StateFailed, v.Error
			r.fail(ctx, "VM '%s' could not be started: %s; %s.", o.Name, strings.TrimSuffix(v.Error, "."), activities.NextStepFor(v.Code, rerunAdopts))
		default:
			r.setStarted(o, v.PowerState, v.StartedAt)
		}
	}
}

// rollUpVApp sets a vApp's state from its VMs once its start job ended:
// running (or paused) when every VM is, failed when any is not. Its start
// time and RTO are those of its last VM to start.
func (r *run) rollUpVApp(uuid string) {
	o := r.vapp(uuid)
	if o == nil {
		return
	}
	var members []*ObjectState
	for _, u := range r.selected.Units {
		if u.UUID == uuid {
			for _, vm := range u.VMs {
				if v := r.vm(vm.UUID); v != nil {
					members = append(members, v)
				}
			}
		}
	}
	states := map[string]int{}
	for _, v := range members {
		states[v.State]++
		if v.StartedAt != nil && (o.StartedAt == nil || v.StartedAt.After(*o.StartedAt)) {
			t := *v.StartedAt
			o.StartedAt = &t
			o.RTO = v.RTO
		}
	}
	switch {
	case states[StateRunning] == len(members):
		o.State, o.Error = StateRunning, ""
	case states[StatePaused] == len(members):
		o.State, o.Error = StatePaused, ""
	default:
		o.State = StateFailed
		o.Error = fmt.Sprintf("%d of %s did not start", len(members)-states[StateRunning]-states[StatePaused], plural(len(members), "VM"))
	}
}

// verify checks every recovered VM is in the power state the start mode
// promised. A mismatch fails the run at the end; it does not stop it.
func (r *run) verify(ctx workflow.Context) error {
	expect := map[string]string{}
	for _, vm := range r.vms {
		switch vm.State {
		case StateRunning:
			expect[vm.UUID] = "Running"
		case StatePaused:
			expect[vm.UUID] = "Paused"
		case StateRecovered:
			if r.startMode == plan.StartNone {
				expect[vm.UUID] = "Halted"
			}
		}
	}
	if len(expect) == 0 {
		r.event(ctx, "Nothing to verify: no VM was recovered.")
		return nil
	}
	// In chunks of PageSize VMs, so no payload grows with the plan.
	var chunks []map[string]string
	for _, vm := range r.vms {
		want, ok := expect[vm.UUID]
		if !ok {
			continue
		}
		if len(chunks) == 0 || len(chunks[len(chunks)-1]) == PageSize {
			chunks = append(chunks, map[string]string{})
		}
		chunks[len(chunks)-1][vm.UUID] = want
	}
	results := make([]activities.VerifyResult, len(chunks))
	var failed error
	actx := withActivity(ctx, optVerify, fmt.Sprintf("verify the power state of %s at site %s", plural(len(expect), "VM"), r.target))
	err := runLimited(ctx, len(chunks), func(int) int { return 1 }, precheckParallel,
		func(i, _ int) workflow.Future {
			return workflow.ExecuteActivity(actx, acts.Verify, &activities.VerifyInput{Site: r.target, Expect: chunks[i]})
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
		if ctx.Err() != nil {
			return err
		}
		r.fail(ctx, "Verifying the power states at site %s failed: %s; check the VMs by hand.", r.target, strings.TrimSuffix(errorText(err), "."))
		return nil
	}
	var res activities.VerifyResult
	for _, part := range results {
		res.Mismatches = append(res.Mismatches, part.Mismatches...)
	}
	for _, m := range res.Mismatches {
		r.fail(ctx, "%s", m)
	}
	if len(res.Mismatches) == 0 {
		r.event(ctx, "Verified the power state of %s.", plural(len(expect), "VM"))
	}
	return nil
}

// reprotect enables metadata replication on the attached SRs so the way back
// exists. Its errors are warnings: the recovered VMs are up either way.
func (r *run) reprotect(ctx workflow.Context) error {
	if len(r.scanSRs) == 0 {
		return nil
	}
	var res activities.ReprotectResult
	actx := withActivity(ctx, optReprotect, fmt.Sprintf("reprotect %s at site %s", plural(len(r.scanSRs), "SR"), r.target))
	if err := workflow.ExecuteActivity(actx, acts.Reprotect, &activities.ReprotectInput{Site: r.target, SRUUIDs: r.scanSRs}).Get(ctx, &res); err != nil {
		if ctx.Err() != nil {
			return err
		}
		r.warn(ctx, "Reprotecting the SRs at site %s failed: %s; enable metadata replication on them by hand so that a failback is possible.", r.target, strings.TrimSuffix(errorText(err), "."))
		return nil
	}
	for _, e := range res.Errors {
		r.warn(ctx, "%s", e)
	}
	r.event(ctx, "Metadata replication enabled on %s.", plural(len(res.Enabled), "SR"))
	return nil
}

// cleanupTest removes what a test failover recreated: every vApp and VM whose
// recovery was started (except a VM that was already in the pool before the
// test and was not reported recovered: it is not ours) and every SR our DR
// tasks introduced.
func (r *run) cleanupTest(ctx workflow.Context) {
	in := &activities.CleanupInput{Site: r.target}
	ours := func(uuid string, existed bool) bool { return r.recovered[uuid] || !existed }
	var beforeVMs map[string]string
	var beforeVApps []string
	if r.before != nil {
		beforeVMs, beforeVApps = r.before.VMs, r.before.VApps
		// Networks the recovery created since are ours to remove too.
		in.BaselineNetworks = r.before.Networks
	}
	if r.selected != nil {
		for _, u := range r.selected.Units {
			if !r.attempted[u.UUID] {
				continue
			}
			if u.Kind == activities.KindVApp && ours(u.UUID, contains(beforeVApps, u.UUID)) {
				in.VAppUUIDs = append(in.VAppUUIDs, u.UUID)
			}
			for _, vm := range u.VMs {
				_, existed := beforeVMs[vm.UUID]
				if ours(vm.UUID, existed) {
					in.VMUUIDs = append(in.VMUUIDs, vm.UUID)
				}
			}
		}
	}
	for _, t := range r.drTasks {
		for _, sr := range t.IntroducedSRs {
			in.SRUUIDs = appendNew(in.SRUUIDs, sr.UUID)
		}
	}
	if len(in.VAppUUIDs)+len(in.VMUUIDs)+len(in.SRUUIDs) == 0 {
		return // nothing was recreated
	}
	var res activities.CleanupResult
	actx := withActivity(ctx, optCleanup, fmt.Sprintf("clean up %s, %s and %s at site %s",
		plural(len(in.VAppUUIDs), "vApp"), plural(len(in.VMUUIDs), "VM"), plural(len(in.SRUUIDs), "SR"), r.target))
	// The VMs and vApps go in chunks of PageSize (no payload grows with the
	// plan), the SRs and networks with the last one, once no VM uses them.
	for _, part := range cleanupChunks(in) {
		var pr activities.CleanupResult
		if err := workflow.ExecuteActivity(actx, acts.CleanupTest, part).Get(ctx, &pr); err != nil {
			r.leftovers = append(r.leftovers, fmt.Sprintf("The cleanup at site %s failed: %s; remove the test's VMs, vApps and SRs by hand.", r.target, strings.TrimSuffix(errorText(err), ".")))
			return
		}
		res.Removed = append(res.Removed, pr.Removed...)
		res.Leftovers = append(res.Leftovers, pr.Leftovers...)
	}
	r.leftovers = append(r.leftovers, res.Leftovers...)
	for _, uuid := range in.VMUUIDs {
		if o := r.vm(uuid); o != nil {
			o.State = StateCleanedUp
		}
	}
	for _, uuid := range in.VAppUUIDs {
		if o := r.vapp(uuid); o != nil {
			o.State = StateCleanedUp
		}
	}
	r.event(ctx, "Cleaned up %s, %s and %s.", plural(len(in.VAppUUIDs), "vApp"), plural(len(in.VMUUIDs), "VM"), plural(len(in.SRUUIDs), "SR"))
}

// cleanupChunks splits a cleanup into calls of at most PageSize VMs and
// vApps; the last call also removes the SRs and networks. A cleanup that
// fits is one call, as it always was.
func cleanupChunks(in *activities.CleanupInput) []*activities.CleanupInput {
	if len(in.VAppUUIDs)+len(in.VMUUIDs) <= PageSize {
		return []*activities.CleanupInput{in}
	}
	var out []*activities.CleanupInput
	for k := 0; k < len(in.VAppUUIDs); k += PageSize {
		out = append(out, &activities.CleanupInput{Site: in.Site, VAppUUIDs: in.VAppUUIDs[k:min(k+PageSize, len(in.VAppUUIDs))]})
	}
	for k := 0; k < len(in.VMUUIDs); k += PageSize {
		out = append(out, &activities.CleanupInput{Site: in.Site, VMUUIDs: in.VMUUIDs[k:min(k+PageSize, len(in.VMUUIDs))]})
	}
	out = append(out, &activities.CleanupInput{Site: in.Site, SRUUIDs: in.SRUUIDs, BaselineNetworks: in.BaselineNetworks})
	return out
}

// destroyDRTasks destroys the run's DR tasks (all modes). After a failover
// this forgets the SRs no recovered VM uses; those in use stay.
func (r *run) destroyDRTasks(ctx workflow.Context) {
	if len(r.drTasks) == 0 && len(r.introducing) == 0 {
		return
	}
	var uuids []string
	for _, t := range r.drTasks {
		uuids = append(uuids, t.UUID)
	}
	what := plural(len(uuids), "DR task")
	if len(r.introducing) > 0 {
		// Introduce did not end well: it may have created a DR task it could
		// not report; the activity finds it by the SRs it introduced.
		also := fmt.Sprintf("any DR task that introduced one of the %s Introduce was asked for", plural(len(r.introducing), "SR"))
		if len(uuids) == 0 {
			what = also
		} else {
			what += " and " + also
		}
	}
	actx := withActivity(ctx, optDestroyDR, fmt.Sprintf("destroy %s at site %s", what, r.target))
	in := &activities.DestroyDRTasksInput{Site: r.target, DRTaskUUIDs: uuids, SRUUIDs: r.introducing}
	if err := workflow.ExecuteActivity(actx, acts.DestroyDRTasks, in).Get(ctx, nil); err != nil {
		msg := fmt.Sprintf("The DR tasks at site %s (%s) could not be destroyed: %s; destroy them with `xe drtask-destroy uuid=…`.", r.target, what, strings.TrimSuffix(errorText(err), "."))
		r.leftovers = append(r.leftovers, msg)
		r.warn(ctx, "%s", msg)
		return
	}
	r.event(ctx, "Destroyed %s.", what)
}

// inventoryAfter compares the test pool with its inventory before the test;
// every difference is a leftover.
func (r *run) inventoryAfter(ctx workflow.Context) {
	if r.before == nil {
		return
	}
	after, err := r.inventory(ctx)
	if err != nil {
		r.leftovers = append(r.leftovers, fmt.Sprintf("The inventory of the pool at site %s after cleanup failed: %s; check by hand that the test left nothing behind.", r.target, strings.TrimSuffix(errorText(err), ".")))
		return
	}
	diff := inventoryDiff(r.baselineForDiff(), after, r.vmName)
	r.leftovers = append(r.leftovers, diff...)
	if len(diff) == 0 {
		r.event(ctx, "The pool at site %s is exactly as it was before the test.", r.target)
	}
}

func (r *run) vmName(uuid string) string {
	if o := r.vm(uuid); o != nil {
		return fmt.Sprintf("VM '%s' (%s)", o.Name, uuid)
	}
	return "VM " + uuid
}

// inventoryDiff describes every difference between two inventories, sorted.
func inventoryDiff(before, after *activities.Inventory, vmName func(string) string) []string {
	var out []string
	for _, uuid := range sortedKeys(after.VMs) {
		was, existed := before.VMs[uuid]
		switch {
		case !existed:
			out = append(out, fmt.Sprintf("%s is still in the pool (%s).", vmName(uuid), after.VMs[uuid]))
		case was != after.VMs[uuid]:
			out = append(out, fmt.Sprintf("%s was %s before the test and is %s now.", vmName(uuid), was, after.VMs[uuid]))
		}
	}
	for _, uuid := range sortedKeys(before.VMs) {
		if _, ok := after.VMs[uuid]; !ok {
			out = append(out, fmt.Sprintf("%s was in the pool before the test and is gone.", vmName(uuid)))
		}
	}
	for _, k := range []struct {
		what          string
		before, after []string
	}{
		{"vApp", before.VApps, after.VApps},
		{"SR", before.SRs, after.SRs},
		{"Network", before.Networks, after.Networks},
		{"DR task", before.DRTasks, after.DRTasks},
	} {
		for _, uuid := range sortedCopy(k.after) {
			if !contains(k.before, uuid) {
				out = append(out, fmt.Sprintf("%s %s is still in the pool.", k.what, uuid))
			}
		}
		for _, uuid := range sortedCopy(k.before) {
			if !contains(k.after, uuid) {
				out = append(out, fmt.Sprintf("%s %s was in the pool before the test and is gone.", k.what, uuid))
			}
		}
	}
	if before.PoolUUID != after.PoolUUID {
		out = append(out, fmt.Sprintf("The pool's UUID changed from %s to %s during the test.", before.PoolUUID, after.PoolUUID))
	}
	return out
}

func storageName(st plan.StorageTarget, i int) string {
	if st.Name != "" {
		return st.Name
	}
	if id := st.DeviceConfig["SCSIid"]; id != "" {
		return id
	}
	return fmt.Sprintf("#%d", i+1)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	// The keys are sorted below, so the map's order does not leak out.
	//workflowcheck:ignore
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writef formats into b. fmt.Fprintf would do, but workflowcheck cannot tell
// a strings.Builder from I/O and flags it; Sprintf is pure.
func writef(b *strings.Builder, format string, args ...any) {
	b.WriteString(fmt.Sprintf(format, args...))
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func appendNew(list []string, s string) []string {
	if contains(list, s) {
		return list
	}
	return append(list, s)
}
