package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

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
	err := runLimited(ctx, len(chunks), func(int) int { return 1 }, checkParallel(ctx),
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
