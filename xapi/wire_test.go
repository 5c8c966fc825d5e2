package xapi

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kolo/xmlrpc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeVMRecordGolden(t *testing.T) {
	v, err := DecodeResponse([]byte(golden(t, "vm_record.xml")))
	require.NoError(t, err)
	var vm VM
	require.NoError(t, decodeInto(v, &vm))
	assert.Equal(t, "5c6a1e0e-1111-2222-3333-444455556666", vm.UUID)
	assert.Equal(t, "  web 1 ", vm.NameLabel, "whitespace is significant")
	assert.Equal(t, "", vm.NameDescription)
	// Members after the empty name_description must survive (kolo loses them).
	assert.Equal(t, PowerHalted, vm.PowerState)
	assert.Equal(t, int64(4294967296), vm.MemoryStaticMax)
	assert.Equal(t, map[string]string{"weight": "", "cap": "0"}, vm.VCPUsParams)
	assert.Equal(t, []Ref{"OpaqueRef:vbd-1", "OpaqueRef:vbd-2"}, vm.VBDs)
	assert.Empty(t, vm.VGPUs)
	assert.Empty(t, vm.Snapshots)
	assert.Empty(t, vm.Platform)
	assert.Empty(t, vm.BlockedOperations)
	assert.Equal(t, 1.0, vm.HVMShadowMult)
	assert.Equal(t, "ops & dev <team>", vm.OtherConfig["XenCenter.CustomFields.owner"])
	assert.Equal(t, "", vm.OtherConfig["folder"])
	assert.Len(t, vm.OtherConfig, 3)
	assert.Equal(t, []string{"tier1", ""}, vm.Tags)
	assert.Equal(t, Ref("OpaqueRef:app-1"), vm.Appliance)
	assert.True(t, vm.InAppliance())
	assert.True(t, vm.SuspendVDI.IsNull())
	assert.Equal(t, int64(30), vm.StartDelay)
	assert.Equal(t, int64(2), vm.Order)
	assert.Equal(t, int64(3), vm.Version)
	assert.Equal(t, int64(-1), vm.Domid)
	assert.Equal(t, time.Unix(0, 0).UTC(), vm.SnapshotTime.UTC())
	assert.True(t, vm.IsRealVM())
}

func TestDecodeAllRecordsKeyedByRefType(t *testing.T) {
	v, err := DecodeResponse([]byte(golden(t, "vm_all_records.xml")))
	require.NoError(t, err)
	var all map[ForeignRef]ForeignVM
	require.NoError(t, decodeInto(v, &all))
	require.Len(t, all, 2)
	db := all["OpaqueRef:vm-2"]
	assert.Equal(t, "db", db.NameLabel)
	assert.Equal(t, PowerSuspended, db.PowerState)
	assert.False(t, db.InAppliance())
	assert.Equal(t, time.Date(2025, 3, 19, 4, 16, 24, 0, time.UTC), db.SnapshotTime, "zone-less datetime is UTC")
	assert.Equal(t, ForeignRef("OpaqueRef:app-1"), all["OpaqueRef:vm-1"].Appliance)
}

func TestDecodeFailureKeepsAllErrorDescriptionElements(t *testing.T) {
	for _, name := range []string{"failure_sr_backend_96.xml", "failure_sr_backend_107_luns.xml", "failure_sr_backend_107_devlist.xml"} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeResponse([]byte(golden(t, name)))
			xe, ok := AsError(err)
			require.True(t, ok, "%v", err)
			require.Len(t, xe.Params, 3, "[\"\", reason, stderr] must all survive")
			assert.Equal(t, "", xe.Params[0])
			assert.NotEmpty(t, xe.Params[1])
			assert.True(t, strings.HasPrefix(xe.Params[2], `<?xml version="1.0" ?>`), xe.Params[2])
			assert.True(t, strings.HasPrefix(xe.Code, "SR_BACKEND_FAILURE_"))
			assert.NotContains(t, err.Error(), "</TGT>\n\t<TGT>", "long params are cut in the message")
		})
	}
}

