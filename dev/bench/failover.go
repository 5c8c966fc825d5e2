package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// gatePhases are the phases in which a run waits for people: not lifeboat's time.
var gatePhases = map[string]string{
	workflows.PhaseStorageReady: plan.GateStorageReady,
	workflows.PhaseRecoverGate:  plan.GateRecover,
}

// FailoverResult is one measured failover.
type FailoverResult struct {
	Outcome   string
	Wall      time.Duration // report's start to finish, gate waits excluded
	GateWait  time.Duration
	Phases    []PhaseTime
	Progress  int // bytes of the final progress query answer
	ReportLen int // bytes of the result (the report)
	// ReportVMs is how many VMs `lifeboat report --format json` lists: the
	// CLI puts a large report's pages back together.
	ReportVMs int
	// Groups is when each priority group was all running, from the run's
	// start, gate waits excluded: the RTO of each tier.
	Groups []GroupRunning
}

// GroupRunning is when a priority group's last VM was started.
type GroupRunning struct {
	Group string
	At    time.Duration
}

// PhaseTime is the time a run spent in one phase (from its timeline).
type PhaseTime struct {
	Phase string
	Took  time.Duration
}

// runFailover runs the failover of the world's plan the way a user does: the plan
// checked and started with the CLI, each gate approved with the CLI as soon as the run
// waits at it.
func runFailover(ctx context.Context, env *env, w *World, simw *sim.World, dir string) (FailoverResult, error) {
	var res FailoverResult
	planPath := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(planPath, w.Plan, 0o644); err != nil {
		return res, err
	}
	// The disaster: the primary site is lost and the storage team splits the mirrors.
	ct := simw.Control()
	if err := ct.SiteDown("primary"); err != nil {
		return res, err
	}
	for _, m := range w.Scenario.Mirrors {
		if err := ct.SplitMirror(m.Name); err != nil {
			return res, err
		}
	}
	if _, err := lifeboatCLI(ctx, env.lifeboat, env.temporal.address, "plan", "check", planPath); err != nil {
		return res, err
	}
	if _, err := lifeboatCLI(ctx, env.lifeboat, env.temporal.address, "failover", "--plan", planPath, "--as", "bench"); err != nil {
		return res, err
	}
	id := workflows.WorkflowID(w.PlanName(), plan.ModeFailover)
	c := env.temporal.client
	approved := map[string]bool{}
	for {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return res, fmt.Errorf("describe %s: %w", id, err)
		}
		info := d.GetWorkflowExecutionInfo()
		if info.GetStatus().String() != "Running" {
			break
		}
		var phase string
		if p := info.GetSearchAttributes().GetIndexedFields()[workflows.SearchAttrPhase]; p != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &phase)
		}
		if gate, ok := gatePhases[phase]; ok && !approved[gate] {
			if _, err := lifeboatCLI(ctx, env.lifeboat, env.temporal.address, "approve", id, "--gate", gate, "--as", "bench", "--comment", "benchmark"); err != nil {
				say("  (approve refused, retrying: %v)", err)
			} else {
				approved[gate] = true
			}
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	var raw json.RawMessage
	var lastVMs map[string]time.Time // each group's last VM started
	err := c.GetWorkflow(ctx, id, "").Get(ctx, &raw)
	if err != nil {
		return res, fmt.Errorf("the failover did not succeed: %w", err)
	}
	res.ReportLen = len(raw)
	var rep struct {
		Outcome    string    `json:"outcome"`
		StartedAt  time.Time `json:"started_at"`
		FinishedAt time.Time `json:"finished_at"`
		Timeline   []struct {
			At    time.Time `json:"at"`
			Phase string    `json:"phase"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return res, fmt.Errorf("read the report: %w", err)
	}
	res.Outcome = rep.Outcome
	if out, err := lifeboatCLI(ctx, env.lifeboat, env.temporal.address, "report", id, "--format", "json"); err == nil {
		var full struct {
			VMs []struct {
				Group     string     `json:"group"`
				StartedAt *time.Time `json:"started_at"`
			} `json:"vms"`
		}
		if json.Unmarshal([]byte(out), &full) == nil {
			res.ReportVMs = len(full.VMs)
			last := map[string]time.Time{}
			for _, vm := range full.VMs {
				if vm.StartedAt != nil && vm.StartedAt.After(last[vm.Group]) {
					last[vm.Group] = *vm.StartedAt
				}
			}
			lastVMs = last
		}
	} else {
		say("  (lifeboat report failed: %v)", err)
	}
	if q, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress); err == nil {
		var p json.RawMessage
		if q.Get(&p) == nil {
			res.Progress = len(p)
		}
	}
	// Phases: from each phase's first timeline entry to the next phase's.
	type seg struct {
		phase string
		at    time.Time
	}
	var segs []seg
	for _, e := range rep.Timeline {
		if len(segs) == 0 || segs[len(segs)-1].phase != e.Phase {
			segs = append(segs, seg{e.Phase, e.At})
		}
	}
	took := map[string]time.Duration{}
	var order []string
	for i, s := range segs {
		end := rep.FinishedAt
		if i+1 < len(segs) {
			end = segs[i+1].at
		}
		if _, ok := took[s.phase]; !ok {
			order = append(order, s.phase)
		}
		took[s.phase] += end.Sub(s.at)
	}
	begin := rep.StartedAt
	if len(segs) > 0 && segs[0].at.Before(begin) {
		begin = segs[0].at
	}
	for _, p := range order {
		if _, gate := gatePhases[p]; gate {
			res.GateWait += took[p]
			continue
		}
		res.Phases = append(res.Phases, PhaseTime{p, took[p]})
	}
	res.Wall = rep.FinishedAt.Sub(begin) - res.GateWait
	// The gates come before any start: every group's time excludes them all.
	for g, at := range lastVMs {
		res.Groups = append(res.Groups, GroupRunning{orRest(g), at.Sub(begin) - res.GateWait})
	}
	sort.Slice(res.Groups, func(i, j int) bool { return res.Groups[i].At < res.Groups[j].At })
	return res, nil
}

// PlanName is the plan's name for this world (one run per size on one server).
func (w *World) PlanName() string { return fmt.Sprintf("%s-%d", planName, w.VMs) }

// callsPerVM are the XAPI calls of a run per VM, by method, busiest first.
func callsPerVM(counts map[sim.CallKey]int, vms int) (total float64, by []MethodCalls) {
	per := map[string]int{}
	for k, n := range counts {
		if k.Method == sim.TaskEnded || strings.HasPrefix(k.Method, "(") {
			continue
		}
		per[k.Method] += n
	}
	for m, n := range per {
		by = append(by, MethodCalls{m, float64(n) / float64(vms), n})
		total += float64(n)
	}
	sort.Slice(by, func(i, j int) bool {
		if by[i].Calls != by[j].Calls {
			return by[i].Calls > by[j].Calls
		}
		return by[i].Method < by[j].Method
	})
	return total / float64(vms), by
}

// MethodCalls is one method's share of a run's calls.
type MethodCalls struct {
	Method string
	PerVM  float64
	Calls  int
}

// orRest names the VMs in no priority group as the report's groups do.
func orRest(g string) string {
	if g == "" {
		return workflows.RestGroup
	}
	return g
}
