package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// holdingProxy stands between the worker and a pool master and holds the
// first call of one XML-RPC method until released: a call as slow as the
// test wants, with no clock involved.
type holdingProxy struct {
	method  string
	next    http.Handler
	once    sync.Once
	held    chan struct{} // closed when the call arrives
	release chan struct{} // closed by the test
}

func newHoldingProxy(t *testing.T, target, method string) (*holdingProxy, string) {
	u, err := url.Parse(target)
	require.NoError(t, err)
	p := &holdingProxy{method: method, next: httputil.NewSingleHostReverseProxy(u), held: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *holdingProxy) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if bytes.Contains(body, []byte("<methodName>"+p.method+"</methodName>")) {
		first := false
		p.once.Do(func() { first = true })
		if first {
			close(p.held)
			select {
			case <-p.release:
			case <-r.Context().Done():
				return
			}
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.next.ServeHTTP(rw, r)
}

// beatCounter is a worker interceptor that sees every RecordHeartbeat of
// the activity (before the SDK throttles them) and calls onBeat.
type beatCounter struct {
	interceptor.WorkerInterceptorBase
	onBeat func()
	// onDetails, if set, also sees each heartbeat's details.
	onDetails func(details []any)
}

func (b *beatCounter) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &beatInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, b: b}
}

type beatInbound struct {
	interceptor.ActivityInboundInterceptorBase
	b *beatCounter
}

func (i *beatInbound) Init(out interceptor.ActivityOutboundInterceptor) error {
	return i.Next.Init(&beatOutbound{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: out}, b: i.b})
}

type beatOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
	b *beatCounter
}

func (o *beatOutbound) RecordHeartbeat(ctx context.Context, details ...any) {
	o.b.onBeat()
	if o.b.onDetails != nil {
		o.b.onDetails(details)
	}
	o.Next.RecordHeartbeat(ctx, details...)
}

// A burst of updates is recorded once at first and once more when the
// activity stops, with the latest state: not encoded at every update.
func TestTrackerRecordsABurstOnce(t *testing.T) {
	var mu sync.Mutex
	beats, last := 0, -1
	counter := &beatCounter{onBeat: func() {}, onDetails: func(d []any) {
		mu.Lock()
		defer mu.Unlock()
		beats++
		last = detailsInt(t, d)
	}}
	burst := func(ctx context.Context) (int, error) {
		tr := newTracker(ctx, 0)
		stop := tr.keepAlive(time.Hour)
		for i := 1; i <= 1000; i++ {
			tr.update(func(n *int) { *n = i })
		}
		stop()
		return tr.get(), nil
	}
	runCounted(t, counter, burst)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1000, last, "the latest state is recorded when the activity stops")
	assert.Less(t, beats, 10, "1,000 updates in a burst are not each encoded")
}

// A change a retry must know of (updateNow) is recorded at once when none
// was just recorded (sent by another goroutine, the caller not waiting); a burst of them is recorded soon after, with the
// latest state, and not at each change: without keepAlive or a stop.
func TestTrackerRecordsUrgentChangesSoon(t *testing.T) {
	seen := make(chan int, 2000)
	counter := &beatCounter{onBeat: func() {}, onDetails: func(d []any) { seen <- detailsInt(t, d) }}
	burst := func(ctx context.Context) (int, error) {
		tr := newTracker(ctx, 0)
		tr.updateNow(func(n *int) bool { *n = 1; return true })
		// Sent from another goroutine (record), without waiting out nowGap.
		select {
		case v := <-seen:
			if v != 1 {
				return 0, fmt.Errorf("recorded %d at once, want 1", v)
			}
		case <-time.After(time.Minute):
			return 0, errors.New("the first change was not recorded")
		}
		for i := 2; i <= 1000; i++ {
			tr.updateNow(func(n *int) bool { *n = i; return true })
		}
		tr.updateNow(func(*int) bool { return false }) // unchanged: nothing to record
		beats := 0
		for {
			select {
			case v := <-seen:
				beats++
				if v == 1000 {
					return beats, nil
				}
			case <-time.After(time.Minute):
				return 0, errors.New("the burst's latest state was never recorded")
			}
		}
	}
	var beats int
	require.NoError(t, runCounted(t, counter, burst).Get(&beats))
	assert.Less(t, beats, 10, "999 changes in a burst are not each encoded")
}

