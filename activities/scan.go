package activities

import (
	"context"
	"fmt"
	"sort"

	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Scan reads the latest foreign metadata on the given SRs.
//
// On the first page the SRs are brought up to date first (rescan.go):
// detached PBDs plugged, each SR scanned, and an SR whose foreign metadata
// VDI is then not the latest unplugged and plugged again, since xapi reads
// another pool's metadata only at the master's plug (failback onto SRs the
// pool already has).
//
// Candidates are the metadata VDIs on those SRs with metadata_latest set,
// not this pool's own (metadata_of_pool = the local pool ref) and with no
// attached VBD (a live replication target). Each is opened anew with
// VDI.open_database; the database stays in the worker's cache for the
// run's prechecks and recovery and is logged out when idle or when the
// worker stops (foreign.go).
//
// When a VM is found in several metadata VDIs the copy with the highest VM
// version wins; on a tie the VDI with the smallest UUID wins (VDIs are read
// in UUID order and only a strictly newer copy replaces an earlier one), so
// retries and re-runs pick the same copy. A vApp's winning copy is the one
// whose members have the highest version (same tie rule); its members are
// listed from that copy, since recovering the vApp recovers them from it.
// A VM that is a member of a winning vApp is never listed standalone.
func (a *Activities) Scan(ctx context.Context, in *ScanInput) (*ScanResult, error) {
	defer a.keepAlive(ctx)()
	// A large scan's later pages slice what its first page read, when this
	// worker read it (scancache.go); else they read it again.
	key := scanKey(ctx, in)
	if in.Offset > 0 && in.Limit > 0 {
		if full, ok := a.scans.get(key); ok {
			return ScanPage(full, in), nil
		}
	}
	full, err := a.scanAll(ctx, in)
	if err != nil {
		return nil, err
	}
	if in.Limit > 0 {
		a.scans.put(key, full)
		return ScanPage(full, in), nil
	}
	return full, nil
}

// scanAll reads every unit of the metadata (one page of Offset is only
// used to skip the SRs' rescan on a later page).
func (a *Activities) scanAll(ctx context.Context, in *ScanInput) (*ScanResult, error) {
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	retryNote := "" // a site that cannot be read is transient: no advice (see classify)
	poolRef, pool, err := c.pool(ctx)
	if err != nil {
		return nil, err
	}
	out := &ScanResult{TargetPoolUUID: pool.UUID, Sources: []MetadataSource{}, VApps: []VAppInfo{}, VMs: []VMInfo{}}
	srs, err := c.s.GetAllSRRecords(ctx)
	if err != nil {
		return nil, classify(ctx, err, "reading the SRs at site "+c.site+" failed", retryNote)
	}
	srByUUID := map[string]xapi.Ref{}
	for ref, sr := range srs {
		srByUUID[sr.UUID] = ref
	}
	var rs srsToRead
	for _, u := range in.SRUUIDs {
		if ref, ok := srByUUID[u]; ok {
			rs.refs = append(rs.refs, ref)
		}
	}
	rs.srs, rs.master, rs.pool = srs, pool.Master, poolRef
	// Rescan the SRs first (first page only): on failback the pool already
	// has these SRs attached, and it learns what the reversed mirror copied
	// onto them (the other pool's metadata VDI) only when the SR is scanned,
	// and reads that metadata only when the SR is plugged (rescan.go).
	if in.Offset == 0 {
		if err := a.rescan(ctx, c, &rs); err != nil {
			return nil, err
		}
	}
	// The metadata VDIs and the VBDs, side by side. Only the replug of a
	// stale SR needs every VDI (which VMs use its disks): a large pool has
	// tens of thousands, 0.6 s to decode at 10,000 VMs (make bench).
	readVDIs := func(every bool) (vdis map[xapi.Ref]xapi.VDISummary, vbds map[xapi.Ref]xapi.VBD, err error) {
		err = allAtOnce(ctx,
			func() (err error) {
				if every {
					vdis, err = c.s.GetAllVDISummaries(ctx)
				} else {
					vdis, err = c.s.GetMetadataVDISummaries(ctx)
				}
				if err != nil {
					return classify(ctx, err, "reading the VDIs at site "+c.site+" failed", retryNote)
				}
				return nil
			},
			func() (err error) {
				if vbds, err = c.s.GetAllVBDRecords(ctx); err != nil {
					return classify(ctx, err, "reading the VBDs at site "+c.site+" failed", retryNote)
				}
				return nil
			},
		)
		return vdis, vbds, err
	}
	vdis, vbds, err := readVDIs(false)
	if err != nil {
		return nil, err
	}
	if stale := staleSRs(&rs, vdis, vbds); in.Offset == 0 && len(stale) > 0 {
		every, allVBDs, err := readVDIs(true)
		if err != nil {
			return nil, err
		}
		notes, err := a.replug(ctx, c, &rs, stale, every, allVBDs)
		if err != nil {
			return nil, err
		}
		out.Ignored = append(out.Ignored, notes...)
		if vdis, vbds, err = readVDIs(false); err != nil {
			return nil, err
		}
	}
	wanted := map[xapi.Ref]bool{}
	for _, u := range in.SRUUIDs {
		ref, ok := srByUUID[u]
		if !ok {
			out.Ignored = append(out.Ignored, fmt.Sprintf("SR %s is not in the pool at site %s, so its metadata was not read.", u, c.site))
			continue
		}
		wanted[ref] = true
	}
	type candidate struct {
		ref xapi.Ref
		vdi xapi.VDISummary
	}
	var cands []candidate
	for ref, v := range vdis {
		if !wanted[v.SR] || v.Type != "metadata" {
			continue
		}
		sr := srs[v.SR]
		where := fmt.Sprintf("Metadata VDI %s on SR %s", v.UUID, q(sr.NameLabel, sr.UUID))
		switch {
		case v.MetadataOfPool == poolRef:
			out.Ignored = append(out.Ignored, where+" holds this pool's own metadata.")
		case !v.MetadataLatest:
			out.Ignored = append(out.Ignored, where+" is not the latest copy of its pool's metadata.")
		case hasAttachedVBD(v, vbds):
			out.Ignored = append(out.Ignored, where+" is attached (a live replication target), so it cannot be opened.")
		default:
			cands = append(cands, candidate{ref, v})
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].vdi.UUID < cands[j].vdi.UUID })

	m := newMerger()
	// Latest copies of one pool's metadata hold the same generation, so the
	// same database: the first that reads well (smallest UUID, which the tie
	// rule would pick anyway) stands for the others, which are not opened.
	readOf := map[xapi.Ref]string{} // metadata_of_pool -> VDI UUID read
	for i, cand := range cands {
		recordHeartbeat(ctx, i)
		sr := srs[cand.vdi.SR]
		if first, ok := readOf[cand.vdi.MetadataOfPool]; ok {
			out.Ignored = append(out.Ignored, fmt.Sprintf("Metadata VDI %s on SR %s holds the same latest copy of its pool's metadata as metadata VDI %s, which was read.",
				cand.vdi.UUID, q(sr.NameLabel, sr.UUID), first))
			continue
		}
		src := MetadataSource{VDIUUID: cand.vdi.UUID, SRUUID: sr.UUID, SRName: sr.NameLabel}
		md, err := a.readMetadata(ctx, c, cand.ref, &src, in.Offset == 0)
		if err != nil {
			if isTransient(ctx, err) {
				return nil, classify(ctx, err, fmt.Sprintf("reading metadata VDI %s on SR %s at site %s failed", cand.vdi.UUID, q(sr.NameLabel, sr.UUID), c.site), retryNote)
			}
			out.Ignored = append(out.Ignored, sentence(fmt.Sprintf("Metadata VDI %s on SR %s could not be read", cand.vdi.UUID, q(sr.NameLabel, sr.UUID)), reason(err), ""))
			continue
		}
		if src.PoolUUID == pool.UUID {
			out.Ignored = append(out.Ignored, fmt.Sprintf("Metadata VDI %s on SR %s holds the metadata of pool %s, the pool at site %s itself; it is never recovered from.",
				cand.vdi.UUID, q(sr.NameLabel, sr.UUID), q(src.PoolName, src.PoolUUID), c.site))
			continue
		}
		out.Sources = append(out.Sources, src)
		m.add(src.VDIUUID, md)
		if !xapi.IsNullRef(cand.vdi.MetadataOfPool) {
			readOf[cand.vdi.MetadataOfPool] = cand.vdi.UUID
		}
	}
	var dropped []string
	out.VApps, out.VMs, dropped = m.result()
	out.Ignored = append(out.Ignored, dropped...)
	return out, nil
}

