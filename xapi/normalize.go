package xapi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// emptyNameSentinel stands in for an empty <name></name>: kolo cannot read a
// member name without character data. It is mapped back to "" after decoding.
// U+E000 is a private-use code point xapi never emits in map keys.
const emptyNameSentinel = "\ue000xapi-empty-name\ue000"

// maxDepth bounds element nesting; xapi never nests deeper than a few levels
// (event snapshot → record → map), so anything deeper is garbage.
const maxDepth = 512

// scalarTags are typed XML-RPC scalars whose text is trimmed (pretty
// printers may indent them). <string> is never trimmed.
var scalarTags = map[string]bool{
	"int": true, "i4": true, "i8": true, "boolean": true, "double": true, "dateTime.iso8601": true,
}

// normalized is the result of normalize.
type normalized struct {
	body      []byte
	fault     bool // the document is an XML-RPC <fault>
	emptyName bool // emptyNameSentinel was used
	// records are where, in body, each member of the struct that holds a
	// projection's records begins (get_all_records: ref → record), and
	// recordsEnd where that struct's members end; set by fastNormalize
	// when there is exactly one such struct (decodeSplit).
	records    []int
	recordsEnd int
}

// Normalize rewrites an XML-RPC document as xapi emits it into a form kolo
// decodes without losing data: every untyped <value>text</value>, <value></value>
// and <value/> becomes <value><string>text</string></value> (text kept byte
// for byte, whitespace included), adjacent character data is merged,
// insignificant whitespace between elements, comments and processing
// instructions are dropped. See docs/xapi-dr.md, "The wire and kolo/xmlrpc".
func Normalize(in []byte) ([]byte, error) {
	n, err := normalize(in, nil)
	if err != nil {
		return nil, err
	}
	return n.body, nil
}

// normalize is Normalize; proj (may be nil) drops what the caller will not
// decode, on the fast path (the full path keeps everything, which decodes
// to the same value).
func normalize(in []byte, proj *projection) (normalized, error) {
	if res, ok := fastNormalize(in, proj); ok {
		return res, nil
	}
	return slowNormalize(in)
}

// slowNormalize is normalize through encoding/xml's tokenizer: any
// document, with its errors.
func slowNormalize(in []byte) (normalized, error) {
	var res normalized
	dec := xml.NewDecoder(bytes.NewReader(in))
	var out bytes.Buffer
	out.Grow(len(in) + len(in)/4)
	enc := xml.NewEncoder(&out)

	var (
		stack   []string // open element names (local)
		pending bool     // a <value> is open and its content is not known yet
		text    []byte   // character data seen since the last tag
		sawRoot bool
	)
	start := func(name string) error {
		return enc.EncodeToken(xml.StartElement{Name: xml.Name{Local: name}})
	}
	end := func(name string) error {
		return enc.EncodeToken(xml.EndElement{Name: xml.Name{Local: name}})
	}
	chars := func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		return enc.EncodeToken(xml.CharData(b))
	}
	top := func() string {
		if len(stack) == 0 {
			return ""
		}
		return stack[len(stack)-1]
	}

	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, &ProtocolError{Reason: "malformed XML: " + err.Error(), Excerpt: excerpt(string(in), 120)}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if len(stack) == 0 {
				if sawRoot {
					return res, &ProtocolError{Reason: "more than one root element"}
				}
				sawRoot = true
			}
			if len(stack) >= maxDepth {
				return res, &ProtocolError{Reason: "XML nested too deeply"}
			}
			if pending {
				// A typed value: only whitespace may precede the type tag.
				if len(bytes.TrimSpace(text)) != 0 {
					return res, &ProtocolError{Reason: "text and element mixed inside <value>"}
				}
				if err := start("value"); err != nil {
					return res, err
				}
				pending = false
			} else if len(bytes.TrimSpace(text)) != 0 {
				return res, &ProtocolError{Reason: fmt.Sprintf("unexpected text before <%s>", name)}
			}
			text = text[:0]
			if name == "fault" && top() == "methodResponse" {
				res.fault = true
			}
			stack = append(stack, name)
			if name == "value" {
				pending = true
				continue
			}
			if err := start(name); err != nil {
				return res, err
			}
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			name := t.Name.Local
			if len(stack) == 0 || top() != name {
				return res, &ProtocolError{Reason: "mismatched </" + name + ">"}
			}
			stack = stack[:len(stack)-1]
			switch {
			case pending:
				// Untyped scalar: xapi's strings, refs, enums and ints.
				if err := start("value"); err != nil {
					return res, err
				}
				if err := start("string"); err != nil {
					return res, err
				}
				if err := chars(text); err != nil {
					return res, err
				}
				if err := end("string"); err != nil {
					return res, err
				}
				pending = false
			case name == "name":
				if len(text) == 0 {
					text = append(text, emptyNameSentinel...)
					res.emptyName = true
				}
				if err := chars(text); err != nil {
					return res, err
				}
			case scalarTags[name]:
				if err := chars(bytes.TrimSpace(text)); err != nil {
					return res, err
				}
			case name == "string" || name == "base64":
				if err := chars(text); err != nil {
					return res, err
				}
			default:
				if len(bytes.TrimSpace(text)) != 0 {
					return res, &ProtocolError{Reason: "unexpected text inside <" + name + ">"}
				}
			}
			text = text[:0]
			if err := end(name); err != nil {
				return res, err
			}
		default:
			// ProcInst, Comment, Directive: irrelevant to XML-RPC.
		}
	}
	if len(stack) != 0 {
		return res, &ProtocolError{Reason: "truncated XML document", Excerpt: excerpt(string(in), 120)}
	}
	if !sawRoot {
		return res, &ProtocolError{Reason: "empty body"}
	}
	if err := enc.Flush(); err != nil {
		return res, err
	}
	res.body = out.Bytes()
	return res, nil
}

// errNoValue is returned when a document holds no <value> at all.
var errNoValue = errors.New("no <value> in document")

// restoreEmptyNames maps emptyNameSentinel keys back to "" in decoded trees.
func restoreEmptyNames(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if x, ok := t[emptyNameSentinel]; ok {
			delete(t, emptyNameSentinel)
			t[""] = x
		}
		for k, x := range t {
			t[k] = restoreEmptyNames(x)
		}
		return t
	case []any:
		for i := range t {
			t[i] = restoreEmptyNames(t[i])
		}
		return t
	case string:
		return t
	}
	return v
}
