package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Bringing a pool's view of SRs it already has attached up to date before
// their metadata is read (failback: the reversed mirror copied the other
// pool's metadata VDI onto them).
//
// xapi learns of VDIs new on the LUN at SR.scan, which records them with
// metadata_latest false and opens no database (Xapi_sr.update_vdis). Only
// the master's PBD.plug of a shared SR reads the foreign metadata VDIs the
// pool knows on it and sets metadata_latest (message_forwarding.ml PBD.plug
// calling Xapi_dr.handle_metadata_vdis); the master's PBD.unplug drops them
// (Xapi_pbd.unplug). So an SR whose foreign metadata VDI is not the latest
// after the scan is unplugged (other hosts first, the master last, as
// DR_task.destroy does) and plugged again (the master first).
//
// Every step is idempotent: an attempt that stopped between unplug and plug
// leaves PBDs detached, and the next attempt plugs them first.

// srsToRead are the SRs of one scan, by ref, with the pool's master.
type srsToRead struct {
	refs   []xapi.Ref
	srs    map[xapi.Ref]xapi.SR
	master xapi.Ref
	pool   xapi.Ref // the local pool (metadata_of_pool of its own VDIs)
}

func (t *srsToRead) label(ref xapi.Ref) string {
	return "SR " + q(t.srs[ref].NameLabel, t.srs[ref].UUID)
}

// rescan plugs whatever PBD of the SRs is detached (the master's first),
// then scans each SR; the SRs side by side (one after another, 41 scans
// took 2 s of a 10,000-VM failover).
func (a *Activities) rescan(ctx context.Context, c *conn, t *srsToRead) error {
	pbds, err := c.s.GetAllPBDRecords(ctx)
	if err != nil {
		return classify(ctx, err, "reading the PBDs at site "+c.site+" failed", "")
	}
	if err := firstError(forEachLimited(ctx, len(t.refs), storageParallel, func(i int) error {
		return a.plugSR(ctx, c, t, t.refs[i], pbds)
	})); err != nil {
		return err
	}
	return firstError(forEachLimited(ctx, len(t.refs), storageParallel, func(i int) error {
		if err := c.s.ScanSR(ctx, t.refs[i]); err != nil {
			return classify(ctx, err, fmt.Sprintf("rescanning %s at site %s failed", t.label(t.refs[i]), c.site), "")
		}
		return nil
	}))
}

// staleSRs are the SRs holding a foreign metadata VDI that is not the
// latest and not attached (a live replication target is never read).
func staleSRs(t *srsToRead, vdis map[xapi.Ref]xapi.VDISummary, vbds map[xapi.Ref]xapi.VBD) []xapi.Ref {
	stale := map[xapi.Ref]bool{}
	for _, v := range vdis {
		if v.Type == "metadata" && v.MetadataOfPool != t.pool && !v.MetadataLatest && !hasAttachedVBD(v, vbds) {
			stale[v.SR] = true
		}
	}
	var out []xapi.Ref
	for _, ref := range t.refs {
		if stale[ref] {
			out = append(out, ref)
		}
	}
	return out
}

// replug unplugs and plugs again each stale SR so the master reads its
// foreign metadata, several SRs at once. An SR a VM uses (PBD.unplug would
// refuse with VDI_IN_USE) is left as it is, with a note naming the VMs.
func (a *Activities) replug(ctx context.Context, c *conn, t *srsToRead, stale []xapi.Ref, vdis map[xapi.Ref]xapi.VDISummary, vbds map[xapi.Ref]xapi.VBD) (notes []string, err error) {
	users := diskUsersBySR(vdis, vbds)
	var todo []xapi.Ref
	for _, ref := range stale {
		if len(users[ref]) > 0 {
			notes = append(notes, a.inUseNote(ctx, c, t, ref, users[ref]))
			continue
		}
		todo = append(todo, ref)
	}
	if len(todo) == 0 {
		return notes, nil
	}
	pbds, err := c.s.GetAllPBDRecords(ctx)
	if err != nil {
		return notes, classify(ctx, err, "reading the PBDs at site "+c.site+" failed", "")
	}
	inUse := make([]string, len(todo))
	errs := forEachLimited(ctx, len(todo), storageParallel, func(i int) error {
		ref := todo[i]
		vms, err := a.unplugSR(ctx, c, t, ref, pbds)
		if err != nil || len(vms) > 0 {
			// Never leave the SR detached: plug back what was unplugged.
			if perr := a.plugSR(ctx, c, t, ref, nil); perr != nil && err == nil {
				err = perr
			}
			if err == nil {
				inUse[i] = a.inUseNote(ctx, c, t, ref, vms)
			}
			return err
		}
		return a.plugSR(ctx, c, t, ref, nil)
	})
	for i, e := range errs {
		if e != nil {
			return notes, e
		}
		if inUse[i] != "" {
			notes = append(notes, inUse[i])
		}
	}
	return notes, nil
}

// sortedPBDs returns the SR's PBDs in the given attachment state, the
// master's first or last.
func sortedPBDs(t *srsToRead, sr xapi.Ref, pbds map[xapi.Ref]xapi.PBD, attached, masterFirst bool) []xapi.Ref {
	var out []xapi.Ref
	for ref, p := range pbds {
		if p.SR == sr && p.CurrentlyAttached == attached {
			out = append(out, ref)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		mi, mj := pbds[out[i]].Host == t.master, pbds[out[j]].Host == t.master
		if mi != mj {
			return mi == masterFirst
		}
		return out[i] < out[j]
	})
	return out
}

