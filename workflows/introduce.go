package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
)

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
