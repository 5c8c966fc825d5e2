package xapi

import "time"

// Typed records. Each is generic over the reference type so that a record
// read through a ForeignSession carries ForeignRef in its reference fields
// (ForeignVM.Appliance is a ForeignRef) and a record read through a Session
// carries Ref. Enums are strings with the wire spelling, ints are int64.
// Wire names are in the xapi tags; fields the runbook does not use are
// omitted (the generic Session.Call gives access to everything).

// PoolRecord is a pool (a database holds exactly one).
type PoolRecord[R RefType] struct {
	UUID            string            `xapi:"uuid"`
	NameLabel       string            `xapi:"name_label"`
	NameDescription string            `xapi:"name_description"`
	Master          R                 `xapi:"master"`
	DefaultSR       R                 `xapi:"default_SR"`
	HAEnabled       bool              `xapi:"ha_enabled"`
	HAHostFailures  int64             `xapi:"ha_host_failures_to_tolerate"`
	HAStatefiles    []string          `xapi:"ha_statefiles"`
	RedoLogEnabled  bool              `xapi:"redo_log_enabled"`
	RedoLogVDI      R                 `xapi:"redo_log_vdi"`
	MetadataVDIs    []R               `xapi:"metadata_VDIs"`
	OtherConfig     map[string]string `xapi:"other_config"`
	Restrictions    map[string]string `xapi:"restrictions"`
	Tags            []string          `xapi:"tags"`
}

// HostRecord is a physical host. Its resident_VMs are left out (the
// projection drops them): nothing reads them, and after a large recovery each
// host lists hundreds of VMs in every host read.
type HostRecord[R RefType] struct {
	UUID             string            `xapi:"uuid"`
	NameLabel        string            `xapi:"name_label"`
	NameDescription  string            `xapi:"name_description"`
	Hostname         string            `xapi:"hostname"`
	Address          string            `xapi:"address"`
	Enabled          bool              `xapi:"enabled"`
	APIVersionMajor  int64             `xapi:"API_version_major"`
	APIVersionMinor  int64             `xapi:"API_version_minor"`
	SoftwareVersion  map[string]string `xapi:"software_version"`
	PBDs             []R               `xapi:"PBDs"`
	Metrics          R                 `xapi:"metrics"`
	ControlDomain    R                 `xapi:"control_domain"`
	MemoryOverhead   int64             `xapi:"memory_overhead"`
	Edition          string            `xapi:"edition"`
	LicenseParams    map[string]string `xapi:"license_params"`
	IscsiIQN         string            `xapi:"iscsi_iqn"`
	Multipathing     bool              `xapi:"multipathing"`
	OtherConfig      map[string]string `xapi:"other_config"`
	AllowedOps       []string          `xapi:"allowed_operations"`
	CurrentOps       map[string]string `xapi:"current_operations"`
	Tags             []string          `xapi:"tags"`
	ExternalAuthType string            `xapi:"external_auth_type"`
}

// SRRecord is a storage repository, without its VDIs (SRDisksRecord).
type SRRecord[R RefType] struct {
	UUID                string            `xapi:"uuid"`
	NameLabel           string            `xapi:"name_label"`
	NameDescription     string            `xapi:"name_description"`
	Type                string            `xapi:"type"`
	ContentType         string            `xapi:"content_type"`
	Shared              bool              `xapi:"shared"`
	PBDs                []R               `xapi:"PBDs"`
	AllowedOperations   []string          `xapi:"allowed_operations"`
	CurrentOperations   map[string]string `xapi:"current_operations"`
	VirtualAllocation   int64             `xapi:"virtual_allocation"`
	PhysicalUtilisation int64             `xapi:"physical_utilisation"`
	PhysicalSize        int64             `xapi:"physical_size"`
	SMConfig            map[string]string `xapi:"sm_config"`
	OtherConfig         map[string]string `xapi:"other_config"`
	Tags                []string          `xapi:"tags"`
	IntroducedBy        R                 `xapi:"introduced_by"`
	Clustered           bool              `xapi:"clustered"`
	IsToolsSR           bool              `xapi:"is_tools_sr"`
}