// plugSR plugs the SR's detached PBDs, the master's first (its plug is the
// one that reads the metadata). pbds nil: read the SR's PBDs now.
func (a *Activities) plugSR(ctx context.Context, c *conn, t *srsToRead, sr xapi.Ref, pbds map[xapi.Ref]xapi.PBD) error {
	if pbds == nil {
		var err error
		if pbds, err = a.pbdsOf(ctx, c, sr); err != nil {
			return classify(ctx, err, fmt.Sprintf("reading the PBDs of %s at site %s failed", t.label(sr), c.site), "")
		}
	}
	for _, p := range sortedPBDs(t, sr, pbds, false, true) {
		if err := c.s.PlugPBD(ctx, p); err != nil {
			what := fmt.Sprintf("plugging %s at site %s failed", t.label(sr), c.site)
			if readOnlyLUN(err) {
				// The code gives the next step (split the mirror).
				return nonRetryable(codeMirror, sentence(what, "its LUN is a read-only mirror copy", ""), nil)
			}
			return classify(ctx, err, what, "check the storage is reachable from every host of the pool (xe pbd-plug plugs it by hand), then start the run again")
		}
	}
	return nil
}

// unplugSR unplugs the SR's attached PBDs, the master's last. A VDI_IN_USE
// refusal (a VM started meanwhile) is no error: it returns the VMs.
func (a *Activities) unplugSR(ctx context.Context, c *conn, t *srsToRead, sr xapi.Ref, pbds map[xapi.Ref]xapi.PBD) (inUse []xapi.Ref, err error) {
	for _, p := range sortedPBDs(t, sr, pbds, true, false) {
		if err := c.s.UnplugPBD(ctx, p); err != nil {
			if xe, ok := xapi.AsError(err); ok && xe.Code == xapi.CodeVDIInUse {
				return a.vmsOfVDIs(ctx, c, xe.Params), nil
			}
			return nil, classify(ctx, err, fmt.Sprintf("unplugging %s at site %s to re-read its metadata failed", t.label(sr), c.site), "")
		}
	}
	return nil, nil
}

func (a *Activities) pbdsOf(ctx context.Context, c *conn, sr xapi.Ref) (map[xapi.Ref]xapi.PBD, error) {
	rec, err := c.s.GetSRRecord(ctx, sr)
	if err != nil {
		return nil, err
	}
	out := map[xapi.Ref]xapi.PBD{}
	for _, p := range rec.PBDs {
		pr, err := c.s.GetPBDRecord(ctx, p)
		if gone(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[p] = pr
	}
	return out, nil
}

// vmsOfVDIs returns the VMs with an attached VBD of the VDIs (refs as
// VDI_IN_USE gives them), none when they cannot be read.
func (a *Activities) vmsOfVDIs(ctx context.Context, c *conn, vdiRefs []string) []xapi.Ref {
	vbds, err := c.s.GetAllVBDRecords(ctx)
	if err != nil {
		return []xapi.Ref{}
	}
	want := map[xapi.Ref]bool{}
	for _, v := range vdiRefs {
		want[xapi.Ref(v)] = true
	}
	seen := map[xapi.Ref]bool{}
	out := []xapi.Ref{}
	for _, b := range vbds {
		if b.CurrentlyAttached && want[b.VDI] && !seen[b.VM] {
			seen[b.VM] = true
			out = append(out, b.VM)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// diskUsersBySR returns, per SR, the VMs with an attached VBD of one of its
// disks (not a metadata VDI: PBD.unplug ignores those).
func diskUsersBySR(vdis map[xapi.Ref]xapi.VDISummary, vbds map[xapi.Ref]xapi.VBD) map[xapi.Ref][]xapi.Ref {
	out := map[xapi.Ref][]xapi.Ref{}
	seen := map[xapi.Ref]map[xapi.Ref]bool{}
	for _, b := range vbds {
		v, ok := vdis[b.VDI]
		if !b.CurrentlyAttached || !ok || v.Type == "metadata" {
			continue
		}
		if seen[v.SR] == nil {
			seen[v.SR] = map[xapi.Ref]bool{}
		}
		if !seen[v.SR][b.VM] {
			seen[v.SR][b.VM] = true
			out[v.SR] = append(out[v.SR], b.VM)
		}
	}
	for _, vms := range out {
		sort.Slice(vms, func(i, j int) bool { return vms[i] < vms[j] })
	}
	return out
}

// inUseNote says why an SR's foreign metadata was not re-read, and what to do.
func (a *Activities) inUseNote(ctx context.Context, c *conn, t *srsToRead, sr xapi.Ref, vms []xapi.Ref) string {
	var names []string
	for _, vm := range vms {
		if rec, err := c.s.GetVMRecord(ctx, vm); err == nil {
			names = append(names, "VM "+q(rec.NameLabel, rec.UUID))
		} else {
			names = append(names, "VM "+string(vm))
		}
	}
	who, verb, them := "a VM", "uses", "it"
	if len(names) > 0 {
		who = strings.Join(names, ", ")
	}
	if len(names) > 1 {
		verb, them = "use", "them"
	}
	return sentence(fmt.Sprintf("The foreign metadata on %s at site %s could not be re-read", t.label(sr), c.site),
		fmt.Sprintf("%s %s a disk on it, so its PBDs cannot be unplugged and plugged again (xapi reads another pool's metadata only when the SR is plugged)", who, verb),
		"shut "+them+" down, then start the run again")
}
