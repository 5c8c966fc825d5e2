package sim

import (
	"strconv"
	"strings"
	"time"
)

// This file is the VM lifecycle: start (checks, then start_delay slept inside the call),
// pause/unpause, suspend/resume, shutdowns (shutdown_delay), destroy (records only).

// vmAllowedOps is a simplified VM.allowed_operations per power state.
func vmAllowedOps(power string) []string {
	switch power {
	case "Halted":
		return []string{"start", "start_on", "clone", "copy", "export", "snapshot", "destroy", "changing_memory_limits", "changing_VCPUs"}
	case "Running":
		return []string{"clean_shutdown", "hard_shutdown", "shutdown", "clean_reboot", "hard_reboot", "pause", "suspend", "snapshot", "checkpoint"}
	case "Paused":
		return []string{"unpause", "hard_shutdown", "hard_reboot"}
	case "Suspended":
		return []string{"resume", "resume_on", "hard_shutdown", "destroy"}
	}
	return []string{}
}

// allowedPowerStates is xapi_vm_lifecycle's allowed_power_states, used for the expected
// part of VM_BAD_POWER_STATE (lower-case names, comma-separated).
var allowedPowerStates = map[string][]string{
	"start":          {"halted"},
	"pause":          {"running"},
	"unpause":        {"paused"},
	"suspend":        {"running"},
	"resume":         {"suspended"},
	"clean_shutdown": {"running"},
	"shutdown":       {"running", "paused"},
	"hard_shutdown":  {"paused", "suspended", "running"},
	"destroy":        {"halted", "suspended"},
}

func (c *call) assertPower(vm *object, op string) {
	actual := strings.ToLower(vm.S("power_state"))
	for _, s := range allowedPowerStates[op] {
		if s == actual {
			return
		}
	}
	c.fail("VM_BAD_POWER_STATE", vm.ref, strings.Join(allowedPowerStates[op], ", "), actual)
}

// setPower changes a VM's power state with everything that follows from it.
func (p *Pool) setPower(vmRef, state string, host *Host) {
	f := map[string]any{"power_state": state, "allowed_operations": vmAllowedOps(state)}
	running := state == "Running" || state == "Paused"
	if running && host != nil {
		f["resident_on"] = host.ref
		f["domid"] = int64(p.db.gen%1000 + 1)
	}
	if !running {
		f["resident_on"] = NullRef
		f["domid"] = int64(-1)
	}
	if state == "Halted" {
		f["suspend_VDI"] = NullRef
	}
	vm := p.db.Update("VM", vmRef, f)
	for _, vbd := range vm.Refs("VBDs") {
		if b := p.db.Get("VBD", vbd); b != nil && b.B("currently_attached") != running {
			p.db.Set("VBD", vbd, "currently_attached", running)
		}
	}
	for _, vif := range vm.Refs("VIFs") {
		if v := p.db.Get("VIF", vif); v != nil && v.B("currently_attached") != running {
			p.db.Set("VIF", vif, "currently_attached", running)
		}
	}
	if a := vm.S("appliance"); a != NullRef {
		p.refreshApplianceOps(a)
	}
}

func init() {
	register("host.compute_free_memory", func(c *call) any {
		ref := c.str(1)
		for _, h := range c.pool.hosts {
			if h.ref == ref {
				return max(c.pool.freeMemory(h), 0)
			}
		}
		c.fail("HANDLE_INVALID", "host", ref)
		return nil
	})
}

// freeMemory is the memory a host has left for guests.
func (p *Pool) freeMemory(h *Host) int64 {
	ho := p.db.Get("host", h.ref)
	// The host's record is replaced whenever its resident_VMs change, so
	// its pointer and the VMs' memory generation say whether the sum still
	// holds: placing 10,000 starts summed every resident VM each time.
	if c, ok := p.memUsed[h.ref]; ok && c.host == ho && c.memGen == p.db.vmMemGen {
		return h.memory - c.used
	}
	var used int64
	for _, vm := range ho.Refs("resident_VMs") {
		if o := p.db.Get("VM", vm); o != nil {
			used += o.I("memory_static_max")
		}
	}
	if p.memUsed == nil {
		p.memUsed = map[string]memUse{}
	}
	p.memUsed[h.ref] = memUse{host: ho, memGen: p.db.vmMemGen, used: used}
	return h.memory - used
}

// memUse is a host's used memory as summed for one version of its record.
type memUse struct {
	host   *object
	memGen int64
	used   int64
}

// hostOf returns the pool's host with ref, or nil.
func (p *Pool) hostOf(ref string) *Host {
	for _, h := range p.hosts {
		if h.ref == ref {
			return h
		}
	}
	return nil
}

