package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// startBeat is StartVM's heartbeat: the XAPI task of the start in flight
// (VM.start sleeps the VM's start_delay inside it).
type startBeat struct {
	Task string `json:"task,omitempty"`
}

// StartVM starts one recovered VM (running or paused): Halted → VM.start,
// Suspended → VM.resume (VM.start would fail on it, XenCenter's bug),
// Paused and wanted running → VM.unpause; a VM already in the wanted state
// is reported Already. A running VM asked to be paused is left running and
// reported as it is (Verify flags it): pausing a live VM is not ours to do.
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
		_, _, _ = a.awaitStaleTask(ctx, c, xapi.Ref(prev.Task))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		tr.update(func(b *startBeat) { b.Task = "" })
	}
	ref, vm, err := a.findVM(ctx, c, in.VMUUID)
	if err != nil {
		return nil, err
	}
	want := xapi.PowerRunning
	if in.Paused {
		want = xapi.PowerPaused
	}
	label := "VM " + q(vm.NameLabel, vm.UUID)
	if vm.PowerState == want || (vm.PowerState == xapi.PowerRunning && in.Paused) {
		return &StartVMResult{PowerState: vm.PowerState, Already: true, StartedAt: time.Now().UTC()}, nil
	}
	release, err := a.startSlot(ctx, c, in.Slots)
	if err != nil {
		return nil, err
	}
	defer release()
	pctx := xapi.WithProgress(ctx, func(task xapi.Ref, _ float64) {
		tr.update(func(b *startBeat) { b.Task = string(task) })
	})
	switch vm.PowerState {
	case xapi.PowerHalted:
		err = c.s.StartVM(pctx, ref, in.Paused, false)
	case xapi.PowerSuspended:
		err = c.s.ResumeVM(pctx, ref, in.Paused, false)
	case xapi.PowerPaused:
		err = c.s.UnpauseVM(pctx, ref)
	default:
		return nil, permanent(codeXAPI, fmt.Sprintf("%s is in power state %q at site %s, which lifeboat cannot start from", label, vm.PowerState, c.site), "check it by hand, then start the run again", nil)
	}
	tr.update(func(b *startBeat) { b.Task = "" })
	if err != nil {
		// A concurrent start (or an earlier attempt's) may have won the race.
		if now, rerr := c.s.GetVMRecord(ctx, ref); rerr == nil && now.PowerState == want {
			return &StartVMResult{PowerState: now.PowerState, Already: true, StartedAt: time.Now().UTC()}, nil
		}
		return nil, classify(ctx, err, fmt.Sprintf("starting %s at site %s failed", label, c.site), "fix the cause (memory, storage, network), then re-run")
	}
	now, err := c.s.GetVMRecord(ctx, ref)
	if err != nil {
		return nil, classify(ctx, err, fmt.Sprintf("reading %s at site %s failed", label, c.site), "")
	}
	return &StartVMResult{PowerState: now.PowerState, StartedAt: time.Now().UTC()}, nil
}

// findVM looks a VM up by UUID; a missing VM is a non-retryable error.
func (a *Activities) findVM(ctx context.Context, c *conn, uuid string) (xapi.Ref, xapi.VM, error) {
	ref, err := c.s.GetVMByUUID(ctx, uuid)
	if err == nil {
		var vm xapi.VM
		vm, err = c.s.GetVMRecord(ctx, ref)
		if err == nil {
			return ref, vm, nil
		}
	}
	if gone(err) {
		return "", xapi.VM{}, nonRetryable(codeNotFound, fmt.Sprintf("VM %s is not in the pool at site %s: it was not recovered or was removed; re-run the recovery", uuid, c.site), nil)
	}
	return "", xapi.VM{}, classify(ctx, err, fmt.Sprintf("looking up VM %s at site %s failed", uuid, c.site), "")
}
