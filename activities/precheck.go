package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Names of the checks.
const (
	checkRole     = "role"
	checkHA       = "ha"
	checkSource   = "source-running"
	checkExisting = "existing"
	checkStorage  = "storage"
	checkNetwork  = "network"
	checkMemory   = "memory"
	checkVersion  = "xapi-version"
)

type checks struct {
	list    []Check
	adopted []string // unit UUIDs
	own     []string // VM UUIDs
}

func (c *checks) add(check, object, severity, format string, args ...any) {
	c.list = append(c.list, Check{Check: check, Object: object, Severity: severity, Message: fmt.Sprintf(format, args...)})
}

// Precheck checks the selected units can be recovered at the site. Problems
// block the run, warnings do not; OK lines say what was checked. Severity
// choices: free memory short of what the VMs need is a warning (xapi refuses
// a start that does not fit, per VM, and starting what fits beats starting
// nothing in a disaster); a missing network is a warning (recovery creates
// it); an unreachable source site is a warning (the site may be gone, which
// is why we fail over).
func (a *Activities) Precheck(ctx context.Context, in *PrecheckInput) (*PrecheckResult, error) {
	defer a.keepAlive(ctx)()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	_, pool, err := c.pool(ctx)
	if err != nil {
		return nil, err
	}
	retryNote := "" // a site that cannot be read is transient: no advice (see classify)
	poolObj := "pool at site " + c.site
	ck := &checks{}
	vmsOf := unitVMs(in)

	// A later chunk of a large selection skips what the first one checked
	// of the pool.
	if !in.SkipPoolChecks {
		if err := a.checkRole(ctx, c, ck, poolObj); err != nil {
			return nil, err
		}
	}
	if in.Mode == plan.ModeTestFailover && !in.SkipPoolChecks {
		haLine(ck, pool, c.site, poolObj)
	}
	if in.Mode != plan.ModeTestFailover && in.SourceSite != "" {
		a.checkSource(ctx, in, vmsOf, ck)
	}
	// The site's view (vmview.go), brought up to date: the chunks of a large
	// selection share one read instead of decoding every VM each.
	snap, err := a.view(c).sync(ctx, c.s)
	if err != nil {
		return nil, classify(ctx, err, "reading the VMs at site "+c.site+" failed", retryNote)
	}
	targetVMs, apps := snap.all()
	checkExistingUnits(in, vmsOf, targetVMs, apps, c.site, ck)
	if err := a.checkStorageAndNetworks(ctx, c, in, vmsOf, pool, ck); err != nil {
		return nil, err
	}
	if !in.SkipPoolChecks {
		if err := a.checkMemory(ctx, c, in, ck, poolObj); err != nil {
			return nil, err
		}
	}
	return &PrecheckResult{Checks: ck.list, Adopted: ck.adopted, OwnCopies: ck.own}, nil
}

// unitVMs maps each unit UUID to its VMs from the input (a vApp's members,
// or the standalone VM itself).
func unitVMs(in *PrecheckInput) map[string][]VMInfo {
	byUUID := map[string]VMInfo{}
	byVApp := map[string][]VMInfo{}
	for _, vm := range in.VMs {
		byUUID[vm.UUID] = vm
		if vm.VApp != "" {
			byVApp[vm.VApp] = append(byVApp[vm.VApp], vm)
		}
	}
	out := map[string][]VMInfo{}
	for _, u := range in.Units {
		if u.Kind == KindVApp {
			out[u.UUID] = byVApp[u.UUID]
		} else if vm, ok := byUUID[u.UUID]; ok {
			out[u.UUID] = []VMInfo{vm}
		} else {
			out[u.UUID] = []VMInfo{{UUID: u.UUID, Name: u.Name}}
		}
	}
	return out
}