// startVM is VM.start (on == nil) and VM.start_on: checks, placement, boot in a slot
// of the host's xenopsd, then start_delay slept inside the call.
func (c *call) startVM(vmRef string, paused bool, on *Host) {
	p := c.pool
	vm := p.db.Get("VM", vmRef)
	if vm == nil {
		c.fail("HANDLE_INVALID", "VM", vmRef)
	}
	if vm.B("is_a_template") {
		c.fail("VM_IS_TEMPLATE", vmRef)
	}
	// VM.start_on: the host asked for must be enabled and see the VM's
	// storage (Xapi_vm_helpers.assert_can_boot_here).
	c.assertPower(vm, "start")
	op := "start"
	if on != nil {
		op = "start_on"
		if !p.db.Get("host", on.ref).B("enabled") {
			c.fail("HOST_DISABLED", on.ref)
		}
	}
	for _, vbd := range vm.Refs("VBDs") {
		b := p.db.Get("VBD", vbd)
		if b == nil || b.B("empty") || b.S("type") == "CD" {
			continue
		}
		vdi := p.db.Get("VDI", b.S("VDI"))
		if vdi == nil {
			continue
		}
		if !p.srAttachedOn(vdi.S("SR"), on) {
			c.fail("VM_REQUIRES_SR", vmRef, vdi.S("SR"))
		}
	}
	for _, vif := range vm.Refs("VIFs") {
		v := p.db.Get("VIF", vif)
		if v != nil && p.db.Get("network", v.S("network")) == nil {
			c.fail("VM_REQUIRES_NETWORK", vmRef, v.S("network"))
		}
	}
	need := vm.I("memory_static_max")
	// Placement as xapi's: the host asked for (start_on), else the VM's affinity host if
	// it has room, else the host with the most free memory.
	var best *Host
	var bestFree int64 = -1 << 62
	if on == nil {
		if a := p.hostOf(vm.S("affinity")); a != nil && p.freeMemory(a) >= need {
			on = a
		}
	}
	if on != nil {
		best, bestFree = on, p.freeMemory(on)
	} else {
		for _, h := range p.hosts {
			if f := p.freeMemory(h); f > bestFree {
				best, bestFree = h, f
			}
		}
	}
	if bestFree < need {
		c.fail("HOST_NOT_ENOUGH_FREE_MEMORY", strconv.FormatInt(need, 10), strconv.FormatInt(max(bestFree, 0), 10))
	}
	// Xapi_vm.start: a VM whose restart priority is "restart" is marked to
	// always run, once the forwarding layer's checks have passed.
	if vm.S("ha_restart_priority") == "restart" && !vm.B("ha_always_run") {
		p.db.Set("VM", vmRef, "ha_always_run", true)
	}
	p.db.Set("VM", vmRef, "current_operations", map[string]string{c.opRef(): op})
	booted := false
	defer func() {
		// Whatever the outcome, as xapi's forwarding layer clears the
		// operation; a boot cut short (task.cancel) leaves the VM halted.
		if p.db.Get("VM", vmRef) == nil {
			return
		}
		p.db.Set("VM", vmRef, "current_operations", map[string]string{})
		if !booted {
			p.setPower(vmRef, "Halted", nil)
		}
	}()
	state := "Running"
	if paused {
		state = "Paused"
	}
	p.setPower(vmRef, state, best)
	c.holdSteps(best.vmOps, c.w.timing.Start, startSteps)
	booted = true
	// xapi sleeps start_delay after the VM is started, inside VM.start.
	c.sleep(time.Duration(vm.I("start_delay")) * time.Second)
}

// opRef is the ref under which a call shows in current_operations.
func (c *call) opRef() string {
	if c.task != "" {
		return c.task
	}
	return "OpaqueRef:" + strconv.FormatInt(c.pool.db.gen, 10)
}

// shutdownVM is VM.hard_shutdown / clean_shutdown / shutdown.
func (c *call) shutdownVM(vmRef, op string) {
	p := c.pool
	vm := p.db.Get("VM", vmRef)
	if vm == nil {
		c.fail("HANDLE_INVALID", "VM", vmRef)
	}
	c.assertPower(vm, op)
	if vm.S("power_state") == "Suspended" {
		// hard_shutdown of a suspended VM deletes its suspend image.
		if sv := vm.S("suspend_VDI"); sv != NullRef {
			p.deleteVDI(sv)
		}
		p.setPower(vmRef, "Halted", nil)
		return
	}
	if h := p.hostOf(vm.S("resident_on")); h != nil {
		c.holdFor(h.vmOps, c.w.timing.Shutdown)
	} else {
		c.sleep(c.w.timing.Shutdown)
	}
	p.setPower(vmRef, "Halted", nil)
	p.db.Set("VM", vmRef, "ha_always_run", false)
	c.sleep(time.Duration(vm.I("shutdown_delay")) * time.Second)
}

