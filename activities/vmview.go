package activities

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// vmView is this worker's copy of one pool's VMs and vApps, kept current
// with event.from, so that Recover and StartVM learn a VM's ref and state
// without a get_by_uuid and a get_record each: a thousand concurrent users
// share a handful of event.from calls that return only what changed.
//
// sync returns only after a read that began after sync was called, so what
// it returns is at least as fresh as a get_record made at that moment: it
// is safe for the decisions Recover makes before force=true and for
// StartVM's choice of start, resume or unpause. Concurrent callers share one
// read (and the next one, for those who arrived while it was under way).
type vmView struct {
	mu       sync.Mutex
	token    string // event.from token; "" = read everything
	polled   bool   // event.from works here (else get_all_records each time)
	vms      map[xapi.Ref]xapi.VMState
	byUUID   map[string]xapi.Ref
	apps     map[xapi.Ref]xapi.VMAppliance
	appUUID  map[string]xapi.Ref
	started  uint64 // reads started
	finished uint64 // reads finished (the latest one's error in err)
	err      error
	inflight chan struct{}
	readAt   time.Time // when the latest read finished
	// noted is the power state this worker's own successful start, resume
	// or unpause left a VM in, until the next read brings the VM's record.
	noted map[xapi.Ref]string
	// warmFrom is the fewest VMs keepWarm reads for (warmMinVMs).
	warmFrom int
	// shared is the read shareRead's callers wait for, until it starts.
	shared *sharedRead
}

// sharedRead is one read of the view that several callers wait for
// (shareRead). Began is set before done is closed: the read started after
// it, so it shows every change made before.
type sharedRead struct {
	due   time.Time
	timer *time.Timer
	s     *xapi.Session
	done  chan struct{}
	began time.Time
	err   error
}

// sharedReadTimeout bounds a shared read, which no caller's context does.
const sharedReadTimeout = 2 * time.Minute

// shareRead returns the site's next shared read: one that starts at most
// within from now, and serves every caller that asks before it starts.
// Callers that only need a read newer than some moment of theirs (the
// recovery checks, see checkRecovered) share one read a while instead of
// one each: every unit's recovery ending was one event.from against a real
// pool, where the units of a site end a few at a time.
func (v *vmView) shareRead(s *xapi.Session, within time.Duration) *sharedRead {
	v.mu.Lock()
	defer v.mu.Unlock()
	due := time.Now().Add(within)
	r := v.shared
	switch {
	case r == nil:
		r = &sharedRead{due: due, s: s, done: make(chan struct{})}
		v.shared = r
		r.timer = time.AfterFunc(within, func() { v.runShared(r) })
	case due.Before(r.due) && r.timer.Stop():
		r.due = due
		r.timer = time.AfterFunc(within, func() { v.runShared(r) })
	}
	return r
}

// hurry starts the shared read now if it has not started.
func (v *vmView) hurry(r *sharedRead) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.shared == r && r.timer.Stop() {
		r.due = time.Now()
		r.timer = time.AfterFunc(0, func() { v.runShared(r) })
	}
}

func (v *vmView) runShared(r *sharedRead) {
	v.mu.Lock()
	if v.shared == r {
		v.shared = nil
	}
	v.mu.Unlock()
	r.began = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), sharedReadTimeout)
	defer cancel()
	_, r.err = v.sync(ctx, r.s)
	close(r.done)
}

var viewClasses = []string{"VM", "VM_appliance"}

func newVMView() *vmView {
	return &vmView{polled: true, warmFrom: warmMinVMs}
}

// vmSnapshot is what sync returns: the view itself, read under its lock.
// A later read only makes it fresher, which is all its users need (at
// least as fresh as when they called sync), and nothing is copied.
type vmSnapshot struct{ v *vmView }

func (s vmSnapshot) vm(uuid string) (xapi.Ref, xapi.VMState, bool) {
	s.v.mu.Lock()
	defer s.v.mu.Unlock()
	ref, ok := s.v.byUUID[uuid]
	if !ok {
		return "", xapi.VMState{}, false
	}
	return ref, s.v.vms[ref], true
}

