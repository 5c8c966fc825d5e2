package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
)

func (r *run) scan(ctx workflow.Context) error {
	var res activities.ScanResult
	actx := withActivity(ctx, optScan, fmt.Sprintf("scan metadata on %s at site %s", plural(len(r.scanSRs), "SR"), r.target))
	// The result comes in pages of scanPageVMs VMs (no payload grows with the
	// plan); a plan that fits one page makes one call.
	// Runs begun before the first page listed the others asked for each
	// page after the one before; they replay so.
	together := workflow.GetVersion(ctx, "scan-pages-together", workflow.DefaultVersion, 1) == 1
	seen := map[string]bool{}
	var later []workflow.Future
	for offset, page := 0, 1; ; page++ {
		var part activities.ScanResult
		in := &activities.ScanInput{Site: r.target, SRUUIDs: r.scanSRs, Offset: offset, Limit: scanPageVMs}
		var err error
		if page == 1 || later == nil {
			err = workflow.ExecuteActivity(actx, acts.Scan, in).Get(ctx, &part)
		} else {
			err = later[page-2].Get(ctx, &part)
		}
		if err != nil {
			return stepError("reading the metadata on the SRs at site "+r.target, err, "check the SRs hold replicated metadata, then start the run again")
		}
		if page == 1 && together && len(part.Pages) > 0 {
			// Every later page at once: they slice what the first page read.
			for _, off := range part.Pages {
				pin := &activities.ScanInput{Site: r.target, SRUUIDs: r.scanSRs, Offset: off, Limit: scanPageVMs}
				later = append(later, workflow.ExecuteActivity(actx, acts.Scan, pin))
			}
		}
		if page == 1 {
			res = part
		} else {
			// A unit read twice (the metadata changed between pages) counts once.
			for _, va := range part.VApps {
				if !seen[va.UUID] {
					res.VApps = append(res.VApps, va)
				}
			}
			for _, vm := range part.VMs {
				if !seen[vm.UUID] {
					res.VMs = append(res.VMs, vm)
				}
			}
		}
		for _, va := range part.VApps {
			seen[va.UUID] = true
		}
		for _, vm := range part.VMs {
			seen[vm.UUID] = true
		}
		if later != nil {
			if page-1 == len(later) {
				break
			}
			continue
		}
		if part.Next <= offset {
			break
		}
		offset = part.Next
	}
	res.Next, res.Pages = 0, nil
	r.found = &res
	for _, why := range res.Ignored {
		r.event(ctx, "Ignored: %s", why)
	}
	if len(res.Sources) == 0 {
		return fmt.Errorf("no metadata of another pool was found on %s at site %s; check the plan's storage is the mirror of the protected pool's replicated SRs (see the timeline for what was ignored), then start the run again", plural(len(r.scanSRs), "SR"), r.target)
	}
	var pools []string
	for _, s := range res.Sources {
		pools = appendNew(pools, orText(s.PoolName, s.PoolUUID))
	}
	r.event(ctx, "Metadata of pool %s holds %s and %s.", strings.Join(pools, ", "), plural(len(res.VApps), "vApp"), plural(len(res.VMs), "standalone VM"))
	return nil
}

// scanPageVMs is how many VMs' worth of units one scan page or precheck
// chunk carries: a VMInfo with tags and a long name is ~400 bytes of JSON,
// so a page stays near 200 KB.
const scanPageVMs = 500
