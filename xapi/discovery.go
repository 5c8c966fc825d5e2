package xapi

import (
	"context"
	"fmt"
	"strconv"
)

// SR types that support disaster recovery.
const (
	SRTypeISCSI = "lvmoiscsi"
	SRTypeHBA   = "lvmohba"
)

// ISCSIConfig is the device_config of an lvmoiscsi SR. Empty fields are
// left out, which is how the discovery ladder works: without TargetIQN the
// driver lists IQNs, without SCSIid it lists LUNs (docs/xapi-dr.md, "Probing storage").
type ISCSIConfig struct {
	Target       string // address or host name (comma list for multi-target)
	Port         int64  // 0 = driver default 3260
	TargetIQN    string // "*" = all
	SCSIid       string
	ChapUser     string
	ChapPassword string // never printed by this package
}

// DeviceConfig returns the device_config map.
func (c ISCSIConfig) DeviceConfig() map[string]string {
	m := map[string]string{"target": c.Target}
	if c.Port != 0 {
		m["port"] = strconv.FormatInt(c.Port, 10)
	}
	if c.TargetIQN != "" {
		m["targetIQN"] = c.TargetIQN
	}
	if c.SCSIid != "" {
		m["SCSIid"] = c.SCSIid
	}
	if c.ChapUser != "" {
		m["chapuser"] = c.ChapUser
		m["chappassword"] = c.ChapPassword
	}
	return m
}

// DiscoveryPayload returns the document a storage driver printed into an
// SR_BACKEND_FAILURE error (ErrorDescription[3]) when err has one of codes.
func DiscoveryPayload(err error, codes ...string) (string, bool) {
	xe, ok := AsError(err)
	if !ok || !IsCode(err, codes...) {
		return "", false
	}
	return xe.Param(2), true
}

// DiscoverISCSITargets is discovery step 1: probe with target and port only;
// the driver answers SR_BACKEND_FAILURE_96 carrying the target IQNs.
func (s *Session) DiscoverISCSITargets(ctx context.Context, host Ref, cfg ISCSIConfig) ([]ISCSITarget, error) {
	cfg.TargetIQN, cfg.SCSIid = "", ""
	_, err := s.runAsync(ctx, "SR.probe", host, cfg.DeviceConfig(), SRTypeISCSI, map[string]string{})
	if err == nil {
		return nil, fmt.Errorf("discover iSCSI targets on %s: %w", cfg.Target, &ProtocolError{Reason: "probe without targetIQN unexpectedly succeeded"})
	}
	doc, ok := DiscoveryPayload(err, CodeSRBackendFailure96)
	if !ok {
		return nil, fmt.Errorf("discover iSCSI targets on %s: %w", cfg.Target, err)
	}
	t, perr := ParseISCSITargets(doc)
	if perr != nil {
		return nil, fmt.Errorf("discover iSCSI targets on %s: %w", cfg.Target, perr)
	}
	return t, nil
}

// DiscoverISCSILUNs is discovery step 2: probe with the target IQN but no
// SCSIid; the driver answers SR_BACKEND_FAILURE_107 (or _87) with the LUNs.
func (s *Session) DiscoverISCSILUNs(ctx context.Context, host Ref, cfg ISCSIConfig) ([]ISCSILUN, error) {
	cfg.SCSIid = ""
	if cfg.TargetIQN == "" {
		return nil, fmt.Errorf("discover iSCSI LUNs on %s: no target IQN given", cfg.Target)
	}
	_, err := s.runAsync(ctx, "SR.probe", host, cfg.DeviceConfig(), SRTypeISCSI, map[string]string{})
	if err == nil {
		return nil, fmt.Errorf("discover iSCSI LUNs on %s %s: %w", cfg.Target, cfg.TargetIQN, &ProtocolError{Reason: "probe without SCSIid unexpectedly succeeded"})
	}
	doc, ok := DiscoveryPayload(err, CodeSRBackendFailure107, CodeSRBackendFailure87)
	if !ok {
		return nil, fmt.Errorf("discover iSCSI LUNs on %s %s: %w", cfg.Target, cfg.TargetIQN, err)
	}
	l, perr := ParseISCSILUNs(doc)
	if perr != nil {
		return nil, fmt.Errorf("discover iSCSI LUNs on %s %s: %w", cfg.Target, cfg.TargetIQN, perr)
	}
	return l, nil
}

// ProbeISCSIMetadata is the last step: probe the complete configuration with
// sm_config metadata=true and return the SRs found on the LUN.
func (s *Session) ProbeISCSIMetadata(ctx context.Context, host Ref, cfg ISCSIConfig) (*ProbeResult, error) {
	return s.ProbeSRAsync(ctx, host, cfg.DeviceConfig(), SRTypeISCSI, MetadataSMConfig())
}

// DiscoverFCDevices lists the Fibre Channel / HBA block devices the host
// sees: an lvmohba probe with an empty device_config answers
// SR_BACKEND_FAILURE_107 (older builds _90) carrying a <Devlist>.
func (s *Session) DiscoverFCDevices(ctx context.Context, host Ref) (*Devlist, error) {
	_, err := s.runAsync(ctx, "SR.probe", host, map[string]string{}, SRTypeHBA, map[string]string{})
	if err == nil {
		return nil, fmt.Errorf("discover FC devices: %w", &ProtocolError{Reason: "probe without SCSIid unexpectedly succeeded"})
	}
	doc, ok := DiscoveryPayload(err, CodeSRBackendFailure107, CodeSRBackendFailure90)
	if !ok {
		return nil, fmt.Errorf("discover FC devices: %w", err)
	}
	d, perr := ParseDevlist(doc)
	if perr != nil {
		return nil, fmt.Errorf("discover FC devices: %w", perr)
	}
	return d, nil
}

// ProbeFCMetadata probes one HBA LUN by SCSI id with sm_config metadata=true.
func (s *Session) ProbeFCMetadata(ctx context.Context, host Ref, scsiID string) (*ProbeResult, error) {
	return s.ProbeSRAsync(ctx, host, map[string]string{"SCSIid": scsiID}, SRTypeHBA, MetadataSMConfig())
}