// checkRole needs pool-operator or higher: the permission to open metadata
// databases is what XAPI checks on session_to during recovery.
func (a *Activities) checkRole(ctx context.Context, c *conn, ck *checks, obj string) error {
	user := c.s.User()
	v, err := c.s.Call(ctx, "session.get_rbac_permissions", string(c.s.Ref()))
	if err == nil {
		if perms, ok := v.([]any); ok && len(perms) > 0 {
			for _, p := range perms {
				if s, _ := p.(string); strings.EqualFold(s, "vdi.open_database") {
					ck.add(checkRole, obj, SeverityOK, "user %q may run disaster recovery (pool-operator or higher)", user)
					return nil
				}
			}
			ck.add(checkRole, obj, SeverityProblem, "user %q of site %s lacks the pool-operator role that disaster recovery needs: give it pool-operator or pool-admin, then re-run", user, c.site)
			return nil
		}
	}
	// No permission list (older XAPI or none exposed): ask XAPI directly. A
	// null VDI makes VDI.open_database fail harmlessly after the RBAC check.
	_, err = c.s.Call(ctx, "VDI.open_database", xapi.NullRef)
	switch {
	case xapi.IsCode(err, xapi.CodeRBACPermissionDenied):
		ck.add(checkRole, obj, SeverityProblem, "user %q of site %s lacks the pool-operator role that disaster recovery needs: give it pool-operator or pool-admin, then re-run", user, c.site)
	case err != nil && isTransient(ctx, err):
		return classify(ctx, err, "checking the role of user "+user+" at site "+c.site+" failed", "")
	default:
		ck.add(checkRole, obj, SeverityOK, "user %q may run disaster recovery (pool-operator or higher)", user)
	}
	return nil
}

// checkSource looks for the same vApps and VMs still running at the source.
func (a *Activities) checkSource(ctx context.Context, in *PrecheckInput, vmsOf map[string][]VMInfo, ck *checks) {
	sctx, cancel := context.WithTimeout(ctx, a.lim.sourceCheckTimeout)
	defer cancel()
	srcObj := "pool at site " + in.SourceSite
	var running map[string]string
	sc, err := a.connect(sctx, in.SourceSite)
	if err == nil {
		var vms map[xapi.Ref]xapi.VMState
		vms, err = sc.s.GetAllVMStates(sctx)
		if err == nil {
			running = map[string]string{}
			for _, vm := range vms {
				if vm.IsRealVM() && vm.PowerState != xapi.PowerHalted {
					running[vm.UUID] = vm.PowerState
				}
			}
		}
	}
	if err != nil {
		ck.add(checkSource, srcObj, SeverityWarning, "could not check whether site %s still runs the selected vApps and VMs (%s): make sure they are stopped there before the recovered copies start",
			in.SourceSite, strings.TrimSuffix(causeText(err), "."))
		return
	}
	for _, u := range in.Units {
		var on []string
		for _, vm := range vmsOf[u.UUID] {
			if st, ok := running[vm.UUID]; ok {
				on = append(on, fmt.Sprintf("%s is %s", q(vm.Name, vm.UUID), st))
			}
		}
		if len(on) > 0 {
			ck.add(checkSource, unitLabel(u), SeverityProblem, "still running at site %s (%s): shut it down there first, the recovered copy keeps its UUIDs and MAC addresses", in.SourceSite, strings.Join(on, ", "))
		} else {
			ck.add(checkSource, unitLabel(u), SeverityOK, "not running at site %s", in.SourceSite)
		}
	}
}

