package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Readiness is a look at both sites of a plan that changes nothing: no DR
// task, no SR introduced, no metadata database opened (opening one needs its
// SR attached at the target). So the VMs are read from the live source pool
// rather than from its replicated metadata, and the target is checked with
// what needs no attachment: SR.probe, roles, networks, memory, same-UUID
// copies, API versions. Its lines are precheck lines (Check), and it reuses
// the precheck's own checks where they apply.

// Names of the readiness-only checks.
const (
	checkReach       = "reachable"
	checkReplication = "metadata-replication"
	checkMirror      = "mirror"
	checkVisible     = "storage-visible"
)

// ReadSourceInput asks for the live state of the plan's source site. As
// with Scan, Offset and Limit page the units (vApps, then standalone VMs;
// Limit VMs' worth, at least one unit) so that no payload grows with the
// pool; only the first page (Offset 0) carries the checks and the SRs.
type ReadSourceInput struct {
	Site   string `json:"site"`
	Offset int    `json:"offset,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// ReadSourceResult is the source pool as readiness needs it. When the site
// cannot be reached, Reachable is false and Checks says why.
type ReadSourceResult struct {
	Reachable  bool    `json:"reachable"`
	Checks     []Check `json:"checks"`
	PoolUUID   string  `json:"pool_uuid,omitempty"`
	PoolName   string  `json:"pool_name,omitempty"`
	APIVersion string  `json:"api_version,omitempty"`
	// Scan lists the pool's vApps and VMs as a scan of its metadata would,
	// so the plan's selection applies to it unchanged (no SourceVDI).
	Scan ScanResult `json:"scan"`
	// VMs gives, per VM, the SRs of its disks and its networks.
	VMs []SourceVM `json:"vms"`
	// SRs is every SR a VM's disk is on, and every SR holding the pool's
	// metadata VDI.
	SRs []SourceSR `json:"srs"`
	// Next is the Offset of the next page, 0 when this page is the last.
	Next int `json:"next,omitempty"`
}

// SourceVM is where one VM's disks and networks are.
type SourceVM struct {
	UUID     string   `json:"uuid"`
	Name     string   `json:"name"`
	SRs      []string `json:"srs,omitempty"`      // SR UUIDs
	Networks []string `json:"networks,omitempty"` // network name_labels
}

// SourceSR is one SR at the source and its metadata replication.
type SourceSR struct {
	UUID   string `json:"uuid"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Shared bool   `json:"shared"`
	// MetadataVDI is this pool's metadata VDI on the SR: empty when metadata
	// replication is off there.
	MetadataVDI string `json:"metadata_vdi,omitempty"`
	// MetadataLatest is xapi's metadata_latest on that VDI: for a pool's own
	// metadata VDI it tracks a healthy redo log, which writes every database
	// change as it happens (so the source copy is current; the DR copy is as
	// old as the mirror's lag).
	MetadataLatest bool `json:"metadata_latest,omitempty"`
	// Disks is set by the readiness workflow when a selected VM has a disk
	// on it: such an SR must be on the plan's storage at the target.
	Disks bool `json:"disks,omitempty"`
}

// NetworkUse is a network the selected VMs use, and who uses it.
type NetworkUse struct {
	Name string   `json:"name"`
	VMs  []string `json:"vms"`
}

// CheckTargetInput asks whether the selection could be recovered at Site now.
type CheckTargetInput struct {
	Site    string               `json:"site"`
	Mode    plan.Mode            `json:"mode"`
	Plan    string               `json:"plan,omitempty"`
	Storage []plan.StorageTarget `json:"storage"`
	// SRs are the source SRs the selected VMs use: each must be found on
	// the plan's storage at the target.
	SRs      []SourceSR   `json:"srs"`
	Units    []Unit       `json:"units"`
	VMs      []VMInfo     `json:"vms"`
	Networks []NetworkUse `json:"networks,omitempty"`
	// SourceAPI is the source pool's XAPI API version, when it was read.
	SourceAPI string `json:"source_api,omitempty"`
	// AdapterRuns[i] says the run itself calls storage i's adapter (a test
	// snapshot, a promotion), so a site without it is a problem, not a
	// warning.
	AdapterRuns []bool `json:"adapter_runs,omitempty"`
	// A large selection is checked in chunks, as the precheck is: every
	// chunk but the first sets SkipPoolChecks (reachable, role, HA,
	// storage, mirrors, networks, memory, version) and only looks for
	// same-UUID copies; TotalMemory is the whole selection's.
	SkipPoolChecks bool  `json:"skip_pool_checks,omitempty"`
	TotalMemory    int64 `json:"total_memory,omitempty"`
}

