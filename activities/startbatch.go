package activities

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// StartBatch starts several VMs at once (one step of a vApp's order, or a
// batch of standalone VMs): one activity where one per VM cost Temporal
// more work than the pool's boots, at thousands of VMs. Each VM is started
// as StartVM starts it, all side by side, sharing the site's start slots.
//
// A VM's own failure is its result, not the activity's: a transient one
// (xapi.Classify) is retried here, startRetries times with backoff, so a VM
// that booted is never asked again because another one failed; only a site
// that cannot be reached fails the whole activity (Temporal retries it).
// The heartbeat holds each VM's task in flight and the VMs done, so a new
// attempt after a crash waits for the tasks a dead worker left running and
// keeps what was done (with when).
func (a *Activities) StartBatch(ctx context.Context, in *StartBatchInput) (*StartBatchResult, error) {
	var prev batchBeat
	previousHeartbeat(ctx, &prev)
	if prev.Tasks == nil {
		prev.Tasks = map[string]string{}
	}
	if prev.Done == nil {
		prev.Done = map[string]StartedVM{}
	}
	// The tracker owns copies: the VMs' goroutines update them under its
	// lock while prev is read.
	beat := batchBeat{Tasks: map[string]string{}, Done: map[string]StartedVM{}}
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
	out := &StartBatchResult{VMs: make([]StartedVM, len(in.VMUUIDs))}
	var wg sync.WaitGroup
	for i, uuid := range in.VMUUIDs {
		if done, ok := prev.Done[uuid]; ok {
			out.VMs[i] = done
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			setTask := func(task string) {
				tr.update(func(b *batchBeat) {
					if task == "" {
						delete(b.Tasks, uuid)
					} else {
						b.Tasks[uuid] = task
					}
				})
			}
			if stale := prev.Tasks[uuid]; stale != "" {
				_, _, _ = a.awaitStaleTask(ctx, c, xapi.Ref(stale))
				setTask("")
			}
			r := a.startRetrying(ctx, c, &StartVMInput{Site: in.Site, VMUUID: uuid, Paused: in.Paused, Slots: in.Slots}, setTask)
			out.VMs[i] = r
			if ctx.Err() == nil {
				tr.update(func(b *batchBeat) { b.Done[uuid] = r })
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, nil
}

// batchBeat is StartBatch's heartbeat: the task in flight per VM UUID, and
// the outcome of each VM done.
type batchBeat struct {
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
