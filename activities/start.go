package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// startBeat is StartVM's heartbeat: the XAPI task of the start in flight
// (VM.start sleeps the VM's start_delay inside it), or xapi.SyncCall for a
// synchronous one.
type startBeat struct {
	Task string `json:"task,omitempty"`
}

// StartVM starts one recovered VM (running or paused): Halted → VM.start,
// Suspended → VM.resume (VM.start would fail on it, XenCenter's bug),
// Paused and wanted running → VM.unpause; a VM already in the wanted state
// is reported Already. A running VM asked to be paused is left running and
// reported as it is (Verify flags it): pausing a live VM is not ours to do.
//
// The VM's ref and state come from the site's view (vmview.go), which the
// Recover of the same worker brought up to date: usually no call at all. A
// stale state is harmless: xapi refuses start, resume or unpause in any
// other power state, and the refusal is followed by a fresh read; and
// Already is only ever reported from a fresh read.
func (a *Activities) StartVM(ctx context.Context, in *StartVMInput) (*StartVMResult, error) {
	// Heartbeat from the first line, with the earlier attempt's task until
	// it is over: waiting for it (its start_delay) is long too.
	var prev startBeat
	previousHeartbeat(ctx, &prev)
	tr := newTracker(ctx, prev)
	stop := tr.keepAlive(a.lim.heartbeatEvery)
	defer stop()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	if prev.Task != "" {
		a.awaitStaleStart(ctx, c, in.VMUUID, prev.Task)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		tr.update(func(b *startBeat) { b.Task = "" })
	}
	// At once, as StartBatch does: a retry must wait for this start
	// rather than ask for a second one.
	return a.startOne(ctx, c, in, func(task string) {
		tr.updateNow(func(b *startBeat) bool {
			if b.Task == task {
				return false
			}
			b.Task = task
			return true
		})
	})
}

// awaitStaleStart waits for the start an earlier attempt left in flight:
// its Async task, or for a synchronous call (xapi.SyncCall) the VM's start
// operations, whose task xapi keeps to itself.
// The view then reads what that start did, which it may have missed.
func (a *Activities) awaitStaleStart(ctx context.Context, c *conn, uuid, task string) {
	if xapi.Ref(task) != xapi.SyncCall {
		_, _, _ = a.awaitStaleTask(ctx, c, xapi.Ref(task))
	} else if ref, _, _, err := a.cachedVM(ctx, c, uuid); err == nil {
		a.logger(ctx).Info("waiting for the start of an earlier attempt", zap.String("site", c.site), zap.String("vm", uuid))
		_ = c.s.AwaitOperations(ctx, "VM", ref, "start", "start_on", "resume")
	}
	_, _ = a.view(c).sync(ctx, c.s) // an error is the start's to report
}

