package live

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

// A run's progress answer and report carry their long lists as pages (see
// workflows/pages.go); these read the pages back, so every reader shows the
// whole picture while no payload grows with the plan.

// PageQuery asks a running run for one page of a list; the CLI passes its own
// query function (which knows about dead workers' sticky queues).
type PageQuery func(ctx context.Context, req workflows.PageRequest, out *workflows.Page) error

// Results reads a closed workflow's result (client.Client's GetWorkflow).
type Results interface {
	GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
}

// FillProgress reads every list p leaves paged through q and adds it to p.
func FillProgress(ctx context.Context, q PageQuery, p *workflows.Progress) error {
	if p == nil {
		return nil
	}
	for _, pl := range p.Paged {
		if err := readPages(ctx, q, pl, p.AddPage); err != nil {
			return err
		}
	}
	p.Paged = nil
	return nil
}

// FillReport reads every list rep leaves paged: from the ReportPart children
// of a final report (no worker needed), else through q (a running run).
func FillReport(ctx context.Context, q PageQuery, res Results, rep *workflows.Report) error {
	if rep == nil {
		return nil
	}
	for _, pl := range rep.Paged {
		if len(pl.Parts) == 0 {
			if err := readPages(ctx, q, pl, rep.AddPage); err != nil {
				return err
			}
			continue
		}
		for i, part := range pl.Parts {
			var pg workflows.Page
			if err := res.GetWorkflow(ctx, part.WorkflowID, part.RunID).Get(ctx, &pg); err != nil {
				return fmt.Errorf("page %d of the report's %s (workflow %s) cannot be read: %w", i+1, pl.List, part.WorkflowID, err)
			}
			rep.AddPage(&pg)
		}
	}
	rep.Paged = nil
	return nil
}

func readPages(ctx context.Context, q PageQuery, pl workflows.PagedList, add func(*workflows.Page)) error {
	for off := 0; off < pl.Total; {
		var pg workflows.Page
		if err := q(ctx, workflows.PageRequest{List: pl.List, Offset: off, Limit: workflows.PageSize}, &pg); err != nil {
			return err
		}
		n := len(pg.Objects) + len(pg.Checks) + len(pg.Events) + len(pg.Lines)
		if n == 0 {
			break // the list shrank (it never does) or the run restarted
		}
		add(&pg)
		off += n
	}
	return nil
}
