package sim

import "time"

// Timing is the timing model (docs/timing-model.md gives the source of each figure). Every
// duration is simulated time, multiplied by the speed factor (0 = instant); the limits
// below hold at every speed.
type Timing struct {
	Latency      time.Duration // added to every synchronous call
	Recover      time.Duration // per VM recovered (VM.recover, and per VM of VM_appliance.recover)
	RecoverDB    time.Duration // the part of Recover that holds the pool's database lock
	Start        time.Duration // VM boot, before start_delay is slept
	Shutdown     time.Duration // VM shutdown, before shutdown_delay is slept
	Probe        time.Duration // SR.probe (iSCSI login + scan)
	Plug         time.Duration // PBD.plug (and each plug of DR_task.create)
	OpenDatabase time.Duration // VDI.open_database, one at a time per pool
	// Concurrency bounds synchronous calls in flight per pool (xapi's connection limit);
	// an Async call holds a connection only until its task is created.
	Concurrency int
	// HostVMOps is how many VM operations (boot, shutdown, resume) one host runs at once:
	// xenopsd's worker pool. A VM.start holds a slot of the host it is placed on while it
	// boots; its start_delay is slept by xapi after the slot is released.
	HostVMOps int
}

// DefaultTiming is used for every value a scenario leaves out.
var DefaultTiming = Timing{
	Latency:      5 * time.Millisecond,
	Recover:      2 * time.Second,
	RecoverDB:    100 * time.Millisecond,
	Start:        3 * time.Second,
	Shutdown:     2 * time.Second,
	Probe:        1500 * time.Millisecond,
	Plug:         time.Second,
	OpenDatabase: 2 * time.Second,
	Concurrency:  800,
	HostVMOps:    4,
}

// Resolved is the timing model of a scenario: its timing: keys over DefaultTiming.
func (sc *Scenario) Resolved() Timing { return sc.Timing.resolved() }

func (t TimingSpec) resolved() Timing {
	r := DefaultTiming
	set := func(dst *time.Duration, d *Duration) {
		if d != nil {
			*dst = time.Duration(*d)
		}
	}
	set(&r.Latency, t.Latency)
	set(&r.Recover, t.Recover)
	set(&r.RecoverDB, t.RecoverDB)
	set(&r.Start, t.Start)
	set(&r.Shutdown, t.Shutdown)
	set(&r.Probe, t.Probe)
	set(&r.Plug, t.Plug)
	set(&r.OpenDatabase, t.OpenDatabase)
	if t.Concurrency > 0 {
		r.Concurrency = t.Concurrency
	}
	if t.HostVMOps > 0 {
		r.HostVMOps = t.HostVMOps
	}
	r.RecoverDB = min(r.RecoverDB, r.Recover)
	return r
}

// setProgress records the progress of the call's task (an Async call's;
// a synchronous call has none to show), as xapi does when xenopsd reports
// a step done (Xapi_xenops.update_task: Db.Task.set_progress), which is a
// change of the task for event.from.
func (c *call) setProgress(p float64) {
	if c.task != "" && c.pool.db.Get("task", c.task) != nil {
		c.pool.db.Set("task", c.task, "progress", p)
	}
}

// startSteps is how many steps of VM_start report progress: xenopsd's
// perform_atomics reports after each top-level atomic of the operation
// (xenops_server.ml, atomics_of_operation VM_start: the pre-start hook,
// VM_create, VM_build, the devices plugged in parallel, the device model,
// VM_set_domain_action_request), for a VM without vGPUs, PCI or USB
// devices.
const startSteps = 6

// slots is a counting semaphore: a bounded resource of the simulated pools.
// Each token is the time its slot's last hold was due to end.
type slots chan time.Time

func newSlots(n int) slots {
	if n <= 0 {
		return nil
	}
	s := make(slots, n)
	for range n {
		s <- time.Time{}
	}
	return s
}

// holdFor holds one slot (nil slots: unlimited) for d, scaled, with the
// world lock released throughout: the slot frees when its time is up, not
// when the world lock is next free (the world lock is the simulator's own,
// real xapi has none). A call that waited for its slot starts when the
// previous hold was due to end, not when the runtime woke it: a timer fires
// a few hundred microseconds late, which at speed 0.05 made the database
// lock's 5 ms holds 8% longer than the model's and a saturated lock 8%
// slower than the bound. A call cancelled while it waits fails without
// holding the slot; one cancelled while it holds it fails as sleep does.
func (c *call) holdFor(s slots, d time.Duration) { c.holdSteps(s, d, 1) }

// holdSteps is holdFor for an operation that xenopsd runs as steps of
// equal length, each reporting the task's progress when it ends (see
// startSteps); the last one's report is the task's end.
func (c *call) holdSteps(s slots, d time.Duration, steps int) {
	if s == nil {
		for i := 1; i < steps; i++ {
			c.sleep(d / time.Duration(steps))
			c.setProgress(float64(i) / float64(steps))
		}
		c.sleep(d - d/time.Duration(steps)*time.Duration(steps-1))
		return
	}
	d = c.w.scaled(d)
	got := false
	c.unlocked(func() {
		var due time.Time
		waited := false
		select {
		case due = <-s:
		default:
			waited = true
			select {
			case due = <-s:
			case <-c.ctx.Done():
				return
			}
		}
		got = true
		start := time.Now()
		if waited && start.Sub(due) < d {
			start = due // queued behind the previous hold: no drift
		}
		end := start.Add(d)
		defer func() { s <- end }()
		for i := 1; i < steps && c.ctx.Err() == nil; i++ {
			step := start.Add(d * time.Duration(i) / time.Duration(steps))
			if wait := time.Until(step); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-c.ctx.Done():
				}
				t.Stop()
			}
			c.w.mu.Lock()
			c.setProgress(float64(i) / float64(steps))
			c.w.mu.Unlock()
		}
		if c.ctx.Err() != nil {
			end = time.Now()
			return
		}
		if wait := time.Until(end); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-c.ctx.Done():
				end = time.Now()
			}
		}
		c.due = end // the call's next step follows from here (sleep)
	})
	if c.ctx.Err() != nil && c.task != "" {
		c.fail("TASK_CANCELLED", c.task)
	}
	if !got {
		c.fail("INTERNAL_ERROR", "client went away")
	}
}
