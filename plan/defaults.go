package plan

// Defaults of a plan per mode. Workflows, the CLI and `plan check` all read
// plans through these, so a default lives in exactly one place.

const (
	// DefaultRecoverConcurrency keeps the pool's database busy: a VM's
	// recovery holds xapi's database lock for about a twentieth of its time
	// (docs/timing-model.md), so about 20 recoveries in flight saturate the
	// master, and a few more cover the units of uneven size.
	DefaultRecoverConcurrency = 40
	// DefaultStartConcurrency is the fixed share of runs begun before the
	// start slots were shared; new runs follow the pool (8 starts in flight
	// per host, activities/slots.go) unless concurrency.start caps them.
	DefaultStartConcurrency = 8
	DefaultBatchSize        = 50
)

// Sites returns the source and target site of a mode: failback runs from the
// plan's target back to its source.
func (p *Plan) Sites(mode Mode) (source, target string) {
	if mode == ModeFailback {
		return p.Target, p.Source
	}
	return p.Source, p.Target
}

// StorageFor returns the storage targets probed at the target site of a mode.
func (p *Plan) StorageFor(mode Mode) []StorageTarget {
	if mode == ModeFailback {
		return p.FailbackStorage
	}
	return p.Storage
}

// StartModeFor returns how recovered VMs are left in a mode.
func (p *Plan) StartModeFor(mode Mode) StartMode {
	var s StartMode
	switch mode {
	case ModeFailover:
		s = p.Start.Failover
	case ModeFailback:
		s = p.Start.Failback
	case ModeTestFailover:
		s = p.Start.TestFailover
	}
	if s != "" {
		return s
	}
	if mode == ModeTestFailover {
		return StartPaused
	}
	return StartRunning
}

// StartPlacement returns where recovered VMs boot (pool by default).
func (p *Plan) StartPlacement() StartPlacement {
	if p.Start.Placement == "" {
		return PlacementPool
	}
	return p.Start.Placement
}

// GatePolicyFor returns the policy of a gate.
func (p *Plan) GatePolicyFor(gate string) GatePolicy {
	switch gate {
	case GateStorageReady:
		return p.Approvals.StorageReady
	case GateRecover:
		return p.Approvals.Recover
	case GateCleanup:
		return p.Approvals.Cleanup
	}
	return GatePolicy{}
}

// GateRequired says whether a gate waits for approval in a mode. Failover and
// failback always wait at storage-ready and recover; a test failover waits
// only where the plan asks. The cleanup gate exists only in test failovers.
func (p *Plan) GateRequired(gate string, mode Mode) bool {
	pol := p.GatePolicyFor(gate)
	switch gate {
	case GateStorageReady, GateRecover:
		if mode != ModeTestFailover {
			return true
		}
		return pol.Required != nil && *pol.Required
	case GateCleanup:
		return mode == ModeTestFailover && (p.Test.Hold > 0 || (pol.Required != nil && *pol.Required))
	}
	return false
}

// QuorumOf returns the number of distinct approvers a gate needs (at least 1).
func (g GatePolicy) QuorumOf() int {
	if g.Quorum < 1 {
		return 1
	}
	return g.Quorum
}

// Limits returns the concurrency limits with defaults filled in.
func (p *Plan) Limits() Concurrency {
	c := p.Concurrency
	if c.Recover < 1 {
		c.Recover = DefaultRecoverConcurrency
	}
	if c.Start < 1 {
		c.Start = DefaultStartConcurrency
	}
	if c.BatchSize < 1 {
		c.BatchSize = DefaultBatchSize
	}
	return c
}
