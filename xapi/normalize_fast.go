package xapi

import (
	"bytes"
	"unicode/utf8"
)

// fastNormalize is normalize for the documents xapi writes: elements
// without attributes, character data with entity references, an XML
// declaration at most. It rewrites them byte by byte, where normalize's
// tokenizer and encoder took as long as kolo's own decoding of a large
// get_all_records or event.from answer. Anything else (comments, CDATA,
// processing instructions, attributes, text where XML-RPC has none,
// mismatched or unfinished elements) returns ok false, and normalize's
// full path decides, with its errors.
//
// With a projection, the members it does not keep are dropped from the
// structs at its depth (see projection); proj may be nil.
func fastNormalize(in []byte, proj *projection) (res normalized, ok bool) {
	out := make([]byte, 0, len(in)+len(in)/4)
	stack := make([]string, 0, 16)
	var (
		pending bool   // a <value> is open and its content is not known yet
		text    []byte // character data since the last tag
		sawRoot bool
		structs int // <struct> elements open
		// A member of a struct at the projection's depth: where its output
		// began, its depth in stack, and whether it is dropped.
		memberAt, memberLevel = -1, 0
		memberDrop            bool
		// The structs at the depth that holds the projection's records,
		// and whether their members are to be recorded (res.records).
		containers int
		recordAt   = proj != nil && proj.depth == depthAllRecords
	)
	i := 0
	// The XML declaration, if any, then nothing but whitespace before the root.
	if bytes.HasPrefix(in, []byte("<?xml")) {
		end := bytes.Index(in, []byte("?>"))
		if end < 0 {
			return res, false
		}
		decl := bytes.ToLower(in[:end])
		if !bytes.HasPrefix(decl, []byte(`<?xml version="1.0"`)) && !bytes.HasPrefix(decl, []byte(`<?xml version='1.0'`)) ||
			bytes.Contains(decl, []byte("encoding")) && !bytes.Contains(decl, []byte("utf-8")) {
			return res, false
		}
		i = end + 2
	}
	top := func() string {
		if len(stack) == 0 {
			return ""
		}
		return stack[len(stack)-1]
	}
	for i < len(in) {
		lt := bytes.IndexByte(in[i:], '<')
		if lt < 0 {
			text = append(text[:0:0], in[i:]...)
			if len(bytes.TrimSpace(text)) != 0 {
				return res, false
			}
			break
		}
		text = in[i : i+lt]
		if !plainText(text) {
			return res, false
		}
		i += lt
		gt := bytes.IndexByte(in[i:], '>')
		if gt < 0 {
			return res, false
		}
		tag := in[i+1 : i+gt]
		i += gt + 1
		if len(tag) == 0 {
			return res, false
		}
		closing, selfClosing := tag[0] == '/', tag[len(tag)-1] == '/'
		if closing {
			tag = tag[1:]
		} else if selfClosing {
			tag = tag[:len(tag)-1]
		}
		if !plainName(tag) || (closing && selfClosing) {
			return res, false // <!…>, <?…>, attributes, odd names
		}
		name := string(tag)
		if closing {
			if top() != name {
				return res, false
			}
			stack = stack[:len(stack)-1]
			if name == "struct" {
				if recordAt && structs == proj.depth-1 {
					res.recordsEnd = len(out)
				}
				structs--
			}
			if name == "name" && memberAt >= 0 && len(stack) == memberLevel {
				memberDrop = !proj.keep[string(text)]
			}
			switch {
			case pending:
				// Untyped scalar: xapi's strings, refs, enums and ints.
				out = append(out, "<value><string>"...)
				out = append(out, text...)
				out = append(out, "</string>"...)
				pending = false
			case name == "name":
				if len(text) == 0 {
					out = append(out, emptyNameSentinel...)
					res.emptyName = true
				} else {
					out = append(out, text...)
				}
			case scalarTags[name]:
				out = append(out, bytes.TrimSpace(text)...)
			case name == "string" || name == "base64":
				out = append(out, text...)
			default:
				if !blank(text) {
					return res, false
				}
			}
			out = append(out, "</"...)
			out = append(out, name...)
			out = append(out, '>')
			if name == "member" && memberAt >= 0 && len(stack)+1 == memberLevel {
				if memberDrop {
					out = out[:memberAt]
				}
				memberAt = -1
			}
			continue
		}
		// A start (or empty) element.
		if len(stack) == 0 {
			if sawRoot || !blank(text) {
				return res, false
			}
			sawRoot = true
		}
		if len(stack) >= maxDepth {
			return res, false
		}
		if pending {
			if !blank(text) {
				return res, false
			}
			out = append(out, "<value>"...)
			pending = false
		} else if !blank(text) {
			return res, false
		}
		if name == "fault" && top() == "methodResponse" {
			res.fault = true
		}
		if selfClosing {
			switch name {
			case "value":
				out = append(out, "<value><string></string></value>"...)
			case "name":
				out = append(out, "<name>"+emptyNameSentinel+"</name>"...)
				res.emptyName = true
			default:
				out = append(out, '<')
				out = append(out, name...)
				out = append(out, "></"...)
				out = append(out, name...)
				out = append(out, '>')
			}
			continue
		}
		if proj != nil && name == "member" && structs == proj.depth && top() == "struct" {
			memberAt, memberLevel, memberDrop = len(out), len(stack)+1, false
		}
		if recordAt && name == "member" && structs == proj.depth-1 && top() == "struct" {
			res.records = append(res.records, len(out))
		}
		if name == "struct" {
			structs++
			if recordAt && structs == proj.depth-1 {
				containers++
			}
		}
		stack = append(stack, name)
		if name == "value" {
			pending = true
			continue
		}
		out = append(out, '<')
		out = append(out, name...)
		out = append(out, '>')
	}
	if len(stack) != 0 || !sawRoot {
		return res, false
	}
	if containers != 1 {
		res.records = nil
	}
	res.body = out
	return res, true
}

// plainName: an element name as XML-RPC's, with no attributes or markup.
func plainName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	c := b[0]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// plainText: character data the XML decoder would read as it is copied:
// valid UTF-8, no control characters, only well-formed entity references.
func plainText(b []byte) bool {
	ascii := true
	for k := 0; k < len(b); k++ {
		c := b[k]
		switch {
		case c >= 0x80:
			ascii = false
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
			return false
		case c == '&':
			n := entityLen(b[k:])
			if n == 0 {
				return false
			}
			k += n - 1
		}
	}
	if ascii {
		return true
	}
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		b = b[size:]
	}
	return true
}

// entityLen is the length of the entity reference b starts with, 0 if it
// is not one the XML decoder reads without a custom entity map.
func entityLen(b []byte) int {
	semi := bytes.IndexByte(b, ';')
	if semi < 2 || semi > 12 {
		return 0
	}
	ref := b[1:semi]
	switch string(ref) {
	case "lt", "gt", "amp", "quot", "apos":
		return semi + 1
	}
	if ref[0] != '#' || len(ref) < 2 {
		return 0
	}
	digits, base := ref[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 {
		return 0
	}
	v := 0
	for _, c := range digits {
		d := 99
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case c >= 'a' && c <= 'f':
			d = int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = int(c-'A') + 10
		}
		if d >= base {
			return 0
		}
		v = v*base + d
	}
	// A character XML allows.
	if !(v == 0x9 || v == 0xA || v == 0xD || v >= 0x20 && v <= 0xD7FF || v >= 0xE000 && v <= 0xFFFD || v >= 0x10000 && v <= 0x10FFFF) {
		return 0
	}
	return semi + 1
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}
