package sim

import (
	"math/rand"
	"path"
	"sync"
	"time"
)

// This file is the fault model: dropped connections with a probability, slow calls, and
// injected errors on the Nth call of a method. Site outages, session expiry and master
// moves are control actions (control.go) because they change the world's state.

// Fault is one fault rule. Empty Pool and Method match everything; Method is a glob on
// the canonical method name ("VM.start", "Async.VM.*" matches the Async form only when
// written so; "VM.*" matches both forms' canonical name).
type Fault struct {
	ID     int    `json:"id"`
	Pool   string `json:"pool,omitempty"`
	Method string `json:"method,omitempty"`
	// DropProbability drops the connection without an answer (0..1).
	DropProbability float64 `json:"drop_probability,omitempty"`
	// Delay is added (in real time, not scaled) before the call runs.
	Delay Duration `json:"delay,omitempty"`
	// Nth makes the Nth matching call (1-based, counted from when the rule was added) fail
	// with Error; Times makes it fail that many consecutive calls (default 1); Nth 0 with an
	// Error fails every matching call.
	Nth   int      `json:"nth,omitempty"`
	Times int      `json:"times,omitempty"`
	Error []string `json:"error,omitempty"`

	seen  int
	fired int
}

// Faults holds the active fault rules.
type Faults struct {
	mu     sync.Mutex
	rules  []*Fault
	nextID int
	rng    *rand.Rand
}

func newFaults(seed int64) *Faults { return &Faults{rng: rand.New(rand.NewSource(seed))} }

func (r *Fault) matches(pool, method string) bool {
	if r.Pool != "" && r.Pool != pool {
		return false
	}
	if r.Method == "" {
		return true
	}
	ok, _ := path.Match(r.Method, method)
	return ok
}

// Add installs a rule and returns its id.
func (f *Faults) Add(r Fault) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	r.ID = f.nextID
	r.seen, r.fired = 0, 0
	f.rules = append(f.rules, &r)
	return r.ID
}

// Remove deletes a rule; Clear deletes all.
func (f *Faults) Remove(id int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rules {
		if r.ID == id {
			f.rules = append(f.rules[:i], f.rules[i+1:]...)
			return true
		}
	}
	return false
}

// Clear removes every rule.
func (f *Faults) Clear() {
	f.mu.Lock()
	f.rules = nil
	f.mu.Unlock()
}

// List returns the active rules.
func (f *Faults) List() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Fault, 0, len(f.rules))
	for _, r := range f.rules {
		out = append(out, *r)
	}
	return out
}

func (f *Faults) shouldDrop(pool string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.DropProbability > 0 && r.matches(pool, r.Method) && f.rng.Float64() < r.DropProbability {
			return true
		}
	}
	return false
}

func (f *Faults) slowness(pool, method string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var d time.Duration
	for _, r := range f.rules {
		if r.Delay > 0 && r.matches(pool, method) {
			d += time.Duration(r.Delay)
		}
	}
	return d
}

// injected returns the failure a rule injects into this call, if any.
func (f *Faults) injected(pool, method string) *Failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if len(r.Error) == 0 || !r.matches(pool, method) {
			continue
		}
		r.seen++
		times := r.Times
		if times <= 0 {
			times = 1
		}
		if r.Nth == 0 || (r.seen >= r.Nth && r.seen < r.Nth+times) {
			r.fired++
			return failure(r.Error[0], r.Error[1:]...)
		}
	}
	return nil
}
