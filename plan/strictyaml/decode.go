package strictyaml

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decode decodes one YAML document into v (a pointer to a struct) strictly.
// It returns where each field is written, and every problem found: syntax
// errors, unknown keys (with a suggestion when it looks like a typo), keys
// set twice, and values of the wrong kind. v is filled in only when there is
// no problem.
func Decode(data []byte, file string, v any) (Positions, Problems) {
	pos, probs, _ := DecodeKnown(data, file, v)
	return pos, probs
}

// DecodeKnown is Decode that, when the only problems are unknown keys, still
// fills v with the known ones (filled is then true), so a caller can go on
// and check the values too: every problem of a file is said at once.
func DecodeKnown(data []byte, file string, v any) (pos Positions, probs Problems, filled bool) {
	pos, probs = decode(data, file, v)
	return pos, probs, len(probs) == 0 || probs.onlyUnknownKeys() && fill(data, v) == nil
}

func (ps Problems) onlyUnknownKeys() bool {
	for _, p := range ps {
		if !strings.HasPrefix(p.Message, unknownKey) {
			return false
		}
	}
	return true
}

// unknownKey starts the message of an unknown key's problem.
const unknownKey = "unknown key "

// fill decodes data into v leniently (unknown keys are skipped), for a file
// whose only problems are unknown keys.
func fill(data []byte, v any) error {
	return yaml.Unmarshal(data, v)
}

