// Record readers: one get_all_records / get_record / get_by_uuid trio per class.

package xapi

import (
	"context"
	"fmt"
)

// caller is what record readers need: a session that prepends its own
// reference to params.
type caller interface {
	call(ctx context.Context, method string, params ...any) (any, error)
}

func getAllRecords[K RefType, T any](ctx context.Context, c caller, class string) (map[K]T, error) {
	return readRecords[K, T](ctx, c, "read all "+class+" records", class+".get_all_records")
}

// getAllRecordsWhere is getAllRecords of the records expr matches (xapi's
// filter language: field "type" = "metadata", with and, or, not).
func getAllRecordsWhere[K RefType, T any](ctx context.Context, c caller, class, expr string) (map[K]T, error) {
	return readRecords[K, T](ctx, c, "read the "+class+" records where "+expr, class+".get_all_records_where", expr)
}

// readRecords calls a method answering a map of records, decoding only
// T's fields; what names the read in errors.
func readRecords[K RefType, T any](ctx context.Context, c caller, what, method string, params ...any) (map[K]T, error) {
	v, err := c.call(withProjection(ctx, recordProjection[T](depthAllRecords)), method, params...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := map[K]T{}
	if err := decodeInto(v, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", what, &ProtocolError{Reason: err.Error()})
	}
	return out, nil
}

func getAll[K RefType](ctx context.Context, c caller, class string) ([]K, error) {
	v, err := c.call(ctx, class+".get_all")
	if err != nil {
		return nil, fmt.Errorf("list the %ss: %w", class, err)
	}
	var out []K
	if err := decodeInto(v, &out); err != nil {
		return nil, fmt.Errorf("list the %ss: %w", class, &ProtocolError{Reason: err.Error()})
	}
	return out, nil
}

func getRecord[T any](ctx context.Context, c caller, class, ref string) (T, error) {
	var out T
	v, err := c.call(withProjection(ctx, recordProjection[T](depthRecord)), class+".get_record", ref)
	if err != nil {
		return out, fmt.Errorf("read %s %s: %w", class, ref, err)
	}
	if err := decodeInto(v, &out); err != nil {
		return out, fmt.Errorf("read %s %s: %w", class, ref, &ProtocolError{Reason: err.Error()})
	}
	return out, nil
}

func getByUUID[K RefType](ctx context.Context, c caller, class, uuid string) (K, error) {
	v, err := c.call(ctx, class+".get_by_uuid", uuid)
	if err != nil {
		return "", fmt.Errorf("find %s by UUID %s: %w", class, uuid, err)
	}
	s, err := asString(v)
	if err != nil {
		return "", fmt.Errorf("find %s by UUID %s: %w", class, uuid, &ProtocolError{Reason: err.Error()})
	}
	return K(s), nil
}

// GetAllPoolRecords returns every pool record (get_all_records).
func (s *Session) GetAllPoolRecords(ctx context.Context) (map[Ref]Pool, error) {
	return getAllRecords[Ref, Pool](ctx, s, "pool")
}

// GetPoolRecord returns one pool record (get_record).
func (s *Session) GetPoolRecord(ctx context.Context, ref Ref) (Pool, error) {
	return getRecord[Pool](ctx, s, "pool", string(ref))
}

// GetPoolByUUID returns the reference of the pool with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetPoolByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "pool", uuid)
}

// GetAllHostRecords returns every host record (get_all_records).
func (s *Session) GetAllHostRecords(ctx context.Context) (map[Ref]Host, error) {
	return getAllRecords[Ref, Host](ctx, s, "host")
}

// GetAllHosts lists the pool's hosts (get_all): their references only.
func (s *Session) GetAllHosts(ctx context.Context) ([]Ref, error) {
	return getAll[Ref](ctx, s, "host")
}

// GetHostRecord returns one host record (get_record).
func (s *Session) GetHostRecord(ctx context.Context, ref Ref) (Host, error) {
	return getRecord[Host](ctx, s, "host", string(ref))
}

// GetHostByUUID returns the reference of the host with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetHostByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "host", uuid)
}

// GetAllSRRecords returns every SR record (get_all_records).
func (s *Session) GetAllSRRecords(ctx context.Context) (map[Ref]SR, error) {
	return getAllRecords[Ref, SR](ctx, s, "SR")
}