// destroyVM is VM.destroy: VBD and VIF records go, VDIs never do.
func (c *call) destroyVM(vmRef string) {
	p := c.pool
	vm := p.db.Get("VM", vmRef)
	if vm == nil {
		c.fail("HANDLE_INVALID", "VM", vmRef)
	}
	if vm.B("is_default_template") {
		c.fail("VM_CANNOT_DELETE_DEFAULT_TEMPLATE", vmRef)
	}
	c.assertPower(vm, "destroy")
	for _, vbd := range vm.Refs("VBDs") {
		p.db.Delete("VBD", vbd)
	}
	for _, vif := range vm.Refs("VIFs") {
		p.db.Delete("VIF", vif)
	}
	app := vm.S("appliance")
	p.db.Delete("VM", vmRef)
	if app != NullRef && p.db.Get("VM_appliance", app) != nil {
		p.refreshApplianceOps(app)
	}
}

func init() {
	register("VM.start", func(c *call) any {
		c.obj(1, "VM")
		c.startVM(c.str(1), c.boolean(2), nil)
		return nil
	})
	register("VM.start_on", func(c *call) any {
		c.obj(1, "VM")
		h := c.pool.hostOf(c.obj(2, "host").ref)
		c.startVM(c.str(1), c.boolean(3), h)
		return nil
	})
	register("VM.hard_shutdown", func(c *call) any { c.shutdownVM(c.obj(1, "VM").ref, "hard_shutdown"); return nil })
	register("VM.clean_shutdown", func(c *call) any { c.shutdownVM(c.obj(1, "VM").ref, "clean_shutdown"); return nil })
	register("VM.shutdown", func(c *call) any { c.shutdownVM(c.obj(1, "VM").ref, "shutdown"); return nil })
	register("VM.destroy", func(c *call) any { c.destroyVM(c.obj(1, "VM").ref); return nil })
	register("VM.pause", func(c *call) any {
		vm := c.obj(1, "VM")
		c.assertPower(vm, "pause")
		c.pool.setPower(vm.ref, "Paused", nil)
		return nil
	})
	register("VM.unpause", func(c *call) any {
		vm := c.obj(1, "VM")
		c.assertPower(vm, "unpause")
		c.pool.setPower(vm.ref, "Running", nil)
		return nil
	})
	register("VM.suspend", func(c *call) any {
		vm := c.obj(1, "VM")
		c.assertPower(vm, "suspend")
		sr := c.db.Get("pool", c.pool.ref).S("suspend_image_SR")
		if c.db.Get("SR", sr) == nil {
			c.fail("VM_NO_SUSPEND_SR", vm.ref)
		}
		vdi := c.pool.createVDI(sr, map[string]any{"name_label": "Suspend image", "name_description": "Suspend image",
			"virtual_size": vm.I("memory_static_max") + (16 << 20), "type": "suspend"})
		c.sleep(c.w.timing.Shutdown)
		c.pool.setPower(vm.ref, "Suspended", nil)
		c.db.Update("VM", vm.ref, map[string]any{"suspend_VDI": vdi, "suspend_SR": sr})
		return nil
	})
	register("VM.resume", func(c *call) any {
		vm := c.obj(1, "VM")
		c.assertPower(vm, "resume")
		host := c.pool.hosts[0]
		// Listed while it runs, as a start is; one cut short (task.cancel)
		// leaves the VM suspended, with its image.
		c.db.Set("VM", vm.ref, "current_operations", map[string]string{c.opRef(): "resume"})
		defer func() {
			if c.db.Get("VM", vm.ref) != nil {
				c.db.Set("VM", vm.ref, "current_operations", map[string]string{})
			}
		}()
		c.holdSteps(host.vmOps, c.w.timing.Start, startSteps)
		if sv := vm.S("suspend_VDI"); sv != NullRef {
			c.pool.deleteVDI(sv)
		}
		state := "Running"
		if c.boolean(2) {
			state = "Paused"
		}
		c.pool.setPower(vm.ref, state, host)
		c.db.Set("VM", vm.ref, "suspend_VDI", NullRef)
		return nil
	})
	// Devices share their rules: a record is destroyed only once detached,
	// and unplugged only while attached (PBD.unplug has its own, in storage.go).
	for _, cls := range []string{"VBD", "VIF"} {
		register(cls+".destroy", destroyDetached(cls))
		register(cls+".unplug", func(c *call) any {
			d := c.obj(1, cls)
			if !d.B("currently_attached") {
				c.fail("DEVICE_ALREADY_DETACHED", d.ref)
			}
			c.db.Set(cls, d.ref, "currently_attached", false)
			return nil
		})
	}
}