// ScanPage is one page of a full scan result, as Scan answers it (the
// workflow tests page a generated scan with it too).
func ScanPage(full *ScanResult, in *ScanInput) *ScanResult {
	out := *full
	out.VApps, out.VMs, out.Next = pageUnits(full.VApps, full.VMs, in.Offset, in.Limit)
	if in.Offset == 0 {
		for next := out.Next; next > 0; {
			out.Pages = append(out.Pages, next)
			_, _, next = pageUnits(full.VApps, full.VMs, next, in.Limit)
		}
	}
	return &out
}

// pageUnits returns the units (vApps, then standalone VMs) from offset, at
// most limit VMs' worth but at least one unit, and the offset of the next
// page (0 after the last).
func pageUnits(vapps []VAppInfo, vms []VMInfo, offset, limit int) ([]VAppInfo, []VMInfo, int) {
	n := len(vapps) + len(vms)
	i, weight := max(offset, 0), 0
	pa, pv := []VAppInfo{}, []VMInfo{}
	for ; i < n; i++ {
		w := 1
		if i < len(vapps) {
			w = len(vapps[i].VMs)
		}
		if weight > 0 && weight+w > limit {
			break
		}
		weight += w
		if i < len(vapps) {
			pa = append(pa, vapps[i])
		} else {
			pv = append(pv, vms[i-len(vapps)])
		}
	}
	if i >= n {
		i = 0
	}
	return pa, pv, i
}