// CheckTargetResult is the target's readiness lines and, when a storage
// adapter answered, each mirror's state.
type CheckTargetResult struct {
	Reachable bool           `json:"reachable"`
	Checks    []Check        `json:"checks"`
	Mirrors   []MirrorStatus `json:"mirrors,omitempty"`
}

// MirrorStatus is one mirror as its array reports it.
type MirrorStatus struct {
	Storage  string        `json:"storage"`
	Mirror   string        `json:"mirror,omitempty"`
	State    string        `json:"state"` // replicating, split, reversed (array words may differ)
	Lag      time.Duration `json:"lag,omitempty"`
	LastCopy time.Time     `json:"last_copy,omitempty"`
}

// Mirror states readiness understands.
const (
	MirrorReplicating = "replicating"
	MirrorSplit       = "split"
	MirrorReversed    = "reversed"
)

// ReadSource reads the source pool: reachable, login and role, its VMs,
// vApps, the SRs of their disks and the metadata replication of each SR.
func (a *Activities) ReadSource(ctx context.Context, in *ReadSourceInput) (*ReadSourceResult, error) {
	defer a.keepAlive(ctx)()
	out := &ReadSourceResult{Checks: []Check{}, Scan: ScanResult{VApps: []VAppInfo{}, VMs: []VMInfo{}}, VMs: []SourceVM{}, SRs: []SourceSR{}}
	ck := &checks{}
	c, poolRef, pool, err := a.reach(ctx, in.Site, ck)
	if err != nil || c == nil {
		out.Checks = ck.list
		return out, err
	}
	out.Reachable = true
	out.PoolUUID, out.PoolName = pool.UUID, pool.NameLabel
	if in.Offset == 0 {
		if err := a.checkRole(ctx, c, ck, "pool at site "+c.site); err != nil {
			return nil, err
		}
	}
	if h, err := c.s.GetHostRecord(ctx, pool.Master); err == nil {
		out.APIVersion = fmt.Sprintf("%d.%d", h.APIVersionMajor, h.APIVersionMinor)
	}
	if err := a.readSourceRecords(ctx, c, poolRef, out); err != nil {
		return nil, err
	}
	out.Checks = ck.list
	if in.Limit > 0 {
		pageSource(out, in)
	}
	return out, nil
}

// pageSource cuts the result down to one page of units and their VMs.
func pageSource(out *ReadSourceResult, in *ReadSourceInput) {
	out.Scan.VApps, out.Scan.VMs, out.Next = pageUnits(out.Scan.VApps, out.Scan.VMs, in.Offset, in.Limit)
	keep := map[string]bool{}
	for _, va := range out.Scan.VApps {
		for _, vm := range va.VMs {
			keep[vm.UUID] = true
		}
	}
	for _, vm := range out.Scan.VMs {
		keep[vm.UUID] = true
	}
	vms := []SourceVM{}
	for _, v := range out.VMs {
		if keep[v.UUID] {
			vms = append(vms, v)
		}
	}
	out.VMs = vms
	if in.Offset > 0 {
		out.SRs = []SourceSR{}
	}
}

// reach logs in at the site and reads its pool. A site that cannot be
// reached, or refuses the login, is a problem line, not an error: it is
// what readiness reports. Only a cancelled context is returned.
func (a *Activities) reach(ctx context.Context, site string, ck *checks) (*conn, xapi.Ref, xapi.Pool, error) {
	obj := "site " + site
	c, err := a.connect(ctx, site)
	var ref xapi.Ref
	var pool xapi.Pool
	if err == nil {
		ref, pool, err = c.pool(ctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", pool, ctx.Err()
		}
		next := strings.ReplaceAll(NextStep(err, "check the site's entry in the worker configuration"), "start the run again", "check readiness again")
		ck.add(checkReach, obj, SeverityProblem, "%s; %s", strings.TrimSuffix(messageOf(err), "."), next)
		return nil, "", pool, nil
	}
	ck.add(checkReach, obj, SeverityOK, "reachable; logged in as %q at %s", c.s.User(), strings.TrimSuffix(c.s.Endpoint(), "/"))
	return c, ref, pool, nil
}

