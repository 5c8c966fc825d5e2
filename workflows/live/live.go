// Package live shows a run's progress as it is now: the parent workflow
// records a vApp's or batch's VMs when its child workflow ends (so its
// history stays small), and this package overlays what each child still
// running answers to its own progress query — VM by VM, in start order.
// Used by the lifeboat CLI and the demo; it only reads.
package live

import (
	"context"
	"sync"
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Client is the part of the Temporal client the overlay needs
// (client.Client satisfies it).
type Client interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
}

// Bounds of the children's queries: a child that cannot answer in time is
// left out (the parent's own state of its VMs shows instead).
const (
	Concurrency  = 8
	QueryTimeout = 3 * time.Second
)

// Phases in which children run.
func childPhase(phase string) bool {
	return phase == workflows.PhaseRecover || phase == workflows.PhaseStart
}

// Overlay returns p with the live state of the run's pending children laid
// over it. Call it with the progress just queried from the parent: the
// parent is described after, so every child it had started is listed. p is
// not modified; outside the recover and start phases, or when the parent
// cannot be described, p is returned as is.
func Overlay(ctx context.Context, c Client, workflowID, runID string, p *workflows.Progress) *workflows.Progress {
	if p == nil || !childPhase(p.Phase) {
		return p
	}
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return p
	}
	return Merge(p, Query(ctx, c, d.GetPendingChildren()))
}

// Answer is one child's answer to the progress query (one of the two set).
type Answer struct {
	Start   *workflows.StartVMsProgress
	Recover *workflows.RecoverUnitsProgress
}

// Query asks each pending child for its progress, at most Concurrency at
// once, each within QueryTimeout. Children that fail to answer are skipped;
// the answers keep the children's order.
func Query(ctx context.Context, c Client, children []*workflowpb.PendingChildExecutionInfo) []Answer {
	answers := make([]Answer, len(children))
	sem := make(chan struct{}, Concurrency)
	var wg sync.WaitGroup
	for i, ch := range children {
		var target any
		switch ch.GetWorkflowTypeName() {
		case workflows.StartVMsWorkflowName:
			answers[i].Start = &workflows.StartVMsProgress{}
			target = answers[i].Start
		case workflows.RecoverUnitsWorkflowName:
			answers[i].Recover = &workflows.RecoverUnitsProgress{}
			target = answers[i].Recover
		default:
			continue
		}
		wg.Add(1)
		go func(i int, id, runID string, target any) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			qctx, cancel := context.WithTimeout(ctx, QueryTimeout)
			defer cancel()
			v, err := c.QueryWorkflow(qctx, id, runID, workflows.QueryProgress)
			if err == nil && v != nil && v.HasValue() {
				err = v.Get(target)
			} else if err == nil {
				err = context.Canceled // no answer
			}
			if err != nil {
				answers[i] = Answer{}
				return
			}
			if a := answers[i].Start; a != nil && a.InActivity {
				if beat, ok := startHeartbeat(ctx, c, id, runID); ok {
					Refine(a, beat)
				}
			}
		}(i, ch.GetWorkflowId(), ch.GetRunId(), target)
	}
	wg.Wait()
	return answers
}

// startHeartbeat is the last heartbeat of a start child's StartBatch
// activity, if it has sent one.
func startHeartbeat(ctx context.Context, c Client, id, runID string) (activities.StartProgress, bool) {
	var beat activities.StartProgress
	dctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	d, err := c.DescribeWorkflowExecution(dctx, id, runID)
	if err != nil {
		return beat, false
	}
	for _, pa := range d.GetPendingActivities() {
		if pa.GetActivityType().GetName() != startBatchActivity || pa.GetHeartbeatDetails() == nil {
			continue
		}
		if err := converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &beat); err == nil {
			return beat, true
		}
	}
	return beat, false
}

// startBatchActivity is the activity type the worker registers
// Activities.StartBatch under (its method name).
const startBatchActivity = "StartBatch"

// Refine sets the VMs a start child shows starting from its StartBatch
// activity's heartbeat: a VM done takes its outcome, a VM with a task in
// flight is starting, and any other still waits for its order or a start
// slot (recovered). The heartbeat lags the activity by at most the
// worker's heartbeat throttle (2 s).
func Refine(p *workflows.StartVMsProgress, beat activities.StartProgress) {
	for i := range p.VMs {
		v := &p.VMs[i]
		if v.State != workflows.StateStarting {
			continue
		}
		if d, ok := beat.Done[v.UUID]; ok {
			switch {
			case d.Skipped:
				v.State, v.Error, v.Skipped = workflows.StateSkipped, d.Error, true
			case d.Error != "":
				v.State, v.Error, v.Code = workflows.StateFailed, d.Error, d.Code
			default:
				v.PowerState, v.StartedAt = d.PowerState, d.StartedAt
				v.State = workflows.PowerToState(d.PowerState)
			}
			continue
		}
		if _, ok := beat.Tasks[v.UUID]; !ok {
			v.State, v.StartingAt = workflows.StateRecovered, nil
		}
	}
}

// Merge lays the children's answers over a copy of p. Only objects the
// parent still shows as in its children's hands change: a VM the parent
// marked starting (its start child runs) takes the child's state — recovered
// while it waits for its order, then starting, then running or paused with
// its start time and RTO, or failed; a vApp or VM the parent marked
// recovering stays so. UpdatedAt becomes the latest time a child reported.
func Merge(p *workflows.Progress, answers []Answer) *workflows.Progress {
	out := *p
	out.VMs = append([]workflows.ObjectState(nil), p.VMs...)
	out.VApps = append([]workflows.ObjectState(nil), p.VApps...)
	vms := map[string]*workflows.ObjectState{}
	for i := range out.VMs {
		vms[out.VMs[i].UUID] = &out.VMs[i]
	}
	later := func(t time.Time) {
		if t.After(out.UpdatedAt) {
			out.UpdatedAt = t
		}
	}
	for _, a := range answers {
		if a.Start != nil {
			for _, v := range a.Start.VMs {
				o := vms[v.UUID]
				if o == nil || o.State != workflows.StateStarting {
					continue
				}
				if v.StartingAt != nil {
					later(*v.StartingAt)
				}
				switch v.State {
				case workflows.StateRecovered, workflows.StateStarting:
					o.State = v.State
				case workflows.StateRunning, workflows.StatePaused, workflows.StateHalted:
					o.State, o.Error = v.State, ""
					if !v.StartedAt.IsZero() {
						t := v.StartedAt
						o.StartedAt = &t
						if !p.StartedAt.IsZero() {
							o.RTO = t.Sub(p.StartedAt)
						}
						later(t)
					}
				case workflows.StateFailed, workflows.StateSkipped:
					o.State, o.Error = v.State, v.Error
				}
			}
		}
		if a.Recover != nil {
			for _, u := range a.Recover.Units {
				later(u.Since)
			}
		}
	}
	return &out
}
