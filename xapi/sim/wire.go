package sim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file is the XML-RPC codec, byte-compatible with xapi's (ocaml-rpc add_value
// ~strict:false): untyped strings and ints, <value></value> for "", member names not
// escaped, dateTime.iso8601 without dashes.

// Struct is an ordered XML-RPC struct: records keep the datamodel's field order.
type Struct []Member

// Member is one struct member.
type Member struct {
	Name  string
	Value any
}

// IntSet marks a set of ints (rendered untyped like every xapi int).
type IntSet []int64

// methodCall is a parsed request.
type methodCall struct {
	Method string
	Params []any
}

// errMalformed reports a request that is not an XML-RPC call; xapi answers those with an
// HTTP 500 and an HTML body rather than an XML-RPC envelope.
var errMalformed = errors.New("malformed XML-RPC request")

// parseCall decodes a methodCall. Values come back as string, int64, bool, float64,
// time.Time, []byte (base64), []any, map[string]any or nil (<nil/>).
func parseCall(body []byte) (*methodCall, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	root, err := nextStart(d)
	if err != nil || root.Name.Local != "methodCall" {
		return nil, fmt.Errorf("%w: no methodCall element", errMalformed)
	}
	mc := &methodCall{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: unexpected end", errMalformed)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "methodName":
				s, err := textOf(d)
				if err != nil {
					return nil, err
				}
				mc.Method = strings.TrimSpace(s)
			case "params":
			case "param":
				v, err := parseParam(d)
				if err != nil {
					return nil, err
				}
				mc.Params = append(mc.Params, v)
			default:
				return nil, fmt.Errorf("%w: unexpected <%s>", errMalformed, t.Name.Local)
			}
		case xml.EndElement:
			if t.Name.Local == "methodCall" {
				if mc.Method == "" {
					return nil, fmt.Errorf("%w: no methodName", errMalformed)
				}
				return mc, nil
			}
		}
	}
}

func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if s, ok := tok.(xml.StartElement); ok {
			return s, nil
		}
	}
}

func textOf(d *xml.Decoder) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("%w: %v", errMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			return b.String(), nil
		case xml.StartElement:
			return "", fmt.Errorf("%w: unexpected <%s> in text", errMalformed, t.Name.Local)
		}
	}
}

// parseParam reads "<value>...</value></param>".
func parseParam(d *xml.Decoder) (any, error) {
	s, err := nextStart(d)
	if err != nil || s.Name.Local != "value" {
		return nil, fmt.Errorf("%w: param without value", errMalformed)
	}
	v, err := parseValue(d)
	if err != nil {
		return nil, err
	}
	return v, skipEnd(d, "param")
}

func skipEnd(d *xml.Decoder, name string) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", errMalformed, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if t.Name.Local == name {
				return nil
			}
			return fmt.Errorf("%w: unexpected </%s>", errMalformed, t.Name.Local)
		case xml.StartElement:
			return fmt.Errorf("%w: unexpected <%s>", errMalformed, t.Name.Local)
		}
	}
}

// parseValue is called after <value> was consumed and consumes through </value>.
func parseValue(d *xml.Decoder) (any, error) {
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			// Untyped value: a string (ocaml-rpc keeps it verbatim, whitespace included).
			return text.String(), nil
		case xml.StartElement:
			v, err := parseTyped(d, t.Name.Local)
			if err != nil {
				return nil, err
			}
			return v, skipEnd(d, "value")
		}
	}
}

