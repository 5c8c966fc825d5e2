package metrics

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// sdkStore holds every metric recorded through the SDK's MetricsHandler.
// The SDK names a metric and gives it whatever tags the call site has, and
// one name may come with several tag sets (a request's status_code appears
// only on failures): each tag set gets its own vector, all collected under
// the one name. Prometheus accepts a family whose series have different
// labels; the registry's consistency checks are per series.
type sdkStore struct {
	mu       sync.Mutex
	families map[string]*family
	help     map[string]string
	// seen is told of every counter increment and timer record by name (the
	// health check watches the pollers' results).
	seen func(name string)
}

type kind int

const (
	kindCounter kind = iota
	kindGauge
	kindTimer
)

// family is one metric name: its kind and a vector per set of label names.
type family struct {
	kind kind
	vecs map[string]prometheus.Collector
}

func newSDKStore() *sdkStore {
	return &sdkStore{families: map[string]*family{}, help: map[string]string{}}
}

// Describe sends nothing: the store is an unchecked collector, since its
// metrics are only known once the SDK records them.
func (s *sdkStore) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series recorded so far.
func (s *sdkStore) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	var cs []prometheus.Collector
	for _, f := range s.families {
		for _, v := range f.vecs {
			cs = append(cs, v)
		}
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.Collect(ch)
	}
}

// exportedName is the Prometheus name of an SDK metric: counters end in
// _total and timers, recorded in seconds, in _seconds, as Prometheus names
// them.
func exportedName(name string, k kind) string {
	name = sanitize(name)
	switch k {
	case kindCounter:
		return name + "_total"
	case kindTimer:
		return name + "_seconds"
	}
	return name
}

// sanitize keeps a name or label to what Prometheus accepts.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, s)
}

// timerBuckets cover what the SDK and the workflows time: from a
// millisecond request to a gate that waits a day.
var timerBuckets = []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600, 24 * 3600}

// vec returns the vector of name and kind for the given label names; nil
// when name is already used with another kind (the SDK never does that).
func (s *sdkStore) vec(name string, k kind, labels []string) prometheus.Collector {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.families[name]
	if f == nil {
		f = &family{kind: k, vecs: map[string]prometheus.Collector{}}
		s.families[name] = f
	}
	if f.kind != k {
		return nil
	}
	sig := strings.Join(labels, ",")
	if v, ok := f.vecs[sig]; ok {
		return v
	}
	help := s.help[name]
	if help == "" {
		help = "Temporal SDK metric " + name + "."
	}
	full := exportedName(name, k)
	var v prometheus.Collector
	switch k {
	case kindCounter:
		v = prometheus.NewCounterVec(prometheus.CounterOpts{Name: full, Help: help}, labels)
	case kindGauge:
		v = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: full, Help: help}, labels)
	case kindTimer:
		v = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: full, Help: help, Buckets: timerBuckets}, labels)
	}
	f.vecs[sig] = v
	return v
}

// sdkHandler implements client.MetricsHandler on the store.
type sdkHandler struct {
	s    *sdkStore
	tags map[string]string
}

var _ client.MetricsHandler = sdkHandler{}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[sanitize(k)] = v
	}
	return sdkHandler{s: h.s, tags: merged}
}

func (h sdkHandler) labels() ([]string, prometheus.Labels) {
	names := slices.Sorted(maps.Keys(h.tags))
	return names, prometheus.Labels(h.tags)
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	names, values := h.labels()
	v, _ := h.s.vec(name, kindCounter, names).(*prometheus.CounterVec)
	if v == nil {
		return client.MetricsNopHandler.Counter(name)
	}
	c, err := v.GetMetricWith(values)
	if err != nil {
		return client.MetricsNopHandler.Counter(name)
	}
	return counterFunc(func(n int64) {
		if n > 0 {
			c.Add(float64(n))
		}
		h.s.note(name)
	})
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	names, values := h.labels()
	v, _ := h.s.vec(name, kindGauge, names).(*prometheus.GaugeVec)
	if v == nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	g, err := v.GetMetricWith(values)
	if err != nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	return gaugeFunc(g.Set)
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	names, values := h.labels()
	v, _ := h.s.vec(name, kindTimer, names).(*prometheus.HistogramVec)
	if v == nil {
		return client.MetricsNopHandler.Timer(name)
	}
	o, err := v.GetMetricWith(values)
	if err != nil {
		return client.MetricsNopHandler.Timer(name)
	}
	return timerFunc(func(d time.Duration) {
		o.Observe(d.Seconds())
		h.s.note(name)
	})
}

func (s *sdkStore) note(name string) {
	if s.seen != nil {
		s.seen(name)
	}
}

type (
	counterFunc func(int64)
	gaugeFunc   func(float64)
	timerFunc   func(time.Duration)
)

func (f counterFunc) Inc(n int64)          { f(n) }
func (f gaugeFunc) Update(v float64)       { f(v) }
func (f timerFunc) Record(d time.Duration) { f(d) }