func decode(data []byte, file string, v any) (Positions, Problems) {
	pos := Positions{}
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return pos, Problems{{File: file, Line: 1, Column: 1, Message: "the file is empty; write the settings as YAML"}}
		}
		return pos, Problems{syntaxProblem(file, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return pos, Problems{{File: file, Line: extra.Line, Column: extra.Column,
			Message: "the file holds a second YAML document after '---'; keep one document per file"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return pos, Problems{{File: file, Line: 1, Column: 1, Message: "the file is empty; write the settings as YAML"}}
		}
		root = root.Content[0]
	}
	pos[""] = Pos{Line: root.Line, Column: root.Column}
	w := walker{file: file, pos: pos}
	w.walk(root, reflect.TypeOf(v).Elem(), "")
	if len(w.problems) > 0 {
		w.problems.Sort()
		return pos, w.problems
	}
	// The walk proved every key and value fits, so this decode only fills v.
	if err := root.Decode(v); err != nil {
		return pos, Problems{syntaxProblem(file, err)}
	}
	return pos, nil
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// syntaxProblem turns a yaml.v3 error ("yaml: line 5: did not find expected key")
// into a problem on its line.
func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	line := 0
	if m := lineRE.FindStringSubmatchIndex(msg); m != nil {
		line, _ = strconv.Atoi(msg[m[2]:m[3]])
		msg = msg[:m[0]] + msg[m[1]:]
	}
	return Problem{File: file, Line: line, Message: "YAML syntax error: " + msg + "; check the indentation and quoting"}
}

type walker struct {
	file     string
	pos      Positions
	problems Problems
}

func (w *walker) add(n *yaml.Node, field, format string, args ...any) {
	w.problems = append(w.problems, Problem{File: w.file, Line: n.Line, Column: n.Column, Field: field, Message: fmt.Sprintf(format, args...)})
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// walk checks node n against type t at field path f.
func (w *walker) walk(n *yaml.Node, t reflect.Type, f string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		w.leaf(n, t, f)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		w.walk(n, t.Elem(), f)
	case reflect.Struct:
		w.structure(n, t, f)
	case reflect.Map:
		w.mapping(n, t, f)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.add(n, f, "expected a list, found %s; write one item per line starting with '- '", describe(n))
			return
		}
		for i, item := range n.Content {
			itemField := fmt.Sprintf("%s[%d]", f, i)
			w.pos[itemField] = Pos{Line: item.Line, Column: item.Column}
			w.walk(item, t.Elem(), itemField)
		}
	case reflect.Interface:
		// Anything goes.
	default:
		w.leaf(n, t, f)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// structure checks a mapping against a struct's yaml fields.
func (w *walker) structure(n *yaml.Node, t reflect.Type, f string) {
	if n.Kind != yaml.MappingNode {
		w.add(n, f, "expected a mapping of keys to values, found %s", describe(n))
		return
	}
	fields := yamlFields(t)
	w.keys(n, f, func(key, val *yaml.Node, kf string) {
		ft, ok := fields[key.Value]
		if !ok {
			w.add(key, kf, unknownKey+"%q; %s", key.Value, suggest(key.Value, fields))
			return
		}
		w.walk(val, ft, kf)
	})
}

// mapping checks a mapping against a map type with string keys.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, f string) {
	if n.Kind != yaml.MappingNode {
		w.add(n, f, "expected a mapping of keys to values, found %s", describe(n))
		return
	}
	w.keys(n, f, func(key, val *yaml.Node, kf string) {
		w.walk(val, t.Elem(), kf)
	})
}

// keys visits each key of a mapping once, recording positions, reporting keys
// set twice and following merge keys ("<<: *anchor"), whose keys yield to the
// ones written in the mapping itself, as YAML specifies.
func (w *walker) keys(n *yaml.Node, f string, visit func(key, val *yaml.Node, kf string)) {
	seen := map[string]*yaml.Node{}
	var each func(m *yaml.Node, merged bool)
	each = func(m *yaml.Node, merged bool) {
		var merges []*yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			key, val := m.Content[i], m.Content[i+1]
			if key.Kind == yaml.ScalarNode && key.Tag == "!!merge" {
				merges = append(merges, val)
				continue
			}
			kf := key.Value
			if f != "" {
				kf = f + "." + key.Value
			}
			if key.Kind != yaml.ScalarNode {
				w.add(key, f, "a key must be a plain name, found %s", describe(key))
				continue
			}
			if first, dup := seen[key.Value]; dup {
				if !merged {
					w.add(key, kf, "%q is set twice (first on line %d); keep one", key.Value, first.Line)
				}
				continue
			}
			seen[key.Value] = key
			v := val
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			// A scalar is pointed at where its value is; a block at its key,
			// because a block's content starts on the next line.
			if v.Kind == yaml.ScalarNode && !merged {
				w.pos[kf] = Pos{Line: val.Line, Column: val.Column}
			} else {
				w.pos[kf] = Pos{Line: key.Line, Column: key.Column}
			}
			visit(key, val, kf)
		}
		for _, src := range merges {
			if src.Kind == yaml.AliasNode && src.Alias != nil {
				src = src.Alias
			}
			switch src.Kind {
			case yaml.MappingNode:
				each(src, true)
			case yaml.SequenceNode:
				for _, item := range src.Content {
					if item.Kind == yaml.AliasNode && item.Alias != nil {
						item = item.Alias
					}
					if item.Kind == yaml.MappingNode {
						each(item, true)
					}
				}
			default:
				w.add(src, f, "'<<' must merge a mapping (an alias such as *defaults), found %s", describe(src))
			}
		}
	}
	each(n, false)
}

// leaf checks a scalar by decoding it alone into a fresh value of its type.
func (w *walker) leaf(n *yaml.Node, t reflect.Type, f string) {
	if n.Kind != yaml.ScalarNode {
		w.add(n, f, "expected %s, found %s", kindName(t), describe(n))
		return
	}
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) || !reflect.PointerTo(t).Implements(unmarshalerType) {
			w.add(n, f, "%q is not %s", n.Value, kindName(t))
			return
		}
		w.add(n, f, "%s", err.Error())
	}
}

// kindName says in words what a field expects.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
		return "a whole number"
	case reflect.Int64:
		if t.PkgPath() != "" {
			return "a duration such as 90m or 4h"
		}
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number (0 or more)"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a text value"
	}
	return "a " + t.Kind().String()
}

// describe says in words what a node holds.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// yamlFields maps a struct's YAML key names to field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && sf.Type.Kind() == reflect.Struct {
			for k, v := range yamlFields(sf.Type) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		m[name] = sf.Type
	}
	return m
}

// suggest proposes the known key closest to a misspelt one, or lists them all.
func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, k := range names {
		if strings.EqualFold(k, key) {
			return fmt.Sprintf("did you mean %s?", k)
		}
		if d := distance(strings.ToLower(key), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %s?", best)
	}
	return "the keys allowed here are " + strings.Join(names, ", ")
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
