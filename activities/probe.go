package activities

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Probe runs SR.probe (metadata=true) for each storage target at the site.
// It only reads: running it twice is harmless.
func (a *Activities) Probe(ctx context.Context, in *ProbeInput) (*ProbeResult, error) {
	defer a.keepAlive(ctx)()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	_, pool, err := c.pool(ctx)
	if err != nil {
		return nil, err
	}
	for i, st := range in.Storage {
		if st.Type != xapi.SRTypeISCSI && st.Type != xapi.SRTypeHBA {
			return nil, permanent(codeBadInput, fmt.Sprintf(
				"storage %s has type %q, which disaster recovery does not support (only lvmoiscsi and lvmohba).", storageLabel(st, i), st.Type),
				"set the storage's type to lvmoiscsi or lvmohba in the plan, then start the run again", nil)
		}
	}
	// The targets are probed several at once (storageParallel); the SRs
	// are listed in storage order whatever the order they answer in.
	found := make([][]ProbedSR, len(in.Storage))
	var done atomic.Int64
	errs := forEachLimited(ctx, len(in.Storage), storageParallel, func(i int) error {
		st := in.Storage[i]
		label := storageLabel(st, i)
		dc, err := a.resolveDeviceConfig(st, i)
		if err != nil {
			return err
		}
		res, err := c.s.ProbeSRAsync(ctx, pool.Master, dc.config, st.Type, xapi.MetadataSMConfig())
		if xapi.IsCode(err, xapi.CodeMessageMethodUnknown) {
			res, err = c.s.ProbeSR(ctx, pool.Master, dc.config, st.Type, xapi.MetadataSMConfig())
		}
		if err != nil {
			return classifyScrubbed(ctx, err, fmt.Sprintf("probing storage %s (%s) at site %s failed", label, st.Type, c.site),
				"check the storage's device_config in the plan and that its LUN is presented to every host of the pool, then start the run again", dc)
		}
		for _, e := range res.SRs {
			found[i] = append(found[i], ProbedSR{
				StorageIndex: i, StorageName: st.Name, UUID: e.UUID, NameLabel: e.NameLabel,
				NameDescription: e.NameDescription, Size: e.Size, PoolMetadataDetected: e.PoolMetadataDetected,
			})
		}
		recordHeartbeat(ctx, int(done.Add(1)))
		return nil
	})
	if err := firstError(errs); err != nil {
		return nil, err
	}
	// One read of the pool's SRs answers "already in the pool" for all.
	srs, err := c.s.GetAllSRRecords(ctx)
	if err != nil {
		return nil, classify(ctx, err, "reading the SRs at site "+c.site+" failed", "")
	}
	known := map[string]bool{}
	for _, sr := range srs {
		known[sr.UUID] = true
	}
	out := &ProbeResult{SRs: []ProbedSR{}}
	for _, l := range found {
		for _, p := range l {
			p.AlreadyInPool = known[p.UUID]
			out.SRs = append(out.SRs, p)
		}
	}
	return out, nil
}