// SRDisksRecord is an SR with the refs of its VDIs, which SRRecord leaves
// out: the SR records are read in most steps, and at 10,000 VMs their VDIs
// fields (a ref per disk) were most of each read (0.7 s of a worker's CPU in
// the precheck alone). Only the metadata's storage index needs them.
type SRDisksRecord[R RefType] struct {
	UUID        string `xapi:"uuid"`
	NameLabel   string `xapi:"name_label"`
	ContentType string `xapi:"content_type"`
	Shared      bool   `xapi:"shared"`
	VDIs        []R    `xapi:"VDIs"`
}

// PBDRecord connects a host to an SR.
type PBDRecord[R RefType] struct {
	UUID              string            `xapi:"uuid"`
	Host              R                 `xapi:"host"`
	SR                R                 `xapi:"SR"`
	DeviceConfig      map[string]string `xapi:"device_config"`
	CurrentlyAttached bool              `xapi:"currently_attached"`
	OtherConfig       map[string]string `xapi:"other_config"`
}

// VDIRecord is a virtual disk; metadata VDIs have Type "metadata".
type VDIRecord[R RefType] struct {
	UUID                string            `xapi:"uuid"`
	NameLabel           string            `xapi:"name_label"`
	NameDescription     string            `xapi:"name_description"`
	SR                  R                 `xapi:"SR"`
	VBDs                []R               `xapi:"VBDs"`
	VirtualSize         int64             `xapi:"virtual_size"`
	PhysicalUtilisation int64             `xapi:"physical_utilisation"`
	Type                string            `xapi:"type"`
	Sharable            bool              `xapi:"sharable"`
	ReadOnly            bool              `xapi:"read_only"`
	Location            string            `xapi:"location"`
	Managed             bool              `xapi:"managed"`
	Missing             bool              `xapi:"missing"`
	IsASnapshot         bool              `xapi:"is_a_snapshot"`
	SnapshotOf          R                 `xapi:"snapshot_of"`
	SMConfig            map[string]string `xapi:"sm_config"`
	OtherConfig         map[string]string `xapi:"other_config"`
	AllowedOperations   []string          `xapi:"allowed_operations"`
	CurrentOperations   map[string]string `xapi:"current_operations"`
	MetadataOfPool      R                 `xapi:"metadata_of_pool"`
	MetadataLatest      bool              `xapi:"metadata_latest"`
	IsToolsISO          bool              `xapi:"is_tools_iso"`
	Tags                []string          `xapi:"tags"`
}

// VDISummaryRecord is the part of a VDI record that finding the metadata
// VDIs of a pool's SRs reads: at 10,000 VMs a DR pool holds over 10,000
// disks, and decoding their full records took a second of a scan.
type VDISummaryRecord[R RefType] struct {
	UUID           string `xapi:"uuid"`
	NameLabel      string `xapi:"name_label"`
	SR             R      `xapi:"SR"`
	VBDs           []R    `xapi:"VBDs"`
	Type           string `xapi:"type"`
	MetadataOfPool R      `xapi:"metadata_of_pool"`
	MetadataLatest bool   `xapi:"metadata_latest"`
}

// VBDRecord attaches a VDI (or an empty CD drive) to a VM.
type VBDRecord[R RefType] struct {
	UUID              string            `xapi:"uuid"`
	VM                R                 `xapi:"VM"`
	VDI               R                 `xapi:"VDI"`
	Device            string            `xapi:"device"`
	Userdevice        string            `xapi:"userdevice"`
	Bootable          bool              `xapi:"bootable"`
	Mode              string            `xapi:"mode"`
	Type              string            `xapi:"type"`
	Unpluggable       bool              `xapi:"unpluggable"`
	Empty             bool              `xapi:"empty"`
	CurrentlyAttached bool              `xapi:"currently_attached"`
	AllowedOperations []string          `xapi:"allowed_operations"`
	OtherConfig       map[string]string `xapi:"other_config"`
}

