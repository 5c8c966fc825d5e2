package xapi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/kolo/xmlrpc"
)

// EncodeCall builds the XML-RPC request body for method with params.
// Params are prepared first: time.Time is converted to UTC (kolo writes the
// clock time without a zone), map keys are XML-escaped (kolo writes member
// names verbatim), Ref/ForeignRef and other string kinds become strings.
func EncodeCall(method string, params ...any) ([]byte, error) {
	if !validMethodName(method) {
		return nil, fmt.Errorf("encode call: invalid method name %q", method)
	}
	args := make([]any, len(params))
	for i, p := range params {
		v, err := prepareParam(p)
		if err != nil {
			return nil, fmt.Errorf("encode %s parameter %d: %w", method, i+1, err)
		}
		args[i] = v
	}
	return xmlrpc.EncodeMethodCall(method, args...)
}

func validMethodName(m string) bool {
	if m == "" {
		return false
	}
	for _, r := range m {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
		default:
			return false
		}
	}
	return true
}

// prepareParam converts a Go value into the shapes kolo encodes the way xapi
// expects. Unsupported kinds are rejected here rather than by kolo.
func prepareParam(p any) (any, error) {
	if p == nil {
		return "", nil // xapi reads <value/> as "" anyway; be explicit
	}
	switch t := p.(type) {
	case time.Time:
		return t.UTC(), nil
	case string, bool, int64, int, float64:
		return t, nil
	}
	rv := reflect.ValueOf(p)
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return int64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			v, err := prepareParam(rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map keys must be strings, not %s", rv.Type().Key())
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			v, err := prepareParam(it.Value().Interface())
			if err != nil {
				return nil, err
			}
			out[escapeKey(it.Key().String())] = v
		}
		return out, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return "", nil
		}
		return prepareParam(rv.Elem().Interface())
	}
	return nil, fmt.Errorf("unsupported parameter type %T", p)
}

// escapeKey XML-escapes a struct member name, which kolo writes unescaped;
// a key containing & or < would otherwise produce malformed XML.
func escapeKey(k string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(k))
	return b.String()
}

// DecodeResponse normalises an XAPI XML-RPC response, checks its
// Status/Value/ErrorDescription envelope and returns the Value as a generic
// tree: string (also for xapi's untyped ints; "" for empty), bool, float64,
// int64 (only for explicitly typed ints), time.Time, []any, map[string]any.
// A Failure becomes *Error.
func DecodeResponse(body []byte) (any, error) { return decodeResponse(body, nil) }

// decodeResponse is DecodeResponse leaving out what proj drops (may be nil).
func decodeResponse(body []byte, proj *projection) (any, error) {
	v, fault, err := decodeDocument(body, proj)
	if err != nil {
		var pe *ProtocolError
		if errors.As(err, &pe) && pe.Excerpt == "" {
			pe.Excerpt = excerpt(string(body), 120)
		}
		return nil, err
	}
	if fault {
		m, _ := v.(map[string]any)
		return nil, &Error{Code: "XMLRPC_FAULT", Params: []string{fmt.Sprint(m["faultCode"]), fmt.Sprint(m["faultString"])}}
	}
	env, ok := v.(map[string]any)
	if !ok {
		return nil, &ProtocolError{Reason: fmt.Sprintf("response is %s, not a Status struct", kindOf(v)), Excerpt: excerpt(string(body), 120)}
	}
	status, _ := env["Status"].(string)
	switch status {
	case "Success":
		return env["Value"], nil
	case "Failure":
		raw, ok := env["ErrorDescription"].([]any)
		if !ok || len(raw) == 0 {
			return nil, &ProtocolError{Reason: "Failure without ErrorDescription", Excerpt: excerpt(string(body), 120)}
		}
		desc := make([]string, len(raw))
		for i, x := range raw {
			desc[i] = scalarString(x)
		}
		return nil, &Error{Code: desc[0], Params: desc[1:]}
	}
	return nil, &ProtocolError{Reason: fmt.Sprintf("unknown Status %q", status), Excerpt: excerpt(string(body), 120)}
}

// DecodeValue decodes a bare "<value>…</value>" fragment such as a task
// result (task.result holds Xmlrpc.to_string of the value).
func DecodeValue(fragment string) (any, error) {
	v, _, err := decodeDocument([]byte(fragment), nil)
	return v, err
}

// decodeDocument normalises and decodes the first <value> of doc.
func decodeDocument(doc []byte, proj *projection) (v any, fault bool, err error) {
	n, err := normalize(doc, proj)
	if err != nil {
		return nil, false, err
	}
	if !bytes.Contains(n.body, []byte("<value>")) {
		return nil, n.fault, &ProtocolError{Reason: errNoValue.Error(), Excerpt: excerpt(string(doc), 120)}
	}
	out, split, err := decodeSplit(n, splitParts())
	if !split {
		err = decodeKolo(n.body, &out)
	}
	if err != nil {
		return nil, n.fault, &ProtocolError{Reason: "decode: " + err.Error(), Excerpt: excerpt(string(doc), 120)}
	}
	if n.emptyName {
		out = restoreEmptyNames(out)
	}
	return out, n.fault, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "empty"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "a struct"
	}
	return fmt.Sprintf("%T", v)
}
