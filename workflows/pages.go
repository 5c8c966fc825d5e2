package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"
)

// A run's per-object lists (VMs, vApps, prechecks, timeline, errors,
// warnings, leftovers) grow with its plan, but no payload Temporal stores or
// sends may: every one stays far below the 512 KiB at which the server warns,
// at 10,000 VMs and beyond. So the progress query and the report carry the
// lists inline only while they are small, and otherwise name them in Paged:
//   - while the run goes on, a reader asks the progress-page query for them
//     PageSize items at a time;
//   - when it ends, the run writes each page of each list as the input of a
//     tiny ReportPart child workflow, which returns it, so a closed run's
//     report is read back from history without a worker. The report names
//     each part's workflow and run ID.
//
// workflows/live assembles both for the CLI and the demo. A list that fits
// is inline, so a small run (the demo, the recorded fixtures) sends exactly
// what it always did and starts no part.

// List names, also the progress-page query's argument.
const (
	ListVMs       = "vms"
	ListVApps     = "vapps"
	ListPrechecks = "prechecks"
	ListTimeline  = "timeline"
	ListErrors    = "errors"
	ListWarnings  = "warnings"
	ListLeftovers = "leftovers"
)

// Bounds of one payload. An item is at most a few hundred bytes (an
// ObjectState with a long error, a precheck sentence), so PageSize items stay
// under ~400 KB; InlineItems is the budget of all lists carried inline in one
// progress answer or report.
const (
	PageSize    = 1000
	InlineItems = 1000
)

// QueryProgressPage answers one page of a list: argument PageRequest, answer Page.
const QueryProgressPage = "progress-page"

// ReportPartWorkflowName is the child that keeps one page of a final report.
const ReportPartWorkflowName = "LifeboatReportPart"

// PagedList is a list left out of a progress answer or report: its length,
// and in a final report the children holding its pages, in order.
type PagedList struct {
	List  string    `json:"list"`
	Total int       `json:"total"`
	Parts []PartRef `json:"parts,omitempty"`
}

// PartRef names a ReportPart child.
type PartRef struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// PageRequest asks for Limit items of List from Offset (Limit ≤ PageSize).
type PageRequest struct {
	List   string `json:"list"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit,omitempty"`
}

// Page is a slice of one list; the field of its list's type is set.
type Page struct {
	List    string        `json:"list"`
	Offset  int           `json:"offset"`
	Total   int           `json:"total"`
	Objects []ObjectState `json:"objects,omitempty"`
	Checks  []CheckResult `json:"checks,omitempty"`
	Events  []Event       `json:"events,omitempty"`
	Lines   []string      `json:"lines,omitempty"`
}

// lists is a run's per-object lists, in the order they are inlined.
type lists struct {
	VApps, VMs                  *[]ObjectState
	Prechecks                   *[]CheckResult
	Timeline                    *[]Event
	Errors, Warnings, Leftovers *[]string
}

func (l lists) names() []string {
	var out []string
	for _, n := range []string{ListVApps, ListVMs, ListPrechecks, ListTimeline, ListErrors, ListWarnings, ListLeftovers} {
		if l.len(n) >= 0 {
			out = append(out, n)
		}
	}
	return out
}

// len is the length of a list, -1 for a list this holder does not have.
func (l lists) len(name string) int {
	switch name {
	case ListVMs:
		return lenOf(l.VMs)
	case ListVApps:
		return lenOf(l.VApps)
	case ListPrechecks:
		return lenOf(l.Prechecks)
	case ListTimeline:
		return lenOf(l.Timeline)
	case ListErrors:
		return lenOf(l.Errors)
	case ListWarnings:
		return lenOf(l.Warnings)
	case ListLeftovers:
		return lenOf(l.Leftovers)
	}
	return -1
}

func lenOf[T any](p *[]T) int {
	if p == nil {
		return -1
	}
	return len(*p)
}

// page cuts one page out of a list.
func (l lists) page(req PageRequest) (*Page, error) {
	n := l.len(req.List)
	if n < 0 {
		return nil, fmt.Errorf("no list %q (one of vms, vapps, prechecks, timeline, errors, warnings, leftovers)", req.List)
	}
	limit := req.Limit
	if limit <= 0 || limit > PageSize {
		limit = PageSize
	}
	from := min(max(req.Offset, 0), n)
	to := min(from+limit, n)
	p := &Page{List: req.List, Offset: from, Total: n}
	switch req.List {
	case ListVMs:
		p.Objects = (*l.VMs)[from:to]
	case ListVApps:
		p.Objects = (*l.VApps)[from:to]
	case ListPrechecks:
		p.Checks = (*l.Prechecks)[from:to]
	case ListTimeline:
		p.Events = (*l.Timeline)[from:to]
	case ListErrors:
		p.Lines = (*l.Errors)[from:to]
	case ListWarnings:
		p.Lines = (*l.Warnings)[from:to]
	case ListLeftovers:
		p.Lines = (*l.Leftovers)[from:to]
	}
	return p, nil
}

// clear empties a list of the holder (it is paged instead).
func (l lists) clear(name string) {
	switch name {
	case ListVMs:
		*l.VMs = nil
	case ListVApps:
		*l.VApps = nil
	case ListPrechecks:
		*l.Prechecks = nil
	case ListTimeline:
		*l.Timeline = nil
	case ListErrors:
		*l.Errors = nil
	case ListWarnings:
		*l.Warnings = nil
	case ListLeftovers:
		*l.Leftovers = nil
	}
}