// checkExistingUnits applies the version rule to same-UUID VMs and vApps
// already in the target: an equal or newer version, or a running copy,
// blocks; an older halted copy is replaced.
func checkExistingUnits(in *PrecheckInput, vmsOf map[string][]VMInfo, target map[xapi.Ref]xapi.VMState, apps map[xapi.Ref]xapi.VMAppliance, siteName string, ck *checks) {
	byUUID := map[string]xapi.VMState{}
	for _, vm := range target {
		byUUID[vm.UUID] = vm
	}
	appUUIDs := map[string]bool{}
	for _, app := range apps {
		appUUIDs[app.UUID] = true
	}
	o := owner{in.Plan, in.Mode}
	for _, u := range in.Units {
		// This plan's own copies from an earlier run are adopted (adopt.go).
		ad, rest := o.classifyExisting(u, vmsOf[u.UUID], byUUID)
		ck.own = append(ck.own, ad.uuids...)
		if len(ad.ours) > 0 && len(ad.ours) == len(vmsOf[u.UUID]) && (u.Kind != KindVApp || appUUIDs[u.UUID]) {
			ck.add(checkExisting, unitLabel(u), SeverityOK, "%s", adoptedText(o, ad, siteName))
			ck.adopted = append(ck.adopted, u.UUID)
			continue
		}
		var newer, running, older []string
		for _, vm := range rest {
			ex, ok := byUUID[vm.UUID]
			if !ok {
				continue
			}
			name := q(vm.Name, vm.UUID)
			switch {
			case ex.Version >= vm.Version:
				if why := ad.others[vm.UUID]; why != "" {
					newer = append(newer, fmt.Sprintf("%s (version %d there, %d in the metadata; %s)", name, ex.Version, vm.Version, why))
				} else {
					newer = append(newer, fmt.Sprintf("%s (version %d there, %d in the metadata)", name, ex.Version, vm.Version))
				}
			case ex.PowerState != xapi.PowerHalted:
				running = append(running, fmt.Sprintf("%s (%s)", name, ex.PowerState))
			default:
				older = append(older, name)
			}
		}
		obj := unitLabel(u)
		switch {
		case len(newer) > 0:
			ck.add(checkExisting, obj, SeverityProblem, "a copy this plan did not recover from this metadata already exists at site %s: %s; exclude it from the plan, then re-run", siteName, strings.Join(newer, ", "))
		case len(running) > 0:
			ck.add(checkExisting, obj, SeverityProblem, "an older copy is running at site %s: %s; shut it down there (recovery would skip it silently), then re-run", siteName, strings.Join(running, ", "))
		case len(ad.ours) > 0:
			ck.add(checkExisting, obj, SeverityOK, "partly left at site %s by an earlier %s of plan %s (%s): recovered again from the same metadata", siteName, o.mode, o.plan, strings.Join(ad.ours, ", "))
		case len(older) > 0 || (u.Kind == KindVApp && appUUIDs[u.UUID]):
			ck.add(checkExisting, obj, SeverityWarning, "an older copy exists at site %s and will be replaced", siteName)
		default:
			ck.add(checkExisting, obj, SeverityOK, "not yet at site %s", siteName)
		}
	}
}

// checkStorageAndNetworks opens each unit's own metadata VDI once (not the
// first unit's for all, XenCenter's bug), checks the unit's SRs are attached
// as recovery will (required.go), lists the networks its VMs use and
// compares API versions.
func (a *Activities) checkStorageAndNetworks(ctx context.Context, c *conn, in *PrecheckInput, vmsOf map[string][]VMInfo, pool xapi.Pool, ck *checks) error {
	targetNets, err := c.s.GetAllNetworkRecords(ctx)
	if err != nil {
		return classify(ctx, err, "reading the networks at site "+c.site+" failed", "")
	}
	attached, err := readAttachedSRs(ctx, c)
	if err != nil {
		return classify(ctx, err, "reading the storage at site "+c.site+" failed", "")
	}
	names, bridges := map[string]bool{}, map[string]bool{}
	for _, n := range targetNets {
		names[n.NameLabel] = true
		bridges[n.Bridge] = true
	}
	var targetAPI string
	if h, err := c.s.GetHostRecord(ctx, pool.Master); err == nil {
		targetAPI = fmt.Sprintf("%d.%d", h.APIVersionMajor, h.APIVersionMinor)
	}
	byVDI := map[string][]Unit{}
	var vdis []string
	for _, u := range in.Units {
		if _, ok := byVDI[u.SourceVDI]; !ok {
			vdis = append(vdis, u.SourceVDI)
		}
		byVDI[u.SourceVDI] = append(byVDI[u.SourceVDI], u)
	}
	sort.Strings(vdis)
	netUsers := map[string][]string{} // network name -> VM names
	netFound := map[string]bool{}
	for _, vdi := range vdis {
		if err := a.checkVDI(ctx, c, vdi, byVDI[vdi], vmsOf, targetAPI, attached, names, bridges, netUsers, netFound, ck); err != nil {
			return err
		}
	}
	networkLines(ck, c.site, netUsers, netFound)
	return nil
}

// haLine: a test failover must not trigger HA restarts.
func haLine(ck *checks, pool xapi.Pool, site, obj string) {
	if pool.HAEnabled {
		ck.add(checkHA, obj, SeverityProblem, "HA is enabled on the pool at site %s: turn HA off for the test failover (a test must not trigger HA restarts), then re-run", site)
	} else {
		ck.add(checkHA, obj, SeverityOK, "HA is off")
	}
}

