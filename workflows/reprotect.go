package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
)

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
