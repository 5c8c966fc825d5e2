package activities

import (
	"time"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// This file is the contract between the workflows and the activities: one
// input and one result struct per activity, passed by pointer. Sites are named,
// never described: the worker's configuration maps names to pool masters and
// credentials, so nothing here is a secret.

// Kinds of recoverable objects.
const (
	KindVApp = "vapp"
	KindVM   = "vm"
)

// ProbeInput asks for SR.probe of each storage target at Site.
type ProbeInput struct {
	Site    string               `json:"site"`
	Storage []plan.StorageTarget `json:"storage"`
}

// ProbeResult lists the SRs found on the probed devices.
type ProbeResult struct {
	SRs []ProbedSR `json:"srs"`
}

// ProbedSR is one SR found by SR.probe.
type ProbedSR struct {
	StorageIndex         int    `json:"storage_index"` // index into ProbeInput.Storage
	StorageName          string `json:"storage_name"`
	UUID                 string `json:"uuid"`
	NameLabel            string `json:"name_label"`
	NameDescription      string `json:"name_description,omitempty"`
	Size                 int64  `json:"size"`
	PoolMetadataDetected bool   `json:"pool_metadata_detected"`
	// AlreadyInPool is true when the target pool already knows this SR UUID.
	AlreadyInPool bool `json:"already_in_pool"`
}

// IntroduceInput asks for one DR_task.create per storage target with a
// non-empty whitelist.
type IntroduceInput struct {
	Site    string               `json:"site"`
	Storage []plan.StorageTarget `json:"storage"`
	// Whitelist[i] is the SR UUIDs to introduce from Storage[i].
	Whitelist [][]string `json:"whitelist"`
}

// IntroduceResult lists the DR tasks (created now or found from an earlier
// attempt of this same introduction) and the SRs they introduced.
type IntroduceResult struct {
	DRTasks []DRTask `json:"dr_tasks"`
	// AttachedSRs is every whitelisted SR that is now attached in the pool,
	// whether introduced by a DR task of ours or already there.
	AttachedSRs []SRInfo `json:"attached_srs"`
}

// DRTask is one DR_task and the SRs it introduced.
type DRTask struct {
	UUID          string   `json:"uuid"`
	StorageName   string   `json:"storage_name"`
	IntroducedSRs []SRInfo `json:"introduced_srs"`
}

// SRInfo names an SR.
type SRInfo struct {
	UUID string `json:"uuid"`
	Name string `json:"name"`
}

// ScanInput asks for the metadata on the given SRs at Site.
type ScanInput struct {
	Site    string   `json:"site"`
	SRUUIDs []string `json:"sr_uuids"`
	// Offset and Limit page the result so that no payload grows with the
	// plan: the units (vApps, then standalone VMs) from Offset, at most Limit
	// VMs' worth (a vApp counts its VMs; at least one unit). Limit 0 returns
	// every unit. Only the first page (Offset 0) rescans the SRs.
	Offset int `json:"offset,omitempty"`
	Limit  int `json:"limit,omitempty"`
}

// ScanResult is every vApp and VM found in the latest foreign metadata, each VM
// taken from the most recent information when it was found in several places.
type ScanResult struct {
	TargetPoolUUID string           `json:"target_pool_uuid"`
	Sources        []MetadataSource `json:"sources"`
	VApps          []VAppInfo       `json:"vapps"`
	VMs            []VMInfo         `json:"vms"` // standalone VMs only
	// Ignored explains metadata VDIs that were not used (own pool's, not latest, attached...).
	Ignored []string `json:"ignored,omitempty"`
	// Next is the Offset of the next page, 0 when this page is the last.
	Next int `json:"next,omitempty"`
	// Pages, on the first page of a paged scan, is the Offset of every
	// later page, so that they can be asked for at once.
	Pages []int `json:"pages,omitempty"`
}

// MetadataSource is one metadata VDI read.
type MetadataSource struct {
	VDIUUID  string `json:"vdi_uuid"`
	SRUUID   string `json:"sr_uuid"`
	SRName   string `json:"sr_name"`
	PoolUUID string `json:"pool_uuid"`
	PoolName string `json:"pool_name"`
}

// VAppInfo is one vApp of the metadata.
type VAppInfo struct {
	UUID      string   `json:"uuid"`
	Name      string   `json:"name"`
	SourceVDI string   `json:"source_vdi"` // metadata VDI UUID to recover from
	VMs       []VMInfo `json:"vms"`
}

// VMInfo is one VM of the metadata (compact: plans may hold 5,000 VMs).
type VMInfo struct {
	UUID       string   `json:"uuid"`
	Name       string   `json:"name"`
	VApp       string   `json:"vapp,omitempty"` // vApp UUID
	Order      int64    `json:"order,omitempty"`
	StartDelay int64    `json:"start_delay,omitempty"`
	Version    int64    `json:"version"`
	PowerState string   `json:"power_state"` // in the metadata
	Tags       []string `json:"tags,omitempty"`
	MemoryMax  int64    `json:"memory_max,omitempty"`
	SourceVDI  string   `json:"source_vdi"`
}

// Unit is what is recovered as one: a vApp with its VMs, or one standalone VM.
type Unit struct {
	Kind      string `json:"kind"`
	UUID      string `json:"uuid"`
	Name      string `json:"name"`
	SourceVDI string `json:"source_vdi"`
}

// PrecheckInput asks for the prechecks of the selected units at Site.
type PrecheckInput struct {
	Site string    `json:"site"`
	Mode plan.Mode `json:"mode"`
	// Plan names the plan: a same-UUID VM it recovered in this mode from
	// the same metadata in an earlier run is adopted (docs/reruns.md).
	Plan string `json:"plan,omitempty"`
	// SourceSite is checked for still-running copies (failover and failback)
	// when it answers; an unreachable source is a warning, not a problem.
	SourceSite string `json:"source_site,omitempty"`
	Units      []Unit `json:"units"`
	// VMs is every selected VM (of vApps and standalone), for memory and
	// network checks.
	VMs []VMInfo `json:"vms"`
	// A large selection is prechecked in chunks (no payload grows with the
	// plan): every chunk but the first sets SkipPoolChecks (role, HA,
	// memory), and TotalMemory is the memory of the whole selection, which
	// the memory check compares with the pool's free memory when set.
	SkipPoolChecks bool  `json:"skip_pool_checks,omitempty"`
	TotalMemory    int64 `json:"total_memory,omitempty"`
}

// PrecheckResult is the precheck report.
type PrecheckResult struct {
	Checks []Check `json:"checks"`
	// Adopted lists the units (UUIDs) an earlier run of the plan recovered:
	// they are not recovered again, only started.
	Adopted []string `json:"adopted,omitempty"`
	// OwnCopies lists the VMs (UUIDs) at the target that an earlier run of
	// the plan in this mode recovered from the same metadata: those of the
	// adopted units, and those of units that are recovered again (a vApp
	// whose vApp record is gone).
	OwnCopies []string `json:"own_copies,omitempty"`
}

// Check is one precheck line.
type Check struct {
	Check    string `json:"check"`
	Object   string `json:"object"`
	Severity string `json:"severity"` // SeverityOK, SeverityWarning or SeverityProblem
	Message  string `json:"message"`
}

// Severities of a Check: a problem blocks the run, a warning does not.
const (
	SeverityOK      = "ok"
	SeverityWarning = "warning"
	SeverityProblem = "problem"
)

// RecoverInput asks to recover one vApp or a batch of standalone VMs of the
// same metadata VDI.
type RecoverInput struct {
	Site  string `json:"site"`
	Units []Unit `json:"units"`
	// Plan and Mode are marked on every VM recovered, so a re-run of the
	// plan adopts them (docs/reruns.md); without a plan nothing is marked.
	Plan string    `json:"plan,omitempty"`
	Mode plan.Mode `json:"mode,omitempty"`
	// Parallel is how many units are recovered at once (0 or 1: one after
	// another, as before the workflow's recover-parallel-units).
	Parallel int `json:"parallel,omitempty"`
	// Slots, when set, is how many imports at the site the worker keeps in
	// flight for every recovery that sets it (queueRecoveries): each unit then
	// waits for one of them, those of Group (a priority group's rank)
	// before those of later groups, and Parallel is not used.
	Slots int `json:"slots,omitempty"`
	Group int `json:"group,omitempty"`
	// FirstGroup is the run's earliest group still recovering: the units
	// of a later group queue for the slots once its units have
	// (queueRecoveries).
	FirstGroup int `json:"first_group,omitempty"`
}

// RecoverResult is per unit; a unit that failed has Error set and does not
// fail the others.
type RecoverResult struct {
	Units []RecoveredUnit `json:"units"`
}

// RecoveredUnit is the outcome of one unit.
type RecoveredUnit struct {
	UUID string `json:"uuid"`
	Kind string `json:"kind"`
	// VMUUIDs of the recovered VMs (the vApp's members, or the VM itself).
	VMUUIDs []string `json:"vm_uuids,omitempty"`
	// Already is true when an earlier attempt had recovered it.
	Already     bool      `json:"already,omitempty"`
	Error       string    `json:"error,omitempty"`
	RecoveredAt time.Time `json:"recovered_at"`
}

// StartVMInput asks to start one VM (running or paused). VM.start waits the
// VM's start_delay before it returns.
type StartVMInput struct {
	Site   string `json:"site"`
	VMUUID string `json:"vm_uuid"`
	Paused bool   `json:"paused"`
	// Slots caps the VM starts in flight at the site (the plan's
	// concurrency.start; 0 = as many as the pool's hosts take, slots.go).
	Slots int `json:"slots,omitempty"`
	// Later is how many orders of the VM's vApp wait for it (StartBatch):
	// a start that others wait for gets a free slot before those that
	// none wait for, first come first served among equals.
	Later int `json:"later,omitempty"`
	// Spread boots the VM on the host with the fewest of this worker's
	// boots in flight (the plan's start.placement spread; slots.go).
	Spread bool `json:"spread,omitempty"`
}

// StartBatchInput asks to start several VMs at once (StartBatch): the
// chains of a start child, or (an earlier version) one step's VMs.
type StartBatchInput struct {
	Site    string       `json:"site"`
	Paused  bool         `json:"paused"`
	Slots   int          `json:"slots,omitempty"`  // as StartVMInput.Slots
	Spread  bool         `json:"spread,omitempty"` // as StartVMInput.Spread
	Chains  []StartChain `json:"chains,omitempty"`
	VMUUIDs []string     `json:"vm_uuids,omitempty"`
}

// StartBatchResult is one entry per VM of the input, in input order.
type StartBatchResult struct {
	VMs []StartedVM `json:"vms"`
}

// StartedVM is one VM's start outcome: its power state and when, or the
// error (one sentence) with its code.
type StartedVM struct {
	UUID       string    `json:"uuid"`
	PowerState string    `json:"power_state,omitempty"`
	Already    bool      `json:"already,omitempty"`
	StartedAt  time.Time `json:"started_at,omitempty"`
	Error      string    `json:"error,omitempty"`
	Code       string    `json:"code,omitempty"`
	// Skipped: not started because a VM of an earlier order of its chain
	// failed to start (Error says which).
	Skipped bool `json:"skipped,omitempty"`
}

// StartVMResult is the VM's power state after the start.
type StartVMResult struct {
	PowerState string    `json:"power_state"`
	Already    bool      `json:"already,omitempty"`
	StartedAt  time.Time `json:"started_at"`
}

// VerifyInput lists the expected power state per VM UUID.
type VerifyInput struct {
	Site   string            `json:"site"`
	Expect map[string]string `json:"expect"` // VM UUID -> Halted|Running|Paused
}

// VerifyResult lists what differs, one sentence per VM.
type VerifyResult struct {
	Mismatches []string `json:"mismatches,omitempty"`
}

// ReprotectInput asks to enable metadata replication on the given SRs.
type ReprotectInput struct {
	Site    string   `json:"site"`
	SRUUIDs []string `json:"sr_uuids"`
}

// ReprotectResult lists the SRs now replicating and the errors, one per SR.
type ReprotectResult struct {
	Enabled []string `json:"enabled"`
	Errors  []string `json:"errors,omitempty"`
}

// DestroyDRTasksInput asks for DR_task.destroy of each task still present.
type DestroyDRTasksInput struct {
	Site        string   `json:"site"`
	DRTaskUUIDs []string `json:"dr_task_uuids"`
	// SRUUIDs are SRs the run asked Introduce for when Introduce did not end
	// well: a DR task that introduced one of them is the run's too (they
	// were not in the pool before), though Introduce could not report it.
	SRUUIDs []string `json:"sr_uuids,omitempty"`
}

// CleanupInput asks to remove what a test failover recreated: VMs and vApps by
// UUID (hard shutdown, destroy records, never VDIs) and SRs introduced by the
// run (unplug PBDs, forget).
type CleanupInput struct {
	Site      string   `json:"site"`
	VAppUUIDs []string `json:"vapp_uuids"`
	VMUUIDs   []string `json:"vm_uuids"`
	SRUUIDs   []string `json:"sr_uuids"`
	// BaselineNetworks is the target's network UUIDs before the run: networks
	// that recovery created since (other_config import_task, no VIFs left)
	// are destroyed too, so the DR pool is left as it was.
	BaselineNetworks []string `json:"baseline_networks,omitempty"`
}

// CleanupResult lists what was removed and what could not be (one sentence each).
type CleanupResult struct {
	Removed   []string `json:"removed"`
	Leftovers []string `json:"leftovers,omitempty"`
}

// InventoryInput asks for a snapshot of a pool's DR-relevant state.
type InventoryInput struct {
	Site string `json:"site"`
}

// Inventory is a pool's DR-relevant state, compared before and after a test
// failover to prove the DR pool was left as it was.
type Inventory struct {
	PoolUUID string            `json:"pool_uuid"`
	VMs      map[string]string `json:"vms"`      // UUID -> power state
	VApps    []string          `json:"vapps"`    // UUIDs
	SRs      []string          `json:"srs"`      // UUIDs
	Networks []string          `json:"networks"` // UUIDs
	DRTasks  []string          `json:"dr_tasks"` // UUIDs
}

// SnapshotStorageInput asks the storage's adapter for a named snapshot of
// its LUN at the site.
type SnapshotStorageInput struct {
	Site         string             `json:"site"`
	Storage      plan.StorageTarget `json:"storage"`
	StorageIndex int                `json:"storage_index"`
	Snapshot     string             `json:"snapshot"`
}

// SnapshotStorageResult is the snapshot LUN, ready to probe.
type SnapshotStorageResult struct {
	Snapshot     string            `json:"snapshot"`
	Created      bool              `json:"created"` // false: it existed (a retry)
	DeviceConfig map[string]string `json:"device_config"`
	Message      string            `json:"message,omitempty"`
	// DataAsOf is when the snapshot's data was current, when the adapter
	// said (zero: not known).
	DataAsOf time.Time `json:"data_as_of,omitzero"`
}

// DeleteSnapshotInput asks the storage's adapter to delete a snapshot.
type DeleteSnapshotInput struct {
	Site         string             `json:"site"`
	Storage      plan.StorageTarget `json:"storage"`
	StorageIndex int                `json:"storage_index"`
	Snapshot     string             `json:"snapshot"`
}

// DeleteSnapshotResult says whether there was a snapshot to delete.
type DeleteSnapshotResult struct {
	Deleted bool   `json:"deleted"`
	Message string `json:"message,omitempty"`
}

// PromoteStorageInput asks the storage's adapter to make its LUN writable.
type PromoteStorageInput struct {
	Site         string             `json:"site"`
	Storage      plan.StorageTarget `json:"storage"`
	StorageIndex int                `json:"storage_index"`
}

// StorageStatusInput asks the storage's adapter for its LUN's mirror.
type StorageStatusInput struct {
	Site         string             `json:"site"`
	Storage      plan.StorageTarget `json:"storage"`
	StorageIndex int                `json:"storage_index"`
}

// PromoteStorageResult is the mirror's state after promotion.
type PromoteStorageResult struct {
	Mirror  string `json:"mirror"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	// LastCopy is when the LUN last received the source's data, when the
	// adapter said (zero: not known): a promoted LUN holds the source as
	// of then.
	LastCopy time.Time `json:"last_copy,omitzero"`
}
