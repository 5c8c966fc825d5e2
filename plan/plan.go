// Package plan holds the DR plan an operator checks into their own repository:
// which pools, which storage, which vApps and VMs, in what order, approved by whom.
//
// A Plan is also the workflow input, so every field carries a JSON tag and a
// run can be started from the Temporal UI with JSON. Plans never hold secrets:
// device_config values that are secrets are written as "${secret:NAME}" and
// resolved by the worker from its own configuration.
package plan

import "time"

// Mode is one of the three DR procedures.
type Mode string

const (
	ModeFailover     Mode = "failover"
	ModeFailback     Mode = "failback"
	ModeTestFailover Mode = "test-failover"
)

// Gate names. A gate is a point where the run waits for human approval.
const (
	GateStorageReady = "storage-ready"
	GateRecover      = "recover"
	GateCleanup      = "cleanup"
)

// StartMode says what happens to recovered VMs.
type StartMode string

const (
	StartRunning StartMode = "running" // start them (Failover/Failback default)
	StartPaused  StartMode = "paused"  // start them paused (TestFailover default)
	StartNone    StartMode = "none"    // leave them halted
)

// TimeoutAction says what an expired approval gate does.
type TimeoutAction string

const (
	TimeoutReject  TimeoutAction = "reject"  // the run stops, cleanup runs (default)
	TimeoutApprove TimeoutAction = "approve" // the run goes on, recorded as approved by "timeout"
)

// Storage SR types that support DR.
const (
	StorageISCSI = "lvmoiscsi"
	StorageHBA   = "lvmohba"
)

// Plan is one DR plan.
type Plan struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Source is the site that is protected (the primary); Target is the DR site.
	// Failback runs from Target back to Source.
	Source string `yaml:"source" json:"source"`
	Target string `yaml:"target" json:"target"`

	// Storage lists the mirrored LUNs to probe at the Target for Failover and
	// TestFailover; FailbackStorage lists those to probe at the Source for Failback.
	Storage         []StorageTarget `yaml:"storage" json:"storage"`
	FailbackStorage []StorageTarget `yaml:"failback_storage,omitempty" json:"failback_storage,omitempty"`
	// TestStorage says, per entry of Storage, which LUN a test failover uses
	// instead of the mirror's destination (which stays read-only while the
	// mirror replicates): a snapshot made for the run by the storage's
	// adapter, or one listed here. Storage without an entry is used as is.
	TestStorage []TestStorage `yaml:"test_storage,omitempty" json:"test_storage,omitempty"`

	Selection      Selection       `yaml:"selection" json:"selection"`
	PriorityGroups []PriorityGroup `yaml:"priority_groups,omitempty" json:"priority_groups,omitempty"`

	// Start is the start mode per procedure; empty values take the defaults
	// (running for failover and failback, paused for test failover).
	Start StartPolicy `yaml:"start,omitempty" json:"start,omitempty"`

	Approvals   Approvals   `yaml:"approvals,omitempty" json:"approvals,omitempty"`
	Test        TestPolicy  `yaml:"test,omitempty" json:"test,omitempty"`
	Concurrency Concurrency `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`

	// TargetRTO is the recovery time the plan promises: reports and
	// 'lifeboat drills' compare each run's measured RTO with it. 0: none.
	TargetRTO Duration `yaml:"target_rto,omitempty" json:"target_rto,omitempty"`
	// Drill governs unattended test failovers (scheduled drills).
	Drill DrillPolicy `yaml:"drill,omitempty" json:"drill,omitempty"`
}

// DrillPolicy is how a drill runs with nobody there: the gates a test
// failover of the plan requires are approved by the drill itself (recorded
// as approved by "unattended"), and its VMs are kept Hold long before
// cleanup instead of the test hold, which waits for a person.
type DrillPolicy struct {
	// Hold keeps a drill's VMs this long before cleanup (default 0: clean
	// up as soon as they are verified).
	Hold Duration `yaml:"hold,omitempty" json:"hold,omitempty"`
}

// StorageTarget is one device to probe and introduce through a DR_task.
type StorageTarget struct {
	// Name is how reports and errors call this storage; defaults to its SCSIid.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Type is lvmoiscsi or lvmohba.
	Type string `yaml:"type" json:"type"`
	// DeviceConfig is passed to SR.probe and DR_task.create. For lvmoiscsi:
	// target, port, targetIQN, SCSIid, optional chapuser/chappassword (a
	// "${secret:NAME}" reference). For lvmohba: SCSIid.
	DeviceConfig map[string]string `yaml:"device_config" json:"device_config"`
	// SRs optionally restricts which SR UUIDs found on the device are introduced;
	// empty means every SR on which pool metadata was detected.
	SRs []string `yaml:"srs,omitempty" json:"srs,omitempty"`
	// Adapter names the storage adapter (defined in the worker configuration
	// for the site this LUN is at) that manages this LUN's array: it makes
	// test snapshots of it and, when the storage-ready gate's method says so,
	// promotes its mirror. Empty: no adapter.
	Adapter string `yaml:"adapter,omitempty" json:"adapter,omitempty"`
}

// Test storage snapshot sources.
const (
	// SnapshotByAdapter: the storage's adapter makes a snapshot for the run
	// and deletes it at cleanup.
	SnapshotByAdapter = "adapter"
)

