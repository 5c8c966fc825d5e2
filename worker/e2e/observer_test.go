//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// startObserver watches a pool's VMs through XAPI's event.from as a
// read-only user, independently of lifeboat, and records when each VM's start
// began and ended as positions in the pool database's change order (event
// ids): a start begins when "start" appears in current_operations and ends
// when it leaves it. The simulator journal records the VM.start call but
// not the end of its task, so the order of starts is checked from these.
type vmObserver struct {
	mu     sync.Mutex
	starts map[string]*startSpan // by VM name
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

type startSpan struct {
	begin, end int64 // event ids; 0 = not seen
	paused     bool  // power state Paused when the start ended
}

func startObserver(t *testing.T, poolURL string) *vmObserver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := xapi.NewClient(poolURL, xapi.WithCallTimeout(20*time.Second))
	require.NoError(t, err)
	s, err := c.Login(ctx, "auditor", simPassword)
	require.NoError(t, err, "observer login")
	o := &vmObserver{starts: map[string]*startSpan{}, cancel: cancel, done: make(chan struct{})}
	// The first batch is the current state; only changes after it count.
	b, err := s.EventFrom(ctx, []string{"VM"}, "", 0)
	require.NoError(t, err, "observer: first event.from")
	go o.loop(ctx, s, b.Token)
	t.Cleanup(func() {
		o.stop()
		_ = s.Logout(context.Background())
	})
	return o
}

func (o *vmObserver) loop(ctx context.Context, s *xapi.Session, token string) {
	defer close(o.done)
	for ctx.Err() == nil {
		b, err := s.EventFrom(ctx, []string{"VM"}, token, 5*time.Second)
		if err != nil {
			if ctx.Err() == nil {
				o.mu.Lock()
				o.err = err
				o.mu.Unlock()
			}
			return
		}
		token = b.Token
		for _, ev := range b.Events {
			if ev.Operation == "del" {
				continue
			}
			var vm xapi.VM
			if err := ev.DecodeSnapshot(&vm); err != nil || vm.IsControlDomain || vm.IsATemplate {
				continue
			}
			starting := false
			for _, op := range vm.CurrentOperations {
				if op == "start" || op == "start_on" {
					starting = true
				}
			}
			o.mu.Lock()
			sp := o.starts[vm.NameLabel]
			if sp == nil {
				sp = &startSpan{}
				o.starts[vm.NameLabel] = sp
			}
			switch {
			case starting && sp.begin == 0:
				sp.begin = ev.ID
			case !starting && sp.begin != 0 && sp.end == 0:
				sp.end = ev.ID
				sp.paused = vm.PowerState == xapi.PowerPaused
			}
			o.mu.Unlock()
		}
	}
}

func (o *vmObserver) stop() {
	o.cancel()
	<-o.done
}

// spans returns a copy of the starts seen so far.
func (o *vmObserver) spans() (map[string]startSpan, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]startSpan{}
	for k, v := range o.starts {
		out[k] = *v
	}
	return out, o.err
}

// checkStartOrder checks, for each vApp, that every VM of order n+1 began its
// start after every VM of order n had finished starting.
func checkStartOrder(t *testing.T, o *vmObserver, vapps map[string][]string, order map[string]int64) {
	t.Helper()
	spans, err := o.spans()
	require.NoError(t, err, "VM observer")
	var problems []error
	for app, vms := range vapps {
		for _, a := range vms {
			for _, b := range vms {
				if order[b] <= order[a] {
					continue
				}
				sa, sb := spans[a], spans[b]
				switch {
				case sa.begin == 0 || sa.end == 0 || sb.begin == 0:
					problems = append(problems, fmt.Errorf("vApp %s: start of %s or %s not observed (%+v, %+v)", app, a, b, sa, sb))
				case sb.begin < sa.end:
					problems = append(problems, fmt.Errorf("vApp %s: %s (order %d) began starting at event %d, before %s (order %d) had started (event %d)",
						app, b, order[b], sb.begin, a, order[a], sa.end))
				}
			}
		}
	}
	require.NoError(t, errors.Join(problems...))
}
