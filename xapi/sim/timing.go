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

// slots is a counting semaphore: a bounded resource of the simulated pools.
type slots chan struct{}

func newSlots(n int) slots {
	if n <= 0 {
		return nil
	}
	return make(slots, n)
}

// hold runs f holding one slot (nil slots: unlimited), waiting with the world lock
// released; a call cancelled while it waits fails without running f.
func (c *call) hold(s slots, f func()) {
	if s == nil {
		f()
		return
	}
	got := false
	c.unlocked(func() {
		select {
		case s <- struct{}{}:
			got = true
		case <-c.ctx.Done():
		}
	})
	if !got {
		if c.task != "" {
			c.fail("TASK_CANCELLED", c.task)
		}
		c.fail("INTERNAL_ERROR", "client went away")
	}
	defer func() { <-s }()
	f()
}