// VBDSummaryRecord is the part of a VBD record that the storage precheck
// reads: which VM uses which VDI, and whether as a CD drive.
type VBDSummaryRecord[R RefType] struct {
	VM   R      `xapi:"VM"`
	VDI  R      `xapi:"VDI"`
	Type string `xapi:"type"`
}

// VIFRecord is a VM network interface.
type VIFRecord[R RefType] struct {
	UUID              string            `xapi:"uuid"`
	Device            string            `xapi:"device"`
	Network           R                 `xapi:"network"`
	VM                R                 `xapi:"VM"`
	MAC               string            `xapi:"MAC"`
	MTU               int64             `xapi:"MTU"`
	CurrentlyAttached bool              `xapi:"currently_attached"`
	MACAutogenerated  bool              `xapi:"MAC_autogenerated"`
	LockingMode       string            `xapi:"locking_mode"`
	AllowedOperations []string          `xapi:"allowed_operations"`
	OtherConfig       map[string]string `xapi:"other_config"`
}

// VIFSummaryRecord is the part of a VIF record that mapping a plan's
// networks reads: which VM it belongs to and on which network.
type VIFSummaryRecord[R RefType] struct {
	UUID    string `xapi:"uuid"`
	Network R      `xapi:"network"`
	VM      R      `xapi:"VM"`
}

// NetworkRecord is a virtual network; recovery maps VIFs by NameLabel, then Bridge.
type NetworkRecord[R RefType] struct {
	UUID            string            `xapi:"uuid"`
	NameLabel       string            `xapi:"name_label"`
	NameDescription string            `xapi:"name_description"`
	Bridge          string            `xapi:"bridge"`
	MTU             int64             `xapi:"MTU"`
	Managed         bool              `xapi:"managed"`
	VIFs            []R               `xapi:"VIFs"`
	PIFs            []R               `xapi:"PIFs"`
	OtherConfig     map[string]string `xapi:"other_config"`
	Tags            []string          `xapi:"tags"`
}

// VMRecord is a VM, template, snapshot or control domain.
type VMRecord[R RefType] struct {
	UUID              string            `xapi:"uuid"`
	NameLabel         string            `xapi:"name_label"`
	NameDescription   string            `xapi:"name_description"`
	PowerState        string            `xapi:"power_state"` // Halted, Paused, Running, Suspended
	UserVersion       int64             `xapi:"user_version"`
	IsATemplate       bool              `xapi:"is_a_template"`
	IsDefaultTemplate bool              `xapi:"is_default_template"`
	IsASnapshot       bool              `xapi:"is_a_snapshot"`
	IsControlDomain   bool              `xapi:"is_control_domain"`
	SnapshotOf        R                 `xapi:"snapshot_of"`
	Snapshots         []R               `xapi:"snapshots"`
	Appliance         R                 `xapi:"appliance"`
	Order             int64             `xapi:"order"`
	StartDelay        int64             `xapi:"start_delay"`
	ShutdownDelay     int64             `xapi:"shutdown_delay"`
	HARestartPriority string            `xapi:"ha_restart_priority"`
	HAAlwaysRun       bool              `xapi:"ha_always_run"`
	Version           int64             `xapi:"version"`
	GenerationID      string            `xapi:"generation_id"`
	MemoryStaticMin   int64             `xapi:"memory_static_min"`
	MemoryStaticMax   int64             `xapi:"memory_static_max"`
	MemoryDynamicMin  int64             `xapi:"memory_dynamic_min"`
	MemoryDynamicMax  int64             `xapi:"memory_dynamic_max"`
	MemoryTarget      int64             `xapi:"memory_target"`
	MemoryOverhead    int64             `xapi:"memory_overhead"`
	VCPUsMax          int64             `xapi:"VCPUs_max"`
	VCPUsAtStartup    int64             `xapi:"VCPUs_at_startup"`
	VCPUsParams       map[string]string `xapi:"VCPUs_params"`
	VBDs              []R               `xapi:"VBDs"`
	VIFs              []R               `xapi:"VIFs"`
	VGPUs             []R               `xapi:"VGPUs"`
	SuspendVDI        R                 `xapi:"suspend_VDI"`
	SuspendSR         R                 `xapi:"suspend_SR"`
	ResidentOn        R                 `xapi:"resident_on"`
	Affinity          R                 `xapi:"affinity"`
	Domid             int64             `xapi:"domid"`
	DomainType        string            `xapi:"domain_type"`
	OtherConfig       map[string]string `xapi:"other_config"`
	Platform          map[string]string `xapi:"platform"`
	Tags              []string          `xapi:"tags"`
	BlockedOperations map[string]string `xapi:"blocked_operations"`
	AllowedOperations []string          `xapi:"allowed_operations"`
	CurrentOperations map[string]string `xapi:"current_operations"`
	SnapshotTime      time.Time         `xapi:"snapshot_time"`
	HardwarePlatform  int64             `xapi:"hardware_platform_version"`
	HVMShadowMult     float64           `xapi:"HVM_shadow_multiplier"`
}

