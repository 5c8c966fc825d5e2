package activities

import (
	"context"
	"fmt"

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
	out := &ProbeResult{SRs: []ProbedSR{}}
	for i, st := range in.Storage {
		label := storageLabel(st, i)
		if st.Type != xapi.SRTypeISCSI && st.Type != xapi.SRTypeHBA {
			return nil, permanent(codeBadInput, fmt.Sprintf(
				"storage %s has type %q, which disaster recovery does not support (only lvmoiscsi and lvmohba).", label, st.Type),
				"set the storage's type to lvmoiscsi or lvmohba in the plan, then start the run again", nil)
		}
		dc, err := a.resolveDeviceConfig(st, i)
		if err != nil {
			return nil, err
		}
		res, err := c.s.ProbeSRAsync(ctx, pool.Master, dc.config, st.Type, xapi.MetadataSMConfig())
		if xapi.IsCode(err, xapi.CodeMessageMethodUnknown) {
			res, err = c.s.ProbeSR(ctx, pool.Master, dc.config, st.Type, xapi.MetadataSMConfig())
		}
		if err != nil {
			return nil, classifyScrubbed(ctx, err, fmt.Sprintf("probing storage %s (%s) at site %s failed", label, st.Type, c.site),
				"check the storage's device_config in the plan and that its LUN is presented to every host of the pool, then start the run again", dc)
		}
		for _, e := range res.SRs {
			in, err := srInPool(ctx, c.s, e.UUID)
			if err != nil {
				return nil, classify(ctx, err, fmt.Sprintf("looking up SR %s at site %s failed", e.UUID, c.site), "")
			}
			out.SRs = append(out.SRs, ProbedSR{
				StorageIndex: i, StorageName: st.Name, UUID: e.UUID, NameLabel: e.NameLabel,
				NameDescription: e.NameDescription, Size: e.Size, PoolMetadataDetected: e.PoolMetadataDetected,
				AlreadyInPool: in,
			})
		}
		recordHeartbeat(ctx, i+1)
	}
	return out, nil
}

// srInPool reports whether the pool knows an SR with this UUID.
func srInPool(ctx context.Context, s *xapi.Session, uuid string) (bool, error) {
	_, err := s.GetSRByUUID(ctx, uuid)
	switch {
	case err == nil:
		return true, nil
	case gone(err):
		return false, nil
	}
	return false, err
}
