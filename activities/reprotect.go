package activities

import (
	"context"
	"fmt"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Reprotect enables metadata replication on the recovered SRs, skipping
// those already replicating this pool's metadata. Failures are per SR.
func (a *Activities) Reprotect(ctx context.Context, in *ReprotectInput) (*ReprotectResult, error) {
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	poolRef, _, err := c.pool(ctx)
	if err != nil {
		return nil, err
	}
	vdis, err := c.s.GetAllVDIRecords(ctx)
	if err != nil {
		return nil, classify(ctx, err, "reading the VDIs at site "+c.site+" failed", "the step is retried")
	}
	replicating := map[xapi.Ref]bool{}
	for _, v := range vdis {
		// metadata_latest on our own metadata VDI tracks a healthy redo log.
		if v.Type == "metadata" && v.MetadataOfPool == poolRef && v.MetadataLatest {
			replicating[v.SR] = true
		}
	}
	out := &ReprotectResult{Enabled: []string{}}
	for _, uuid := range in.SRUUIDs {
		ref, err := c.s.GetSRByUUID(ctx, uuid)
		if gone(err) {
			out.Errors = append(out.Errors, fmt.Sprintf("SR %s is not in the pool at site %s, so its metadata replication was not enabled; enable it on the SR that holds the recovered VMs.", uuid, c.site))
			continue
		}
		if err != nil {
			return nil, classify(ctx, err, "looking up SR "+uuid+" at site "+c.site+" failed", "the step is retried")
		}
		if replicating[ref] {
			out.Enabled = append(out.Enabled, uuid)
			continue
		}
		name := uuid
		if sr, err := c.s.GetSRRecord(ctx, ref); err == nil {
			name = q(sr.NameLabel, uuid)
		}
		if err := c.s.EnableDatabaseReplication(ctx, ref); err != nil {
			if isTransient(ctx, err) {
				return nil, classify(ctx, err, "enabling metadata replication on SR "+name+" at site "+c.site+" failed", "the step is retried")
			}
			out.Errors = append(out.Errors, sentence(fmt.Sprintf("Metadata replication could not be enabled on SR %s at site %s", name, c.site), reason(err),
				"enable it by hand (Configure DR) so that a failback is possible"))
			continue
		}
		out.Enabled = append(out.Enabled, uuid)
	}
	return out, nil
}

// DestroyDRTasks destroys the run's DR tasks that still exist; a task that
// is gone already counts as destroyed.
func (a *Activities) DestroyDRTasks(ctx context.Context, in *DestroyDRTasksInput) error {
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return err
	}
	for _, uuid := range in.DRTaskUUIDs {
		ref, err := c.s.GetDRTaskByUUID(ctx, uuid)
		if gone(err) {
			continue
		}
		if err == nil {
			err = c.s.DestroyDRTask(ctx, ref)
		}
		if err != nil && !gone(err) {
			return classify(ctx, err, fmt.Sprintf("destroying DR task %s at site %s failed", uuid, c.site),
				"check the SRs it introduced can be detached, or destroy it with xe drtask-destroy")
		}
	}
	return nil
}
