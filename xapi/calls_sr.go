package xapi

import (
	"context"
	"fmt"
)

// ProbeResult is the answer of SR.probe: the driver's XML verbatim and, when
// it is an <SRlist>, its entries.
type ProbeResult struct {
	Raw string
	SRs []SRListEntry
}

// MetadataSMConfig is the sm_config that makes SR.probe report
// pool_metadata_detected (docs/xapi-dr.md, "Probing storage").
func MetadataSMConfig() map[string]string { return map[string]string{"metadata": "true"} }

// ProbeSR calls SR.probe synchronously. If the answer is not a parsable SR
// list, the result still carries Raw and the error says why.
func (s *Session) ProbeSR(ctx context.Context, host Ref, deviceConfig map[string]string, srType string, smConfig map[string]string) (*ProbeResult, error) {
	v, err := s.call(ctx, "SR.probe", host, nonNilMap(deviceConfig), srType, nonNilMap(smConfig))
	if err != nil {
		return nil, fmt.Errorf("probe %s storage: %w", srType, err)
	}
	raw, err := asString(v)
	if err != nil {
		return nil, fmt.Errorf("probe %s storage: %w", srType, &ProtocolError{Reason: err.Error()})
	}
	return probeResult(srType, raw)
}

// ProbeSRAsync is ProbeSR through Async.SR.probe and its task: the result is
// the XML document escaped inside the task's <value> fragment.
func (s *Session) ProbeSRAsync(ctx context.Context, host Ref, deviceConfig map[string]string, srType string, smConfig map[string]string) (*ProbeResult, error) {
	res, err := s.runAsync(ctx, "SR.probe", host, nonNilMap(deviceConfig), srType, nonNilMap(smConfig))
	if err != nil {
		return nil, fmt.Errorf("probe %s storage: %w", srType, err)
	}
	raw, err := ResultString(res)
	if err != nil {
		return nil, fmt.Errorf("probe %s storage: %w", srType, err)
	}
	return probeResult(srType, raw)
}

func probeResult(srType, raw string) (*ProbeResult, error) {
	r := &ProbeResult{Raw: raw}
	srs, err := ParseSRList(raw)
	if err != nil {
		return r, fmt.Errorf("probe %s storage: %w", srType, err)
	}
	r.SRs = srs
	return r, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// ScanSR rescans an SR's VDIs (Async.SR.scan).
func (s *Session) ScanSR(ctx context.Context, sr Ref) error {
	if _, err := s.runAsync(ctx, "SR.scan", sr); err != nil {
		return fmt.Errorf("scan SR %s: %w", sr, err)
	}
	return nil
}

// ForgetSR removes an SR's record, never its data (Async.SR.forget);
// SR_HAS_PBD while a PBD is attached.
func (s *Session) ForgetSR(ctx context.Context, sr Ref) error {
	if _, err := s.runAsync(ctx, "SR.forget", sr); err != nil {
		return fmt.Errorf("forget SR %s: %w", sr, err)
	}
	return nil
}

// UnplugPBD detaches an SR from one host (Async.PBD.unplug). Unplug the
// master's PBD last.
func (s *Session) UnplugPBD(ctx context.Context, pbd Ref) error {
	if _, err := s.runAsync(ctx, "PBD.unplug", pbd); err != nil {
		return fmt.Errorf("unplug PBD %s: %w", pbd, err)
	}
	return nil
}

// PlugPBD attaches an SR to one host (Async.PBD.plug).
func (s *Session) PlugPBD(ctx context.Context, pbd Ref) error {
	if _, err := s.runAsync(ctx, "PBD.plug", pbd); err != nil {
		return fmt.Errorf("plug PBD %s: %w", pbd, err)
	}
	return nil
}

// AssertSupportsDatabaseReplication succeeds when the SR can hold a DR
// metadata VDI (SR_OPERATION_NOT_SUPPORTED, SR_HAS_NO_PBDS otherwise).
func (s *Session) AssertSupportsDatabaseReplication(ctx context.Context, sr Ref) error {
	if _, err := s.call(ctx, "SR.assert_supports_database_replication", sr); err != nil {
		return fmt.Errorf("check SR %s supports metadata replication: %w", sr, err)
	}
	return nil
}

// EnableDatabaseReplication starts replicating the pool database to a
// metadata VDI on the SR (Async.SR.enable_database_replication).
func (s *Session) EnableDatabaseReplication(ctx context.Context, sr Ref) error {
	if _, err := s.runAsync(ctx, "SR.enable_database_replication", sr); err != nil {
		return fmt.Errorf("enable metadata replication on SR %s: %w", sr, err)
	}
	return nil
}

// DisableDatabaseReplication stops replication to the SR and destroys this
// pool's metadata VDI on it (Async.SR.disable_database_replication).
func (s *Session) DisableDatabaseReplication(ctx context.Context, sr Ref) error {
	if _, err := s.runAsync(ctx, "SR.disable_database_replication", sr); err != nil {
		return fmt.Errorf("disable metadata replication on SR %s: %w", sr, err)
	}
	return nil
}

// ReadDatabasePoolUUID returns the pool UUID cached for a foreign metadata
// VDI, or "" when xapi has not cached it (then open the database).
func (s *Session) ReadDatabasePoolUUID(ctx context.Context, vdi Ref) (string, error) {
	v, err := s.call(ctx, "VDI.read_database_pool_uuid", vdi)
	if err != nil {
		return "", fmt.Errorf("read pool UUID of metadata VDI %s: %w", vdi, err)
	}
	u, err := asString(v)
	if err != nil {
		return "", fmt.Errorf("read pool UUID of metadata VDI %s: %w", vdi, &ProtocolError{Reason: err.Error()})
	}
	return u, nil
}

// GetPool returns the pool's reference and record (a database holds one pool).
func (s *Session) GetPool(ctx context.Context) (Ref, Pool, error) {
	all, err := s.GetAllPoolRecords(ctx)
	if err != nil {
		return "", Pool{}, err
	}
	for r, p := range all {
		return r, p, nil
	}
	return "", Pool{}, fmt.Errorf("read pool: %w", &ProtocolError{Reason: "no pool record"})
}

// GetPool returns the foreign database's pool reference and record.
func (f *ForeignSession) GetPool(ctx context.Context) (ForeignRef, ForeignPool, error) {
	all, err := f.GetAllPoolRecords(ctx)
	if err != nil {
		return "", ForeignPool{}, err
	}
	for r, p := range all {
		return r, p, nil
	}
	return "", ForeignPool{}, fmt.Errorf("read foreign pool: %w", &ProtocolError{Reason: "no pool record"})
}
