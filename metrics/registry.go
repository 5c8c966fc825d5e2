package metrics

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Names of the metrics this package records itself (the SDK's and the
// workflows' come through SDKHandler under their own names).
const (
	StepDuration  = "lifeboat_step_duration_seconds"
	VMsRecovered  = "lifeboat_vms_recovered_total"
	VMsStarted    = "lifeboat_vms_started_total"
	XAPICalls     = "lifeboat_xapi_calls_total"
	XAPIDuration  = "lifeboat_xapi_call_duration_seconds"
	XAPIErrors    = "lifeboat_xapi_call_errors_total"
	Notifications = "lifeboat_notifications_total"
	WorkerPolling = "lifeboat_worker_polling"
	outcomeOK     = "ok"
	outcomeError  = "error"
	outcomeCancel = "canceled"
	unknownLabel  = "unknown"
)

// Registry is the worker's metrics and health.
type Registry struct {
	reg    *prometheus.Registry
	sdk    *sdkStore
	health *Health

	steps         *prometheus.HistogramVec
	recovered     *prometheus.CounterVec
	started       *prometheus.CounterVec
	xapiCalls     *prometheus.CounterVec
	xapiDuration  *prometheus.HistogramVec
	xapiErrors    *prometheus.CounterVec
	notifications *prometheus.CounterVec
}

// New returns a registry with the Go runtime's and the process's metrics,
// the SDK handler's and lifeboat's.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), sdk: newSDKStore(), health: newHealth(time.Now)}
	r.sdk.seen = r.health.seen
	r.steps = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    StepDuration,
		Help:    "Runbook steps (activities) executed by this worker, by step, mode and outcome (ok, error, canceled).",
		Buckets: []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 2 * 3600},
	}, []string{"step", "mode", "outcome"})
	r.recovered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: VMsRecovered,
		Help: "VMs recovered by this worker (an earlier attempt's not counted again), by mode and site.",
	}, []string{"mode", "site"})
	r.started = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: VMsStarted,
		Help: "VMs started (running or paused) by this worker, by mode and site.",
	}, []string{"mode", "site"})
	r.xapiCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: XAPICalls,
		Help: "XML-RPC calls made to the pools, by site, method and outcome (ok or error).",
	}, []string{"site", "method", "outcome"})
	r.xapiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    XAPIDuration,
		Help:    "Latency of the XML-RPC calls made to the pools, by site and method (event.from long-polls for up to its timeout).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"site", "method"})
	r.xapiErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: XAPIErrors,
		Help: "Failed XML-RPC calls, by site, method and code (the XAPI error code, or TIMEOUT, CANCELED, HTTP_<status>, PROTOCOL, NETWORK).",
	}, []string{"site", "method", "code"})
	r.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: Notifications,
		Help: "Webhook notifications sent, by event (gate-waiting, run-ended), format (json, slack) and outcome (ok, error).",
	}, []string{"event", "format", "outcome"})
	polling := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: WorkerPolling,
		Help: "1 while the worker's pollers get answers from Temporal (what /healthz reports), else 0.",
	}, func() float64 {
		if r.health.Healthy() == nil {
			return 1
		}
		return 0
	})
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.sdk, r.steps, r.recovered, r.started, r.xapiCalls, r.xapiDuration, r.xapiErrors, r.notifications, polling,
	)
	return r
}

// Describe sets the help text of a metric recorded through SDKHandler (the
// workflows' own), by the name they record it under.
func (r *Registry) Describe(name, help string) {
	r.sdk.mu.Lock()
	defer r.sdk.mu.Unlock()
	r.sdk.help[name] = help
}

// SDKHandler is the MetricsHandler to give the Temporal client: the SDK's
// metrics and those the workflows record with workflow.GetMetricsHandler.
func (r *Registry) SDKHandler() client.MetricsHandler { return sdkHandler{s: r.sdk} }

// Health is the worker's health, which /healthz and /readyz report.
func (r *Registry) Health() *Health { return r.health }

// Gatherer is what /metrics serves (tests read it directly).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Step records one execution of a runbook step (activity).
func (r *Registry) Step(step, mode string, took time.Duration, err error) {
	outcome := outcomeOK
	switch {
	case err != nil && xapi.Classify(err) == xapi.Canceled:
		outcome = outcomeCancel
	case err != nil:
		outcome = outcomeError
	}
	r.steps.WithLabelValues(step, orUnknown(mode), outcome).Observe(took.Seconds())
}

// Recovered counts VMs recovered at a site.
func (r *Registry) Recovered(mode, site string, n int) {
	if n > 0 {
		r.recovered.WithLabelValues(orUnknown(mode), orUnknown(site)).Add(float64(n))
	}
}

// Started counts VMs started at a site.
func (r *Registry) Started(mode, site string, n int) {
	if n > 0 {
		r.started.WithLabelValues(orUnknown(mode), orUnknown(site)).Add(float64(n))
	}
}

// Notified counts one webhook notification.
func (r *Registry) Notified(event, format string, err error) {
	outcome := outcomeOK
	if err != nil {
		outcome = outcomeError
	}
	r.notifications.WithLabelValues(event, format, outcome).Inc()
}

// XAPIObserver is the call observer of one site's XAPI client.
func (r *Registry) XAPIObserver(site string) xapi.CallObserver {
	return xapiObserver{r: r, site: site}
}

type xapiObserver struct {
	r    *Registry
	site string
}

func (o xapiObserver) ObserveCall(method string, took time.Duration, err error) {
	o.r.xapiDuration.WithLabelValues(o.site, method).Observe(took.Seconds())
	if err == nil {
		o.r.xapiCalls.WithLabelValues(o.site, method, outcomeOK).Inc()
		return
	}
	o.r.xapiCalls.WithLabelValues(o.site, method, outcomeError).Inc()
	o.r.xapiErrors.WithLabelValues(o.site, method, errorCode(err)).Inc()
}

// errorCode is a failed call's code label: a bounded set, so that a
// message's text never becomes a series.
func errorCode(err error) string {
	if c := xapi.Code(err); c != "" {
		return c
	}
	var he *xapi.HTTPError
	var pe *xapi.ProtocolError
	switch {
	case errors.As(err, &he):
		return "HTTP_" + strconv.Itoa(he.StatusCode)
	case errors.As(err, &pe):
		return "PROTOCOL"
	}
	switch xapi.Classify(err) {
	case xapi.Canceled:
		return "CANCELED"
	case xapi.Transient:
		if isTimeout(err) {
			return "TIMEOUT"
		}
	}
	return "NETWORK"
}

func orUnknown(s string) string {
	if s == "" {
		return unknownLabel
	}
	return s
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