func TestDecodeScalarsAndShapes(t *testing.T) {
	cases := []struct {
		name  string
		value string
		want  any
	}{
		{"untyped string", `<value>OpaqueRef:1</value>`, "OpaqueRef:1"},
		{"untyped int", `<value>4294967296</value>`, "4294967296"},
		{"empty value", `<value></value>`, nil},
		{"self-closing value", `<value/>`, nil},
		{"whitespace string", "<value>  a \n b\t</value>", "  a \n b\t"},
		{"blank string", "<value>   </value>", "   "},
		{"typed string", `<value><string> x </string></value>`, " x "},
		{"boolean", `<value><boolean>1</boolean></value>`, true},
		{"boolean false", `<value><boolean>0</boolean></value>`, false},
		{"double", `<value><double>0.25</double></value>`, 0.25},
		{"double exp", `<value><double>1e+20</double></value>`, 1e20},
		{"i8", `<value><i8>-7</i8></value>`, int64(-7)},
		{"datetime Z", `<value><dateTime.iso8601>20250319T04:16:24Z</dateTime.iso8601></value>`, time.Date(2025, 3, 19, 4, 16, 24, 0, time.UTC)},
		{"datetime zone-less", `<value><dateTime.iso8601>20250319T04:16:24</dateTime.iso8601></value>`, time.Date(2025, 3, 19, 4, 16, 24, 0, time.UTC)},
		{"empty array", `<value><array><data></data></array></value>`, []any{}},
		{"empty array self-closing", `<value><array><data/></array></value>`, []any{}},
		{"array with empties", `<value><array><data><value></value><value>b</value><value/><value>d</value></data></array></value>`, []any{nil, "b", nil, "d"}},
		{"empty struct", `<value><struct></struct></value>`, map[string]any(nil)},
		{"empty struct self-closing", `<value><struct/></value>`, map[string]any(nil)},
		{"map with empty values", `<value><struct><member><name>a</name><value></value></member><member><name>b</name><value>x</value></member></struct></value>`, map[string]any{"a": nil, "b": "x"}},
		{"empty member name", `<value><struct><member><name></name><value>x</value></member><member><name>k</name><value/></member></struct></value>`, map[string]any{"": "x", "k": nil}},
		{"pretty printed", "<value>\n  <struct>\n    <member>\n      <name>a</name>\n      <value>1</value>\n    </member>\n  </struct>\n</value>", map[string]any{"a": "1"}},
		{"entities and CDATA", `<value>a &amp; b<![CDATA[ <c> ]]></value>`, "a & b <c> "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := DecodeResponse([]byte(success(tc.value)))
			require.NoError(t, err)
			assert.Equal(t, tc.want, v)
		})
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	cases := map[string]string{
		"not xml":       "<html><body>oops</body></html>",
		"garbage":       "hello",
		"truncated":     `<?xml version="1.0"?><methodResponse><params><param><value><struct>`,
		"no status":     success(`<value>x</value>`)[:0] + `<methodResponse><params><param><value><struct><member><name>Value</name><value>x</value></member></struct></value></param></params></methodResponse>`,
		"bad status":    `<methodResponse><params><param><value><struct><member><name>Status</name><value>Maybe</value></member></struct></value></param></params></methodResponse>`,
		"empty failure": `<methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data/></array></value></member></struct></value></param></params></methodResponse>`,
		"not a struct":  `<methodResponse><params><param><value>x</value></param></params></methodResponse>`,
		"empty":         "",
		"mixed content": success(`<value>abc<struct/></value>`),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeResponse([]byte(body))
			var pe *ProtocolError
			require.True(t, errors.As(err, &pe), "%v", err)
		})
	}
}

func TestDecodeFault(t *testing.T) {
	body := `<?xml version="1.0"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>3</int></value></member><member><name>faultString</name><value>nope</value></member></struct></value></fault></methodResponse>`
	_, err := DecodeResponse([]byte(body))
	assert.Equal(t, "XMLRPC_FAULT", Code(err))
}