// GetSRRecord returns one SR record (get_record).
func (s *Session) GetSRRecord(ctx context.Context, ref Ref) (SR, error) {
	return getRecord[SR](ctx, s, "SR", string(ref))
}

// GetSRByUUID returns the reference of the SR with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetSRByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "SR", uuid)
}

// GetAllPBDRecords returns every PBD record (get_all_records).
func (s *Session) GetAllPBDRecords(ctx context.Context) (map[Ref]PBD, error) {
	return getAllRecords[Ref, PBD](ctx, s, "PBD")
}

// GetPBDRecord returns one PBD record (get_record).
func (s *Session) GetPBDRecord(ctx context.Context, ref Ref) (PBD, error) {
	return getRecord[PBD](ctx, s, "PBD", string(ref))
}

// GetPBDByUUID returns the reference of the PBD with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetPBDByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "PBD", uuid)
}

// GetUnpluggedPBDs returns the PBDs that are not currently attached
// (get_all_records_where): usually few, where a large pool has thousands
// of PBDs, one per host and SR.
func (s *Session) GetUnpluggedPBDs(ctx context.Context) (map[Ref]PBD, error) {
	return getAllRecordsWhere[Ref, PBD](ctx, s, "PBD", `field "currently_attached" = "false"`)
}

// GetAllVDIRecords returns every VDI record (get_all_records).
func (s *Session) GetAllVDIRecords(ctx context.Context) (map[Ref]VDI, error) {
	return getAllRecords[Ref, VDI](ctx, s, "VDI")
}

// GetAllVDISummaries returns the summary of every VDI (get_all_records,
// decoding only VDISummaryRecord's fields).
func (s *Session) GetAllVDISummaries(ctx context.Context) (map[Ref]VDISummary, error) {
	return getAllRecords[Ref, VDISummary](ctx, s, "VDI")
}

// GetMetadataVDISummaries returns the summary of every metadata VDI (the
// pool databases that metadata replication writes), without reading the
// pool's other VDIs: tens of thousands in a large pool.
func (s *Session) GetMetadataVDISummaries(ctx context.Context) (map[Ref]VDISummary, error) {
	return getAllRecordsWhere[Ref, VDISummary](ctx, s, "VDI", `field "type" = "metadata"`)
}

// GetVDIRecord returns one VDI record (get_record).
func (s *Session) GetVDIRecord(ctx context.Context, ref Ref) (VDI, error) {
	return getRecord[VDI](ctx, s, "VDI", string(ref))
}

// GetVDIByUUID returns the reference of the VDI with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetVDIByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "VDI", uuid)
}

// GetAllVBDRecords returns every VBD record (get_all_records).
func (s *Session) GetAllVBDRecords(ctx context.Context) (map[Ref]VBD, error) {
	return getAllRecords[Ref, VBD](ctx, s, "VBD")
}

// GetVBDRecord returns one VBD record (get_record).
func (s *Session) GetVBDRecord(ctx context.Context, ref Ref) (VBD, error) {
	return getRecord[VBD](ctx, s, "VBD", string(ref))
}

// GetVBDByUUID returns the reference of the VBD with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetVBDByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "VBD", uuid)
}

// GetAllVIFRecords returns every VIF record (get_all_records).
func (s *Session) GetAllVIFRecords(ctx context.Context) (map[Ref]VIF, error) {
	return getAllRecords[Ref, VIF](ctx, s, "VIF")
}

// GetVIFRecord returns one VIF record (get_record).
func (s *Session) GetVIFRecord(ctx context.Context, ref Ref) (VIF, error) {
	return getRecord[VIF](ctx, s, "VIF", string(ref))
}

// GetVIFByUUID returns the reference of the VIF with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetVIFByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "VIF", uuid)
}

// GetAllNetworkRecords returns every network record (get_all_records).
func (s *Session) GetAllNetworkRecords(ctx context.Context) (map[Ref]Network, error) {
	return getAllRecords[Ref, Network](ctx, s, "network")
}

// GetNetworkRecord returns one network record (get_record).
func (s *Session) GetNetworkRecord(ctx context.Context, ref Ref) (Network, error) {
	return getRecord[Network](ctx, s, "network", string(ref))
}