func (a *Activities) readSourceRecords(ctx context.Context, c *conn, poolRef xapi.Ref, out *ReadSourceResult) error {
	read := func(what string, err error) error {
		return classify(ctx, err, "reading the "+what+" at site "+c.site+" failed", "")
	}
	vms, err := c.s.GetAllVMRecords(ctx)
	if err != nil {
		return read("VMs", err)
	}
	apps, err := c.s.GetAllVMApplianceRecords(ctx)
	if err != nil {
		return read("vApps", err)
	}
	vbds, err := c.s.GetAllVBDRecords(ctx)
	if err != nil {
		return read("VBDs", err)
	}
	vdis, err := c.s.GetAllVDIRecords(ctx)
	if err != nil {
		return read("VDIs", err)
	}
	srs, err := c.s.GetAllSRRecords(ctx)
	if err != nil {
		return read("SRs", err)
	}
	vifs, err := c.s.GetAllVIFRecords(ctx)
	if err != nil {
		return read("VIFs", err)
	}
	nets, err := c.s.GetAllNetworkRecords(ctx)
	if err != nil {
		return read("networks", err)
	}

	appIndex := map[xapi.Ref]int{}
	appRefs := make([]xapi.Ref, 0, len(apps))
	for ref := range apps {
		appRefs = append(appRefs, ref)
	}
	sort.Slice(appRefs, func(i, j int) bool { return apps[appRefs[i]].UUID < apps[appRefs[j]].UUID })
	for _, ref := range appRefs {
		appIndex[ref] = len(out.Scan.VApps)
		out.Scan.VApps = append(out.Scan.VApps, VAppInfo{UUID: apps[ref].UUID, Name: apps[ref].NameLabel, VMs: []VMInfo{}})
	}
	vmRefs := make([]xapi.Ref, 0, len(vms))
	for ref, vm := range vms {
		if vm.IsRealVM() {
			vmRefs = append(vmRefs, ref)
		}
	}
	sort.Slice(vmRefs, func(i, j int) bool { return vms[vmRefs[i]].UUID < vms[vmRefs[j]].UUID })
	used := map[xapi.Ref]bool{}
	for _, ref := range vmRefs {
		vm := vms[ref]
		info := VMInfo{UUID: vm.UUID, Name: vm.NameLabel, Order: vm.Order, StartDelay: vm.StartDelay, Version: vm.Version,
			PowerState: vm.PowerState, Tags: vm.Tags, MemoryMax: vm.MemoryStaticMax}
		if i, ok := appIndex[vm.Appliance]; ok && vm.InAppliance() {
			info.VApp = out.Scan.VApps[i].UUID
			out.Scan.VApps[i].VMs = append(out.Scan.VApps[i].VMs, info)
		} else {
			out.Scan.VMs = append(out.Scan.VMs, info)
		}
		sv := SourceVM{UUID: vm.UUID, Name: vm.NameLabel}
		for _, b := range vm.VBDs {
			vbd, ok := vbds[b]
			if !ok || vbd.Empty {
				continue
			}
			vdi, ok := vdis[vbd.VDI]
			if !ok {
				continue
			}
			if sr, ok := srs[vdi.SR]; ok && sr.ContentType != "iso" {
				used[vdi.SR] = true
				sv.SRs = appendOnce(sv.SRs, sr.UUID)
			}
		}
		for _, v := range vm.VIFs {
			if vif, ok := vifs[v]; ok {
				if n, ok := nets[vif.Network]; ok {
					sv.Networks = appendOnce(sv.Networks, n.NameLabel)
				}
			}
		}
		sort.Strings(sv.SRs)
		sort.Strings(sv.Networks)
		out.VMs = append(out.VMs, sv)
	}
	meta := map[xapi.Ref]xapi.VDI{}
	for _, v := range vdis {
		if v.Type == "metadata" && v.MetadataOfPool == poolRef {
			if old, ok := meta[v.SR]; !ok || (!old.MetadataLatest && v.MetadataLatest) {
				meta[v.SR] = v
			}
		}
	}
	for ref := range meta {
		used[ref] = true // a metadata SR matters even when it holds no disk
	}
	for ref := range used {
		sr, ok := srs[ref]
		if !ok {
			continue
		}
		s := SourceSR{UUID: sr.UUID, Name: sr.NameLabel, Type: sr.Type, Shared: sr.Shared}
		if v, ok := meta[ref]; ok {
			s.MetadataVDI, s.MetadataLatest = v.UUID, v.MetadataLatest
		}
		out.SRs = append(out.SRs, s)
	}
	sort.Slice(out.SRs, func(i, j int) bool { return out.SRs[i].UUID < out.SRs[j].UUID })
	return nil
}