// destroyDetached is <cls>.destroy of a device record (VBD, VIF, PBD).
func destroyDetached(cls string) handler {
	return func(c *call) any {
		d := c.obj(1, cls)
		if d.B("currently_attached") {
			c.fail("OPERATION_NOT_ALLOWED", cls+" is currently attached")
		}
		c.db.Delete(cls, d.ref)
		return nil
	}
}

func init() {
	register("network.destroy", func(c *call) any {
		n := c.obj(1, "network")
		if len(n.Refs("VIFs")) > 0 {
			c.fail("NETWORK_CONTAINS_VIF", n.Refs("VIFs")...)
		}
		c.db.Delete("network", n.ref)
		return nil
	})
}

// snapshotVM is VM.snapshot (Xapi_vm_snapshot.snapshot, disk-only): a halted
// template record marked is_a_snapshot, snapshot_of the VM, with a snapshot of
// each disk VDI on the same SR (is_a_snapshot, snapshot_of the VDI; CDs and
// ignore_vdis keep no disk) and copies of the VIFs. VM.parent/children are
// not kept.
func (c *call) snapshotVM(vm *object, name string, ignore map[string]bool) string {
	p := c.pool
	if vm.B("is_a_template") {
		c.fail("VM_IS_TEMPLATE", vm.ref)
	}
	ref := c.w.newRef()
	fields := map[string]any{}
	for k, v := range vm.f {
		fields[k] = v
	}
	for _, k := range []string{"VBDs", "VIFs", "snapshots", "consoles", "crash_dumps", "VUSBs", "VTPMs", "VGPUs", "attached_PCIs", "children"} {
		delete(fields, k)
	}
	fields["uuid"] = c.w.newUUID()
	fields["name_label"] = name
	fields["is_a_snapshot"] = true
	fields["is_a_template"] = true
	fields["snapshot_of"] = vm.ref
	fields["snapshot_time"] = time.Now().UTC()
	fields["appliance"] = NullRef
	fields["power_state"] = "Halted"
	fields["resident_on"] = NullRef
	fields["scheduled_to_be_resident_on"] = NullRef
	fields["domid"] = int64(-1)
	fields["suspend_VDI"] = NullRef
	fields["ha_always_run"] = false
	fields["current_operations"] = map[string]string{}
	fields["allowed_operations"] = []string{"clone", "copy", "export", "destroy", "revert"}
	fields["other_config"] = copyMap(vm.Map("other_config"))
	p.db.Create("VM", ref, fields)
	for _, vbdRef := range vm.Refs("VBDs") {
		b := p.db.Get("VBD", vbdRef)
		if b == nil {
			continue
		}
		vf := map[string]any{}
		for k, v := range b.f {
			vf[k] = v
		}
		vf["uuid"] = c.w.newUUID()
		vf["VM"] = ref
		vf["currently_attached"] = false
		vf["current_operations"] = map[string]string{}
		vf["metrics"] = NullRef
		src := p.db.Get("VDI", b.S("VDI"))
		if b.S("type") == "CD" || b.B("empty") || src == nil || ignore[src.ref] {
			vf["VDI"], vf["empty"] = NullRef, true
		} else {
			sm := copyMap(src.Map("sm_config"))
			delete(sm, "SCSIid")
			vf["VDI"] = p.createVDI(src.S("SR"), map[string]any{"name_label": src.S("name_label"), "name_description": src.S("name_description"),
				"virtual_size": src.I("virtual_size"), "type": src.S("type"), "sm_config": sm, "is_a_snapshot": true, "snapshot_of": src.ref,
				"snapshot_time": time.Now().UTC(), "read_only": false})
		}
		p.db.Create("VBD", c.w.newRef(), vf)
	}
	for _, vifRef := range vm.Refs("VIFs") {
		v := p.db.Get("VIF", vifRef)
		if v == nil {
			continue
		}
		vf := map[string]any{}
		for k, x := range v.f {
			vf[k] = x
		}
		vf["uuid"] = c.w.newUUID()
		vf["VM"] = ref
		vf["currently_attached"] = false
		vf["current_operations"] = map[string]string{}
		vf["metrics"] = NullRef
		p.db.Create("VIF", c.w.newRef(), vf)
	}
	return ref
}

func init() {
	register("VM.snapshot", func(c *call) any {
		vm := c.obj(1, "VM")
		ignore := map[string]bool{}
		if len(c.params) > 3 {
			for _, v := range c.strSet(3) {
				ignore[v] = true
			}
		}
		return c.snapshotVM(vm, c.str(2), ignore)
	})
}
