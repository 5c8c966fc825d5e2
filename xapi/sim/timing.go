package sim

import "time"

// Timing is the timing model. Every duration is simulated time, multiplied by the speed
// factor (0 = instant).
type Timing struct {
	Latency      time.Duration // added to every synchronous call
	Recover      time.Duration // per VM recovered
	Start        time.Duration // VM boot, before start_delay is slept
	Shutdown     time.Duration // VM shutdown, before shutdown_delay is slept
	Probe        time.Duration // SR.probe (iSCSI login + scan)
	Plug         time.Duration // PBD.plug (and each plug of DR_task.create)
	OpenDatabase time.Duration // VDI.open_database
	Concurrency  int           // calls in flight per pool (0 = unlimited)
}

// DefaultTiming is used for every value a scenario leaves out.
var DefaultTiming = Timing{
	Latency:      5 * time.Millisecond,
	Recover:      2 * time.Second,
	Start:        3 * time.Second,
	Shutdown:     2 * time.Second,
	Probe:        1500 * time.Millisecond,
	Plug:         time.Second,
	OpenDatabase: 2 * time.Second,
	Concurrency:  0,
}

func (t TimingSpec) resolved() Timing {
	r := DefaultTiming
	set := func(dst *time.Duration, d *Duration) {
		if d != nil {
			*dst = time.Duration(*d)
		}
	}
	set(&r.Latency, t.Latency)
	set(&r.Recover, t.Recover)
	set(&r.Start, t.Start)
	set(&r.Shutdown, t.Shutdown)
	set(&r.Probe, t.Probe)
	set(&r.Plug, t.Plug)
	set(&r.OpenDatabase, t.OpenDatabase)
	if t.Concurrency > 0 {
		r.Concurrency = t.Concurrency
	}
	return r
}