// GetNetworkByUUID returns the reference of the network with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetNetworkByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "network", uuid)
}

// GetAllVMRecords returns every VM record (get_all_records).
func (s *Session) GetAllVMRecords(ctx context.Context) (map[Ref]VM, error) {
	return getAllRecords[Ref, VM](ctx, s, "VM")
}

// GetAllVMStates returns every VM's state (VMStateRecord): get_all_records
// decoding only those fields.
func (s *Session) GetAllVMStates(ctx context.Context) (map[Ref]VMState, error) {
	return getAllRecords[Ref, VMState](ctx, s, "VM")
}

// GetVMRecord returns one VM record (get_record).
func (s *Session) GetVMRecord(ctx context.Context, ref Ref) (VM, error) {
	return getRecord[VM](ctx, s, "VM", string(ref))
}

// GetVMByUUID returns the reference of the VM with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetVMByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "VM", uuid)
}

// GetAllVMApplianceRecords returns every VM_appliance record (get_all_records).
func (s *Session) GetAllVMApplianceRecords(ctx context.Context) (map[Ref]VMAppliance, error) {
	return getAllRecords[Ref, VMAppliance](ctx, s, "VM_appliance")
}

// GetVMApplianceRecord returns one VM_appliance record (get_record).
func (s *Session) GetVMApplianceRecord(ctx context.Context, ref Ref) (VMAppliance, error) {
	return getRecord[VMAppliance](ctx, s, "VM_appliance", string(ref))
}

// GetVMApplianceByUUID returns the reference of the VM_appliance with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetVMApplianceByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "VM_appliance", uuid)
}

// GetAllDRTaskRecords returns every DR_task record (get_all_records).
func (s *Session) GetAllDRTaskRecords(ctx context.Context) (map[Ref]DRTaskRecord, error) {
	return getAllRecords[Ref, DRTaskRecord](ctx, s, "DR_task")
}

// GetDRTaskRecord returns one DR_task record (get_record).
func (s *Session) GetDRTaskRecord(ctx context.Context, ref Ref) (DRTaskRecord, error) {
	return getRecord[DRTaskRecord](ctx, s, "DR_task", string(ref))
}

// GetDRTaskByUUID returns the reference of the DR_task with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetDRTaskByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "DR_task", uuid)
}

// GetAllTaskRecords returns every task record (get_all_records).
func (s *Session) GetAllTaskRecords(ctx context.Context) (map[Ref]TaskRecord, error) {
	return getAllRecords[Ref, TaskRecord](ctx, s, "task")
}

// GetTaskRecord returns one task record (get_record).
func (s *Session) GetTaskRecord(ctx context.Context, ref Ref) (TaskRecord, error) {
	return getRecord[TaskRecord](ctx, s, "task", string(ref))
}

// GetTaskByUUID returns the reference of the task with this UUID;
// UUID_INVALID when there is none.
func (s *Session) GetTaskByUUID(ctx context.Context, uuid string) (Ref, error) {
	return getByUUID[Ref](ctx, s, "task", uuid)
}

// GetAllPoolRecords returns every pool record of the foreign database.
func (f *ForeignSession) GetAllPoolRecords(ctx context.Context) (map[ForeignRef]ForeignPool, error) {
	return getAllRecords[ForeignRef, ForeignPool](ctx, f, "pool")
}

// GetPoolRecord returns one pool record of the foreign database.
func (f *ForeignSession) GetPoolRecord(ctx context.Context, ref ForeignRef) (ForeignPool, error) {
	return getRecord[ForeignPool](ctx, f, "pool", string(ref))
}

// GetPoolByUUID returns the foreign reference of the pool with this UUID.
func (f *ForeignSession) GetPoolByUUID(ctx context.Context, uuid string) (ForeignRef, error) {
	return getByUUID[ForeignRef](ctx, f, "pool", uuid)
}

// GetAllHostRecords returns every host record of the foreign database.
func (f *ForeignSession) GetAllHostRecords(ctx context.Context) (map[ForeignRef]ForeignHost, error) {
	return getAllRecords[ForeignRef, ForeignHost](ctx, f, "host")
}

