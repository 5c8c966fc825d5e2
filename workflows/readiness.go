package workflows

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// Readiness answers "would a failover of this plan work now?" without
// changing anything at either site, so it can run from a schedule every
// night: the source read live (reachable, role, its VMs, the SRs of their
// disks and their metadata replication), the plan's selection applied, then
// the target checked (reachable, role, the SRs on the plan's storage, mirror
// state from the storage adapter when there is one, networks, memory,
// same-UUID copies, API versions). Problems make it not ready; warnings
// do not. It is a short workflow of two activities and no gate.

// ReadinessWorkflowName is the workflow type of a readiness check.
const ReadinessWorkflowName = "Readiness"

// ModeReadiness is the LifeboatMode search attribute of a readiness check,
// and the suffix of its workflow ID (WorkflowID(plan, ModeReadiness)).
const ModeReadiness plan.Mode = "readiness"

// ReadinessInput is the input of Readiness.
type ReadinessInput struct {
	Plan plan.Plan `json:"plan"`
	// Mode is the procedure checked: failover (default), failback or
	// test-failover (which also checks HA is off at the target).
	Mode        plan.Mode `json:"mode,omitempty"`
	RequestedBy string    `json:"requested_by,omitempty"`
}

// ReadinessResult is the result of Readiness.
type ReadinessResult struct {
	Plan       string    `json:"plan"`
	Mode       plan.Mode `json:"mode"`
	Source     string    `json:"source"`
	Target     string    `json:"target"`
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	CheckedAt  time.Time `json:"checked_at"`
	// Ready is true when no check is a problem.
	Ready bool `json:"ready"`
	// Summary is one sentence: ready or not, and the first thing to fix.
	Summary  string        `json:"summary"`
	Checks   []CheckResult `json:"checks"`
	Warnings []string      `json:"warnings,omitempty"`
	// VApps and VMs count what the plan's selection picks at the source now.
	VApps int `json:"vapps"`
	VMs   int `json:"vms"`
	RPO   RPO `json:"rpo"`
}

// RPO is the readiness's indication of how old the data a failover would
// come back with is.
type RPO struct {
	// MetadataCurrent: every SR the selection uses replicates the pool's
	// metadata with a healthy redo log, which writes each change as it
	// happens, so the source's copy is current.
	MetadataCurrent bool `json:"metadata_current"`
	// MirrorLag is the largest lag the storage adapter reported; nil when
	// no adapter answered (the lag is then unknown).
	MirrorLag *time.Duration `json:"mirror_lag,omitempty"`
	// Text says it in one sentence.
	Text string `json:"text"`
}

var optReadiness = activityOpt{startToClose: 10 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 3}

// ReadinessCheck is the Readiness workflow.
func ReadinessCheck(ctx workflow.Context, in *ReadinessInput) (*ReadinessResult, error) {
	if in == nil || in.Plan.Name == "" {
		return nil, temporal.NewNonRetryableApplicationError(
			"The readiness input holds no plan; start it with a plan as JSON input {\"plan\": {...}}.", "Failed", nil)
	}
	mode := in.Mode
	if mode == "" {
		mode = plan.ModeFailover
	}
	p := &in.Plan
	source, target := p.Sites(mode)
	info := workflow.GetInfo(ctx)
	out := &ReadinessResult{Plan: p.Name, Mode: mode, Source: source, Target: target, CheckedAt: workflow.Now(ctx),
		WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, Checks: []CheckResult{}}
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		temporal.NewSearchAttributeKeyKeyword(SearchAttrPlan).ValueSet(p.Name),
		temporal.NewSearchAttributeKeyKeyword(SearchAttrMode).ValueSet(string(ModeReadiness)))

	src, err := readSource(ctx, source)
	if err != nil {
		out.Checks = append(out.Checks, problem("reachable", "site "+source, "reading site %s failed: %s", source, errorText(err)))
	}
	out.Checks = append(out.Checks, src.Checks...)

	tin := &activities.CheckTargetInput{Site: target, Mode: mode, Plan: p.Name, Storage: p.StorageFor(mode),
		AdapterRuns: adapterRuns(p, mode), SourceAPI: src.APIVersion}
	if src.Reachable {
		sel, err := Select(p.Selection, p.PriorityGroups, &src.Scan)
		if err != nil {
			out.Checks = append(out.Checks, problem("selection", "plan "+p.Name, "%s", err.Error()))
		} else {
			out.Warnings = append(out.Warnings, sel.Warnings...)
			srs, users, nets := selectionUses(sel, src)
			tin.Units, tin.VMs, tin.SRs, tin.Networks = units(sel), sel.VMs(), srs, nets
			out.VMs = len(tin.VMs)
			for _, u := range sel.Units {
				if u.Kind == activities.KindVApp {
					out.VApps++
				}
			}
			repl := activities.ReplicationChecks(source, srs, users)
			out.Checks = append(out.Checks, repl...)
			out.RPO.MetadataCurrent = len(srs) > 0 && !hasProblem(repl)
		}
	}

	var mirrors []activities.MirrorStatus
	for i, chunk := range targetChunks(tin) {
		var tgt activities.CheckTargetResult
		err = workflow.ExecuteActivity(withActivity(ctx, optReadiness, "check site "+target),
			acts.CheckTarget, chunk).Get(ctx, &tgt)
		if err != nil {
			out.Checks = append(out.Checks, problem("reachable", "site "+target, "checking site %s failed: %s", target, errorText(err)))
			break
		}
		out.Checks = append(out.Checks, tgt.Checks...)
		if i == 0 {
			mirrors = tgt.Mirrors
			if !tgt.Reachable {
				break
			}
		}
	}
	out.RPO = rpoOf(out.RPO.MetadataCurrent, mirrors, src.Reachable)
	out.Ready = !hasProblem(out.Checks)
	out.Summary = readinessSummary(out)
	return out, nil
}