// networkLines says, per network the VMs use (name -> VM labels), whether
// the target has it (by name or bridge, as recovery maps VIFs).
func networkLines(ck *checks, site string, netUsers map[string][]string, netFound map[string]bool) {
	nets := make([]string, 0, len(netUsers))
	for n := range netUsers {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	for _, n := range nets {
		obj := "network " + q(n, n)
		if netFound[n] {
			ck.add(checkNetwork, obj, SeverityOK, "present at site %s", site)
			continue
		}
		users := netUsers[n]
		sort.Strings(users)
		ck.add(checkNetwork, obj, SeverityWarning, "does not exist at site %s and is used by %s: recovery will create it unconnected to any physical network; create it at site %s first if those VMs need connectivity",
			site, strings.Join(users, ", "), site)
	}
}

// versionLine compares the API version that wrote the metadata with the
// target's.
func versionLine(ck *checks, obj, src, target, site string) {
	if src != target {
		ck.add(checkVersion, obj, SeverityWarning, "written by XAPI API %s, the pool at site %s runs API %s: check both sites run the same XenServer / XCP-ng release", src, site, target)
	} else {
		ck.add(checkVersion, obj, SeverityOK, "same XAPI API version %s as the pool at site %s", src, site)
	}
}

func (a *Activities) checkVDI(ctx context.Context, c *conn, vdi string, units []Unit, vmsOf map[string][]VMInfo, targetAPI string,
	attached attachedSRs, names, bridges map[string]bool, netUsers map[string][]string, netFound map[string]bool, ck *checks) error {
	opened := false
	err := a.withForeign(ctx, c, vdi, "", false, func(e *foreignDB) error {
		opened = true
		return a.checkForeign(ctx, c, e, vdi, units, vmsOf, targetAPI, attached, names, bridges, netUsers, netFound, ck)
	})
	switch {
	case err == nil || opened:
		return err
	case isTransient(ctx, err):
		return classify(ctx, err, fmt.Sprintf("opening metadata VDI %s at site %s failed", vdi, c.site), "")
	}
	for _, u := range units {
		ck.add(checkStorage, unitLabel(u), SeverityProblem, "its metadata VDI %s cannot be opened at site %s (%s): re-run so the scan finds the current metadata", vdi, c.site, strings.TrimSuffix(reason(err), "."))
	}
	return nil
}

// checkForeign checks the units of one open metadata database. A
// SESSION_INVALID of the foreign session is returned as it is, for
// withForeign to open the database again (checks are added only once
// everything was read).
func (a *Activities) checkForeign(ctx context.Context, c *conn, e *foreignDB, vdi string, units []Unit, vmsOf map[string][]VMInfo, targetAPI string,
	attached attachedSRs, names, bridges map[string]bool, netUsers map[string][]string, netFound map[string]bool, ck *checks) error {
	fs := e.fs
	readErr := func(err error) error {
		if foreignSessionRejected(err, fs) {
			return err
		}
		return classify(ctx, err, "reading metadata VDI "+vdi+" at site "+c.site+" failed", "")
	}
	local := &checks{}
	if _, fpool, err := fs.GetPool(ctx); err == nil && targetAPI != "" {
		if h, err := fs.GetHostRecord(ctx, fpool.Master); err == nil {
			src := fmt.Sprintf("%d.%d", h.APIVersionMajor, h.APIVersionMinor)
			obj := "metadata of pool " + q(fpool.NameLabel, fpool.UUID)
			versionLine(local, obj, src, targetAPI, c.site)
		}
	} else if foreignSessionRejected(err, fs) {
		return err
	}
	// The three reads at once: each is a few large get_all_records.
	var (
		recs  *foreignRecords
		fvifs map[xapi.ForeignRef]xapi.ForeignVIFSummary
		fnets map[xapi.ForeignRef]xapi.ForeignNetwork
		disks *storageIndex
	)
	if err := allAtOnce(ctx,
		func() (err error) { recs, err = e.records(ctx); return err },
		func() (err error) { fvifs, fnets, err = e.networks(ctx); return err },
		func() (err error) { disks, err = e.storage(ctx); return err },
	); err != nil {
		return readErr(err)
	}
	for _, u := range units {
		sev, msg := storageVerdict(disks, recs, u, vdi, attached, c.site)
		local.add(checkStorage, unitLabel(u), sev, "%s", msg)
		for _, vm := range vmsOf[u.UUID] {
			ref, ok := recs.vms[vm.UUID]
			if !ok {
				continue
			}
			for _, vr := range recs.vmByRef[ref].VIFs {
				vif, ok := fvifs[vr]
				if !ok {
					continue
				}
				n, ok := fnets[vif.Network]
				if !ok {
					continue
				}
				// Recovery maps VIFs by network name, then by bridge.
				netUsers[n.NameLabel] = appendOnce(netUsers[n.NameLabel], "VM "+q(vm.Name, vm.UUID))
				if names[n.NameLabel] || (n.Bridge != "" && bridges[n.Bridge]) {
					netFound[n.NameLabel] = true
				}
			}
		}
	}
	ck.list = append(ck.list, local.list...)
	return nil
}

// storageVerdict is one unit's storage line: whether every SR it needs is
// attached at the site (the rule of assert_can_be_recovered, required.go).
func storageVerdict(disks *storageIndex, recs *foreignRecords, u Unit, vdi string, attached attachedSRs, site string) (sev, msg string) {
	ref, ok := recs.vms[u.UUID]
	vms := []xapi.ForeignRef{ref}
	if u.Kind == KindVApp {
		ref, ok = recs.apps[u.UUID]
		vms = recs.appByRef[ref].VMs
	}
	if !ok {
		return SeverityProblem, fmt.Sprintf("is no longer in metadata VDI %s: re-run so the scan finds the current metadata", vdi)
	}
	if need := disks.lacking(vms, recs, attached); len(need) > 0 {
		return SeverityProblem, storageText(site, need)
	}
	return SeverityOK, fmt.Sprintf("every SR it needs is attached at site %s", site)
}

// checkMemory compares the memory of the VMs to recover with the pool's
// free memory.
func (a *Activities) checkMemory(ctx context.Context, c *conn, in *PrecheckInput, ck *checks, obj string) error {
	need := in.TotalMemory
	if need == 0 {
		for _, vm := range in.VMs {
			need += vm.MemoryMax
		}
	}
	free, err := freeMemory(ctx, c)
	if err != nil {
		if isTransient(ctx, err) {
			return classify(ctx, err, "reading the free memory at site "+c.site+" failed", "")
		}
		ck.add(checkMemory, obj, SeverityWarning, "could not read the free memory of the pool at site %s (%s): check by hand that it can hold %s", c.site, strings.TrimSuffix(reason(err), "."), gib(need))
		return nil
	}
	if need > free {
		ck.add(checkMemory, obj, SeverityWarning, "the selected VMs need up to %s but the pool at site %s has %s free: some VMs may not start; free memory or exclude VMs", gib(need), c.site, gib(free))
	} else {
		ck.add(checkMemory, obj, SeverityOK, "the selected VMs need up to %s, the pool has %s free", gib(need), gib(free))
	}
	return nil
}

// freeMemory sums host.compute_free_memory over the hosts, falling back on
// host_metrics.memory_free.
func freeMemory(ctx context.Context, c *conn) (int64, error) {
	hosts, err := c.s.GetAllHostRecords(ctx)
	if err != nil {
		return 0, err
	}
	refs := make([]xapi.Ref, 0, len(hosts))
	for ref := range hosts {
		refs = append(refs, ref)
	}
	// One short read per host, several at once: 64 hosts one after another
	// were a tenth of a large precheck.
	free := make([]int64, len(refs))
	if err := firstError(forEachLimited(ctx, len(refs), hostReadParallel, func(i int) error {
		v, err := c.s.Call(ctx, "host.compute_free_memory", string(refs[i]))
		if h := hosts[refs[i]]; err != nil && !isTransient(ctx, err) && !h.Metrics.IsNull() {
			v, err = c.s.Call(ctx, "host_metrics.get_memory_free", string(h.Metrics))
		}
		if err != nil {
			return err
		}
		free[i], err = toInt(v)
		return err
	})); err != nil {
		return 0, err
	}
	var total int64
	for _, n := range free {
		total += n
	}
	return total, nil
}

func toInt(v any) (int64, error) {
	switch t := v.(type) {
	case int64:
		return t, nil
	case float64:
		return int64(t), nil
	case string:
		var n int64
		_, err := fmt.Sscan(strings.TrimSpace(t), &n)
		return n, err
	}
	return 0, fmt.Errorf("unexpected value %T", v)
}

func gib(b int64) string {
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

func appendOnce(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}