// GetHostRecord returns one host record of the foreign database.
func (f *ForeignSession) GetHostRecord(ctx context.Context, ref ForeignRef) (ForeignHost, error) {
	return getRecord[ForeignHost](ctx, f, "host", string(ref))
}

// GetHostByUUID returns the foreign reference of the host with this UUID.
func (f *ForeignSession) GetHostByUUID(ctx context.Context, uuid string) (ForeignRef, error) {
	return getByUUID[ForeignRef](ctx, f, "host", uuid)
}

// GetAllSRDisks returns every SR of the foreign database with its VDIs.
func (f *ForeignSession) GetAllSRDisks(ctx context.Context) (map[ForeignRef]ForeignSRDisks, error) {
	return getAllRecords[ForeignRef, ForeignSRDisks](ctx, f, "SR")
}

// GetSRRecord returns one SR record of the foreign database.
func (f *ForeignSession) GetSRRecord(ctx context.Context, ref ForeignRef) (ForeignSR, error) {
	return getRecord[ForeignSR](ctx, f, "SR", string(ref))
}

// GetSRByUUID returns the foreign reference of the SR with this UUID.
func (f *ForeignSession) GetSRByUUID(ctx context.Context, uuid string) (ForeignRef, error) {
	return getByUUID[ForeignRef](ctx, f, "SR", uuid)
}

// GetAllPBDRecords returns every PBD record of the foreign database.
func (f *ForeignSession) GetAllPBDRecords(ctx context.Context) (map[ForeignRef]ForeignPBD, error) {
	return getAllRecords[ForeignRef, ForeignPBD](ctx, f, "PBD")
}

// GetPBDRecord returns one PBD record of the foreign database.
func (f *ForeignSession) GetPBDRecord(ctx context.Context, ref ForeignRef) (ForeignPBD, error) {
	return getRecord[ForeignPBD](ctx, f, "PBD", string(ref))
}

// GetPBDByUUID returns the foreign reference of the PBD with this UUID.
func (f *ForeignSession) GetPBDByUUID(ctx context.Context, uuid string) (ForeignRef, error) {
	return getByUUID[ForeignRef](ctx, f, "PBD", uuid)
}

// GetAllVDIRecords returns every VDI record of the foreign database.
func (f *ForeignSession) GetAllVDIRecords(ctx context.Context) (map[ForeignRef]ForeignVDI, error) {
	return getAllRecords[ForeignRef, ForeignVDI](ctx, f, "VDI")
}

// GetVDIRecord returns one VDI record of the foreign database.
func (f *ForeignSession) GetVDIRecord(ctx context.Context, ref ForeignRef) (ForeignVDI, error) {
	return getRecord[ForeignVDI](ctx, f, "VDI", string(ref))
}

// GetVDIByUUID returns the foreign reference of the VDI with this UUID.
func (f *ForeignSession) GetVDIByUUID(ctx context.Context, uuid string) (ForeignRef, error) {
	return getByUUID[ForeignRef](ctx, f, "VDI", uuid)
}

// GetAllVBDRecords returns every VBD record of the foreign database.
func (f *ForeignSession) GetAllVBDRecords(ctx context.Context) (map[ForeignRef]ForeignVBD, error) {
	return getAllRecords[ForeignRef, ForeignVBD](ctx, f, "VBD")
}

// GetAllVBDSummaries returns the summary of every VBD of the foreign
// database (get_all_records, decoding only VBDSummaryRecord's fields).
func (f *ForeignSession) GetAllVBDSummaries(ctx context.Context) (map[ForeignRef]ForeignVBDSummary, error) {
	return getAllRecords[ForeignRef, ForeignVBDSummary](ctx, f, "VBD")
}

// GetVBDRecord returns one VBD record of the foreign database.
func (f *ForeignSession) GetVBDRecord(ctx context.Context, ref ForeignRef) (ForeignVBD, error) {
	return getRecord[ForeignVBD](ctx, f, "VBD", string(ref))
}

// GetVBDByUUID returns the foreign reference of the VBD with this UUID.
func (f *ForeignSession) GetVBDByUUID(ctx context.Context, uuid string) (ForeignRef, error) {
	return getByUUID[ForeignRef](ctx, f, "VBD", uuid)
}