// IsRealVM reports whether the record is a guest VM: not a template, a
// snapshot or a control domain (XenCenter's IsRealVm).
func (v VMRecord[R]) IsRealVM() bool {
	return !v.IsATemplate && !v.IsASnapshot && !v.IsControlDomain
}

// InAppliance reports whether the VM belongs to a vApp.
func (v VMRecord[R]) InAppliance() bool { return !IsNullRef(v.Appliance) }

// VMSummaryRecord is the part of a VM record that planning a recovery
// reads from the metadata: a tenth of the record's fields, so that reading
// 10,000 VMs of a foreign database decodes a fraction of what xapi sends
// (see projection). Use VMRecord for anything else.
type VMSummaryRecord[R RefType] struct {
	UUID            string   `xapi:"uuid"`
	NameLabel       string   `xapi:"name_label"`
	PowerState      string   `xapi:"power_state"`
	IsATemplate     bool     `xapi:"is_a_template"`
	IsASnapshot     bool     `xapi:"is_a_snapshot"`
	IsControlDomain bool     `xapi:"is_control_domain"`
	Appliance       R        `xapi:"appliance"`
	Order           int64    `xapi:"order"`
	StartDelay      int64    `xapi:"start_delay"`
	Version         int64    `xapi:"version"`
	MemoryStaticMax int64    `xapi:"memory_static_max"`
	VIFs            []R      `xapi:"VIFs"`
	VBDs            []R      `xapi:"VBDs"`
	Tags            []string `xapi:"tags"`
}

// IsRealVM is VMRecord.IsRealVM.
func (v VMSummaryRecord[R]) IsRealVM() bool {
	return !v.IsATemplate && !v.IsASnapshot && !v.IsControlDomain
}

// InAppliance is VMRecord.InAppliance.
func (v VMSummaryRecord[R]) InAppliance() bool { return !IsNullRef(v.Appliance) }

// VMStateRecord is the part of a VM record an orchestrator follows on the
// pool it recovers into: what a VM is, its power state, its host and
// affinity host, its current operations and the marks lifeboat leaves in
// other_config. The site's
// view of thousands of VMs is read through event.from all the time (every
// start changes a VM twice), and decoding every field of VMRecord for it
// was a quarter of a worker's CPU while 10,000 VMs started (make bench).
// Use VMRecord for anything else.
type VMStateRecord[R RefType] struct {
	UUID              string            `xapi:"uuid"`
	NameLabel         string            `xapi:"name_label"`
	PowerState        string            `xapi:"power_state"`
	IsATemplate       bool              `xapi:"is_a_template"`
	IsASnapshot       bool              `xapi:"is_a_snapshot"`
	IsControlDomain   bool              `xapi:"is_control_domain"`
	Appliance         R                 `xapi:"appliance"`
	Version           int64             `xapi:"version"`
	ResidentOn        R                 `xapi:"resident_on"`
	Affinity          R                 `xapi:"affinity"`
	OtherConfig       map[string]string `xapi:"other_config"`
	CurrentOperations map[string]string `xapi:"current_operations"`
}

// IsRealVM is VMRecord.IsRealVM.
func (v VMStateRecord[R]) IsRealVM() bool {
	return !v.IsATemplate && !v.IsASnapshot && !v.IsControlDomain
}

