package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is JSON-RPC at /jsonrpc, as xapi's Api_server.jsoncallback serves it with
// ocaml-rpc's Jsonrpc module: version 1 ({"method","params","id"} → {"result","error",
// "id"}) and 2.0 ({"jsonrpc":"2.0",...}). Values are the same as over XML-RPC, without
// the Status envelope; errors are the ErrorDescription array in v1, and in v2
// {"code":1,"message":CODE,"data":[params...]}. Requests that are not such a call (bad
// JSON, no method, no id) get xapi's HTTP 500 page, as malformed XML-RPC does.

// jsonCall is a parsed JSON-RPC request.
type jsonCall struct {
	v2   bool
	id   string // the request's id, rendered back as received (a JSON number or string)
	call *methodCall
}

var errMalformedJSON = errors.New("malformed JSON-RPC request")

// parseJSONCall reads a request as ocaml-rpc's Jsonrpc.version_id_and_call_of_string.
func parseJSONCall(body []byte) (*jsonCall, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var raw any
	if err := d.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformedJSON, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: data after the request", errMalformedJSON)
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: Invalid request body", errMalformedJSON)
	}
	m, present := obj["method"]
	if !present {
		return nil, fmt.Errorf("%w: Required field method is missing", errMalformedJSON)
	}
	name, ok := m.(string)
	if !ok {
		return nil, fmt.Errorf("%w: Invalid field 'method' in request body", errMalformedJSON)
	}
	jc := &jsonCall{call: &methodCall{Method: name}}
	switch v, present := obj["jsonrpc"]; {
	case !present:
	case v == "2.0":
		jc.v2 = true
	default:
		return nil, fmt.Errorf("%w: Invalid field 'jsonrpc' in request body", errMalformedJSON)
	}
	p, present := obj["params"]
	switch params := p.(type) {
	case []any:
		for _, x := range params {
			v, err := fromJSON(x)
			if err != nil {
				return nil, err
			}
			jc.call.Params = append(jc.call.Params, v)
		}
	case map[string]any:
		if !jc.v2 {
			return nil, fmt.Errorf("%w: Invalid field 'params' in request body", errMalformedJSON)
		}
		v, err := fromJSON(params)
		if err != nil {
			return nil, err
		}
		jc.call.Params = []any{v}
	case nil:
		if !jc.v2 {
			if !present {
				return nil, fmt.Errorf("%w: Required field params is missing", errMalformedJSON)
			}
			return nil, fmt.Errorf("%w: Invalid field 'params' in request body", errMalformedJSON)
		}
	default:
		return nil, fmt.Errorf("%w: Invalid field 'params' in request body", errMalformedJSON)
	}
	switch id := obj["id"].(type) {
	case json.Number:
		n, err := strconv.ParseInt(id.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: Invalid field 'id' in request body", errMalformedJSON)
		}
		jc.id = strconv.FormatInt(n, 10)
	case string:
		jc.id = jsonString(id)
	default: // absent or null: a notification, which xapi refuses
		return nil, fmt.Errorf("%w: Invalid field 'id' in request body", errMalformedJSON)
	}
	return jc, nil
}

// fromJSON converts a decoded JSON value to the values the handlers read (as XML-RPC's
// parser gives them): integers are int64, other numbers float64.
func fromJSON(x any) (any, error) {
	switch v := x.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
			return n, nil
		}
		if strings.ContainsAny(v.String(), ".eE") {
			return v.Float64()
		}
		return nil, fmt.Errorf("%w: Unable to parse %s", errMalformedJSON, v)
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			c, err := fromJSON(e)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			c, err := fromJSON(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	}
	return x, nil // string, bool, nil
}

// encodeJSONResponse renders ocaml-rpc's json_of_response, after xapi's translation of
// v2 errors into error objects (Api_server.callback1, code 1 always).
func encodeJSONResponse(jc *jsonCall, v any, f *Failure) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	if jc.v2 {
		b.WriteString(`"jsonrpc":"2.0",`)
	}
	switch {
	case f == nil && jc.v2:
		b.WriteString(`"result":`)
		writeJSON(&b, v)
	case f == nil:
		b.WriteString(`"result":`)
		writeJSON(&b, v)
		b.WriteString(`,"error":null`)
	case jc.v2 && jc.call.Method != "system.listMethods":
		b.WriteString(`"error":{"code":1,"message":`)
		b.WriteString(jsonString(f.Code))
		b.WriteString(`,"data":`)
		writeJSON(&b, f.Params)
		b.WriteByte('}')
	case jc.v2:
		b.WriteString(`"error":`)
		writeJSON(&b, f.Description())
	default:
		b.WriteString(`"result":null,"error":`)
		writeJSON(&b, f.Description())
	}
	b.WriteString(`,"id":`)
	b.WriteString(jc.id)
	b.WriteByte('}')
	return b.Bytes()
}

// writeJSON writes a value as Yojson prints ocaml-rpc's JSON for it: compact, struct
// members in order, ints as numbers, dates as strings.
// writeJSONArray writes xs as a JSON array, each element by write.
func writeJSONArray[T any](b *bytes.Buffer, xs []T, write func(T)) {
	b.WriteByte('[')
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		write(x)
	}
	b.WriteByte(']')
}

func writeJSON(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		b.WriteString(jsonString(x))
	case []byte:
		b.WriteString(jsonString(string(x)))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int32:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case float64:
		b.WriteString(jsonFloat(x))
	case time.Time:
		b.WriteString(jsonString(formatDateTime(x)))
	case []string:
		writeJSONArray(b, x, func(s string) { b.WriteString(jsonString(s)) })
	case IntSet:
		writeJSONArray(b, x, func(n int64) { b.WriteString(strconv.FormatInt(n, 10)) })
	case []any:
		writeJSONArray(b, x, func(e any) { writeJSON(b, e) })
	case []Struct:
		writeJSONArray(b, x, func(e Struct) { writeJSON(b, e) })
	case map[string]string:
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonString(k))
			b.WriteByte(':')
			b.WriteString(jsonString(x[k]))
		}
		b.WriteByte('}')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonString(k))
			b.WriteByte(':')
			writeJSON(b, x[k])
		}
		b.WriteByte('}')
	case Struct:
		b.WriteByte('{')
		for i, m := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonString(m.Name))
			b.WriteByte(':')
			writeJSON(b, m.Value)
		}
		b.WriteByte('}')
	default:
		b.WriteString(jsonString(fmt.Sprint(x)))
	}
}

// jsonString quotes s as Yojson does: only '"', '\\' and control characters are escaped.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			if r == utf8.RuneError && size == 1 {
				b.WriteByte(c) // Yojson passes bytes through
			} else {
				b.WriteString(s[i : i+size])
			}
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// jsonFloat prints a float as Yojson does: the shortest form that reads back, with
// ".0" when it would look like an int.
func jsonFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".en") {
		s += ".0"
	}
	return s
}