// inline keeps every list of the holder when all together fit InlineItems,
// and otherwise keeps the small ones that fit and returns the others, which
// it empties in the holder. Only whole lists move, so a reader never mixes an
// inline list with its pages.
func (l lists) inline() []PagedList {
	total := 0
	for _, n := range l.names() {
		total += l.len(n)
	}
	if total <= InlineItems {
		return nil
	}
	var paged []PagedList
	budget := InlineItems
	for _, n := range l.names() {
		k := l.len(n)
		if k <= budget/8 {
			// Small lists (gates' context, errors of a healthy run) stay
			// inline, so a status screen reads them at once.
			budget -= k
			continue
		}
		paged = append(paged, PagedList{List: n, Total: k})
		l.clear(n)
	}
	return paged
}

// progressLists are the lists of a progress answer.
func progressLists(p *Progress) lists {
	return lists{VApps: &p.VApps, VMs: &p.VMs, Prechecks: &p.Prechecks, Errors: &p.Errors}
}

// reportLists are the lists of a report.
func reportLists(rep *Report) lists {
	return lists{VApps: &rep.VApps, VMs: &rep.VMs, Prechecks: &rep.Prechecks, Timeline: &rep.Timeline,
		Warnings: &rep.Warnings, Leftovers: &rep.Leftovers}
}

// runLists are the run's own lists, which the progress-page query pages.
func (r *run) runLists() lists {
	return lists{VApps: &r.vapps, VMs: &r.vms, Prechecks: &r.prechecks, Timeline: &r.timeline,
		Errors: &r.errors, Warnings: &r.warnings, Leftovers: &r.leftovers}
}

// ReportPart keeps one page of a final report in its own history (its input)
// and returns it, so readers get it with the child's result.
func ReportPart(_ workflow.Context, p *Page) (*Page, error) {
	return p, nil
}

// writeParts moves the lists of a final report that do not fit inline into
// ReportPart children, one per page. A part that cannot be written leaves
// its list inline in the report rather than lose it (the report may then be
// large, but it is whole).
func (r *run) writeParts(ctx workflow.Context, rep *Report) {
	full := *rep
	all := reportLists(&full)
	paged := reportLists(rep).inline()
	if len(paged) == 0 {
		return
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WaitForCancellation: true,
		StaticSummary:       "a page of the report",
	})
	type pending struct {
		list int
		f    workflow.ChildWorkflowFuture
	}
	var futures []pending
	for i, pl := range paged {
		for off := 0; off < pl.Total; off += PageSize {
			page, _ := all.page(PageRequest{List: pl.List, Offset: off, Limit: PageSize})
			opts := workflow.GetChildWorkflowOptions(cctx)
			opts.WorkflowID = fmt.Sprintf("%s/report-%s-%d", r.workflowID, pl.List, off/PageSize+1)
			f := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(cctx, opts), ReportPartWorkflowName, page)
			futures = append(futures, pending{list: i, f: f})
		}
	}
	failed := map[int]bool{}
	for _, p := range futures {
		var exec workflow.Execution
		if err := p.f.GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
			failed[p.list] = true
			continue
		}
		if err := p.f.Get(ctx, nil); err != nil {
			failed[p.list] = true
			continue
		}
		paged[p.list].Parts = append(paged[p.list].Parts, PartRef{WorkflowID: exec.ID, RunID: exec.RunID})
	}
	for i, pl := range paged {
		if failed[i] {
			r.logger.Warn("A page of the report could not be written; the list stays in the report.", "List", pl.List)
			restore(rep, &full, pl.List)
			continue
		}
		rep.Paged = append(rep.Paged, pl)
	}
}

// restore puts one list of full back into rep.
func restore(rep, full *Report, name string) {
	switch name {
	case ListVMs:
		rep.VMs = full.VMs
	case ListVApps:
		rep.VApps = full.VApps
	case ListPrechecks:
		rep.Prechecks = full.Prechecks
	case ListTimeline:
		rep.Timeline = full.Timeline
	case ListWarnings:
		rep.Warnings = full.Warnings
	case ListLeftovers:
		rep.Leftovers = full.Leftovers
	}
}

// AddPage appends a page read back by a reader to the list it belongs to.
func (p *Progress) AddPage(pg *Page) { progressLists(p).add(pg) }

// AddPage appends a page read back by a reader to the list it belongs to.
func (rep *Report) AddPage(pg *Page) { reportLists(rep).add(pg) }

func (l lists) add(pg *Page) {
	if pg == nil || l.len(pg.List) < 0 {
		return
	}
	switch pg.List {
	case ListVMs:
		*l.VMs = append(*l.VMs, pg.Objects...)
	case ListVApps:
		*l.VApps = append(*l.VApps, pg.Objects...)
	case ListPrechecks:
		*l.Prechecks = append(*l.Prechecks, pg.Checks...)
	case ListTimeline:
		*l.Timeline = append(*l.Timeline, pg.Events...)
	case ListErrors:
		*l.Errors = append(*l.Errors, pg.Lines...)
	case ListWarnings:
		*l.Warnings = append(*l.Warnings, pg.Lines...)
	case ListLeftovers:
		*l.Leftovers = append(*l.Leftovers, pg.Lines...)
	}
}