// runCounted runs fn as an activity whose heartbeats counter sees.
func runCounted(t *testing.T, counter *beatCounter, fn func(context.Context) (int, error)) converter.EncodedValue {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{counter}})
	env.RegisterActivity(fn)
	v, err := env.ExecuteActivity(fn)
	require.NoError(t, err)
	return v
}

// Each activity heartbeats while it waits on a slow XAPI call: the call is
// held until the activity has heartbeaten three times during it, so the
// test ends only if the activity keeps itself alive inside the wait.
func TestActivitiesHeartbeatInsideSlowCalls(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string // the call held
		run    func(f *fixture, a *Activities, sc *ScanResult) (fn any, in any)
	}{
		{"probe", "Async.SR.probe", func(f *fixture, a *Activities, _ *ScanResult) (any, any) {
			return a.Probe, &ProbeInput{Site: "dr", Storage: drStorage()}
		}},
		{"scan opens a metadata database", "Async.VDI.open_database", func(f *fixture, a *Activities, sc *ScanResult) (any, any) {
			var srs []string
			for _, s := range sc.Sources {
				srs = append(srs, s.SRUUID)
			}
			return a.Scan, &ScanInput{Site: "dr", SRUUIDs: srs}
		}},
		{"precheck opens a metadata database", "Async.VDI.open_database", func(f *fixture, a *Activities, sc *ScanResult) (any, any) {
			us, vms := units(sc)
			return a.Precheck, &PrecheckInput{Site: "dr", Mode: plan.ModeTestFailover, Units: us, VMs: vms}
		}},
		{"recover", "Async.VM.recover", func(f *fixture, a *Activities, sc *ScanResult) (any, any) {
			dns := vmByName(sc, "dns-01")
			return a.Recover, &RecoverInput{Site: "dr", Units: []Unit{{Kind: KindVM, UUID: dns.UUID, Name: dns.Name, SourceVDI: dns.SourceVDI}}}
		}},
		{"start waits for its boot", "VM.start", func(f *fixture, a *Activities, sc *ScanResult) (any, any) {
			recoverSome(f.t, f, sc, "dns-01")
			return a.StartVM, &StartVMInput{Site: "dr", VMUUID: vmByName(sc, "dns-01").UUID}
		}},
		{"verify", "event.from", func(f *fixture, a *Activities, sc *ScanResult) (any, any) {
			return a.Verify, &VerifyInput{Site: "dr", Expect: map[string]string{vmByName(sc, "dns-01").UUID: "Halted"}}
		}},
		{"inventory", "VM.get_all_records", func(f *fixture, a *Activities, _ *ScanResult) (any, any) {
			return a.Inventory, &InventoryInput{Site: "dr"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, sc := prepared(t)
			// The same activities, reaching site dr through the proxy.
			proxy, proxyURL := newHoldingProxy(t, f.w.PoolURL("dr"), tc.method)
			a, err := New(map[string]SiteConfig{"dr": {URL: proxyURL, Username: "root", Password: "lifeboat", Timeout: 10 * time.Second}}, f.a.secrets, testLogger(t))
			require.NoError(t, err)
			t.Cleanup(func() { _ = Close(context.Background(), a) })
			a.lim.heartbeatEvery = time.Millisecond
			fn, in := tc.run(f, a, sc)

			var mu sync.Mutex
			during := 0
			counter := &beatCounter{onBeat: func() {
				select {
				case <-proxy.held:
				default:
					return // before the held call
				}
				mu.Lock()
				defer mu.Unlock()
				if during++; during == 3 {
					close(proxy.release)
				}
			}}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{counter}})
			env.RegisterActivity(a)
			_, err = env.ExecuteActivity(fn, in)
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			assert.GreaterOrEqual(t, during, 3)
		})
	}
}

// detailsInt decodes a heartbeat's details, which record sends encoded.
func detailsInt(t *testing.T, d []any) int {
	t.Helper()
	var n int
	raw, ok := d[0].(json.RawMessage)
	require.True(t, ok, "details are sent encoded, got %T", d[0])
	require.NoError(t, json.Unmarshal(raw, &n))
	return n
}
