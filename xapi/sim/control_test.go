package sim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

func ctl(t *testing.T, w *sim.World, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, w.ControlURL()+path, bytes.NewBufferString(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

func TestControlAPIOverHTTP(t *testing.T) {
	w := startDemo(t)
	var st sim.State
	require.Equal(t, 200, ctl(t, w, "GET", "/state", "", &st))
	require.Len(t, st.Pools, 2)
	assert.Equal(t, "Primary", st.Pools[0].Name)
	assert.Len(t, st.Mirrors, 3)
	assert.Equal(t, "replicating", st.Mirrors[0].State)

	var pools map[string]string
	ctl(t, w, "GET", "/pools", "", &pools)
	assert.Equal(t, w.PoolURL("Primary"), pools["Primary"])

	// Disaster: the site goes down, connections are refused.
	assert.Equal(t, 200, ctl(t, w, "POST", "/sites/primary/down", "", nil))
	_, _, err := post(w.PoolURL("Primary"), requestBody("session.login_with_password", "root", "lifeboat"))
	assert.Error(t, err)
	assert.Equal(t, 200, ctl(t, w, "POST", "/mirrors/gold-01/promote", "", nil))
	assert.Equal(t, 404, ctl(t, w, "POST", "/mirrors/nope/split", "", nil))
	var errBody map[string]string
	assert.Equal(t, 400, ctl(t, w, "POST", "/mirrors/gold-01/sync", "", &errBody))
	assert.Contains(t, errBody["error"], "split")
	assert.Equal(t, 200, ctl(t, w, "POST", "/sites/primary/up", "", nil))
	c := rpc{t: t, url: w.PoolURL("Primary")}
	s := c.login("root")
	assert.Equal(t, 200, ctl(t, w, "POST", "/mirrors/gold-01/reverse", "", nil))
	ctl(t, w, "GET", "/state", "", &st)
	assert.Equal(t, "reversed", st.Mirrors[0].State)

	// Faults: the 2nd VM.get_all fails with the given error.
	var id map[string]int
	require.Equal(t, 200, ctl(t, w, "POST", "/faults", `{"pool":"Primary","method":"VM.get_all","nth":2,"error":["INTERNAL_ERROR","injected"]}`, &id))
	c.must("VM.get_all", s)
	assert.Equal(t, xerr{"INTERNAL_ERROR", "injected"}, c.fails("VM.get_all", s))
	c.must("VM.get_all", s)
	var faults []sim.Fault
	ctl(t, w, "GET", "/faults", "", &faults)
	require.Len(t, faults, 1)
	assert.Equal(t, 200, ctl(t, w, "DELETE", "/faults", "", nil))

	// Sessions expire.
	var n map[string]int
	ctl(t, w, "POST", "/pools/Primary/expire-sessions", "", &n)
	assert.Equal(t, 1, n["expired"])
	assert.Equal(t, xerr{"SESSION_INVALID", s}, c.fails("VM.get_all", s))

	// The master moves: the old one answers HOST_IS_SLAVE with the new address.
	assert.Equal(t, 200, ctl(t, w, "POST", "/pools/Primary/master", `{"host":"primary-02"}`, nil))
	e := c.fails("session.login_with_password", "root", "lifeboat")
	assert.Equal(t, "HOST_IS_SLAVE", e[0])
	assert.Equal(t, hostIP(w.PoolURL("Primary")), e[1])
	c2 := rpc{t: t, url: w.PoolURL("Primary")}
	c2.login("root")

	assert.Equal(t, 200, ctl(t, w, "POST", "/speed", `{"speed":0}`, nil))
	assert.Equal(t, 400, ctl(t, w, "POST", "/speed", `{}`, nil))
	var j []sim.JournalEntry
	ctl(t, w, "GET", "/journal?since=0", "", &j)
	assert.NotEmpty(t, j)
}

func TestFaultDropsAndMirrorLag(t *testing.T) {
	w := startDemo(t)
	ct := w.Control()
	id := ct.AddFault(sim.Fault{Pool: "DR", DropProbability: 1})
	_, _, err := post(w.PoolURL("DR"), requestBody("session.login_with_password", "root", "lifeboat"))
	assert.Error(t, err, "connection dropped")
	require.NoError(t, ct.RemoveFault(id))

	// The DR copy lags: a change on the primary reaches the DR LUN only on sync.
	genOf := func() (pri, dr int64) {
		for _, l := range ct.State().LUNs {
			for _, m := range l.Metadata {
				if m.Pool == primaryPoolUUID && l.SCSIid == "36001405a0000000000000000000000a1" {
					pri = m.Generation
				}
				if m.Pool == primaryPoolUUID && l.SCSIid == "36001405b0000000000000000000000b1" {
					dr = m.Generation
				}
			}
		}
		return
	}
	p0, d0 := genOf()
	assert.Equal(t, p0, d0)
	c := rpc{t: t, url: w.PoolURL("Primary")}
	s := c.login("root")
	vm, _ := c.byName("VM", s, "dns-01")
	c.must("VM.set_name_description", s, vm, "changed after the last sync")
	p1, d1 := genOf()
	assert.Greater(t, p1, p0)
	assert.Equal(t, d0, d1, "not yet copied")
	require.NoError(t, ct.SyncMirror("gold-01"))
	_, d2 := genOf()
	assert.Equal(t, p1, d2)
}
