package sim

import (
	"strconv"
)

// This file is DR recovery: assert_can_be_recovered, get_SRs_required_for_recovery and
// recover for VMs and vApps, called with a foreign session (c.db is the foreign
// database) and a real session_to. It follows Xapi_dr.recover_vms and Import's metadata
// import semantics (UUIDs kept, version + 1, force rules, VDI and network matching).

// requiredSRs lists the SRs (refs in db) of the VDIs of a VM's non-CD VBDs, minus ISO SRs.
func requiredSRs(db *DB, vm *object) []string {
	seen := map[string]bool{}
	var out []string
	for _, vbd := range vm.Refs("VBDs") {
		b := db.Get("VBD", vbd)
		if b == nil || b.S("type") == "CD" {
			continue
		}
		vdi := db.Get("VDI", b.S("VDI"))
		if vdi == nil {
			continue
		}
		sr := db.Get("SR", vdi.S("SR"))
		if sr == nil || sr.S("content_type") == "iso" || seen[sr.ref] {
			continue
		}
		seen[sr.ref] = true
		out = append(out, sr.ref)
	}
	return out
}

// sessionTo is Xapi_dr.assert_session_allows_dr, which only recover calls: a
// live session of this master with DR permission (VDI.open_database's).
func (c *call) sessionTo(i int, action string) *Session {
	ref := c.str(i)
	s := c.pool.sessions[ref]
	if s == nil {
		c.fail("SESSION_INVALID", ref)
	}
	if s.db != nil || !roleAtLeastPoolOperator(s.Role) {
		c.fail("RBAC_PERMISSION_DENIED", action, "The supplied session does not have the required permissions for VM recovery.")
	}
	return s
}

// targetOf is the database session_to reads for assert_can_be_recovered and
// get_SRs_required_for_recovery (Xapi_vm_helpers): no session or role check,
// the foreign database registered for the session when there is one, else
// the pool's own.
func (c *call) targetOf(i int) *DB {
	if s := c.pool.sessions[c.str(i)]; s != nil && s.db != nil {
		return s.db
	}
	return c.pool.db
}

// attachedIn reports whether the SR has a currently attached PBD in db.
func attachedIn(db *DB, srRef string) bool {
	for _, pbd := range db.Get("SR", srRef).Refs("PBDs") {
		if o := db.Get("PBD", pbd); o != nil && o.B("currently_attached") {
			return true
		}
	}
	return false
}

// missingSRs returns, for a foreign VM, its required SRs that are missing from the target
// (foreign ref) or not attached there (target ref), as assert_can_be_recovered raises them.
func (c *call) missingSRs(vm *object, target *DB) (foreign []string, raise []string) {
	for _, sr := range requiredSRs(c.db, vm) {
		u := c.db.Get("SR", sr).S("uuid")
		t := target.ByUUID("SR", u)
		switch {
		case t == nil:
			foreign = append(foreign, sr)
			raise = append(raise, sr)
		case !attachedIn(target, t.ref):
			foreign = append(foreign, sr)
			raise = append(raise, t.ref)
		}
	}
	return foreign, raise
}

func (c *call) assertCanBeRecovered(vm *object, target *DB) {
	if _, raise := c.missingSRs(vm, target); len(raise) > 0 {
		c.fail("VM_REQUIRES_SR", vm.ref, raise[0])
	}
}