// ReplicationChecks says whether the source pool's metadata is replicated
// where a failover finds it. XAPI writes the whole pool database to each SR
// with replication on, so one healthy metadata SR among those the plan
// brings up describes every VM; an SR holding disks only is fine beside it
// (users: SR UUID -> VM names of the selection; srs holds those SRs and
// every SR with the pool's metadata VDI). Pure, so the readiness workflow
// calls it directly.
func ReplicationChecks(site string, srs []SourceSR, users map[string][]string) []Check {
	ck := &checks{}
	var healthy []string
	for _, sr := range srs {
		if sr.MetadataVDI != "" && sr.MetadataLatest {
			healthy = append(healthy, q(sr.Name, sr.UUID))
		}
	}
	for _, sr := range srs {
		obj := "SR " + q(sr.Name, sr.UUID)
		who := nameList(users[sr.UUID])
		switch {
		case sr.MetadataVDI != "" && !sr.MetadataLatest:
			ck.add(checkReplication, obj, SeverityProblem, "has the pool's metadata VDI %s but xapi marks its redo log unhealthy (metadata_latest false), so it no longer receives the pool's changes; enable it again with 'lifeboat protect --site %s --sr %s'", sr.MetadataVDI, site, srArg(sr))
		case sr.MetadataVDI != "":
			ck.add(checkReplication, obj, SeverityOK, "replicates the pool's metadata (VDI %s, written at each change of the pool)", sr.MetadataVDI)
		case len(healthy) > 0:
			ck.add(checkReplication, obj, SeverityOK, "holds disks of %s; their metadata is replicated to SR %s", who, strings.Join(healthy, ", "))
		default:
			ck.add(checkReplication, obj, SeverityProblem, "holds disks of %s but the pool's metadata is replicated to no SR the plan uses: a failover would find no VM; enable it with 'lifeboat protect --site %s --sr %s'", who, site, srArg(sr))
		}
	}
	return ck.list
}

func srArg(sr SourceSR) string {
	if sr.Name == "" || strings.ContainsAny(sr.Name, " '\"") {
		return sr.UUID
	}
	return sr.Name
}