// InAppliance is VMRecord.InAppliance.
func (v VMStateRecord[R]) InAppliance() bool { return !IsNullRef(v.Appliance) }

// VMApplianceRecord is a vApp.
type VMApplianceRecord[R RefType] struct {
	UUID              string            `xapi:"uuid"`
	NameLabel         string            `xapi:"name_label"`
	NameDescription   string            `xapi:"name_description"`
	AllowedOperations []string          `xapi:"allowed_operations"`
	CurrentOperations map[string]string `xapi:"current_operations"`
	VMs               []R               `xapi:"VMs"`
}

// DRTaskRecord is a DR_task; IntroducedSRs are the SRs it will forget on destroy.
type DRTaskRecord struct {
	UUID          string `xapi:"uuid"`
	IntroducedSRs []Ref  `xapi:"introduced_SRs"`
}

// TaskRecord is an asynchronous task.
type TaskRecord struct {
	UUID            string            `xapi:"uuid"`
	NameLabel       string            `xapi:"name_label"`
	NameDescription string            `xapi:"name_description"`
	Status          string            `xapi:"status"` // pending, success, failure, cancelling, cancelled
	Progress        float64           `xapi:"progress"`
	Result          string            `xapi:"result"`
	ErrorInfo       []string          `xapi:"error_info"`
	Created         time.Time         `xapi:"created"`
	Finished        time.Time         `xapi:"finished"`
	ResidentOn      Ref               `xapi:"resident_on"`
	Type            string            `xapi:"type"`
	AllowedOps      []string          `xapi:"allowed_operations"`
	CurrentOps      map[string]string `xapi:"current_operations"`
	OtherConfig     map[string]string `xapi:"other_config"`
	SubtaskOf       Ref               `xapi:"subtask_of"`
	Subtasks        []Ref             `xapi:"subtasks"`
	Backtrace       string            `xapi:"backtrace"`
}

// Task statuses.
const (
	TaskPending    = "pending"
	TaskSuccess    = "success"
	TaskFailure    = "failure"
	TaskCancelling = "cancelling"
	TaskCancelled  = "cancelled"
)

// Done reports whether the task reached a final status.
func (t TaskRecord) Done() bool {
	return t.Status == TaskSuccess || t.Status == TaskFailure || t.Status == TaskCancelled
}

// VM power states.
const (
	PowerHalted    = "Halted"
	PowerPaused    = "Paused"
	PowerRunning   = "Running"
	PowerSuspended = "Suspended"
)

// Records read through a real session.
type (
	Pool        = PoolRecord[Ref]
	Host        = HostRecord[Ref]
	SR          = SRRecord[Ref]
	PBD         = PBDRecord[Ref]
	VDI         = VDIRecord[Ref]
	VDISummary  = VDISummaryRecord[Ref]
	VBD         = VBDRecord[Ref]
	VIF         = VIFRecord[Ref]
	Network     = NetworkRecord[Ref]
	VM          = VMRecord[Ref]
	VMState     = VMStateRecord[Ref]
	VMAppliance = VMApplianceRecord[Ref]
)

// Records read through a foreign (metadata database) session.
type (
	ForeignPool        = PoolRecord[ForeignRef]
	ForeignHost        = HostRecord[ForeignRef]
	ForeignSR          = SRRecord[ForeignRef]
	ForeignSRDisks     = SRDisksRecord[ForeignRef]
	ForeignPBD         = PBDRecord[ForeignRef]
	ForeignVDI         = VDIRecord[ForeignRef]
	ForeignVBD         = VBDRecord[ForeignRef]
	ForeignVBDSummary  = VBDSummaryRecord[ForeignRef]
	ForeignVIF         = VIFRecord[ForeignRef]
	ForeignVIFSummary  = VIFSummaryRecord[ForeignRef]
	ForeignNetwork     = NetworkRecord[ForeignRef]
	ForeignVM          = VMRecord[ForeignRef]
	ForeignVMSummary   = VMSummaryRecord[ForeignRef]
	ForeignVMAppliance = VMApplianceRecord[ForeignRef]
)