// TestStorage is the LUN a test failover uses for one storage target.
type TestStorage struct {
	// Storage is the name of the entry of storage this stands in for.
	Storage string `yaml:"storage" json:"storage"`
	// Snapshot is "adapter": a snapshot made by the storage's adapter at the
	// start of the run, deleted at cleanup.
	Snapshot string `yaml:"snapshot,omitempty" json:"snapshot,omitempty"`
	// DeviceConfig is a snapshot (or clone) LUN made beforehand on the array,
	// of the storage's type; lifeboat uses it as is and never deletes it.
	DeviceConfig map[string]string `yaml:"device_config,omitempty" json:"device_config,omitempty"`
}

// Selection picks vApps and VMs from the metadata found. Names are globs
// (path.Match syntax) on name_label, or exact UUIDs. A VM in a vApp is always
// recovered with its vApp; selecting it by name selects its vApp.
type Selection struct {
	All     bool     `yaml:"all,omitempty" json:"all,omitempty"`
	VApps   []string `yaml:"vapps,omitempty" json:"vapps,omitempty"`
	VMs     []string `yaml:"vms,omitempty" json:"vms,omitempty"`
	Tags    []string `yaml:"tags,omitempty" json:"tags,omitempty"`
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
}

// PriorityGroup is started before every later group; inside a group, vApps
// start by their VMs' order and standalone VMs start in parallel. Objects in no
// group start last.
type PriorityGroup struct {
	Name  string   `yaml:"name" json:"name"`
	VApps []string `yaml:"vapps,omitempty" json:"vapps,omitempty"`
	VMs   []string `yaml:"vms,omitempty" json:"vms,omitempty"`
	Tags  []string `yaml:"tags,omitempty" json:"tags,omitempty"`
}

// StartPlacement says which host a recovered VM boots on.
type StartPlacement string

const (
	// PlacementPool leaves the host to the pool (VM.start): xapi picks one
	// by free memory, knowing nothing of the boots already under way
	// (default).
	PlacementPool StartPlacement = "pool"
	// PlacementSpread spreads the boots over the pool's hosts: a VM
	// without an affinity host boots (VM.start_on) on the host with the
	// fewest of this worker's boots in flight; a host that cannot take it
	// (memory, storage, network) leaves it to the pool's placement.
	PlacementSpread StartPlacement = "spread"
)

// StartPolicy says how recovered VMs are left, per procedure, and where
// they boot.
type StartPolicy struct {
	Failover     StartMode `yaml:"failover,omitempty" json:"failover,omitempty"`
	Failback     StartMode `yaml:"failback,omitempty" json:"failback,omitempty"`
	TestFailover StartMode `yaml:"test_failover,omitempty" json:"test_failover,omitempty"`
	// Placement is pool (default) or spread, for every procedure.
	Placement StartPlacement `yaml:"placement,omitempty" json:"placement,omitempty"`
}

// Approvals holds the policy of each gate.
type Approvals struct {
	StorageReady GatePolicy `yaml:"storage-ready,omitempty" json:"storage-ready,omitempty"`
	Recover      GatePolicy `yaml:"recover,omitempty" json:"recover,omitempty"`
	Cleanup      GatePolicy `yaml:"cleanup,omitempty" json:"cleanup,omitempty"`
}

// GatePolicy is who must approve a gate and what happens if nobody does.
type GatePolicy struct {
	// Required: nil means the mode's default (storage-ready and recover are
	// required for failover and failback, optional for test failover; cleanup
	// is a hold that the test policy governs). Failover and failback gates
	// cannot be turned off.
	Required *bool `yaml:"required,omitempty" json:"required,omitempty"`
	// Approvers who may approve; empty means anyone.
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty"`
	// Quorum of distinct approvers needed; 0 means 1.
	Quorum int `yaml:"quorum,omitempty" json:"quorum,omitempty"`
	// Timeout after which OnTimeout applies; 0 means wait for ever.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// OnTimeout is reject (default) or approve.
	OnTimeout TimeoutAction `yaml:"on_timeout,omitempty" json:"on_timeout,omitempty"`
	// Method (storage-ready only) is how the gate is satisfied in a failover
	// or failback: approval (default), adapter (the storage's adapters
	// promote the LUNs; nobody approves) or adapter-then-approval. A test
	// failover never promotes: it leaves replication alone.
	Method GateMethod `yaml:"method,omitempty" json:"method,omitempty"`
}

// GateMethod is how the storage-ready gate is satisfied.
type GateMethod string

const (
	MethodApproval            GateMethod = "approval"
	MethodAdapter             GateMethod = "adapter"
	MethodAdapterThenApproval GateMethod = "adapter-then-approval"
)

// Promotes says whether the method has the adapters promote the LUNs.
func (m GateMethod) Promotes() bool { return m == MethodAdapter || m == MethodAdapterThenApproval }

// TestPolicy governs test failovers.
type TestPolicy struct {
	// Hold keeps the test VMs for inspection until the cleanup gate is approved
	// or Hold expires, whichever comes first. 0 means clean up at once.
	Hold Duration `yaml:"hold,omitempty" json:"hold,omitempty"`
}

// Concurrency limits parallel work per pool.
type Concurrency struct {
	// Recover is how many vApps and standalone VMs are recovered at once
	// (default 40).
	Recover int `yaml:"recover,omitempty" json:"recover,omitempty"`
	// Start caps the VM starts in flight at the target pool (default: 8 per
	// host of the pool, shared by every vApp and batch as slots free up).
	Start int `yaml:"start,omitempty" json:"start,omitempty"`
	// BatchSize sizes the child workflows (default 50): a start child holds
	// up to four times it, a recovery lane's batch up to ten times it (docs/ARCHITECTURE.md).
	BatchSize int `yaml:"batch_size,omitempty" json:"batch_size,omitempty"`
}

// Duration is a time.Duration written as "90m" or "4h" in YAML and JSON.
type Duration time.Duration