// CheckTarget checks, without changing anything, that the selection could
// be recovered at the site: reachable, role, HA (test), the source's SRs on
// the plan's storage (SR.probe), mirror state when an adapter answers,
// networks, memory, same-UUID copies and API version.
func (a *Activities) CheckTarget(ctx context.Context, in *CheckTargetInput) (*CheckTargetResult, error) {
	defer a.keepAlive(ctx)()
	out := &CheckTargetResult{Checks: []Check{}}
	ck := &checks{}
	if in.SkipPoolChecks {
		c, err := a.connect(ctx, in.Site)
		if err != nil {
			return nil, err
		}
		out.Reachable = true
		if err := a.checkCopies(ctx, c, in, ck); err != nil {
			return nil, err
		}
		out.Checks = ck.list
		return out, nil
	}
	c, _, pool, err := a.reach(ctx, in.Site, ck)
	if err != nil || c == nil {
		out.Checks = ck.list
		return out, err
	}
	out.Reachable = true
	poolObj := "pool at site " + c.site
	if err := a.checkRole(ctx, c, ck, poolObj); err != nil {
		return nil, err
	}
	if in.Mode == plan.ModeTestFailover {
		haLine(ck, pool, c.site, poolObj)
	}
	if err := a.checkVisible(ctx, in, ck); err != nil {
		return nil, err
	}
	out.Mirrors = a.checkMirrors(ctx, in, ck)

	targetNets, err := c.s.GetAllNetworkRecords(ctx)
	if err != nil {
		return nil, classify(ctx, err, "reading the networks at site "+c.site+" failed", "")
	}
	names, bridges := map[string]bool{}, map[string]bool{}
	for _, n := range targetNets {
		names[n.NameLabel] = true
		bridges[n.Bridge] = true
	}
	netUsers, netFound := map[string][]string{}, map[string]bool{}
	for _, n := range in.Networks {
		netUsers[n.Name] = n.VMs
		netFound[n.Name] = names[n.Name]
	}
	networkLines(ck, c.site, netUsers, netFound)

	pin := &PrecheckInput{Site: in.Site, Mode: in.Mode, Plan: in.Plan, Units: in.Units, VMs: in.VMs, TotalMemory: in.TotalMemory}
	mem := &checks{}
	if err := a.checkMemory(ctx, c, pin, mem, poolObj); err != nil {
		return nil, err
	}
	// A failover that cannot start every VM does not work: what the
	// runbook's precheck lets through as a warning is a problem here.
	for _, l := range mem.list {
		if l.Severity == SeverityWarning && strings.Contains(l.Message, "some VMs may not start") {
			l.Severity = SeverityProblem
		}
		ck.list = append(ck.list, l)
	}
	if err := a.checkCopies(ctx, c, in, ck); err != nil {
		return nil, err
	}
	if in.SourceAPI != "" {
		if h, err := c.s.GetHostRecord(ctx, pool.Master); err == nil {
			versionLine(ck, "metadata of the source pool", in.SourceAPI, fmt.Sprintf("%d.%d", h.APIVersionMajor, h.APIVersionMinor), c.site)
		}
	}
	out.Checks = ck.list
	return out, nil
}

// checkCopies looks for same-UUID copies of the units at the target (the
// precheck's version rule; an earlier run's own copies are adopted).
func (a *Activities) checkCopies(ctx context.Context, c *conn, in *CheckTargetInput, ck *checks) error {
	snap, err := a.view(c).sync(ctx, c.s)
	if err != nil {
		return classify(ctx, err, "reading the VMs at site "+c.site+" failed", "")
	}
	targetVMs, apps := snap.all()
	pin := &PrecheckInput{Site: in.Site, Mode: in.Mode, Plan: in.Plan, Units: in.Units, VMs: in.VMs}
	checkExistingUnits(pin, unitVMs(pin), targetVMs, apps, c.site, ck)
	return nil
}

// checkVisible probes the plan's storage (the Probe activity itself: it only
// reads) and looks for each source SR there.
func (a *Activities) checkVisible(ctx context.Context, in *CheckTargetInput, ck *checks) error {
	if len(in.Storage) == 0 {
		ck.add(checkVisible, "plan storage", SeverityProblem, "the plan lists no storage to probe at site %s: add the LUNs that mirror the source's SRs to its storage", in.Site)
		return nil
	}
	probe, err := a.Probe(ctx, &ProbeInput{Site: in.Site, Storage: in.Storage})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ck.add(checkVisible, "plan storage", SeverityProblem, "%s; %s", strings.TrimSuffix(messageOf(err), "."),
			strings.ReplaceAll(NextStep(err, "check the plan's storage"), "start the run again", "check readiness again"))
		return nil
	}
	found := map[string]ProbedSR{}
	for _, p := range probe.SRs {
		found[p.UUID] = p
	}
	for _, sr := range in.SRs {
		obj := "SR " + q(sr.Name, sr.UUID)
		p, ok := found[sr.UUID]
		switch {
		case !ok && !sr.Disks:
			ck.add(checkVisible, obj, SeverityWarning, "holds the pool's metadata but is not on the plan's storage at site %s: add the LUN that mirrors it, or the failover reads the metadata from the other SRs only", in.Site)
		case !ok:
			ck.add(checkVisible, obj, SeverityProblem, "is not on any of the plan's storage at site %s: its VMs could not be recovered; add the LUN that mirrors it to the plan's storage", in.Site)
		case p.AlreadyInPool:
			ck.add(checkVisible, obj, SeverityWarning, "is already attached to the pool at site %s (left by an earlier run, or attached by hand): a failover uses it as it is; forget it there if it is a leftover", in.Site)
		case !p.PoolMetadataDetected:
			ck.add(checkVisible, obj, SeverityOK, "visible at site %s on storage %s (no pool metadata on its copy)", in.Site, p.StorageName)
		default:
			ck.add(checkVisible, obj, SeverityOK, "visible at site %s on storage %s, with pool metadata", in.Site, p.StorageName)
		}
	}
	return nil
}

