package sim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// postJSON sends a JSON-RPC body to a host's /jsonrpc and returns the status and body.
func postJSON(t *testing.T, base, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(strings.TrimSuffix(base, "/")+"/jsonrpc", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode == 200 {
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(data)
}

func jsonField(t *testing.T, body, field string) any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader([]byte(body)))
	d.UseNumber()
	require.NoError(t, d.Decode(&m), body)
	return m[field]
}

// Version 1 framing (XenServer's JSON-RPC SDKs before 2.0, and XenAPI.py): the result or
// the ErrorDescription array, the other null, and the id echoed.
func TestJSONRPCVersion1(t *testing.T) {
	w, _, _ := startTiny(t)
	u := w.PoolURL("P")
	code, body := postJSON(t, u, `{"method":"session.login_with_password","params":["root","pw","1.0","test"],"id":7}`)
	require.Equal(t, 200, code, body)
	s, _ := jsonField(t, body, "result").(string)
	require.True(t, strings.HasPrefix(s, "OpaqueRef:"), body)
	assert.Equal(t, `{"result":"`+s+`","error":null,"id":7}`, body)

	_, body = postJSON(t, u, `{"method":"VM.get_all_records","params":["`+s+`"],"id":"a"}`)
	recs := jsonField(t, body, "result").(map[string]any)
	assert.Len(t, recs, 4)
	for _, r := range recs {
		rec := r.(map[string]any)
		assert.IsType(t, json.Number(""), rec["memory_static_max"], "ints are JSON numbers")
		assert.IsType(t, true, rec["is_a_template"])
		assert.Equal(t, "19700101T00:00:00Z", rec["snapshot_time"], "dates are strings")
	}
	assert.True(t, strings.HasSuffix(body, `,"error":null,"id":"a"}`))

	_, body = postJSON(t, u, `{"method":"VM.get_all","params":["OpaqueRef:nobody"],"id":8}`)
	assert.Equal(t, `{"result":null,"error":["SESSION_INVALID","OpaqueRef:nobody"],"id":8}`, body)

	// Parameters typed as JSON: ints, floats and maps reach the handlers.
	_, body = postJSON(t, u, `{"method":"event.from","params":["`+s+`",["pool"],"",0.0],"id":9}`)
	res := jsonField(t, body, "result").(map[string]any)
	assert.Equal(t, json.Number("1"), res["valid_ref_counts"].(map[string]any)["pool"])

	// system.listMethods is a plain array result here.
	_, body = postJSON(t, u, `{"method":"system.listMethods","params":[],"id":1}`)
	assert.Contains(t, jsonField(t, body, "result"), "VM.start")

	// Not a call: xapi's HTTP 500 page, as for malformed XML-RPC.
	for _, bad := range []string{`{"method":"VM.get_all","params":["x"]}`, `{"params":[],"id":1}`, `not json`, `{"method":"VM.get_all","id":1}`, `{"method":"x","params":{},"id":1}`} {
		code, body := postJSON(t, u, bad)
		assert.Equal(t, 500, code, bad)
		assert.True(t, strings.HasPrefix(body, "<html>"), bad)
	}
}

// Version 2.0 framing (XenServer's current SDKs): errors as error objects with code 1,
// the XAPI code as message and its parameters as data (Api_server.callback1).
func TestJSONRPCVersion2(t *testing.T) {
	w, _, _ := startTiny(t)
	u := w.PoolURL("P")
	_, body := postJSON(t, u, `{"jsonrpc":"2.0","method":"session.login_with_password","params":["root","pw"],"id":1}`)
	s, _ := jsonField(t, body, "result").(string)
	require.True(t, strings.HasPrefix(s, "OpaqueRef:"), body)
	assert.Equal(t, `{"jsonrpc":"2.0","result":"`+s+`","id":1}`, body)

	_, body = postJSON(t, u, `{"jsonrpc":"2.0","method":"VM.get_all","params":["OpaqueRef:nobody"],"id":"x"}`)
	assert.Equal(t, `{"jsonrpc":"2.0","error":{"code":1,"message":"SESSION_INVALID","data":["OpaqueRef:nobody"]},"id":"x"}`, body)

	_, body = postJSON(t, u, `{"jsonrpc":"2.0","method":"session.login_with_password","params":["root","wrong"],"id":2}`)
	assert.Equal(t, "SESSION_AUTHENTICATION_FAILED", jsonField(t, body, "error").(map[string]any)["message"])

	// The slave answers HOST_IS_SLAVE the same way, with the master's bare address.
	slave := w.HostURLs("P")[1]
	_, body = postJSON(t, slave, `{"jsonrpc":"2.0","method":"VM.get_all","params":["`+s+`"],"id":3}`)
	assert.Equal(t, `{"jsonrpc":"2.0","error":{"code":1,"message":"HOST_IS_SLAVE","data":["`+hostIP(w.PoolURL("P"))+`"]},"id":3}`, body)

	// Async calls return the task; no params is an empty list in v2.
	vm, _ := jsonField(t, mustJSON(t, u, `{"jsonrpc":"2.0","method":"VM.get_by_uuid","params":["`+s+`","aaaaaaaa-bbbb-4ccc-8ddd-000000000002"],"id":4}`), "result").(string)
	task, _ := jsonField(t, mustJSON(t, u, `{"jsonrpc":"2.0","method":"Async.VM.start","params":["`+s+`","`+vm+`",false,false],"id":5}`), "result").(string)
	assert.True(t, strings.HasPrefix(task, "OpaqueRef:"))
	_, body = postJSON(t, u, `{"jsonrpc":"2.0","method":"VM.get_all","id":6}`)
	assert.Equal(t, `{"jsonrpc":"2.0","error":{"code":1,"message":"MESSAGE_PARAMETER_COUNT_MISMATCH","data":["VM.get_all","0","-1"]},"id":6}`, body)
	// An unknown "jsonrpc" version is not a call.
	code, _ := postJSON(t, u, `{"jsonrpc":"3.0","method":"VM.get_all","params":[],"id":7}`)
	assert.Equal(t, 500, code)
}

func mustJSON(t *testing.T, u, body string) string {
	t.Helper()
	code, out := postJSON(t, u, body)
	require.Equal(t, 200, code, out)
	require.Nil(t, jsonField(t, out, "error"), out)
	return out
}
