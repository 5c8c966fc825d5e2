package sim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

const tinyScenario = `
name: tiny
seed: 7
sites:
  - name: a
    iscsi:
      - {name: arr, address: arr.lab, iqn: "iqn.2026-01.lab.arr:t", chap_user: u, chap_password: p, luns: [{lun: 0, scsi_id: "3600A", size: 10GiB}]}
    pools:
      - name: P
        uuid: 11111111-2222-4333-8444-555555555555
        hosts: [{name: h1}, {name: h2}]
        users: [{name: root, password: pw, role: pool-admin}, {name: ro, password: pw, role: read-only}]
        networks: [{name: "Net <1> & co", bridge: xenbr0}]
        srs: [{name: s1, type: lvmoiscsi, lun: "3600A"}, {name: local, type: lvm, host: h1}]
        vms:
          - {name: vm1, uuid: aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee, memory: 1GiB, tags: [x, "y z"], other_config: {k: "", "v": "v<"}, disks: [{sr: s1}], networks: ["Net <1> & co"]}
          - {name: vm2, uuid: aaaaaaaa-bbbb-4ccc-8ddd-000000000002, other_config: {"a&b": "x"}}
`

func startTiny(t *testing.T) (*sim.World, rpc, string) {
	t.Helper()
	sc, err := sim.ParseScenario([]byte(tinyScenario))
	require.NoError(t, err)
	w, err := sim.Start(context.Background(), sc, sim.Options{FreePorts: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	c := rpc{t: t, url: w.PoolURL("P")}
	s := c.str("session.login_with_password", "root", "pw")
	return w, c, s
}

const head = `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>`
const tail = `</member></struct></value></param></params></methodResponse>`

func raw(t *testing.T, url, method string, params ...any) string {
	t.Helper()
	code, body, err := post(url, requestBody(method, params...))
	require.NoError(t, err)
	require.Equal(t, 200, code, string(body))
	return string(body)
}

func TestWireExactBytes(t *testing.T) {
	_, c, s := startTiny(t)
	vm := c.str("VM.get_by_uuid", s, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
	cases := []struct {
		method string
		want   string
	}{
		{"VM.get_name_description", `<value></value>`},
		{"VM.get_name_label", `<value>vm1</value>`},
		{"VM.get_memory_static_max", `<value>1073741824</value>`},
		{"VM.get_is_a_template", `<value><boolean>0</boolean></value>`},
		{"VM.get_HVM_shadow_multiplier", `<value><double>1</double></value>`},
		{"VM.get_snapshot_time", `<value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value>`},
		{"VM.get_tags", `<value><array><data><value>x</value><value>y z</value></data></array></value>`},
		{"VM.get_snapshots", `<value><array><data></data></array></value>`},
		{"VM.get_blocked_operations", `<value><struct></struct></value>`},
		{"VM.get_appliance", `<value>OpaqueRef:NULL</value>`},
		{"VM.get_version", `<value>0</value>`},
	}
	for _, tc := range cases {
		assert.Equal(t, head+tc.want+tail, raw(t, c.url, tc.method, s, vm), tc.method)
	}
	// Map keys are written unescaped like ocaml-rpc does; values are escaped.
	oc := raw(t, c.url, "VM.get_other_config", s, vm)
	assert.Contains(t, oc, `<member><name>v</name><value>v&lt;</value></member>`)
	vm2 := c.str("VM.get_by_uuid", s, "aaaaaaaa-bbbb-4ccc-8ddd-000000000002")
	assert.Contains(t, raw(t, c.url, "VM.get_other_config", s, vm2), `<member><name>a&b</name><value>x</value></member>`)
	assert.Contains(t, oc, `<member><name>k</name><value></value></member>`)
	// void.
	s2 := c.str("session.login_with_password", "root", "pw")
	assert.Equal(t, head+`<value></value>`+tail, raw(t, c.url, "session.logout", s2))
	// Failure envelope.
	assert.Equal(t, `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>HANDLE_INVALID</value><value>VM</value><value>OpaqueRef:nope</value></data></array></value></member></struct></value></param></params></methodResponse>`,
		raw(t, c.url, "VM.get_record", s, "OpaqueRef:nope"))
	// A full record: every datamodel field, in order, with the escaped name.
	net, _ := c.byName("network", s, "Net <1> & co")
	rec := raw(t, c.url, "network.get_record", s, net)
	assert.Contains(t, rec, `<value><struct><member><name>uuid</name>`)
	assert.Contains(t, rec, `<member><name>name_label</name><value>Net &lt;1&gt; &amp; co</value></member><member><name>name_description</name><value></value></member>`)
	assert.Contains(t, rec, `<member><name>MTU</name><value>1500</value></member>`)
	assert.Contains(t, rec, `<member><name>managed</name><value><boolean>1</boolean></value></member>`)
	vmrec := c.rec("VM.get_record", s, vm)
	assert.Len(t, vmrec, 90, "every VM field of the datamodel")
}

func TestWireRequestsAndErrors(t *testing.T) {
	w, c, s := startTiny(t)
	// Untyped request values and the <class>_<message> spelling.
	body := `<?xml version="1.0"?><methodCall><methodName>VM_get_all</methodName><params><param><value>` + s + `</value></param></params></methodCall>`
	code, out, err := post(c.url, []byte(body))
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.Contains(t, string(out), "<value>Success</value>")
	// VM_appliance_get_all is VM_appliance.get_all, not VM.appliance_get_all.
	assert.Empty(t, c.refs("VM_appliance_get_all", s))
	// Malformed XML: HTTP 500 with an HTML body.
	code, out, err = post(c.url, []byte("<methodCall><methodName>VM.get_all"))
	require.NoError(t, err)
	assert.Equal(t, 500, code)
	assert.True(t, strings.HasPrefix(string(out), "<html>"))
	for _, tc := range []struct {
		method string
		params []any
		want   xerr
	}{
		{"VM.frobnicate", []any{s}, xerr{"MESSAGE_METHOD_UNKNOWN", "VM.frobnicate"}},
		{"vm.get_all", []any{s}, xerr{"MESSAGE_METHOD_UNKNOWN", "vm.get_all"}},
		{"VM.get_record", []any{s}, xerr{"MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"}},
		{"VM.get_all", []any{"OpaqueRef:bad"}, xerr{"SESSION_INVALID", "OpaqueRef:bad"}},
		{"session.login_with_password", []any{"root", "wrong"}, xerr{"SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"}},
		{"VM.get_by_uuid", []any{s, "nope"}, xerr{"UUID_INVALID", "VM", "nope"}},
		{"SR.probe_ext", []any{s, "OpaqueRef:NULL", map[string]string{}, "lvmoiscsi", map[string]string{}}, xerr{"HANDLE_INVALID", "host", "OpaqueRef:NULL"}},
	} {
		assert.Equal(t, tc.want, c.fails(tc.method, tc.params...), tc.method)
	}
	host := c.refs("host.get_all", s)[0]
	assert.Equal(t, xerr{"SR_OPERATION_NOT_SUPPORTED"}, c.fails("SR.probe_ext", s, host, map[string]string{}, "lvmoiscsi", map[string]string{}))
	// CHAP and DNS on the probe ladder.
	e := c.fails("SR.probe", s, host, map[string]string{"target": "nowhere.lab"}, "lvmoiscsi", map[string]string{})
	assert.Equal(t, xerr{"SR_BACKEND_FAILURE_140", "", "Incorrect DNS name, unable to resolve.", ""}, e)
	e = c.fails("SR.probe", s, host, map[string]string{"target": "arr.lab", "chapuser": "u", "chappassword": "bad"}, "lvmoiscsi")
	assert.Equal(t, "SR_BACKEND_FAILURE_68", e[0])
	e = c.fails("SR.probe", s, host, map[string]string{"target": "arr.lab", "chapuser": "u", "chappassword": "p"}, "lvmoiscsi")
	assert.Equal(t, "SR_BACKEND_FAILURE_96", e[0])
	assert.Equal(t, "<?xml version=\"1.0\" ?>\n<iscsi-target-iqns>\n\t<TGT>\n\t\t<Index>0</Index>\n\t\t<IPAddress>arr.lab</IPAddress>\n\t\t<TargetIQN>iqn.2026-01.lab.arr:t</TargetIQN>\n\t</TGT>\n</iscsi-target-iqns>\n", e[3])
	// RBAC: read-only users cannot call pool-operator messages.
	ro := c.str("session.login_with_password", "ro", "pw")
	assert.Equal(t, xerr{"RBAC_PERMISSION_DENIED", "dr_task.create", "No permission in user session"}, c.fails("DR_task.create", ro, "lvmoiscsi", map[string]string{}, []string{}))
	// Journal: passwords redacted.
	for _, e := range w.Journal().Entries(0) {
		if strings.HasSuffix(e.Method, "login_with_password") {
			assert.Equal(t, "******", e.Params[1])
		}
		if e.Method == "SR.probe" {
			assert.NotContains(t, e.Params[2], "bad")
		}
	}
}