func TestEncodeCall(t *testing.T) {
	at := time.Date(2025, 3, 19, 6, 16, 24, 0, time.FixedZone("CEST", 2*3600))
	body, err := EncodeCall("VM.recover", ForeignRef("OpaqueRef:F"), Ref("OpaqueRef:R"), true,
		map[string]string{"a&b": "x<y", "<k>": ""}, []Ref{"OpaqueRef:1"}, at, int64(7), 0.5)
	require.NoError(t, err)
	s := string(body)
	assert.Contains(t, s, "<methodName>VM.recover</methodName>")
	assert.Contains(t, s, "<value><string>OpaqueRef:F</string></value>")
	assert.Contains(t, s, "<value><boolean>1</boolean></value>")
	assert.Contains(t, s, "<name>a&amp;b</name>")
	assert.Contains(t, s, "<name>&lt;k&gt;</name>")
	assert.Contains(t, s, "20250319T04:16:24", "time is sent in UTC")
	// The request must be well-formed and decode back to the same values.
	c := parseCall(t, body)
	require.Len(t, c.Params, 8)
	assert.Equal(t, map[string]any{"a&b": "x<y", "<k>": nil}, c.Params[3])
	assert.Equal(t, []any{"OpaqueRef:1"}, c.Params[4])
	assert.Equal(t, int64(7), c.Params[6])

	_, err = EncodeCall("VM.start</methodName>", "x")
	assert.Error(t, err)
	_, err = EncodeCall("x", map[int]string{1: "a"})
	assert.Error(t, err)
}

// kolo alone loses members after an empty value; the normaliser is what
// makes the difference. This documents why Normalize exists.
func TestKoloAloneLosesData(t *testing.T) {
	body := golden(t, "failure_sr_backend_96.xml")
	var raw struct {
		ErrorDescription []string `xmlrpc:"ErrorDescription"`
	}
	_ = xmlrpc.Response(body).Unmarshal(&raw)
	assert.Less(t, len(raw.ErrorDescription), 4, "if kolo got fixed, the normaliser could go")
	norm, err := Normalize([]byte(body))
	require.NoError(t, err)
	raw.ErrorDescription = nil
	require.NoError(t, xmlrpc.Response(norm).Unmarshal(&raw))
	assert.Len(t, raw.ErrorDescription, 4)
}

func TestErrorHelpers(t *testing.T) {
	err := &Error{Code: CodeVMRequiresSR, Params: []string{"OpaqueRef:vm", "OpaqueRef:sr"}}
	wrapped := errors.Join(errors.New("ctx"), err)
	assert.True(t, IsCode(wrapped, CodeHandleInvalid, CodeVMRequiresSR))
	assert.Equal(t, CodeVMRequiresSR, Code(wrapped))
	assert.True(t, errors.Is(wrapped, &Error{Code: CodeVMRequiresSR}))
	assert.False(t, errors.Is(wrapped, &Error{Code: CodeHandleInvalid}))
	assert.Contains(t, err.Error(), "VM_REQUIRES_SR [OpaqueRef:vm; OpaqueRef:sr]: the VM needs a storage repository")
	assert.Equal(t, "", Code(errors.New("x")))
	assert.Contains(t, (&Error{Code: "SR_BACKEND_FAILURE_999", Params: []string{"", "disk on fire", ""}}).Message(), "disk on fire")

	for _, c := range []string{CodeSessionInvalid, CodeOtherOperationInProgress, CodeHostIsSlave} {
		assert.True(t, Retryable(&Error{Code: c}), c)
	}
	for _, c := range []string{CodeVMRequiresSR, CodeHandleInvalid, CodeRBACPermissionDenied, CodeLicenceRestriction, CodeSessionAuthenticationFailed} {
		assert.False(t, Retryable(&Error{Code: c}), c)
	}
	assert.True(t, Retryable(&HTTPError{StatusCode: 503}))
	assert.False(t, Retryable(&HTTPError{StatusCode: 500}))
	assert.False(t, Retryable(&ProtocolError{Reason: "x"}))
	assert.False(t, Retryable(nil))
}
