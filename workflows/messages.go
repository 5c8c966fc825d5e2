package workflows

import (
	"time"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// TaskQueue is the task queue a lifeboat worker polls unless its configuration
// names another (worker/config.DefaultTaskQueue is this).
const TaskQueue = "lifeboat"

// Workflow type names, one per procedure.
const (
	FailoverWorkflowName     = "Failover"
	FailbackWorkflowName     = "Failback"
	TestFailoverWorkflowName = "TestFailover"
)

// Message names: updates and signals sendable from the Temporal UI or the
// CLI, and queries. approve and reject are Updates (they answer GateAnswer,
// or fail with ErrDecisionRefused and why) and, for older clients, signals
// of the same names and payload (no answer).
const (
	UpdateApprove = "approve" // payload Approval, answer GateAnswer
	UpdateReject  = "reject"  // payload Approval, answer GateAnswer
	SignalApprove = "approve" // payload Approval
	SignalReject  = "reject"  // payload Approval
	SignalAbort   = "abort"   // payload Abort
	QueryProgress = "progress"
	QueryReport   = "report"
)

// ErrDecisionRefused is the error type of an approve or reject Update the
// run refuses; its message says why, in the operator's words.
const ErrDecisionRefused = "DecisionRefused"

// Search attributes (Keyword) set on every run, registered on the dev server
// by `make dev` and on other clusters by `lifeboat setup`.
const (
	SearchAttrPlan  = "LifeboatPlan"
	SearchAttrMode  = "LifeboatMode"
	SearchAttrPhase = "LifeboatPhase"
)

// RunInput is the input of Failover, Failback and TestFailover.
type RunInput struct {
	Plan plan.Plan `json:"plan"`
	// RequestedBy is who launched the run (for the report).
	RequestedBy string `json:"requested_by,omitempty"`
	// Start overrides the plan's start mode for this run.
	Start plan.StartMode `json:"start,omitempty"`
	// Unattended marks a drill (a scheduled test failover): nobody is
	// there, so the plan's drill policy decides its gates (plan.DrillPolicy).
	Unattended bool `json:"unattended,omitempty"`
}

// WorkflowID is the ID of a plan's run in one mode, so two runs of one plan in
// one mode cannot overlap.
func WorkflowID(planName string, mode plan.Mode) string {
	return "lifeboat-" + planName + "-" + string(mode)
}

// Approval is the payload of the approve and reject signals.
type Approval struct {
	Gate    string `json:"gate"`
	By      string `json:"by"`
	Comment string `json:"comment,omitempty"`
}

// Abort is the payload of the abort signal.
type Abort struct {
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Phase names, in runbook order.
const (
	PhaseStarting     = "starting"
	PhaseStorageReady = "storage-ready"
	PhaseProbe        = "probe"
	PhaseIntroduce    = "introduce"
	PhaseScan         = "scan"
	PhaseSelect       = "select"
	PhasePrecheck     = "precheck"
	PhaseRecoverGate  = "recover-gate"
	PhaseRecover      = "recover"
	PhaseStart        = "start"
	PhaseVerify       = "verify"
	PhaseReprotect    = "reprotect"
	PhaseHold         = "hold"
	PhaseCleanup      = "cleanup"
	PhaseReport       = "report"
	PhaseDone         = "done"
	PhaseFailed       = "failed"
	PhaseAborted      = "aborted"
	PhaseRejected     = "rejected"
)

// Outcome of a run.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeRejected  = "rejected"
	OutcomeAborted   = "aborted"
)

// Per-object states shown in progress and reports.
const (
	StatePending    = "pending"
	StateRecovering = "recovering"
	StateRecovered  = "recovered"
	StateStarting   = "starting"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateHalted     = "halted"
	StateFailed     = "failed"
	StateCleanedUp  = "cleaned-up"
	StateSkipped    = "skipped"
)

// Progress is the answer of the progress query.
type Progress struct {
	Plan        string        `json:"plan"`
	Mode        plan.Mode     `json:"mode"`
	Phase       string        `json:"phase"`
	WaitingGate *GateStatus   `json:"waiting_gate,omitempty"`
	Gates       []GateStatus  `json:"gates,omitempty"`
	Prechecks   []CheckResult `json:"prechecks,omitempty"`
	VApps       []ObjectState `json:"vapps,omitempty"`
	VMs         []ObjectState `json:"vms,omitempty"`
	Errors      []string      `json:"errors,omitempty"`
	StartedAt   time.Time     `json:"started_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	// Paged lists the lists too long to be carried here (see pages.go);
	// the progress-page query answers them.
	Paged []PagedList `json:"paged,omitempty"`
}

// GateStatus is one gate's state: waiting, approved, rejected, skipped, timed-out.
type GateStatus struct {
	Gate      string     `json:"gate"`
	State     string     `json:"state"`
	Quorum    int        `json:"quorum"`
	Approvers []string   `json:"approvers,omitempty"` // who may approve; empty = anyone
	Decisions []Decision `json:"decisions,omitempty"`
	OpenedAt  time.Time  `json:"opened_at"`
	Deadline  *time.Time `json:"deadline,omitempty"`
	// Summary is what the approver is asked to approve (e.g. the precheck report).
	Summary string `json:"summary,omitempty"`
}

// Decision is one approval or rejection, recorded with who and when.
type Decision struct {
	By       string    `json:"by"`
	Approved bool      `json:"approved"`
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
}

// CheckResult is one precheck line: severity ok, warning or problem (blocking).
type CheckResult = activities.Check

// Precheck severities, as the activities give them.
const (
	SeverityOK      = activities.SeverityOK
	SeverityWarning = activities.SeverityWarning
	SeverityProblem = activities.SeverityProblem
)

// ObjectState is one VM's or vApp's progress.
type ObjectState struct {
	UUID        string     `json:"uuid"`
	Name        string     `json:"name"`
	Kind        string     `json:"kind"` // "vapp" or "vm"
	VApp        string     `json:"vapp,omitempty"`
	Group       string     `json:"group,omitempty"`
	State       string     `json:"state"`
	Error       string     `json:"error,omitempty"`
	RecoveredAt *time.Time `json:"recovered_at,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	// Adopted: an earlier run of the plan recovered it (docs/reruns.md).
	Adopted bool `json:"adopted,omitempty"`
	// RTO is from the run's start to this VM running (or recovered, if not started).
	RTO time.Duration `json:"rto,omitempty"`
}

// Report is the result of a run (also carried as failure details when a run
// fails, is rejected or is aborted, and answered by the report query).
type Report struct {
	Plan        string        `json:"plan"`
	Mode        plan.Mode     `json:"mode"`
	WorkflowID  string        `json:"workflow_id"`
	RunID       string        `json:"run_id"`
	RequestedBy string        `json:"requested_by,omitempty"`
	Outcome     string        `json:"outcome"`
	Message     string        `json:"message,omitempty"`
	Source      string        `json:"source"`
	Target      string        `json:"target"`
	StartedAt   time.Time     `json:"started_at"`
	FinishedAt  time.Time     `json:"finished_at"`
	Timeline    []Event       `json:"timeline"`
	Gates       []GateStatus  `json:"gates"`
	Prechecks   []CheckResult `json:"prechecks"`
	VApps       []ObjectState `json:"vapps"`
	VMs         []ObjectState `json:"vms"`
	// Leftovers is what cleanup could not remove, one sentence each.
	Leftovers []string `json:"leftovers,omitempty"`
	// Warnings are what did not fail the run but the operator should read:
	// selection entries that matched nothing, reprotect errors.
	Warnings []string `json:"warnings,omitempty"`
	// Counts of VMs by state, whether or not the VMs are inline.
	VMCounts map[string]int `json:"vm_counts,omitempty"`
	// RTO is the measured recovery time: the run's start to the last VM
	// running (or paused, or recovered when not started); TargetRTO is the
	// plan's promise (0: none).
	RTO       time.Duration `json:"rto,omitempty"`
	TargetRTO time.Duration `json:"target_rto,omitempty"`
	// Unattended: a drill, whose gates the plan's drill policy decided.
	Unattended bool `json:"unattended,omitempty"`
	// DataAsOf is when the storage the run recovered from was last written
	// by the source (a snapshot's time, a mirror's last copy), when the
	// storage adapter said: the age of the data, an RPO indication.
	DataAsOf *time.Time `json:"data_as_of,omitempty"`
	// Paged lists the lists too long to be carried here (see pages.go): in a
	// final report each names the ReportPart children holding its pages.
	Paged []PagedList `json:"paged,omitempty"`
}

// Event is one timeline entry.
type Event struct {
	At      time.Time `json:"at"`
	Phase   string    `json:"phase"`
	Message string    `json:"message"`
}