// readSource reads the source pool page by page (scanPageVMs VMs' worth of
// units each), so no activity result grows with the pool.
func readSource(ctx workflow.Context, site string) (*activities.ReadSourceResult, error) {
	all := &activities.ReadSourceResult{}
	offset := 0
	for {
		var page activities.ReadSourceResult
		err := workflow.ExecuteActivity(withActivity(ctx, optReadiness, "read site "+site),
			acts.ReadSource, &activities.ReadSourceInput{Site: site, Offset: offset, Limit: scanPageVMs}).Get(ctx, &page)
		if err != nil {
			return all, err
		}
		if offset == 0 {
			all.Reachable, all.Checks, all.PoolUUID, all.PoolName, all.APIVersion, all.SRs = page.Reachable, page.Checks, page.PoolUUID, page.PoolName, page.APIVersion, page.SRs
		}
		all.Scan.VApps = append(all.Scan.VApps, page.Scan.VApps...)
		all.Scan.VMs = append(all.Scan.VMs, page.Scan.VMs...)
		all.VMs = append(all.VMs, page.VMs...)
		if !page.Reachable || page.Next == 0 {
			return all, nil
		}
		offset = page.Next
	}
}

// targetChunks cuts the target's check into chunks of at most scanPageVMs
// VMs, as the precheck is cut: the first does the pool-wide checks (with
// the whole selection's memory), the others only the same-UUID copies.
func targetChunks(in *activities.CheckTargetInput) []*activities.CheckTargetInput {
	var total int64
	for _, vm := range in.VMs {
		total += vm.MemoryMax
	}
	vmsOf := map[string][]activities.VMInfo{} // lookups only
	for _, vm := range in.VMs {
		key := vm.UUID
		if vm.VApp != "" {
			key = vm.VApp
		}
		vmsOf[key] = append(vmsOf[key], vm)
	}
	first := *in
	first.Units, first.VMs, first.TotalMemory = nil, nil, total
	chunks := []*activities.CheckTargetInput{&first}
	cur := &first
	for _, u := range in.Units {
		vms := vmsOf[u.UUID]
		if len(cur.VMs) > 0 && len(cur.VMs)+len(vms) > scanPageVMs {
			cur = &activities.CheckTargetInput{Site: in.Site, Mode: in.Mode, Plan: in.Plan, SkipPoolChecks: true}
			chunks = append(chunks, cur)
		}
		cur.Units = append(cur.Units, u)
		cur.VMs = append(cur.VMs, vms...)
	}
	return chunks
}

func problem(check, object, format string, args ...any) CheckResult {
	return CheckResult{Check: check, Object: object, Severity: SeverityProblem, Message: fmt.Sprintf(format, args...)}
}

func hasProblem(l []CheckResult) bool {
	for _, c := range l {
		if c.Severity == SeverityProblem {
			return true
		}
	}
	return false
}

