package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// The SDK records one name with several tag sets (a request's status_code
// only on failures): every series is exported under the name, with
// Prometheus's suffixes, and the registry gathers them without error.
func TestSDKHandlerExportsEveryTagSet(t *testing.T) {
	r := New()
	h := r.SDKHandler().WithTags(map[string]string{"namespace": "default"})
	req := h.WithTags(map[string]string{"operation": "StartWorkflowExecution"})
	req.Counter("temporal_request").Inc(2)
	req.WithTags(map[string]string{"status_code": "UNAVAILABLE"}).Counter("temporal_request").Inc(1)
	req.Timer("temporal_request_latency").Record(250 * time.Millisecond)
	h.Gauge("temporal_num_pollers").Update(4)
	h.Counter("temporal_request").Inc(-1) // ignored: counters only go up

	_, err := r.Gatherer().Gather()
	require.NoError(t, err)
	got, err := testutil.GatherAndCount(r.Gatherer(), "temporal_request_total", "temporal_request_latency_seconds", "temporal_num_pollers")
	require.NoError(t, err)
	assert.Equal(t, 5, got, "three request series, one latency, one gauge")

	expected := `
# HELP temporal_request_total Temporal SDK metric temporal_request.
# TYPE temporal_request_total counter
temporal_request_total{namespace="default"} 0
temporal_request_total{namespace="default",operation="StartWorkflowExecution"} 2
temporal_request_total{namespace="default",operation="StartWorkflowExecution",status_code="UNAVAILABLE"} 1
`
	assert.NoError(t, testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(expected), "temporal_request_total"))
}

func TestDescribeSetsTheHelpOfAWorkflowMetric(t *testing.T) {
	r := New()
	r.Describe("lifeboat_runs", "Runs that ended.")
	r.SDKHandler().WithTags(map[string]string{"mode": "failover", "outcome": "succeeded"}).Counter("lifeboat_runs").Inc(1)
	expected := `
# HELP lifeboat_runs_total Runs that ended.
# TYPE lifeboat_runs_total counter
lifeboat_runs_total{mode="failover",outcome="succeeded"} 1
`
	assert.NoError(t, testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(expected), "lifeboat_runs_total"))
}

// A name used with two kinds keeps its first; the second is dropped rather
// than breaking every scrape.
func TestSDKHandlerKindConflict(t *testing.T) {
	r := New()
	h := r.SDKHandler()
	h.Counter("x").Inc(1)
	h.Timer("x").Record(time.Second)
	_, err := r.Gatherer().Gather()
	require.NoError(t, err)
}

func TestXAPIObserverLabels(t *testing.T) {
	r := New()
	o := r.XAPIObserver("dr")
	for _, tc := range []struct {
		err  error
		code string
	}{
		{nil, ""},
		{fmt.Errorf("VM.start: %w", &xapi.Error{Code: xapi.CodeVMBadPowerState}), "VM_BAD_POWER_STATE"},
		{&xapi.HTTPError{StatusCode: 503, Status: "503 Service Unavailable"}, "HTTP_503"},
		{&xapi.ProtocolError{Reason: "not XML"}, "PROTOCOL"},
		{fmt.Errorf("VM.start on h: %w", context.DeadlineExceeded), "TIMEOUT"},
		{fmt.Errorf("VM.start on h: %w", context.Canceled), "CANCELED"},
		{errors.New("connection refused"), "NETWORK"},
	} {
		o.ObserveCall("VM.start", 10*time.Millisecond, tc.err)
		if tc.code != "" {
			assert.Equal(t, 1.0, testutil.ToFloat64(r.xapiErrors.WithLabelValues("dr", "VM.start", tc.code)), tc.code)
		}
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(r.xapiCalls.WithLabelValues("dr", "VM.start", "ok")))
	assert.Equal(t, 6.0, testutil.ToFloat64(r.xapiCalls.WithLabelValues("dr", "VM.start", "error")))
	n, err := testutil.GatherAndCount(r.Gatherer(), XAPIDuration)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func TestHealth(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := newHealth(func() time.Time { return now })
	assert.EqualError(t, h.Ready(), "the worker is starting; it does not poll yet")
	assert.Error(t, h.Healthy())

	h.Started("lifeboat")
	assert.NoError(t, h.Ready())
	assert.NoError(t, h.Healthy())

	now = now.Add(PollGrace - time.Second)
	h.seen("temporal_request") // not a poll's answer
	h.seen("temporal_workflow_task_queue_poll_empty")
	now = now.Add(PollGrace)
	assert.NoError(t, h.Healthy(), "a poll answered within the grace")
	now = now.Add(2 * time.Second)
	assert.EqualError(t, h.Healthy(), "no poll of task queue lifeboat was answered for 2m32s; check that Temporal is reachable from this worker")

	h.Stopping()
	assert.EqualError(t, h.Ready(), "the worker is stopping; it takes no new work")
	assert.NoError(t, h.Healthy(), "draining is alive")
}

func TestEndpoints(t *testing.T) {
	r := New()
	srv := httptest.NewServer(r.Handler(false))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "the worker is starting; it does not poll yet\n", body)
	r.Health().Started("lifeboat")
	code, body = get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	r.Step("Recover", "failover", 3*time.Second, nil)
	r.Recovered("failover", "dr", 3)
	code, body = get("/metrics")
	assert.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`lifeboat_step_duration_seconds_count{mode="failover",outcome="ok",step="Recover"} 1`,
		`lifeboat_vms_recovered_total{mode="failover",site="dr"} 3`,
		`lifeboat_worker_polling 1`,
		`go_goroutines`,
	} {
		assert.Contains(t, body, want)
	}
	code, _ = get("/nothing")
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = get("/debug/pprof/")
	assert.Equal(t, http.StatusNotFound, code, "the profiler is off unless metrics.pprof is set")
}

func TestPprofEndpoint(t *testing.T) {
	srv := httptest.NewServer(New().Handler(true))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(b), "goroutine profile:")
}