// all returns copies of every VM and vApp record the view holds.
func (s vmSnapshot) all() (map[xapi.Ref]xapi.VMState, map[xapi.Ref]xapi.VMAppliance) {
	s.v.mu.Lock()
	defer s.v.mu.Unlock()
	vms := make(map[xapi.Ref]xapi.VMState, len(s.v.vms))
	for k, v := range s.v.vms {
		vms[k] = v
	}
	apps := make(map[xapi.Ref]xapi.VMAppliance, len(s.v.apps))
	for k, v := range s.v.apps {
		apps[k] = v
	}
	return vms, apps
}

// app is the ref of the vApp with this UUID, or "".
func (s vmSnapshot) app(uuid string) xapi.Ref {
	s.v.mu.Lock()
	defer s.v.mu.Unlock()
	return s.v.appUUID[uuid]
}

// sync brings the view up to date (see vmView) and returns it.
func (v *vmView) sync(ctx context.Context, s *xapi.Session) (vmSnapshot, error) {
	v.mu.Lock()
	need := v.started + 1 // a read that starts from now on
	for v.finished < need {
		if v.inflight == nil {
			v.started++
			mine := v.started
			ch := make(chan struct{})
			v.inflight = ch
			v.mu.Unlock()
			// Shared by every waiter: not bound to this caller's cancellation
			// (each call has the client's timeout).
			err := v.read(context.WithoutCancel(ctx), s)
			v.mu.Lock()
			v.finished, v.err, v.inflight, v.readAt = mine, err, nil, time.Now()
			close(ch)
			continue
		}
		ch := v.inflight
		v.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return vmSnapshot{}, ctx.Err()
		}
		v.mu.Lock()
	}
	defer v.mu.Unlock()
	if v.err != nil {
		return vmSnapshot{}, v.err
	}
	return vmSnapshot{v}, nil
}

// warmEvery is how often keepWarm reads what changed, at most, for all its
// callers of a site together.
const warmEvery = time.Second

// warmMinVMs: a view of fewer VMs is not kept warm. The next full read of
// what changed costs little there, and against a real pool a read every
// second through a 100-VM plan's 80 s of boots was a quarter of its
// event.from calls. From 2,000 VMs down to 500: at 1,000 VMs Verify decoded
// every started VM after the last start, 0.18-0.24 s, and 0.05 s warm, with
// the same calls per VM (make bench).
const warmMinVMs = 500

// keepWarm reads what changed in the background, every warmEvery unless a
// read is under way or more recent or the view is small, until the
// returned function is called:
// for callers that change many VMs (StartBatch), so that the next full
// reader (Verify) finds the view nearly fresh. Errors are left to that
// reader.
func (v *vmView) keepWarm(ctx context.Context, s *xapi.Session) (stop func()) {
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(warmEvery)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tk.C:
				v.mu.Lock()
				busy := v.inflight != nil || time.Since(v.readAt) < warmEvery || len(v.vms) < v.warmFrom
				v.mu.Unlock()
				if !busy {
					_, _ = v.sync(ctx, s)
				}
			}
		}
	}()
	return sync.OnceFunc(func() { close(done) })
}

// cached returns the VM as the view last saw it, without any call; the
// state may be old (see StartVM for why that is safe there).
func (v *vmView) cached(uuid string) (xapi.Ref, xapi.VMState, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ref, ok := v.byUUID[uuid]
	if !ok {
		return "", xapi.VMState{}, false
	}
	vm := v.vms[ref]
	if st, ok := v.noted[ref]; ok {
		vm.PowerState = st
	}
	return ref, vm, true
}

// note records the power state a successful operation of ours left a VM in.
func (v *vmView) note(ref xapi.Ref, state string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.noted == nil {
		v.noted = map[xapi.Ref]string{}
	}
	v.noted[ref] = state
}