func units(sel *Selected) []activities.Unit {
	out := make([]activities.Unit, 0, len(sel.Units))
	for _, u := range sel.Units {
		out = append(out, u.Unit)
	}
	return out
}

// selectionUses returns the source SRs the selected VMs' disks are on (in
// UUID order), who uses each (SR UUID -> VM names), and the networks of the
// selected VMs with who uses them (in name order).
func selectionUses(sel *Selected, src *activities.ReadSourceResult) ([]activities.SourceSR, map[string][]string, []activities.NetworkUse) {
	byVM := map[string]activities.SourceVM{} // lookups only
	for _, v := range src.VMs {
		byVM[v.UUID] = v
	}
	users := map[string][]string{}
	netUsers := map[string][]string{}
	var netNames []string
	for _, vm := range sel.VMs() {
		sv := byVM[vm.UUID]
		label := "VM '" + vm.Name + "'"
		if vm.Name == "" {
			label = "VM " + vm.UUID
		}
		for _, sr := range sv.SRs {
			users[sr] = append(users[sr], label)
		}
		for _, n := range sv.Networks {
			if _, ok := netUsers[n]; !ok {
				netNames = append(netNames, n)
			}
			netUsers[n] = append(netUsers[n], label)
		}
	}
	var srs []activities.SourceSR
	for _, sr := range src.SRs { // already in UUID order
		_, sr.Disks = users[sr.UUID]
		if sr.Disks || sr.MetadataVDI != "" {
			srs = append(srs, sr)
		}
	}
	sort.Strings(netNames)
	nets := make([]activities.NetworkUse, 0, len(netNames))
	for _, n := range netNames {
		// A network of 5,000 VMs is named with a few of them.
		users := netUsers[n]
		if len(users) > 8 {
			users = append(users[:8:8], fmt.Sprintf("%d more VMs", len(netUsers[n])-8))
		}
		nets = append(nets, activities.NetworkUse{Name: n, VMs: users})
	}
	return srs, users, nets
}

// rpoOf says how old the data a failover would come back with is: the
// metadata is current at the source when its redo logs are healthy; the
// DR copy is as old as the storage mirror's lag, which only the storage
// adapter knows.
func rpoOf(metadataCurrent bool, mirrors []activities.MirrorStatus, sourceRead bool) RPO {
	r := RPO{MetadataCurrent: metadataCurrent}
	var lag time.Duration
	var split []string
	for _, m := range mirrors {
		if m.State == activities.MirrorReplicating {
			lag = max(lag, m.Lag)
		} else {
			split = append(split, m.Storage)
		}
	}
	if len(mirrors) > 0 && len(split) == 0 {
		r.MirrorLag = &lag
	}
	var parts []string
	switch {
	case !sourceRead:
		parts = append(parts, "the source's metadata replication could not be read")
	case metadataCurrent:
		parts = append(parts, "the pool's metadata is written to every SR the plan uses at each change")
	default:
		parts = append(parts, "some SRs the plan uses do not replicate the pool's metadata")
	}
	switch {
	case len(split) > 0:
		parts = append(parts, "the mirror of "+strings.Join(split, ", ")+" does not replicate, so its DR copy ages")
	case r.MirrorLag != nil:
		parts = append(parts, fmt.Sprintf("the DR copies are at most %s behind (storage adapter)", lag))
	default:
		parts = append(parts, "the mirrors' lag is unknown (no storage adapter)")
	}
	r.Text = strings.ToUpper(parts[0][:1]) + parts[0][1:] + "; " + strings.Join(parts[1:], "; ") + "."
	return r
}

func readinessSummary(r *ReadinessResult) string {
	var problems, warnings int
	first := ""
	for _, c := range r.Checks {
		switch c.Severity {
		case SeverityProblem:
			if problems == 0 {
				first = c.Object + ": " + c.Message
			}
			problems++
		case SeverityWarning:
			warnings++
		}
	}
	warnings += len(r.Warnings)
	if problems == 0 {
		return fmt.Sprintf("A %s of plan %s from site %s to site %s would work now (%s, %s).",
			r.Mode, r.Plan, r.Source, r.Target, plural(len(r.Checks), "check"), plural(warnings, "warning"))
	}
	return fmt.Sprintf("A %s of plan %s from site %s to site %s would not work now: %s; first %s.",
		r.Mode, r.Plan, r.Source, r.Target, plural(problems, "problem"), strings.TrimSuffix(first, "."))
}
