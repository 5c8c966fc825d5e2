// Package metrics is the worker's Prometheus registry: the Temporal SDK's
// metrics (through the SDK's MetricsHandler interface, so workflows record
// theirs replay-safely with workflow.GetMetricsHandler), lifeboat's own
// (runbook steps, VMs recovered and started, XAPI calls by site and method,
// notifications), and the HTTP endpoints that serve them with the worker's
// health: /metrics, /healthz and /readyz.
//
// It is built on prometheus/client_golang directly rather than on the SDK's
// tally contrib module: the module proxy serves client_golang (the
// Prometheus project's own client) but not go.temporal.io/sdk/contrib/tally,
// and tally's Prometheus reporter pins an old client_golang. The handler
// here is small: counters, gauges and timers (as histograms in seconds) by
// name and tag set.
package metrics
