package main

import (
	"github.com/lifeboat-dr/lifeboat/metrics"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// newMetrics is the worker's registry, with the help of the metrics the
// workflows record.
func newMetrics() *metrics.Registry {
	reg := metrics.New()
	reg.Describe(workflows.MetricRuns, "Runs that ended, by mode and outcome (succeeded, failed, rejected, aborted); counted once, when the run ends.")
	reg.Describe(workflows.MetricGateWait, "How long gates waited for their decision, by mode, gate and state (approved, rejected, timed-out, aborted).")
	return reg
}