func parseTyped(d *xml.Decoder, tag string) (any, error) {
	switch tag {
	case "array":
		var out []any
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, fmt.Errorf("%w: %v", errMalformed, err)
			}
			switch t := tok.(type) {
			case xml.StartElement:
				if t.Name.Local == "data" {
					continue
				}
				if t.Name.Local != "value" {
					return nil, fmt.Errorf("%w: <%s> in array", errMalformed, t.Name.Local)
				}
				v, err := parseValue(d)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			case xml.EndElement:
				if t.Name.Local == "array" {
					if out == nil {
						out = []any{}
					}
					return out, nil
				}
			}
		}
	case "struct":
		out := map[string]any{}
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, fmt.Errorf("%w: %v", errMalformed, err)
			}
			switch t := tok.(type) {
			case xml.StartElement:
				if t.Name.Local != "member" {
					return nil, fmt.Errorf("%w: <%s> in struct", errMalformed, t.Name.Local)
				}
				name, val, err := parseMember(d)
				if err != nil {
					return nil, err
				}
				out[name] = val
			case xml.EndElement:
				if t.Name.Local == "struct" {
					return out, nil
				}
			}
		}
	case "nil":
		return nil, skipEnd(d, "nil")
	}
	s, err := textOf(d)
	if err != nil {
		return nil, err
	}
	switch tag {
	case "string":
		return s, nil
	case "int", "i4", "i8":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: bad int %q", errMalformed, s)
		}
		return n, nil
	case "boolean":
		switch strings.TrimSpace(s) {
		case "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
		return nil, fmt.Errorf("%w: bad boolean %q", errMalformed, s)
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("%w: bad double %q", errMalformed, s)
		}
		return f, nil
	case "dateTime.iso8601":
		t, err := parseDateTime(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
		return t, nil
	case "base64":
		return []byte(s), nil
	}
	return nil, fmt.Errorf("%w: unknown type <%s>", errMalformed, tag)
}

func parseMember(d *xml.Decoder) (string, any, error) {
	var name string
	var val any
	for {
		tok, err := d.Token()
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "name":
				if name, err = textOf(d); err != nil {
					return "", nil, err
				}
			case "value":
				if val, err = parseValue(d); err != nil {
					return "", nil, err
				}
			default:
				return "", nil, fmt.Errorf("%w: <%s> in member", errMalformed, t.Name.Local)
			}
		case xml.EndElement:
			return name, val, nil
		}
	}
}

// parseDateTime accepts xapi's forms; a datetime without zone is UTC.
func parseDateTime(s string) (time.Time, error) {
	for _, l := range []string{"20060102T15:04:05Z07:00", "20060102T15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad dateTime %q", s)
}

// formatDateTime prints xapi's Date.to_rfc3339 form: no dashes, Z suffix.
func formatDateTime(t time.Time) string {
	return t.UTC().Format("20060102T15:04:05Z")
}

// escapeText escapes like ocaml-rpc's encode_buf: & < > " escaped, control characters
// other than TAB/LF/CR dropped, everything else (including bytes >= 0x80) passed through.
func escapeText(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '&':
			b.WriteString("&amp;")
		case c == '<':
			b.WriteString("&lt;")
		case c == '>':
			b.WriteString("&gt;")
		case c == '"':
			b.WriteString("&quot;")
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
		default:
			b.WriteByte(c)
		}
	}
}