// recoverVMs is Xapi_dr.recover_vms: one metadata import (Import.handle_all)
// of the VMs with their snapshots, run under a new internal task (never the
// caller's) whose ref other_config:import_task records. Import's handlers run
// by class, so every VDI of the export is looked up first
// (VDI_LOCATION_MISSING when its SR is known here, VDI_CONTENT_ID_MISSING when
// not), then every VM is checked (power state, version) before any is
// created. It returns the recovered VMs' target refs; a same-UUID VM that is
// not halted is skipped when forced, its snapshots with it.
func (c *call) recoverVMs(vms []*object, force bool) []string {
	src := c.db
	// The export: each VM, then its snapshots.
	var export []*object
	for _, vm := range vms {
		export = append(export, vm)
		for _, s := range sortedStrings(append([]string(nil), vm.Refs("snapshots")...)) {
			if o := src.Get("VM", s); o != nil {
				export = append(export, o)
			}
		}
	}
	// VDIs.
	vdis := map[string]string{} // foreign VDI ref -> target ref, "" when skipped (force)
	lookup := func(fv *object) {
		if _, done := vdis[fv.ref]; done {
			return
		}
		t := c.findVDI(fv)
		if t == "" && !force {
			if fs := src.Get("SR", fv.S("SR")); fs != nil {
				if ts := c.pool.db.ByUUID("SR", fs.S("uuid")); ts != nil {
					c.fail("VDI_LOCATION_MISSING", ts.ref, fv.S("location"))
				}
			}
			c.fail("VDI_CONTENT_ID_MISSING")
		}
		vdis[fv.ref] = t
	}
	for _, vm := range export {
		for _, vbdRef := range vm.Refs("VBDs") {
			vbd := src.Get("VBD", vbdRef)
			if vbd == nil || vbd.S("type") == "CD" || vbd.B("empty") {
				continue
			}
			if fv := src.Get("VDI", vbd.S("VDI")); fv != nil {
				lookup(fv)
			}
		}
		if vm.S("power_state") == "Suspended" {
			if fv := src.Get("VDI", vm.S("suspend_VDI")); fv != nil {
				lookup(fv)
			}
		}
	}
	// VMs.
	skipped := map[string]bool{}
	for _, vm := range export {
		if vm.B("is_a_snapshot") && skipped[vm.S("snapshot_of")] {
			skipped[vm.ref] = true
			continue
		}
		existing := c.pool.db.ByUUID("VM", vm.S("uuid"))
		if existing == nil {
			continue
		}
		if existing.S("power_state") != "Halted" {
			if force {
				skipped[vm.ref] = true
				continue
			}
			c.fail("VM_BAD_POWER_STATE", existing.ref, "Halted", existing.S("power_state"))
		}
		if !force && existing.I("version") >= vm.I("version") {
			c.fail("VM_TO_IMPORT_IS_NOT_NEWER_VERSION", existing.ref, strconv.FormatInt(existing.I("version"), 10), strconv.FormatInt(vm.I("version"), 10))
		}
	}
	task := c.w.newRef()
	created := map[string]string{} // foreign VM ref -> target ref
	var out []string
	for _, vm := range export {
		if skipped[vm.ref] {
			continue
		}
		if !vm.B("is_a_snapshot") {
			// The import's database writes take the master's database lock, one
			// import at a time; the rest of it (reading the foreign records,
			// creating the task) runs in parallel.
			c.sleep(c.w.timing.Recover - c.w.timing.RecoverDB)
			c.holdFor(c.pool.dbLock, c.w.timing.RecoverDB)
		}
		ref := c.importVM(vm, vdis, created, task)
		created[vm.ref] = ref
		if !vm.B("is_a_snapshot") {
			out = append(out, ref)
		}
	}
	return out
}