// startOne is StartVM once connected; task reports the XAPI task in flight
// ("" when it is over), for the caller's heartbeat.
func (a *Activities) startOne(ctx context.Context, c *conn, in *StartVMInput, task func(string)) (*StartVMResult, error) {
	var err error
	want := xapi.PowerRunning
	if in.Paused {
		want = xapi.PowerPaused
	}
	already := func(state string) bool { return state == want || (state == xapi.PowerRunning && in.Paused) }
	ref, vm, fresh, err := a.cachedVM(ctx, c, in.VMUUID)
	if err != nil {
		return nil, err
	}
	if already(vm.PowerState) && !fresh {
		if ref, vm, err = a.findVM(ctx, c, in.VMUUID); err != nil {
			return nil, err
		}
		fresh = true
	}
	label := "VM " + q(vm.NameLabel, vm.UUID)
	if already(vm.PowerState) {
		return &StartVMResult{PowerState: vm.PowerState, Already: true, StartedAt: time.Now().UTC()}, nil
	}
	// A VM with an affinity host is left to the pool, which boots it there
	// when it has the memory (as XenCenter's start does).
	slot, err := a.startSlot(ctx, c, in.Slots, in.Later, in.Spread && xapi.IsNullRef(vm.Affinity))
	if err != nil {
		return nil, err
	}
	defer slot.release()
	pctx := xapi.WithProgress(ctx, func(t xapi.Ref, _ float64) { task(string(t)) })
	for {
		switch vm.PowerState {
		case xapi.PowerHalted:
			if slot.host == "" {
				err = c.s.StartVM(pctx, ref, in.Paused, false)
				break
			}
			err = c.s.StartVMOn(pctx, ref, slot.host, in.Paused, false)
			if xapi.RefusedByHost(err) && ctx.Err() == nil {
				// That host cannot run it (memory, storage, network): the
				// pool's placement finds another, or says why none can.
				slot.refused()
				err = c.s.StartVM(pctx, ref, in.Paused, false)
			}
		case xapi.PowerSuspended:
			err = c.s.ResumeVM(pctx, ref, in.Paused, false)
		case xapi.PowerPaused:
			err = c.s.UnpauseVM(pctx, ref)
		default:
			if !fresh {
				err = errStale
				break
			}
			return nil, permanent(codeXAPI, fmt.Sprintf("%s is in power state %q at site %s, which lifeboat cannot start from", label, vm.PowerState, c.site), "check it by hand, then start the run again", nil)
		}
		task("")
		if err == nil {
			// The task succeeded: the VM is in the state asked for (start,
			// resume and unpause fail otherwise): nothing to read again.
			a.view(c).note(ref, want)
			return &StartVMResult{PowerState: want, StartedAt: time.Now().UTC()}, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A concurrent start (or an earlier attempt's) may have won the
		// race, or the view was stale: read it afresh.
		acted := vm.PowerState
		nref, now, ferr := a.findVM(ctx, c, in.VMUUID)
		if ferr == nil && already(now.PowerState) {
			// Started by this call if its answer was what was lost.
			return &StartVMResult{PowerState: now.PowerState, Already: !errors.Is(err, xapi.ErrAnswerLost), StartedAt: time.Now().UTC()}, nil
		}
		if ferr == nil && !fresh && (now.PowerState != acted || errors.Is(err, errStale)) {
			ref, vm, fresh = nref, now, true
			continue // once more, from the state it is really in
		}
		if ferr != nil && !fresh {
			return nil, ferr // gone since the view saw it, or unreadable
		}
		return nil, classify(ctx, err, fmt.Sprintf("starting %s at site %s failed", label, c.site), "fix the cause (memory, storage, network), then re-run")
	}
}

// errStale stands for an action not tried because the view's state may be old.
var errStale = errors.New("the VM's power state is being read again")

// cachedVM is the VM as the site's view last saw it, read afresh (fresh
// true) only when the view does not hold it yet.
func (a *Activities) cachedVM(ctx context.Context, c *conn, uuid string) (xapi.Ref, xapi.VMState, bool, error) {
	if ref, vm, ok := a.view(c).cached(uuid); ok {
		return ref, vm, false, nil
	}
	ref, vm, err := a.findVM(ctx, c, uuid)
	return ref, vm, true, err
}

// findVM looks a VM up by UUID in the site's view, brought up to date
// first (one event.from shared by the concurrent callers, see vmview.go);
// a missing VM is a non-retryable error.
func (a *Activities) findVM(ctx context.Context, c *conn, uuid string) (xapi.Ref, xapi.VMState, error) {
	snap, err := a.view(c).sync(ctx, c.s)
	if err != nil {
		return "", xapi.VMState{}, classify(ctx, err, fmt.Sprintf("looking up VM %s at site %s failed", uuid, c.site), "")
	}
	ref, vm, ok := snap.vm(uuid)
	if !ok {
		return "", xapi.VMState{}, nonRetryable(codeNotFound, fmt.Sprintf("VM %s is not in the pool at site %s: it was not recovered or was removed; re-run the recovery", uuid, c.site), nil)
	}
	return ref, vm, nil
}