// GetAllVIFRecords returns every VIF record of the foreign database.
func (f *ForeignSession) GetAllVIFRecords(ctx context.Context) (map[ForeignRef]ForeignVIF, error) {
	return getAllRecords[ForeignRef, ForeignVIF](ctx, f, "VIF")
}

// GetAllVIFSummaries returns the summary of every VIF of the foreign
// database (get_all_records, decoding only VIFSummaryRecord's fields).
func (f *ForeignSession) GetAllVIFSummaries(ctx context.Context) (map[ForeignRef]ForeignVIFSummary, error) {
	return getAllRecords[ForeignRef, ForeignVIFSummary](ctx, f, "VIF")
}

// GetVIFRecord returns one VIF record of the foreign database.
func (f *ForeignSession) GetVIFRecord(ctx context.Context, ref ForeignRef) (ForeignVIF, error) {
	return getRecord[ForeignVIF](ctx, f, "VIF", string(ref))
}

// GetVIFByUUID returns the foreign reference of the VIF with this UUID.
func (f *ForeignSession) GetVIFByUUID(ctx context.Context, uuid string) (ForeignRef, error) {
	return getByUUID[ForeignRef](ctx, f, "VIF", uuid)
}

// GetAllNetworkRecords returns every network record of the foreign database.
func (f *ForeignSession) GetAllNetworkRecords(ctx context.Context) (map[ForeignRef]ForeignNetwork, error) {
	return getAllRecords[ForeignRef, ForeignNetwork](ctx, f, "network")
}

// GetNetworkRecord returns one network record of the foreign database.
func (f *ForeignSession) GetNetworkRecord(ctx context.Context, ref ForeignRef) (ForeignNetwork, error) {
	return getRecord[ForeignNetwork](ctx, f, "network", string(ref))
}

// GetNetworkByUUID returns the foreign reference of the network with this UUID.
func (f *ForeignSession) GetNetworkByUUID(ctx context.Context, uuid string) (ForeignRef, error) {
	return getByUUID[ForeignRef](ctx, f, "network", uuid)
}

// GetAllVMRecords returns every VM record of the foreign database.
func (f *ForeignSession) GetAllVMRecords(ctx context.Context) (map[ForeignRef]ForeignVM, error) {
	return getAllRecords[ForeignRef, ForeignVM](ctx, f, "VM")
}

// GetAllVMSummaries returns the summary of every VM of the foreign
// database (get_all_records, decoding only VMSummaryRecord's fields).
func (f *ForeignSession) GetAllVMSummaries(ctx context.Context) (map[ForeignRef]ForeignVMSummary, error) {
	return getAllRecords[ForeignRef, ForeignVMSummary](ctx, f, "VM")
}

// GetVMRecord returns one VM record of the foreign database.
func (f *ForeignSession) GetVMRecord(ctx context.Context, ref ForeignRef) (ForeignVM, error) {
	return getRecord[ForeignVM](ctx, f, "VM", string(ref))
}

// GetVMByUUID returns the foreign reference of the VM with this UUID.
func (f *ForeignSession) GetVMByUUID(ctx context.Context, uuid string) (ForeignRef, error) {
	return getByUUID[ForeignRef](ctx, f, "VM", uuid)
}

// GetAllVMApplianceRecords returns every VM_appliance record of the foreign database.
func (f *ForeignSession) GetAllVMApplianceRecords(ctx context.Context) (map[ForeignRef]ForeignVMAppliance, error) {
	return getAllRecords[ForeignRef, ForeignVMAppliance](ctx, f, "VM_appliance")
}

// GetVMApplianceRecord returns one VM_appliance record of the foreign database.
func (f *ForeignSession) GetVMApplianceRecord(ctx context.Context, ref ForeignRef) (ForeignVMAppliance, error) {
	return getRecord[ForeignVMAppliance](ctx, f, "VM_appliance", string(ref))
}

// GetVMApplianceByUUID returns the foreign reference of the VM_appliance with this UUID.
func (f *ForeignSession) GetVMApplianceByUUID(ctx context.Context, uuid string) (ForeignRef, error) {
	return getByUUID[ForeignRef](ctx, f, "VM_appliance", uuid)
}
