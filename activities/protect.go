package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// MaxMetadataSRs is how many SRs a pool may replicate its metadata to:
// xapi's redo_log_max_instances (XenCenter's Configure DR allows the same).
const MaxMetadataSRs = 8

// ProtectInput chooses the SRs that hold a pool's metadata: after Protect,
// exactly these replicate it (XenCenter's Configure DR).
type ProtectInput struct {
	Site string `json:"site"`
	// SRs are names (name_label) or UUIDs, at most MaxMetadataSRs.
	SRs []string `json:"srs"`
	// DryRun says what would change and checks each SR can hold the
	// metadata, changing nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// ProtectResult says what changed (or would, in a dry run), SR by SR.
type ProtectResult struct {
	Pool    string     `json:"pool"`
	DryRun  bool       `json:"dry_run,omitempty"`
	Changes []SRChange `json:"changes"`
	Errors  []string   `json:"errors,omitempty"`
	Chosen  []SRInfo   `json:"chosen"`
	Before  []SRInfo   `json:"before"`
	Limit   int        `json:"limit"`
}

// SRChange is one SR and what Protect does to it: enable, disable or keep.
type SRChange struct {
	SR     SRInfo `json:"sr"`
	Action string `json:"action"`
	Done   bool   `json:"done,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Protect actions.
const (
	ActionEnable  = "enable"
	ActionDisable = "disable"
	ActionKeep    = "keep"
)

// Protect makes the listed SRs exactly those that replicate the pool's
// metadata: disabling first (which destroys the pool's metadata VDI on each
// SR left out, as XAPI does), then enabling, as XenCenter does, so the
// limit of 8 is never crossed mid-way. Running it again changes nothing.
// A name that matches no SR or several, more than 8 SRs, or an SR that
// cannot hold the metadata stops it before anything changes.
func (a *Activities) Protect(ctx context.Context, in *ProtectInput) (*ProtectResult, error) {
	defer a.keepAlive(ctx)()
	if len(in.SRs) > MaxMetadataSRs {
		return nil, permanent(codeBadInput, fmt.Sprintf("%d SRs were chosen to hold the pool's metadata at site %s, but XAPI replicates it to at most %d.", len(in.SRs), in.Site, MaxMetadataSRs),
			fmt.Sprintf("choose at most %d SRs", MaxMetadataSRs), nil)
	}
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	poolRef, pool, err := c.pool(ctx)
	if err != nil {
		return nil, err
	}
	srs, err := c.s.GetAllSRRecords(ctx)
	if err != nil {
		return nil, classify(ctx, err, "reading the SRs at site "+c.site+" failed", "")
	}
	vdis, err := c.s.GetAllVDIRecords(ctx)
	if err != nil {
		return nil, classify(ctx, err, "reading the VDIs at site "+c.site+" failed", "")
	}
	chosen, err := resolveSRs(in.SRs, srs, c.site)
	if err != nil {
		return nil, err
	}
	// Replicating now: the SRs holding this pool's metadata VDI with a
	// healthy redo log. One whose redo log broke is enabled again.
	current := map[xapi.Ref]bool{}
	for _, v := range vdis {
		if v.Type == "metadata" && v.MetadataOfPool == poolRef && v.MetadataLatest {
			current[v.SR] = true
		}
	}
	out := &ProtectResult{Pool: q(pool.NameLabel, pool.UUID), DryRun: in.DryRun, Changes: []SRChange{}, Chosen: []SRInfo{}, Before: []SRInfo{}, Limit: MaxMetadataSRs}
	want := map[xapi.Ref]bool{}
	for _, ref := range chosen {
		want[ref] = true
		out.Chosen = append(out.Chosen, SRInfo{UUID: srs[ref].UUID, Name: srs[ref].NameLabel})
	}
	var disable, enable []xapi.Ref
	for ref := range current {
		out.Before = append(out.Before, SRInfo{UUID: srs[ref].UUID, Name: srs[ref].NameLabel})
		if !want[ref] {
			disable = append(disable, ref)
		}
	}
	sort.Slice(out.Before, func(i, j int) bool { return out.Before[i].Name < out.Before[j].Name })
	sort.Slice(disable, func(i, j int) bool { return srs[disable[i]].NameLabel < srs[disable[j]].NameLabel })
	for _, ref := range chosen {
		if !current[ref] {
			enable = append(enable, ref)
		}
	}
	// Each SR to enable must be able to hold the metadata: checked first,
	// so a wrong choice changes nothing.
	var unfit []string
	for _, ref := range enable {
		if err := c.s.AssertSupportsDatabaseReplication(ctx, ref); err != nil {
			if isTransient(ctx, err) {
				return nil, classify(ctx, err, "checking SR "+q(srs[ref].NameLabel, srs[ref].UUID)+" at site "+c.site+" failed", "")
			}
			unfit = append(unfit, fmt.Sprintf("SR %s (%s)", q(srs[ref].NameLabel, srs[ref].UUID), strings.TrimSuffix(reason(err), ".")))
		}
	}
	if len(unfit) > 0 {
		return nil, permanent(codeBadInput, fmt.Sprintf("cannot replicate the pool's metadata at site %s to %s.", c.site, strings.Join(unfit, ", ")),
			"choose shared lvmoiscsi or lvmohba SRs plugged on every host of the pool", nil)
	}
	info := func(ref xapi.Ref) SRInfo { return SRInfo{UUID: srs[ref].UUID, Name: srs[ref].NameLabel} }
	for _, ref := range disable {
		out.Changes = append(out.Changes, SRChange{SR: info(ref), Action: ActionDisable})
	}
	for _, ref := range enable {
		out.Changes = append(out.Changes, SRChange{SR: info(ref), Action: ActionEnable})
	}
	for _, ref := range chosen {
		if current[ref] {
			out.Changes = append(out.Changes, SRChange{SR: info(ref), Action: ActionKeep, Done: true})
		}
	}
	if in.DryRun {
		return out, nil
	}
	refOf := map[string]xapi.Ref{}
	for ref, sr := range srs {
		refOf[sr.UUID] = ref
	}
	for i := range out.Changes {
		ch := &out.Changes[i]
		ref := refOf[ch.SR.UUID]
		name := q(ch.SR.Name, ch.SR.UUID)
		switch ch.Action {
		case ActionDisable:
			err = c.s.DisableDatabaseReplication(ctx, ref)
		case ActionEnable:
			err = c.s.EnableDatabaseReplication(ctx, ref)
		default:
			continue
		}
		if err != nil {
			if isTransient(ctx, err) {
				// A retry starts again from what is there now.
				return nil, classify(ctx, err, ch.Action+" metadata replication on SR "+name+" at site "+c.site+" failed", "")
			}
			ch.Error = sentence(fmt.Sprintf("Metadata replication could not be %sd on SR %s at site %s", ch.Action, name, c.site), reason(err), "")
			out.Errors = append(out.Errors, ch.Error)
			continue
		}
		ch.Done = true
		recordHeartbeat(ctx, i)
	}
	return out, nil
}

// resolveSRs finds each named SR by UUID or name_label, once each.
func resolveSRs(names []string, srs map[xapi.Ref]xapi.SR, site string) ([]xapi.Ref, error) {
	byName := map[string][]xapi.Ref{}
	byUUID := map[string]xapi.Ref{}
	for ref, sr := range srs {
		byName[sr.NameLabel] = append(byName[sr.NameLabel], ref)
		byUUID[sr.UUID] = ref
	}
	var out []xapi.Ref
	seen := map[xapi.Ref]bool{}
	var missing, ambiguous []string
	for _, n := range names {
		ref, ok := byUUID[n]
		if !ok {
			switch refs := byName[n]; len(refs) {
			case 0:
				missing = append(missing, "'"+n+"'")
				continue
			case 1:
				ref = refs[0]
			default:
				ambiguous = append(ambiguous, "'"+n+"'")
				continue
			}
		}
		if !seen[ref] {
			seen[ref] = true
			out = append(out, ref)
		}
	}
	switch {
	case len(missing) > 0:
		return nil, permanent(codeNotFound, fmt.Sprintf("no SR named %s in the pool at site %s.", strings.Join(missing, ", "), site),
			"name each SR by its name_label or UUID as 'xe sr-list' shows it", nil)
	case len(ambiguous) > 0:
		return nil, permanent(codeBadInput, fmt.Sprintf("several SRs are named %s in the pool at site %s.", strings.Join(ambiguous, ", "), site),
			"name those SRs by UUID", nil)
	}
	return out, nil
}