func hasAttachedVBD(v xapi.VDISummary, vbds map[xapi.Ref]xapi.VBD) bool {
	for _, r := range v.VBDs {
		if b, ok := vbds[r]; ok && b.CurrentlyAttached {
			return true
		}
	}
	return false
}

// metadata is what one metadata VDI holds, compactly.
type metadata struct {
	vapps []VAppInfo // members filled in
	vms   []VMInfo   // every real VM (members too)
}

// readMetadata reads the pool, vApps and real VMs of one metadata VDI. The
// first page of a scan (fresh) opens the VDI anew; the database stays in
// the worker's cache (foreign.go), so the later pages, the prechecks and
// the recovery of this run read the very copy the first page read.
func (a *Activities) readMetadata(ctx context.Context, c *conn, vdi xapi.Ref, src *MetadataSource, fresh bool) (md *metadata, err error) {
	err = a.withForeign(ctx, c, src.VDIUUID, vdi, fresh, func(e *foreignDB) error {
		// The precheck's reads of the database's disks and networks go on
		// while its VMs are read and decoded, not after: at 1,000 VMs
		// decoding them took 0.2 s, and the precheck waited for both.
		a.foreign.warm(e)
		var err error
		md, err = readForeign(ctx, e, src)
		return err
	})
	return md, err
}

func readForeign(ctx context.Context, e *foreignDB, src *MetadataSource) (*metadata, error) {
	fs := e.fs
	_, fpool, err := fs.GetPool(ctx)
	if err != nil {
		return nil, err
	}
	src.PoolUUID, src.PoolName = fpool.UUID, fpool.NameLabel
	if src.PoolName == "" && !fpool.Master.IsNull() {
		// XAPI pools may be unnamed; the master's name is what operators see.
		if h, herr := fs.GetHostRecord(ctx, fpool.Master); herr == nil {
			src.PoolName = h.NameLabel
		}
	}
	recs, err := e.records(ctx)
	if err != nil {
		return nil, err
	}
	md := &metadata{}
	appIndex := map[xapi.ForeignRef]int{}
	for ref, app := range recs.appByRef {
		appIndex[ref] = len(md.vapps)
		md.vapps = append(md.vapps, VAppInfo{UUID: app.UUID, Name: app.NameLabel, SourceVDI: src.VDIUUID, VMs: []VMInfo{}})
	}
	for _, vm := range recs.vmByRef {
		if !vm.IsRealVM() {
			continue
		}
		info := VMInfo{UUID: vm.UUID, Name: vm.NameLabel, Order: vm.Order, StartDelay: vm.StartDelay, Version: vm.Version,
			PowerState: vm.PowerState, Tags: vm.Tags, MemoryMax: vm.MemoryStaticMax, SourceVDI: src.VDIUUID}
		if vm.InAppliance() {
			if i, ok := appIndex[vm.Appliance]; ok {
				info.VApp = md.vapps[i].UUID
				md.vapps[i].VMs = append(md.vapps[i].VMs, info)
			}
		}
		md.vms = append(md.vms, info)
	}
	return md, nil
}

