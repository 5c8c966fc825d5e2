package activities

import (
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Reprotect enables metadata replication on the recovered SRs, skipping
// those already replicating this pool's metadata. Failures are per SR.
func (a *Activities) Reprotect(ctx context.Context, in *ReprotectInput) (*ReprotectResult, error) {
	defer a.keepAlive(ctx)()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	poolRef, _, err := c.pool(ctx)
	if err != nil {
		return nil, err
	}
	// The metadata VDIs (not the thousands of disks the run recovered) and
	// the SRs, side by side.
	var vdis map[xapi.Ref]xapi.VDISummary
	var srs map[xapi.Ref]xapi.SR
	if err := allAtOnce(ctx,
		func() (err error) {
			if vdis, err = c.s.GetMetadataVDISummaries(ctx); err != nil {
				return classify(ctx, err, "reading the VDIs at site "+c.site+" failed", "")
			}
			return nil
		},
		func() (err error) {
			if srs, err = c.s.GetAllSRRecords(ctx); err != nil {
				return classify(ctx, err, "reading the SRs at site "+c.site+" failed", "")
			}
			return nil
		},
	); err != nil {
		return nil, err
	}
	srByUUID := map[string]xapi.Ref{}
	for ref, sr := range srs {
		srByUUID[sr.UUID] = ref
	}
	// The SRs side by side: each call sets up one SR's own redo log, and
	// one SR after another took seconds for a plan's 41 LUNs.
	enabled := make([]bool, len(in.SRUUIDs))
	problems := make([]string, len(in.SRUUIDs))
	errs := forEachLimited(ctx, len(in.SRUUIDs), storageParallel, func(i int) error {
		uuid := in.SRUUIDs[i]
		ref, ok := srByUUID[uuid]
		if !ok {
			problems[i] = fmt.Sprintf("SR %s is not in the pool at site %s, so its metadata replication was not enabled; enable it on the SR that holds the recovered VMs.", uuid, c.site)
			return nil
		}
		// Already replicating: not asked again (with 8 redo logs active,
		// xapi would refuse even this SR, see replicatingTo).
		if replicatingTo(ctx, c, poolRef, ref, vdis) {
			enabled[i] = true
			return nil
		}
		name := q(srs[ref].NameLabel, uuid)
		if err := c.s.EnableDatabaseReplication(ctx, ref); err != nil {
			if isTransient(ctx, err) {
				return classify(ctx, err, "enabling metadata replication on SR "+name+" at site "+c.site+" failed", "")
			}
			next := "enable it by hand (Configure DR) so that a failback is possible"
			if xapi.IsCode(err, xapi.CodeNoMoreRedoLogsAllowed) {
				next = "disable metadata replication on an SR that no longer needs it (Configure DR), then enable it on this one so that a failback is possible"
			}
			problems[i] = sentence(fmt.Sprintf("Metadata replication could not be enabled on SR %s at site %s", name, c.site), reason(err), next)
			return nil
		}
		enabled[i] = true
		return nil
	})
	if err := firstError(errs); err != nil {
		return nil, err
	}
	out := &ReprotectResult{Enabled: []string{}}
	for i, uuid := range in.SRUUIDs {
		if enabled[i] {
			out.Enabled = append(out.Enabled, uuid)
		}
		if problems[i] != "" {
			out.Errors = append(out.Errors, problems[i])
		}
	}
	return out, nil
}

// replicatingTo reports whether the pool's redo log writes to its own
// metadata VDI on the SR: the VDI's VBD (on the master's control domain) is
// attached, whatever metadata_latest says of the log's health. xapi checks
// its limit of 8 redo logs before "already enabled", so enabling such an SR
// again fails NO_MORE_REDO_LOGS_ALLOWED when 8 are active.
func replicatingTo(ctx context.Context, c *conn, poolRef, sr xapi.Ref, vdis map[xapi.Ref]xapi.VDISummary) bool {
	for _, v := range vdis {
		if v.SR != sr || v.Type != "metadata" || v.MetadataOfPool != poolRef {
			continue
		}
		for _, b := range v.VBDs {
			if vbd, err := c.s.GetVBDRecord(ctx, b); err == nil && vbd.CurrentlyAttached {
				return true
			}
		}
	}
	return false
}

// DestroyDRTasks destroys the run's DR tasks that still exist, and those
// that introduced one of in.SRUUIDs; a task that is gone already counts as
// destroyed.
func (a *Activities) DestroyDRTasks(ctx context.Context, in *DestroyDRTasksInput) error {
	defer a.keepAlive(ctx)()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return err
	}
	uuids := append([]string(nil), in.DRTaskUUIDs...)
	if len(in.SRUUIDs) > 0 {
		state, err := readSRState(ctx, c.s)
		if err != nil {
			return classify(ctx, err, "reading the SRs and DR tasks at site "+c.site+" failed", "")
		}
		for _, uuid := range in.SRUUIDs {
			sr, ok := state.byUUID[uuid]
			if !ok {
				continue // never introduced, or forgotten already
			}
			if t, ok := state.tasks[sr.rec.IntroducedBy]; ok && !slices.Contains(uuids, t.UUID) {
				a.logger(ctx).Info("destroying a DR task Introduce did not report", zap.String("site", c.site), zap.String("dr_task", t.UUID), zap.String("sr", uuid))
				uuids = append(uuids, t.UUID)
			}
		}
	}
	// Each DR task detaches its own SRs: side by side, as they were made.
	errs := forEachLimited(ctx, len(uuids), storageParallel, func(i int) error {
		ref, err := c.s.GetDRTaskByUUID(ctx, uuids[i])
		if gone(err) {
			return nil
		}
		if err == nil {
			err = c.s.DestroyDRTask(ctx, ref)
		}
		if err != nil && !gone(err) {
			return classify(ctx, err, fmt.Sprintf("destroying DR task %s at site %s failed", uuids[i], c.site),
				"check the SRs it introduced can be detached, or destroy it with xe drtask-destroy")
		}
		return nil
	})
	return firstError(errs)
}
