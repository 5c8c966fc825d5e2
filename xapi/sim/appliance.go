package sim

import (
	"sort"
	"sync"
)

// This file is VM_appliance: start by order (groups ascending, VMs of a group in
// parallel, each VM.start sleeping its start_delay), shutdowns by descending order,
// validity checks and OPERATION_PARTIALLY_FAILED.

// refreshApplianceOps recomputes VM_appliance.allowed_operations from its VMs' states.
func (p *Pool) refreshApplianceOps(ref string) {
	a := p.db.Get("VM_appliance", ref)
	if a == nil {
		return
	}
	ops := []string{}
	var halted, running, notHalted bool
	for _, v := range a.Refs("VMs") {
		vm := p.db.Get("VM", v)
		if vm == nil {
			continue
		}
		switch vm.S("power_state") {
		case "Halted":
			halted = true
		case "Running":
			running, notHalted = true, true
		default:
			notHalted = true
		}
	}
	if halted {
		ops = append(ops, "start")
	}
	if running {
		ops = append(ops, "clean_shutdown")
	}
	if notHalted {
		ops = append(ops, "hard_shutdown", "shutdown")
	}
	if len(a.Current()) > 0 {
		ops = []string{}
	}
	p.db.Set("VM_appliance", ref, "allowed_operations", ops)
}

// Current returns current_operations.
func (o *object) Current() map[string]string { return o.Map("current_operations") }

// applianceOp runs a start or shutdown over the appliance's VMs by order groups.
func (c *call) applianceOp(ref, op string, paused bool) {
	p := c.pool
	a := p.db.Get("VM_appliance", ref)
	for task, cur := range a.Current() {
		c.fail("OTHER_OPERATION_IN_PROGRESS", "VM_appliance", ref, cur, task)
	}
	vms := a.Refs("VMs")
	if len(vms) == 0 {
		c.fail("OPERATION_NOT_ALLOWED", "Appliance has no VMs.")
	}
	want := "Halted"
	if op == "start" {
		want = "Running"
		if paused {
			want = "Paused"
		}
	}
	count := map[string]int{}
	for _, v := range vms {
		count[p.db.Get("VM", v).S("power_state")]++
	}
	switch op {
	case "start":
		if count["Halted"] == 0 {
			c.fail("OPERATION_NOT_ALLOWED", "There are no halted VMs in this appliance.")
		}
	case "clean_shutdown":
		if count["Running"] == 0 {
			c.fail("OPERATION_NOT_ALLOWED", "There are no running VMs in this appliance.")
		}
	default:
		if count["Halted"] == len(vms) {
			c.fail("OPERATION_NOT_ALLOWED", "All VMs in this appliance are halted.")
		}
	}
	opRef := c.opRef()
	p.db.Set("VM_appliance", ref, "current_operations", map[string]string{opRef: op})
	p.refreshApplianceOps(ref)
	defer func() {
		if p.db.Get("VM_appliance", ref) != nil {
			p.db.Set("VM_appliance", ref, "current_operations", map[string]string{})
			p.refreshApplianceOps(ref)
		}
	}()
	groups := map[int64][]string{}
	var targets []string
	for _, v := range vms {
		vm := p.db.Get("VM", v)
		if vm.S("power_state") == want {
			continue
		}
		targets = append(targets, v)
		groups[vm.I("order")] = append(groups[vm.I("order")], v)
	}
	var orders []int64
	for o := range groups {
		orders = append(orders, o)
	}
	sort.Slice(orders, func(i, j int) bool {
		if op == "start" {
			return orders[i] < orders[j]
		}
		return orders[i] > orders[j]
	})
	for _, o := range orders {
		var wg sync.WaitGroup
		for _, v := range groups[o] {
			sub := &call{w: c.w, pool: p, host: c.host, sess: c.sess, db: p.db, method: c.method, ctx: c.ctx, task: c.task}
			wg.Add(1)
			go func(vm string) {
				defer wg.Done()
				c.w.mu.Lock()
				defer c.w.mu.Unlock()
				_, _ = run(sub, func(s *call) any {
					switch op {
					case "start":
						// Xapi_vm_appliance.start calls VM.start on every member not
						// in the wanted state: a Paused one fails (VM_BAD_POWER_STATE)
						// and is listed in OPERATION_PARTIALLY_FAILED.
						s.startVM(vm, paused, nil)
					case "hard_shutdown":
						s.shutdownVM(vm, "hard_shutdown")
					default:
						if o := p.db.Get("VM", vm); o != nil && o.S("power_state") == "Running" {
							s.shutdownVM(vm, "clean_shutdown")
						} else {
							s.shutdownVM(vm, "hard_shutdown")
						}
					}
					return nil
				})
			}(v)
		}
		c.unlocked(wg.Wait)
	}
	var failed []string
	for _, v := range targets {
		vm := p.db.Get("VM", v)
		if vm == nil || vm.S("power_state") != want {
			failed = append(failed, v)
		}
	}
	if len(failed) > 0 {
		c.fail("OPERATION_PARTIALLY_FAILED", append([]string{"VM_appliance." + op}, failed...)...)
	}
}

func init() {
	register("VM_appliance.start", func(c *call) any {
		c.applianceOp(c.obj(1, "VM_appliance").ref, "start", c.boolean(2))
		return nil
	})
	register("VM_appliance.clean_shutdown", func(c *call) any {
		c.applianceOp(c.obj(1, "VM_appliance").ref, "clean_shutdown", false)
		return nil
	})
	register("VM_appliance.hard_shutdown", func(c *call) any {
		c.applianceOp(c.obj(1, "VM_appliance").ref, "hard_shutdown", false)
		return nil
	})
	register("VM_appliance.shutdown", func(c *call) any {
		c.applianceOp(c.obj(1, "VM_appliance").ref, "shutdown", false)
		return nil
	})
	register("VM_appliance.destroy", func(c *call) any {
		a := c.obj(1, "VM_appliance")
		for _, v := range a.Refs("VMs") {
			c.db.Set("VM", v, "appliance", NullRef)
		}
		c.db.Delete("VM_appliance", a.ref)
		return nil
	})
	register("VM_appliance.create", func(c *call) any {
		args := c.strMapAny(1)
		ref := c.w.newRef()
		n, _ := args["name_label"].(string)
		d, _ := args["name_description"].(string)
		c.db.Create("VM_appliance", ref, map[string]any{"uuid": c.w.newUUID(), "name_label": n, "name_description": d})
		return ref
	})
}
