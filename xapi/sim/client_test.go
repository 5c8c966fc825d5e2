package sim_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// This file is a tiny test-only XML-RPC client that talks to the simulator like any
// third-party client: it sends typed values and decodes xapi's untyped ones itself.

type rpc struct {
	t   testing.TB
	url string
}

// xerr is a Failure answer.
type xerr []string

func (e xerr) Error() string { return strings.Join(e, " ") }

func encodeParam(b *bytes.Buffer, v any) {
	b.WriteString("<value>")
	switch x := v.(type) {
	case string:
		b.WriteString("<string>")
		_ = xml.EscapeText(b, []byte(x))
		b.WriteString("</string>")
	case bool:
		if x {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case int:
		fmt.Fprintf(b, "<int>%d</int>", x)
	case float64:
		fmt.Fprintf(b, "<double>%g</double>", x)
	case []string:
		b.WriteString("<array><data>")
		for _, s := range x {
			encodeParam(b, s)
		}
		b.WriteString("</data></array>")
	case map[string]string:
		b.WriteString("<struct>")
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(b, "<member><name>%s</name>", k)
			encodeParam(b, x[k])
			b.WriteString("</member>")
		}
		b.WriteString("</struct>")
	case map[string]any:
		b.WriteString("<struct>")
		for k, e := range x {
			fmt.Fprintf(b, "<member><name>%s</name>", k)
			encodeParam(b, e)
			b.WriteString("</member>")
		}
		b.WriteString("</struct>")
	default:
		panic(fmt.Sprintf("encodeParam: %T", v))
	}
	b.WriteString("</value>")
}

func requestBody(method string, params ...any) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?><methodCall><methodName>` + method + `</methodName><params>`)
	for _, p := range params {
		b.WriteString("<param>")
		encodeParam(&b, p)
		b.WriteString("</param>")
	}
	b.WriteString("</params></methodCall>")
	return b.Bytes()
}

func post(url string, body []byte) (int, []byte, error) {
	resp, err := http.Post(url, "text/xml", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// xnode is a generic XML element tree.
type xnode struct {
	XMLName  xml.Name
	Content  string  `xml:",chardata"`
	Children []xnode `xml:",any"`
}

func decodeValue(n xnode) any {
	if len(n.Children) == 0 {
		return n.Content
	}
	c := n.Children[0]
	switch c.XMLName.Local {
	case "string", "dateTime.iso8601":
		return c.Content
	case "int", "i4", "i8":
		v, _ := strconv.ParseInt(c.Content, 10, 64)
		return v
	case "boolean":
		return c.Content == "1"
	case "double":
		v, _ := strconv.ParseFloat(c.Content, 64)
		return v
	case "array":
		out := []any{}
		if len(c.Children) > 0 {
			for _, v := range c.Children[0].Children {
				out = append(out, decodeValue(v))
			}
		}
		return out
	case "struct":
		out := map[string]any{}
		for _, m := range c.Children {
			var name string
			var val any
			for _, f := range m.Children {
				if f.XMLName.Local == "name" {
					name = f.Content
				} else {
					val = decodeValue(f)
				}
			}
			out[name] = val
		}
		return out
	}
	return nil
}

func (r rpc) call(method string, params ...any) (any, xerr, error) {
	code, data, err := post(r.url, requestBody(method, params...))
	if err != nil {
		return nil, nil, err
	}
	if code != 200 {
		return nil, nil, fmt.Errorf("HTTP %d: %s", code, data)
	}
	var root xnode
	if err := xml.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("decode %s: %w", data, err)
	}
	// methodResponse/params/param/value
	v := decodeValue(root.Children[0].Children[0].Children[0]).(map[string]any)
	if v["Status"] == "Success" {
		return v["Value"], nil, nil
	}
	var desc xerr
	for _, e := range v["ErrorDescription"].([]any) {
		desc = append(desc, e.(string))
	}
	return nil, desc, nil
}

// must calls and fails the test on any error.
func (r rpc) must(method string, params ...any) any {
	r.t.Helper()
	v, f, err := r.call(method, params...)
	if err != nil {
		r.t.Fatalf("%s: %v", method, err)
	}
	if f != nil {
		r.t.Fatalf("%s: %v", method, f)
	}
	return v
}

// fails calls and expects an XAPI failure.
func (r rpc) fails(method string, params ...any) xerr {
	r.t.Helper()
	_, f, err := r.call(method, params...)
	if err != nil {
		r.t.Fatalf("%s: %v", method, err)
	}
	if f == nil {
		r.t.Fatalf("%s: expected a failure, got success", method)
	}
	return f
}

func (r rpc) str(method string, params ...any) string {
	r.t.Helper()
	return r.must(method, params...).(string)
}

func (r rpc) rec(method string, params ...any) map[string]any {
	r.t.Helper()
	return r.must(method, params...).(map[string]any)
}

func (r rpc) refs(method string, params ...any) []string {
	r.t.Helper()
	var out []string
	for _, v := range r.must(method, params...).([]any) {
		out = append(out, v.(string))
	}
	return out
}

func (r rpc) login(user string) string {
	r.t.Helper()
	return r.str("session.login_with_password", user, "lifeboat", "1.1", "test")
}

// records returns get_all_records as ref → record.
func (r rpc) records(class, session string) map[string]map[string]any {
	r.t.Helper()
	out := map[string]map[string]any{}
	for ref, v := range r.must(class+".get_all_records", session).(map[string]any) {
		out[ref] = v.(map[string]any)
	}
	return out
}

// byName finds a record by name_label.
func (r rpc) byName(class, session, name string) (string, map[string]any) {
	r.t.Helper()
	for ref, rec := range r.records(class, session) {
		if rec["name_label"] == name {
			return ref, rec
		}
	}
	r.t.Fatalf("no %s named %q", class, name)
	return "", nil
}

// startDemo starts the demo world in-process on free ports at speed 0.
func startDemo(t testing.TB) *sim.World {
	t.Helper()
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{Speed: 0, FreePorts: true})
	if err != nil {
		t.Fatalf("start demo: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

// waitTask blocks on event.from("task/<ref>") until the task leaves pending, then returns
// its record (the way a careful client waits, without polling sleeps).
func (r rpc) waitTask(session, task string) map[string]any {
	r.t.Helper()
	token := ""
	for i := 0; i < 1000; i++ {
		rec := r.rec("task.get_record", session, task)
		if rec["status"] != "pending" && rec["status"] != "cancelling" {
			return rec
		}
		b := r.rec("event.from", session, []string{"task/" + task}, token, 5.0)
		token = b["token"].(string)
	}
	r.t.Fatalf("task %s never completed", task)
	return nil
}