// checkMirrors asks each storage's adapter, when the plan names one the
// worker gives the site, for its mirror's state and lag (the status action:
// it changes nothing): the RPO of the data a failover would come back with.
// A storage without one is not checked, a warning; but one whose run would
// call its adapter (AdapterRuns) is a problem when the site lacks it, as the
// run would fail at its first adapter call.
func (a *Activities) checkMirrors(ctx context.Context, in *CheckTargetInput, ck *checks) []MirrorStatus {
	// One adapter process per storage, side by side: a plan of many LUNs
	// is not asked one by one.
	statuses := make([]MirrorStatus, len(in.Storage))
	errs := forEachLimited(ctx, len(in.Storage), storageParallel, func(i int) error {
		if in.Storage[i].Adapter == "" {
			return nil
		}
		var err error
		statuses[i], err = a.mirrorStatus(ctx, in.Site, in.Storage[i], i)
		return err
	})
	if ctx.Err() != nil {
		return nil
	}
	var out []MirrorStatus
	var unchecked []string
	for i, st := range in.Storage {
		label := storageLabel(st, i)
		obj := "storage " + label
		if st.Adapter == "" {
			unchecked = append(unchecked, label)
			continue
		}
		ms, err := statuses[i], errs[i]
		if err != nil {
			msg := strings.TrimSuffix(messageOf(err), ".")
			switch {
			case AdapterNotCalled(err) && i < len(in.AdapterRuns) && in.AdapterRuns[i]:
				ck.add(checkMirror, obj, SeverityProblem, "%s, and the run calls it (test snapshots or promotion); %s", msg,
					strings.ReplaceAll(NextStep(err, "check the worker configuration"), "start the run again", "check readiness again"))
			case AdapterNotCalled(err):
				ck.add(checkMirror, obj, SeverityWarning, "mirror state and lag not checked: %s", lowerFirst(msg))
			default:
				ck.add(checkMirror, obj, SeverityWarning, "the storage adapter could not say its mirror state (%s): check the mirror on the array", lowerFirst(msg))
			}
			continue
		}
		out = append(out, ms)
		name := label
		if ms.Mirror != "" {
			name = ms.Mirror
		}
		since := ""
		if !ms.LastCopy.IsZero() {
			since = ", last copy at " + ms.LastCopy.UTC().Format(time.RFC3339)
		}
		switch ms.State {
		case MirrorReplicating:
			ck.add(checkMirror, obj, SeverityOK, "mirror %s replicates; the DR copy is %s behind%s", name, ms.Lag, since)
		case MirrorSplit:
			ck.add(checkMirror, obj, SeverityProblem, "mirror %s is split: the DR copy no longer receives the source's writes and ages%s; resume its replication on the array", name, since)
		case MirrorReversed:
			ck.add(checkMirror, obj, SeverityProblem, "mirror %s is reversed (site %s is the source): a failover to site %s would come back with nothing newer than the last failback; re-establish replication towards site %s", name, in.Site, in.Site, in.Site)
		default:
			ck.add(checkMirror, obj, SeverityWarning, "mirror %s is in state %q: check it on the array", name, ms.State)
		}
	}
	if len(unchecked) > 0 {
		ck.add(checkMirror, "storage at site "+in.Site, SeverityWarning, "mirror state and lag not checked for %s: the plan names no storage adapter for it; ask the storage team whether the mirrors replicate, or name the site's adapter in the plan's storage", strings.Join(unchecked, ", "))
	}
	return out
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// nameListMax bounds the names a readiness line lists: a line about an SR of
// 5,000 VMs names a few and counts the rest.
const nameListMax = 8

func nameList(names []string) string {
	if len(names) <= nameListMax {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:nameListMax], ", "), len(names)-nameListMax)
}
