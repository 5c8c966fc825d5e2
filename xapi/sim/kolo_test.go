package sim_test

import (
	"testing"

	"github.com/kolo/xmlrpc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An unmodified third-party client (kolo/xmlrpc) into plain Go structs and strings.
// xapi's envelope is a struct with untyped strings, so only concrete string fields decode;
// where kolo loses data on empty values (docs/xapi-dr.md, "The wire and kolo/xmlrpc") the raw client
// shows the full answer.

type koloStrings struct {
	Status           string   `xmlrpc:"Status"`
	Value            []string `xmlrpc:"Value"`
	ErrorDescription []string `xmlrpc:"ErrorDescription"`
}

type koloString struct {
	Status           string   `xmlrpc:"Status"`
	Value            string   `xmlrpc:"Value"`
	ErrorDescription []string `xmlrpc:"ErrorDescription"`
}

type koloEvents struct {
	Status string `xmlrpc:"Status"`
	Value  struct {
		Token  string `xmlrpc:"token"`
		Events []struct {
			Class     string `xmlrpc:"class"`
			Operation string `xmlrpc:"operation"`
			Ref       string `xmlrpc:"ref"`
		} `xmlrpc:"events"`
	} `xmlrpc:"Value"`
}

func TestKoloClient(t *testing.T) {
	w := startDemo(t)
	cl, err := xmlrpc.NewClient(w.PoolURL("dr"), nil)
	require.NoError(t, err)
	defer cl.Close()

	var login koloString
	require.NoError(t, cl.Call("session.login_with_password", []any{"root", "lifeboat", "1.1", "kolo"}, &login))
	require.Equal(t, "Success", login.Status)
	s := login.Value

	var all koloStrings
	require.NoError(t, cl.Call("VM.get_all", []any{s}, &all))
	assert.Equal(t, "Success", all.Status)
	assert.Len(t, all.Value, 4, "two control domains, dr-jumpbox, dr-backup")

	var pools koloStrings
	require.NoError(t, cl.Call("pool.get_all", []any{s}, &pools))
	var master koloString
	require.NoError(t, cl.Call("pool.get_master", []any{s, pools.Value[0]}, &master))

	// A DR call: probing the mirrored LUN (the SRlist survives: no empty values in it).
	var probe koloString
	require.NoError(t, cl.Call("SR.probe", []any{s, master.Value, drLUN0, "lvmoiscsi", map[string]string{"metadata": "true"}}, &probe))
	assert.Equal(t, "Success", probe.Status)
	assert.Contains(t, probe.Value, gold01UUID)

	// A DR failure: kolo drops everything after the empty ErrorDescription[1] ...
	var fail koloString
	require.NoError(t, cl.Call("SR.probe", []any{s, master.Value, map[string]string{"target": "dr-array.lab"}, "lvmoiscsi", map[string]string{}}, &fail))
	assert.Equal(t, "Failure", fail.Status)
	assert.Equal(t, []string{"SR_BACKEND_FAILURE_96", ""}, fail.ErrorDescription, "kolo's empty-value bug")
	// ... while the wire carries the reason and the IQN list, as the raw client shows.
	raw := rpc{t: t, url: w.PoolURL("dr")}
	e := raw.fails("SR.probe", s, master.Value, map[string]string{"target": "dr-array.lab"}, "lvmoiscsi", map[string]string{})
	assert.Len(t, e, 4)
	assert.Contains(t, e[3], "iqn.2026-01.lab.dr-array:gold")

	// event.from.
	var ev koloEvents
	require.NoError(t, cl.Call("event.from", []any{s, []string{"pool"}, "", 1.0}, &ev))
	assert.Equal(t, "Success", ev.Status)
	require.Len(t, ev.Value.Events, 1)
	assert.Equal(t, "pool", ev.Value.Events[0].Class)
	assert.Equal(t, "add", ev.Value.Events[0].Operation)
	assert.NotEmpty(t, ev.Value.Token)
}