// encodeValue writes one <value> the way xapi does.
func encodeValue(b *bytes.Buffer, v any) {
	b.WriteString("<value>")
	switch x := v.(type) {
	case nil:
	case string:
		escapeText(b, x)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int32:
		// ocaml-rpc's Int32, which alone is typed (event.from's valid_ref_counts).
		b.WriteString("<i4>")
		b.WriteString(strconv.FormatInt(int64(x), 10))
		b.WriteString("</i4>")
	case bool:
		if x {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case float64:
		b.WriteString("<double>")
		b.WriteString(formatDouble(x))
		b.WriteString("</double>")
	case time.Time:
		b.WriteString("<dateTime.iso8601>")
		b.WriteString(formatDateTime(x))
		b.WriteString("</dateTime.iso8601>")
	case []string:
		b.WriteString("<array><data>")
		for _, s := range x {
			encodeValue(b, s)
		}
		b.WriteString("</data></array>")
	case IntSet:
		b.WriteString("<array><data>")
		for _, n := range x {
			encodeValue(b, n)
		}
		b.WriteString("</data></array>")
	case []any:
		b.WriteString("<array><data>")
		for _, e := range x {
			encodeValue(b, e)
		}
		b.WriteString("</data></array>")
	case map[string]string:
		b.WriteString("<struct>")
		for _, k := range sortedKeys(x) {
			member(b, k, x[k])
		}
		b.WriteString("</struct>")
	case map[string]any:
		b.WriteString("<struct>")
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			member(b, k, x[k])
		}
		b.WriteString("</struct>")
	case Struct:
		b.WriteString("<struct>")
		for _, m := range x {
			member(b, m.Name, m.Value)
		}
		b.WriteString("</struct>")
	case []Struct:
		b.WriteString("<array><data>")
		for _, s := range x {
			encodeValue(b, s)
		}
		b.WriteString("</data></array>")
	default:
		escapeText(b, fmt.Sprint(x))
	}
	b.WriteString("</value>")
}

// member writes a struct member; like ocaml-rpc, the name is written unescaped.
func member(b *bytes.Buffer, name string, v any) {
	b.WriteString("<member><name>")
	b.WriteString(name)
	b.WriteString("</name>")
	encodeValue(b, v)
	b.WriteString("</member>")
}

// formatDouble mimics OCaml's Printf "%.16g".
func formatDouble(f float64) string {
	s := strconv.FormatFloat(f, 'g', 16, 64)
	// Go writes exponents with at least two digits like C; nothing else to adjust.
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

const responseHead = `<?xml version="1.0"?><methodResponse><params><param>`
const responseTail = `</param></params></methodResponse>`

// encodeSuccess renders {Status: Success, Value: v}.
func encodeSuccess(v any) []byte {
	var b bytes.Buffer
	b.WriteString(responseHead)
	b.WriteString("<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>")
	encodeValue(&b, v)
	b.WriteString("</member></struct></value>")
	b.WriteString(responseTail)
	return b.Bytes()
}

// encodeBare renders a value as the whole response, without the Status envelope (how
// xapi answers system.listMethods).
func encodeBare(v any) []byte {
	var b bytes.Buffer
	b.WriteString(responseHead)
	encodeValue(&b, v)
	b.WriteString(responseTail)
	return b.Bytes()
}

// encodeFailure renders {Status: Failure, ErrorDescription: [code, params...]}.
func encodeFailure(f *Failure) []byte {
	var b bytes.Buffer
	b.WriteString(responseHead)
	b.WriteString("<value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name>")
	encodeValue(&b, f.Description())
	b.WriteString("</member></struct></value>")
	b.WriteString(responseTail)
	return b.Bytes()
}

// valueFragment is what xapi stores in task.result: the XML of the result value alone.
func valueFragment(v any) string {
	var b bytes.Buffer
	encodeValue(&b, v)
	return b.String()
}

// malformedHTML is the body of xapi's HTTP 500 answer to an unparsable request.
func malformedHTML(err error) []byte {
	var b bytes.Buffer
	b.WriteString("<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try again. If the problem persists, please contact your support representative.<h1> Additional information </h1>")
	escapeText(&b, err.Error())
	b.WriteString("</body></html>")
	return b.Bytes()
}

// Failure is an XAPI error: the ErrorDescription array.
type Failure struct {
	Code   string
	Params []string
}

func (f *Failure) Error() string {
	if len(f.Params) == 0 {
		return f.Code
	}
	return f.Code + " [" + strings.Join(f.Params, "; ") + "]"
}

// Description is the wire ErrorDescription.
func (f *Failure) Description() []string {
	return append([]string{f.Code}, f.Params...)
}

func failure(code string, params ...string) *Failure {
	if params == nil {
		params = []string{}
	}
	return &Failure{Code: code, Params: params}
}
