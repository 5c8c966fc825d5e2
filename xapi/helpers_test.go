package xapi

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Hand-written XAPI responses, shaped as ocaml-rpc emits them (untyped
// strings and ints, <value></value> for "").

func xv(s string) string {
	if s == "" {
		return "<value></value>"
	}
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return "<value>" + b.String() + "</value>"
}

func success(value string) string {
	return `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>` +
		value + `</member></struct></value></param></params></methodResponse>`
}

func failure(desc ...string) string {
	var b strings.Builder
	for _, d := range desc {
		b.WriteString(xv(d))
	}
	return `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>` +
		b.String() + `</data></array></value></member></struct></value></param></params></methodResponse>`
}

func taskRecord(status, progress, result string, errorInfo ...string) string {
	var ei strings.Builder
	for _, e := range errorInfo {
		ei.WriteString(xv(e))
	}
	return `<value><struct><member><name>uuid</name><value>task-uuid</value></member>` +
		`<member><name>name_label</name><value>Async.test</value></member>` +
		`<member><name>name_description</name><value></value></member>` +
		`<member><name>status</name>` + xv(status) + `</member>` +
		`<member><name>progress</name><value><double>` + progress + `</double></value></member>` +
		`<member><name>result</name>` + xv(result) + `</member>` +
		`<member><name>error_info</name><value><array><data>` + ei.String() + `</data></array></value></member>` +
		`<member><name>created</name><value><dateTime.iso8601>20250319T04:16:24Z</dateTime.iso8601></value></member>` +
		`<member><name>other_config</name><value><struct></struct></value></member>` +
		`</struct></value>`
}

func golden(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rpcCall is a decoded request.
type rpcCall struct {
	Method string
	Params []any
}

func (c rpcCall) str(i int) string {
	if i >= len(c.Params) {
		return ""
	}
	s, _ := c.Params[i].(string)
	return s
}

func parseCall(t testing.TB, body []byte) rpcCall {
	var doc struct {
		Method string `xml:"methodName"`
		Params []struct {
			Inner string `xml:",innerxml"`
		} `xml:"params>param"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Errorf("server: bad request %q: %v", body, err)
		return rpcCall{}
	}
	c := rpcCall{Method: doc.Method}
	for _, p := range doc.Params {
		v, err := DecodeValue(p.Inner)
		if err != nil {
			t.Errorf("server: bad param %q: %v", p.Inner, err)
		}
		c.Params = append(c.Params, v)
	}
	return c
}

// fakeXAPI answers calls with a per-method handler and records them.
type fakeXAPI struct {
	t        testing.TB
	mu       sync.Mutex
	calls    []rpcCall
	handlers map[string]func(c rpcCall) string
	srv      *httptest.Server
}

func newFake(t testing.TB, handlers map[string]func(c rpcCall) string) *fakeXAPI {
	f := &fakeXAPI{t: t, handlers: handlers}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeXAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := parseCall(f.t, body)
	f.mu.Lock()
	f.calls = append(f.calls, c)
	h := f.handlers[c.Method]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if h == nil {
		io.WriteString(w, failure(CodeMessageMethodUnknown, c.Method))
		return
	}
	io.WriteString(w, h(c))
}

func (f *fakeXAPI) callsTo(method string) []rpcCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []rpcCall
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func loginOK(ref string) func(rpcCall) string {
	return func(rpcCall) string { return success(xv(ref)) }
}

func newTestClient(t testing.TB, url string, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{WithPollInterval(0)}, opts...)
	c, err := NewClient(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func login(t testing.TB, f *fakeXAPI, opts ...Option) *Session {
	t.Helper()
	s, err := newTestClient(t, f.srv.URL, opts...).Login(context.Background(), "root", "s3cret-pw")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var _ = fmt.Sprint

func escapeText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