// importVM creates the target records of one foreign VM or snapshot, replacing
// a same-UUID VM (re-read: the state may have changed while recovering).
func (c *call) importVM(vm *object, vdis, created map[string]string, importTask string) string {
	target := c.pool.db
	src := c.db
	uuid := vm.S("uuid")
	if e := target.ByUUID("VM", uuid); e != nil {
		for _, vbd := range e.Refs("VBDs") {
			target.Delete("VBD", vbd)
		}
		for _, vif := range e.Refs("VIFs") {
			target.Delete("VIF", vif)
		}
		target.Delete("VM", e.ref)
	}
	power := "Halted"
	suspendVDI := NullRef
	if vm.S("power_state") == "Suspended" {
		if t := vdis[vm.S("suspend_VDI")]; t != "" {
			power, suspendVDI = "Suspended", t
		}
	}
	fields := map[string]any{}
	for k, v := range vm.f {
		fields[k] = v
	}
	for _, k := range []string{"VBDs", "VIFs", "snapshots", "consoles", "crash_dumps", "VUSBs", "VTPMs", "VGPUs", "attached_PCIs", "children"} {
		delete(fields, k)
	}
	oc := copyMap(vm.Map("other_config"))
	delete(oc, "grant_api_access")
	oc["import_task"] = importTask
	ref := c.w.newRef()
	fields["uuid"] = uuid
	fields["version"] = vm.I("version") + 1
	fields["appliance"] = NullRef
	fields["protection_policy"] = NullRef
	fields["snapshot_schedule"] = NullRef
	fields["generation_id"] = strconv.FormatInt(c.w.rng.Int63n(1<<31), 10) + ":" + strconv.FormatInt(c.w.rng.Int63n(1<<31), 10)
	fields["other_config"] = oc
	fields["power_state"] = power
	fields["suspend_VDI"] = suspendVDI
	fields["allowed_operations"] = vmAllowedOps(power)
	if vm.B("is_a_snapshot") {
		fields["allowed_operations"] = []string{"clone", "copy", "export", "destroy", "revert"}
	}
	fields["current_operations"] = map[string]string{}
	fields["domid"] = int64(-1)
	fields["metrics"] = NullRef
	fields["guest_metrics"] = NullRef
	fields["parent"] = NullRef
	// Import.update_snapshot_and_parent_links: snapshot_of points at the VM
	// recovered with it.
	fields["snapshot_of"] = NullRef
	if t := created[vm.S("snapshot_of")]; t != "" {
		fields["snapshot_of"] = t
	}
	for _, hf := range []string{"resident_on", "affinity", "scheduled_to_be_resident_on"} {
		if target.Get("host", vm.S(hf)) == nil || power == "Halted" && hf == "resident_on" {
			fields[hf] = NullRef
		}
	}
	if target.Get("SR", vm.S("suspend_SR")) == nil {
		fields["suspend_SR"] = NullRef
	}
	if ha := vm.S("ha_restart_priority"); len(ha) == 1 && ha >= "0" && ha <= "3" {
		fields["ha_restart_priority"] = "restart"
		fields["order"] = int64(ha[0] - '0')
	}
	target.Create("VM", ref, fields)
	for _, vbdRef := range vm.Refs("VBDs") {
		vbd := src.Get("VBD", vbdRef)
		if vbd == nil {
			continue
		}
		vf := map[string]any{}
		for k, v := range vbd.f {
			vf[k] = v
		}
		vf["VM"] = ref
		vf["currently_attached"] = false
		vf["current_operations"] = map[string]string{}
		vf["metrics"] = NullRef
		if vbd.S("type") == "CD" || vbd.B("empty") {
			vf["VDI"] = NullRef
			vf["empty"] = true
		} else if t := vdis[vbd.S("VDI")]; t != "" {
			vf["VDI"] = t
		} else {
			continue // its disk was not found (force)
		}
		target.Create("VBD", c.w.newRef(), vf)
	}
	for _, vifRef := range vm.Refs("VIFs") {
		vif := src.Get("VIF", vifRef)
		if vif == nil {
			continue
		}
		vf := map[string]any{}
		for k, v := range vif.f {
			vf[k] = v
		}
		vf["VM"] = ref
		vf["network"] = c.mapNetwork(src.Get("network", vif.S("network")), importTask)
		vf["currently_attached"] = false
		vf["current_operations"] = map[string]string{}
		vf["metrics"] = NullRef
		target.Create("VIF", c.w.newRef(), vf)
	}
	for _, sr := range requiredSRs(target, target.Get("VM", ref)) {
		if target.Get("SR", sr).S("introduced_by") != NullRef {
			target.Set("SR", sr, "introduced_by", NullRef)
		}
	}
	return ref
}

// findVDI matches a foreign VDI in the target: by sm_config SCSIid, then by SR uuid and
// location, on SRs the target knows. The target's VDIs are indexed (vdiIndex); a
// lookup the index cannot answer searches them as it always did.
func (c *call) findVDI(fv *object) string {
	target := c.pool.db
	idx := target.vdiIndex()
	if id := fv.Map("sm_config")["SCSIid"]; id != "" {
		if ref, ok := idx.bySCSI[id]; ok {
			if v := target.Get("VDI", ref); v != nil && v.Map("sm_config")["SCSIid"] == id {
				return ref
			}
		}
		for _, v := range target.All("VDI") {
			if v.Map("sm_config")["SCSIid"] == id {
				return v.ref
			}
		}
	}
	fs := c.db.Get("SR", fv.S("SR"))
	if fs == nil {
		return ""
	}
	ts := target.ByUUID("SR", fs.S("uuid"))
	if ts == nil {
		return ""
	}
	loc := fv.S("location")
	if ref, ok := idx.byLocation[[2]string{ts.ref, loc}]; ok {
		if v := target.Get("VDI", ref); v != nil && v.S("SR") == ts.ref && v.S("location") == loc {
			return ref
		}
	}
	for _, v := range ts.Refs("VDIs") {
		if o := target.Get("VDI", v); o != nil && o.S("location") == loc {
			return v
		}
	}
	return ""
}

// vdiIndex is a database's VDIs by sm_config SCSIid and by SR and location, the first
// created of each, as findVDI's searches find them; at 10,000 VMs those searches,
// one per disk imported, were most of the simulator's CPU (make bench). It is rebuilt
// when VDIs were created or deleted since; an entry is checked against its VDI when
// used, since VDIs change in place.
type vdiIndex struct {
	members    int64
	bySCSI     map[string]string
	byLocation map[[2]string]string
}

