package xapi

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSRListGolden(t *testing.T) {
	srs, err := ParseSRList(golden(t, "srlist.xml"))
	require.NoError(t, err)
	assert.Equal(t, []SRListEntry{
		{UUID: "6b1c0000-0000-0000-0000-000000000001", Devlist: "/dev/disk/by-id/scsi-36001405a1b2c3d4", Size: 107369988096,
			NameLabel: "DR iSCSI SR 1", NameDescription: "iSCSI SR [10.0.0.5 (iqn.2001-05.com.example:t1; LUN 0: a1b2)]", PoolMetadataDetected: true},
		{UUID: "6b1c0000-0000-0000-0000-000000000002", Devlist: "/dev/disk/by-id/scsi-36001405e5f6a7b8", Size: 53682896896,
			NameLabel: "data only"},
	}, srs)
	empty, err := ParseSRList(`<?xml version="1.0" ?><SRlist/>`)
	require.NoError(t, err)
	assert.Empty(t, empty)
	_, err = ParseSRList(`<iscsi-target/>`)
	assert.Error(t, err)
	_, err = ParseSRList(`<SRlist><SR><size>1</size></SR></SRlist>`)
	assert.Error(t, err, "an SR without UUID is malformed")
}

func TestProbeSyncGolden(t *testing.T) {
	f := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": loginOK("OpaqueRef:s"),
		"SR.probe":                    func(rpcCall) string { return golden(t, "probe_sync.xml") },
	})
	s := login(t, f)
	res, err := s.ProbeSR(context.Background(), "OpaqueRef:h", map[string]string{"SCSIid": "x"}, SRTypeHBA, MetadataSMConfig())
	require.NoError(t, err)
	assert.Equal(t, golden(t, "srlist.xml"), res.Raw)
	assert.Len(t, res.SRs, 2)
}

func TestParseDiscoveryPayloadsFromGoldenErrors(t *testing.T) {
	_, err := DecodeResponse([]byte(golden(t, "failure_sr_backend_107_luns.xml")))
	doc, ok := DiscoveryPayload(err, CodeSRBackendFailure107, CodeSRBackendFailure87)
	require.True(t, ok)
	luns, err := ParseISCSILUNs(doc)
	require.NoError(t, err)
	assert.Equal(t, []ISCSILUN{
		{Vendor: "LIO-ORG", Serial: "a1b2", LUNid: "0", Size: 107374182400, SCSIid: "36001405a1b2c3d4"},
		{Vendor: "LIO-ORG", LUNid: "1", Size: 53687091200, SCSIid: "36001405e5f6a7b8"},
	}, luns)

	_, err = DecodeResponse([]byte(golden(t, "failure_sr_backend_107_devlist.xml")))
	doc, ok = DiscoveryPayload(err, CodeSRBackendFailure107)
	require.True(t, ok)
	dl, err := ParseDevlist(doc)
	require.NoError(t, err)
	require.Len(t, dl.Devices, 1)
	assert.Equal(t, BlockDevice{Path: "/dev/sdc [sdd]", NumPaths: 2, SCSIid: "3600a0b80001", Vendor: "NETAPP", Serial: "s1",
		Size: 214748364800, Adapter: "2", Channel: "0", ID: "0", LUN: "1", HBA: "qla2xxx"}, dl.Devices[0])
	assert.Equal(t, []HBAAdapter{{Host: "host2", Name: "QLogic", Manufacturer: "QLogic Corp", ID: "2",
		Extra: map[string]string{"port_name": "0x21000024ff000001"}}}, dl.Adapters)

	_, ok = DiscoveryPayload(err, CodeSRBackendFailure96)
	assert.False(t, ok)
}

func TestDiscoverFCAndLUNs(t *testing.T) {
	payload := map[string]string{
		SRTypeHBA:   golden(t, "failure_sr_backend_107_devlist.xml"),
		SRTypeISCSI: golden(t, "failure_sr_backend_107_luns.xml"),
	}
	f := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": loginOK("OpaqueRef:s"),
		"Async.SR.probe": func(c rpcCall) string {
			body := payload[c.str(3)]
			_, err := DecodeResponse([]byte(body))
			xe, _ := AsError(err)
			return success(xv("OpaqueRef:task-" + c.str(3) + fmt.Sprint(len(xe.Params))))
		},
		"task.get_record": func(c rpcCall) string {
			typ := strings.TrimSuffix(strings.TrimPrefix(c.str(1), "OpaqueRef:task-"), "3")
			_, err := DecodeResponse([]byte(payload[typ]))
			xe, _ := AsError(err)
			return success(taskRecord("failure", "1", "", append([]string{xe.Code}, xe.Params...)...))
		},
		"task.destroy": func(rpcCall) string { return success("<value/>") },
	})
	s := login(t, f)
	dl, err := s.DiscoverFCDevices(context.Background(), "OpaqueRef:h")
	require.NoError(t, err)
	assert.Equal(t, "3600a0b80001", dl.Devices[0].SCSIid)
	luns, err := s.DiscoverISCSILUNs(context.Background(), "OpaqueRef:h", ISCSIConfig{Target: "10.0.0.5", Port: 3260, TargetIQN: "iqn.x"})
	require.NoError(t, err)
	assert.Len(t, luns, 2)
	_, err = s.DiscoverISCSILUNs(context.Background(), "OpaqueRef:h", ISCSIConfig{Target: "10.0.0.5"})
	assert.Error(t, err)
}
