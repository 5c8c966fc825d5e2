package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
)

// StartBatch starts the VMs of a start child: its chains side by side, each
// vApp order by order (RunChains), in one activity where one per order or
// per VM cost Temporal more work than the pool's boots, at thousands of
// VMs. Each VM is started as StartVM starts it, sharing the site's start
// slots; a VM waiting for its order holds none.
//
// A VM's own failure is its result, not the activity's: a transient one
// (xapi.Classify) is retried here, startRetries times with backoff, so a VM
// that booted is never asked again because another one failed; only a site
// that cannot be reached fails the whole activity (Temporal retries it).
// The heartbeat (StartProgress) holds each VM's task in flight and the VMs
// done, so a new attempt after a crash waits for the tasks a dead worker
// left running, keeps what was done (with when) and goes on where the
// chains were; the live view reads it too.
func (a *Activities) StartBatch(ctx context.Context, in *StartBatchInput) (*StartBatchResult, error) {
	var prev StartProgress
	previousHeartbeat(ctx, &prev)
	// The tracker owns copies: the VMs' goroutines update them under its
	// lock while prev is read.
	beat := StartProgress{Tasks: map[string]string{}, Done: map[string]StartedVM{}}
	for k, v := range prev.Tasks {
		beat.Tasks[k] = v
	}
	for k, v := range prev.Done {
		beat.Done[k] = v
	}
	tr := newTracker(ctx, beat)
	stop := tr.keepAlive(a.lim.heartbeatEvery)
	defer stop()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	// Keep the site's view warm while the VMs boot (vmView.refresh): Verify
	// then reads only the last changes, where it decoded every VM the run
	// started, 10,000 records in 3 s after the last start.
	warm := a.view(c).keepWarm(ctx, c.s)
	defer warm()
	vms := RunChains(ctx, in.StartChains(), func(vm VMRef, later int) StartedVM {
		uuid := vm.UUID
		if done, ok := prev.Done[uuid]; ok {
			return done
		}
		setTask := func(task string) {
			if task == "" {
				tr.update(func(b *StartProgress) { delete(b.Tasks, uuid) })
				return
			}
			// At once: a retry must wait for this task rather than start
			// the VM a second time.
			tr.updateNow(func(b *StartProgress) bool {
				if b.Tasks[uuid] == task {
					return false
				}
				b.Tasks[uuid] = task
				return true
			})
		}
		if stale := prev.Tasks[uuid]; stale != "" {
			a.awaitStaleStart(ctx, c, uuid, stale)
			setTask("")
		}
		r := a.startRetrying(ctx, c, &StartVMInput{Site: in.Site, VMUUID: uuid, Paused: in.Paused, Slots: in.Slots, Later: later, Spread: in.Spread}, setTask)
		if ctx.Err() == nil {
			// At once too: the live view shows the VM running from here.
			tr.updateNow(func(b *StartProgress) bool { b.Done[uuid] = r; return true })
		}
		return r
	})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return &StartBatchResult{VMs: vms}, nil
}

// StartProgress is StartBatch's heartbeat: the task in flight per VM UUID
// (xapi.SyncCall for a synchronous start), and the outcome of each VM
// done. A VM in neither waits for its order or for a start slot.
type StartProgress struct {
	Tasks map[string]string    `json:"tasks,omitempty"`
	Done  map[string]StartedVM `json:"done,omitempty"`
}

// Retries of one VM's transient start failure inside StartBatch.
var (
	startRetries = 3
	startBackoff = 5 * time.Second
)

func (a *Activities) startRetrying(ctx context.Context, c *conn, in *StartVMInput, task func(string)) StartedVM {
	backoff := startBackoff
	for attempt := 1; ; attempt++ {
		res, err := a.startOne(ctx, c, in, task)
		if err == nil {
			return StartedVM{UUID: in.VMUUID, PowerState: res.PowerState, Already: res.Already, StartedAt: res.StartedAt}
		}
		var ae *temporal.ApplicationError
		transient := errors.As(err, &ae) && !ae.NonRetryable()
		if !transient || attempt > startRetries || ctx.Err() != nil {
			return StartedVM{UUID: in.VMUUID, Error: messageOf(err), Code: ErrorCode(err)}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return StartedVM{UUID: in.VMUUID, Error: messageOf(err), Code: ErrorCode(err)}
		case <-t.C:
		}
		backoff *= 2
	}
}