// logoutForeign logs a foreign session out even when ctx has ended: an
// abandoned foreign database stays registered in the master's memory.
func (a *Activities) logoutForeign(ctx context.Context, c *conn, fs *xapi.ForeignSession) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.lim.cleanupTimeout)
	defer cancel()
	if err := fs.Logout(lctx); err != nil {
		a.logger(ctx).Warn("cannot log out of a metadata database", zap.String("site", c.site), zap.String("vdi", string(fs.VDI())), zap.Error(err))
	}
}

// merger keeps the most recent copy of each VM and vApp across metadata
// VDIs (see Scan for the rules).
type merger struct {
	vms   map[string]VMInfo
	vapps map[string]VAppInfo
	score map[string]int64 // vApp UUID -> highest member version of the kept copy
}

func newMerger() *merger {
	return &merger{vms: map[string]VMInfo{}, vapps: map[string]VAppInfo{}, score: map[string]int64{}}
}

// add merges one VDI's metadata; VDIs must be added in ascending UUID order
// for the tie rule.
func (m *merger) add(_ string, md *metadata) {
	for _, vm := range md.vms {
		if old, ok := m.vms[vm.UUID]; !ok || vm.Version > old.Version {
			m.vms[vm.UUID] = vm
		}
	}
	for _, app := range md.vapps {
		score := int64(-1)
		for _, vm := range app.VMs {
			score = max(score, vm.Version)
		}
		if _, ok := m.vapps[app.UUID]; !ok || score > m.score[app.UUID] {
			m.vapps[app.UUID] = app
			m.score[app.UUID] = score
		}
	}
}

// result returns the vApps (with members) and the standalone VMs, sorted by
// name then UUID so results are stable.
func (m *merger) result() ([]VAppInfo, []VMInfo, []string) {
	member := map[string]bool{}
	vapps := make([]VAppInfo, 0, len(m.vapps))
	for _, app := range m.vapps {
		sortVMs(app.VMs)
		for _, vm := range app.VMs {
			member[vm.UUID] = true
		}
		vapps = append(vapps, app)
	}
	sort.Slice(vapps, func(i, j int) bool {
		if vapps[i].Name != vapps[j].Name {
			return vapps[i].Name < vapps[j].Name
		}
		return vapps[i].UUID < vapps[j].UUID
	})
	vms := make([]VMInfo, 0, len(m.vms))
	var dropped []string
	for _, vm := range m.vms {
		if member[vm.UUID] {
			continue
		}
		if vm.VApp != "" {
			// Its newest copy belongs to a vApp whose kept copy lacks it.
			dropped = append(dropped, fmt.Sprintf("VM %s (%s): its newest copy, in metadata VDI %s, belongs to vApp %s, whose most recent copy does not hold it; it is not offered.",
				q(vm.Name, vm.UUID), vm.UUID, vm.SourceVDI, vm.VApp))
			continue
		}
		vms = append(vms, vm)
	}
	sortVMs(vms)
	sort.Strings(dropped)
	return vapps, vms, dropped
}

func sortVMs(vms []VMInfo) {
	sort.Slice(vms, func(i, j int) bool {
		if vms[i].Name != vms[j].Name {
			return vms[i].Name < vms[j].Name
		}
		return vms[i].UUID < vms[j].UUID
	})
}
