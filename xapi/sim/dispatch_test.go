package sim_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// hostIP is the bare IP of an endpoint URL.
func hostIP(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Hostname()
}

// Each host has its own loopback address on one port, so HOST_IS_SLAVE names the
// master by its bare IP as xapi does; a pool member checks the session first.
func TestSlaveChecksTheSessionBeforeHostIsSlave(t *testing.T) {
	w, c, s := startTiny(t)
	urls := w.HostURLs("P")
	require.Len(t, urls, 2)
	mu, _ := url.Parse(urls[0])
	su, _ := url.Parse(urls[1])
	assert.NotEqual(t, mu.Hostname(), su.Hostname(), "each host its own IP")
	assert.Equal(t, mu.Port(), su.Port(), "on one port")
	master := mu.Hostname()
	require.NotNil(t, net.ParseIP(master))

	slave := rpc{t: t, url: urls[1]}
	for _, tc := range []struct {
		name   string
		method string
		params []any
		want   xerr
	}{
		{"login", "session.login_with_password", []any{"root", "pw"}, xerr{"HOST_IS_SLAVE", master}},
		{"login with a wrong password", "session.login_with_password", []any{"root", "wrong"}, xerr{"HOST_IS_SLAVE", master}},
		{"unknown session", "VM.get_all", []any{"OpaqueRef:nobody"}, xerr{"SESSION_INVALID", "OpaqueRef:nobody"}},
		{"known session", "VM.get_all", []any{s}, xerr{"HOST_IS_SLAVE", master}},
		{"unknown method, unknown session", "VM.frobnicate", []any{"OpaqueRef:nobody"}, xerr{"SESSION_INVALID", "OpaqueRef:nobody"}},
		{"unknown method, known session", "VM.frobnicate", []any{s}, xerr{"HOST_IS_SLAVE", master}},
		{"unknown method, no parameter", "VM.frobnicate", nil, xerr{"MESSAGE_METHOD_UNKNOWN", "VM.frobnicate"}},
		{"wrong parameter count", "VM.get_record", []any{s}, xerr{"MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slave.t = t
			assert.Equal(t, tc.want, slave.fails(tc.method, tc.params...))
		})
	}
	// host.address holds the same bare IP.
	for _, h := range c.records("host", s) {
		assert.NotContains(t, h["address"], ":", "host.address is a bare IP")
	}
	// The master: unknown calls go through the extension check (session, then
	// host.call_extension's role) before MESSAGE_METHOD_UNKNOWN, named without Async.
	ro := c.str("session.login_with_password", "ro", "pw")
	assert.Equal(t, xerr{"RBAC_PERMISSION_DENIED", "host.call_extension", "No permission in user session"}, c.fails("VM.frobnicate", ro))
	assert.Equal(t, xerr{"MESSAGE_METHOD_UNKNOWN", "VM.frobnicate"}, c.fails("Async.VM.frobnicate", s))
	assert.Equal(t, xerr{"SESSION_INVALID", "OpaqueRef:nobody"}, c.fails("VM.frobnicate", "OpaqueRef:nobody"))
}

func TestEventFromAsXapi(t *testing.T) {
	_, c, s := startTiny(t)
	b := c.rec("event.from", s, []string{"pool"}, "", 0.0)
	evs := b["events"].([]any)
	require.NotEmpty(t, evs)
	for _, e := range evs {
		assert.Equal(t, "0.0", e.(map[string]any)["timestamp"], "xapi's from_inner sends the string 0.0")
	}
	// Every table, subscribed or not, counted as <i4>.
	counts := b["valid_ref_counts"].(map[string]any)
	assert.Equal(t, int64(4), counts["vm"], "not subscribed, counted: two VMs and two control domains")
	assert.Equal(t, int64(1), counts["pool"])
	assert.Equal(t, int64(0), counts["vm_appliance"])
	assert.Contains(t, counts, "sr")
	assert.NotContains(t, counts, "event")
	body := raw(t, c.url, "event.from", s, []string{"pool"}, "", 0.0)
	assert.Contains(t, body, `<member><name>vm</name><value><i4>4</i4></value></member>`)
	i := strings.Index(body, "<name>vm</name>")
	j := strings.Index(body, "<name>sr</name>")
	k := strings.Index(body, "<name>VM</name>")
	assert.True(t, i >= 0 && j > i && k < 0, "reverse name order, lower case")

	tok := b["token"].(string)
	assert.Contains(t, tok, ",")
	for _, bad := range []string{"5", strings.Split(tok, ",")[0], "1,2,3", "x,0", "5, 0", "0,"} {
		assert.Equal(t, xerr{"EVENT_FROM_TOKEN_PARSE_FAILURE", bad}, c.fails("event.from", s, []string{"pool"}, bad, 0.0), bad)
	}
	for _, good := range []string{tok, "0,0", "0x0,0", "-1,0", "1_0,0"} {
		c.must("event.from", s, []string{"pool"}, good, 0.0)
	}
}

func TestSystemListMethods(t *testing.T) {
	w, _, _ := startTiny(t)
	// No session, no envelope: a bare array of wire names, on any host.
	for _, u := range w.HostURLs("P") {
		body := raw(t, u, "system.listMethods")
		assert.True(t, strings.HasPrefix(body, `<?xml version="1.0"?><methodResponse><params><param><value><array><data><value>session.`), body[:200])
		assert.True(t, strings.HasSuffix(body, `</data></array></value></param></params></methodResponse>`))
		assert.NotContains(t, body, "Status")
		assert.Contains(t, body, "<value>VM.start</value>")
		assert.Contains(t, body, "<value>event.from</value>")
		assert.NotContains(t, body, "Async.")
	}
}

// Fixed addresses on different ports (as the demo's) cannot be named by a bare IP:
// host.address and HOST_IS_SLAVE carry ip:port there.
func TestFixedAddressesOnDifferentPorts(t *testing.T) {
	sc, err := sim.ParseScenario([]byte(strings.Replace(tinyScenario, "hosts: [{name: h1}, {name: h2}]",
		"hosts: [{name: h1, address: \"127.0.0.1:0\"}, {name: h2, address: \"127.0.0.2:0\"}]", 1)))
	require.NoError(t, err)
	w, err := sim.Start(context.Background(), sc, sim.Options{ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	urls := w.HostURLs("P")
	master, _ := url.Parse(urls[0])
	c := rpc{t: t, url: urls[0]}
	s := c.str("session.login_with_password", "root", "pw")
	slave := rpc{t: t, url: urls[1]}
	assert.Equal(t, xerr{"HOST_IS_SLAVE", master.Host}, slave.fails("VM.get_all", s))
}