func (db *DB) vdiIndex() *vdiIndex {
	if db.vdis != nil && db.vdis.members == db.members["VDI"] {
		return db.vdis
	}
	idx := &vdiIndex{members: db.members["VDI"], bySCSI: map[string]string{}, byLocation: map[[2]string]string{}}
	for _, v := range db.All("VDI") {
		if id := v.Map("sm_config")["SCSIid"]; id != "" {
			if _, ok := idx.bySCSI[id]; !ok {
				idx.bySCSI[id] = v.ref
			}
		}
		k := [2]string{v.S("SR"), v.S("location")}
		if _, ok := idx.byLocation[k]; !ok {
			idx.byLocation[k] = v.ref
		}
	}
	db.vdis = idx
	return idx
}

// mapNetwork finds the target network by name_label, then bridge, else creates one.
func (c *call) mapNetwork(fn *object, importTask string) string {
	target := c.pool.db
	if fn == nil {
		return NullRef
	}
	for _, n := range target.All("network") {
		if n.S("name_label") == fn.S("name_label") {
			return n.ref
		}
	}
	for _, n := range target.All("network") {
		if n.S("bridge") == fn.S("bridge") {
			return n.ref
		}
	}
	ref := c.w.newRef()
	target.Create("network", ref, map[string]any{"uuid": c.w.newUUID(), "name_label": fn.S("name_label"), "name_description": fn.S("name_description"),
		"bridge": "xapi" + strconv.Itoa(len(target.objs["network"])), "MTU": fn.I("MTU"), "managed": true,
		"other_config": map[string]string{"import_task": importTask}})
	return ref
}

func init() {
	register("VM.assert_can_be_recovered", func(c *call) any {
		vm := c.obj(1, "VM")
		c.assertCanBeRecovered(vm, c.targetOf(2))
		return nil
	})
	register("VM.get_SRs_required_for_recovery", func(c *call) any {
		vm := c.obj(1, "VM")
		foreign, _ := c.missingSRs(vm, c.targetOf(2))
		if foreign == nil {
			foreign = []string{}
		}
		return foreign
	})
	register("VM.recover", func(c *call) any {
		vm := c.obj(1, "VM")
		if a := vm.S("appliance"); a != NullRef && c.db.Get("VM_appliance", a) != nil {
			c.fail("VM_IS_PART_OF_AN_APPLIANCE", vm.ref, a)
		}
		c.sessionTo(2, "VM.recover")
		force := c.boolean(3)
		c.assertCanBeRecovered(vm, c.pool.db)
		c.recoverVMs([]*object{vm}, force)
		return nil
	})
	register("VM_appliance.assert_can_be_recovered", func(c *call) any {
		a := c.obj(1, "VM_appliance")
		target := c.targetOf(2)
		for _, v := range a.Refs("VMs") {
			c.assertCanBeRecovered(c.db.Get("VM", v), target)
		}
		return nil
	})
	register("VM_appliance.get_SRs_required_for_recovery", func(c *call) any {
		a := c.obj(1, "VM_appliance")
		target := c.targetOf(2)
		seen := map[string]bool{}
		out := []string{}
		for _, v := range a.Refs("VMs") {
			foreign, _ := c.missingSRs(c.db.Get("VM", v), target)
			for _, s := range foreign {
				if !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		}
		return out
	})
	register("VM_appliance.recover", func(c *call) any {
		a := c.obj(1, "VM_appliance")
		c.sessionTo(2, "VM_appliance.recover")
		force := c.boolean(3)
		for _, v := range a.Refs("VMs") {
			c.assertCanBeRecovered(c.db.Get("VM", v), c.pool.db)
		}
		var vms []*object
		for _, v := range a.Refs("VMs") {
			if vm := c.db.Get("VM", v); !vm.B("is_a_template") && !vm.B("is_a_snapshot") {
				vms = append(vms, vm)
			}
		}
		recovered := c.recoverVMs(vms, force)
		target := c.pool.db
		app := target.ByUUID("VM_appliance", a.S("uuid"))
		if app != nil {
			for _, v := range app.Refs("VMs") {
				target.Set("VM", v, "appliance", NullRef)
			}
			target.Update("VM_appliance", app.ref, map[string]any{"name_label": a.S("name_label"), "name_description": a.S("name_description")})
		} else {
			ref := c.w.newRef()
			target.Create("VM_appliance", ref, map[string]any{"uuid": a.S("uuid"), "name_label": a.S("name_label"), "name_description": a.S("name_description")})
			app = target.Get("VM_appliance", ref)
		}
		for _, v := range recovered {
			target.Set("VM", v, "appliance", app.ref)
		}
		c.pool.refreshApplianceOps(app.ref)
		return nil
	})
}
