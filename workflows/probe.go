package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

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
