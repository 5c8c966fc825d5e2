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

// lists is a holder's per-object lists (a progress answer, a report, the
// run), in the order they are inlined.
type lists []list

// list is one list of a holder: its name, its slice, and the field of Page
// that carries its items.
type list struct {
	name  string
	len   func() int
	cut   func(p *Page, from, to int)
	add   func(p *Page)
	clear func()
}

func listOf[T any](name string, s *[]T, field func(*Page) *[]T) list {
	return list{
		name:  name,
		len:   func() int { return len(*s) },
		cut:   func(p *Page, from, to int) { *field(p) = (*s)[from:to] },
		add:   func(p *Page) { *s = append(*s, *field(p)...) },
		clear: func() { *s = nil },
	}
}

func objects(p *Page) *[]ObjectState { return &p.Objects }
func checks(p *Page) *[]CheckResult  { return &p.Checks }
func events(p *Page) *[]Event        { return &p.Events }
func lines(p *Page) *[]string        { return &p.Lines }

func (l lists) get(name string) (list, bool) {
	for _, x := range l {
		if x.name == name {
			return x, true
		}
	}
	return list{}, false
}

// page cuts one page out of a list.
func (l lists) page(req PageRequest) (*Page, error) {
	x, ok := l.get(req.List)
	if !ok {
		return nil, fmt.Errorf("no list %q (one of vms, vapps, prechecks, timeline, errors, warnings, leftovers)", req.List)
	}
	limit := req.Limit
	if limit <= 0 || limit > PageSize {
		limit = PageSize
	}
	n := x.len()
	from := min(max(req.Offset, 0), n)
	p := &Page{List: req.List, Offset: from, Total: n}
	x.cut(p, from, min(from+limit, n))
	return p, nil
}

// add appends a page read back by a reader to the list it belongs to.
func (l lists) add(p *Page) {
	if p == nil {
		return
	}
	if x, ok := l.get(p.List); ok {
		x.add(p)
	}
}

// toPage returns the lists to leave out of the holder: none when all
// together fit InlineItems; otherwise all but the small ones that fit.
// Only whole lists move, so a reader never mixes an inline list with its
// pages.
func (l lists) toPage() []PagedList {
	total := 0
	for _, x := range l {
		total += x.len()
	}
	if total <= InlineItems {
		return nil
	}
	var paged []PagedList
	budget := InlineItems
	for _, x := range l {
		k := x.len()
		if k <= budget/8 {
			// Small lists (gates' context, errors of a healthy run) stay
			// inline, so a status screen reads them at once.
			budget -= k
			continue
		}
		paged = append(paged, PagedList{List: x.name, Total: k})
	}
	return paged
}

// inline empties the lists toPage names and returns them.
func (l lists) inline() []PagedList {
	paged := l.toPage()
	for _, pl := range paged {
		if x, ok := l.get(pl.List); ok {
			x.clear()
		}
	}
	return paged
}

// progressLists are the lists of a progress answer.
func progressLists(p *Progress) lists {
	return lists{listOf(ListVApps, &p.VApps, objects), listOf(ListVMs, &p.VMs, objects),
		listOf(ListPrechecks, &p.Prechecks, checks), listOf(ListErrors, &p.Errors, lines)}
}

// reportLists are the lists of a report.
func reportLists(rep *Report) lists {
	return lists{listOf(ListVApps, &rep.VApps, objects), listOf(ListVMs, &rep.VMs, objects),
		listOf(ListPrechecks, &rep.Prechecks, checks), listOf(ListTimeline, &rep.Timeline, events),
		listOf(ListWarnings, &rep.Warnings, lines), listOf(ListLeftovers, &rep.Leftovers, lines)}
}

// runLists are the run's own lists, which the progress-page query pages.
func (r *run) runLists() lists {
	return lists{listOf(ListVApps, &r.vapps, objects), listOf(ListVMs, &r.vms, objects),
		listOf(ListPrechecks, &r.prechecks, checks), listOf(ListTimeline, &r.timeline, events),
		listOf(ListErrors, &r.errors, lines), listOf(ListWarnings, &r.warnings, lines),
		listOf(ListLeftovers, &r.leftovers, lines)}
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
	l := reportLists(rep)
	paged := l.toPage()
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
			page, _ := l.page(PageRequest{List: pl.List, Offset: off, Limit: PageSize})
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
			continue
		}
		x, _ := l.get(pl.List)
		x.clear()
		rep.Paged = append(rep.Paged, pl)
	}
}

// AddPage appends a page read back by a reader to the list it belongs to.
func (p *Progress) AddPage(pg *Page) { progressLists(p).add(pg) }

// AddPage appends a page read back by a reader to the list it belongs to.
func (rep *Report) AddPage(pg *Page) { reportLists(rep).add(pg) }