// read applies what changed since the last token (everything the first
// time, or after the token was lost).
func (v *vmView) read(ctx context.Context, s *xapi.Session) error {
	v.mu.Lock()
	token, polled := v.token, v.polled
	v.mu.Unlock()
	if polled {
		batch, err := s.EventFrom(ctx, viewClasses, token, 0)
		switch {
		case err == nil:
			v.apply(token == "", batch)
			return nil
		case xapi.IsCode(err, xapi.CodeMessageMethodUnknown):
			v.mu.Lock()
			v.polled = false
			v.mu.Unlock()
		case token != "" && xapi.IsCode(err, xapi.CodeEventsLost, "EVENT_FROM_TOKEN_PARSE_FAILURE"):
			v.mu.Lock()
			v.token = ""
			v.mu.Unlock()
			return v.read(ctx, s)
		default:
			return err
		}
	}
	vms, err := s.GetAllVMStates(ctx)
	if err != nil {
		return err
	}
	apps, err := s.GetAllVMApplianceRecords(ctx)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.vms, v.apps, v.noted = vms, apps, nil
	v.index()
	return nil
}

// apply updates the view in place with one event.from batch (all of it
// replaces the view when full). The snapshots are decoded before the lock:
// every StartVM looks its VM up under it, and a batch holds thousands of
// VMs while they start.
func (v *vmView) apply(full bool, b *xapi.EventBatch) {
	type change struct {
		ref  xapi.Ref
		vm   bool // else a vApp
		ok   bool // a record decoded (not a deletion)
		rec  xapi.VMState
		app  xapi.VMAppliance
		skip bool // another class
	}
	changes := make([]change, len(b.Events))
	for i, ev := range b.Events {
		ch := change{ref: xapi.Ref(ev.Ref)}
		switch strings.ToLower(ev.Class) {
		case "vm":
			ch.vm = true
			ch.ok = ev.Operation != "del" && ev.DecodeSnapshot(&ch.rec) == nil
		case "vm_appliance":
			ch.ok = ev.Operation != "del" && ev.DecodeSnapshot(&ch.app) == nil
		default:
			ch.skip = true
		}
		changes[i] = ch
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if full || v.vms == nil {
		v.vms, v.apps, v.noted = map[xapi.Ref]xapi.VMState{}, map[xapi.Ref]xapi.VMAppliance{}, nil
		v.byUUID, v.appUUID = map[string]xapi.Ref{}, map[string]xapi.Ref{}
	}
	for _, ch := range changes {
		if ch.skip {
			continue
		}
		ref := ch.ref
		delete(v.noted, ref)
		if ch.vm {
			if old, ok := v.vms[ref]; ok && v.byUUID[old.UUID] == ref {
				delete(v.byUUID, old.UUID)
			}
			delete(v.vms, ref)
			if ch.ok {
				v.vms[ref], v.byUUID[ch.rec.UUID] = ch.rec, ref
			}
			continue
		}
		if old, ok := v.apps[ref]; ok && v.appUUID[old.UUID] == ref {
			delete(v.appUUID, old.UUID)
		}
		delete(v.apps, ref)
		if ch.ok {
			v.apps[ref], v.appUUID[ch.app.UUID] = ch.app, ref
		}
	}
	v.token = b.Token
}

// index rebuilds the UUID maps; called with mu held.
func (v *vmView) index() {
	v.byUUID = make(map[string]xapi.Ref, len(v.vms))
	for ref, vm := range v.vms {
		v.byUUID[vm.UUID] = ref
	}
	v.appUUID = make(map[string]xapi.Ref, len(v.apps))
	for ref, app := range v.apps {
		v.appUUID[app.UUID] = ref
	}
}

// view returns the site's VM view.
func (a *Activities) view(c *conn) *vmView {
	a.viewMu.Lock()
	defer a.viewMu.Unlock()
	v, ok := a.views[c.site]
	if !ok {
		v = newVMView()
		a.views[c.site] = v
	}
	return v
}
