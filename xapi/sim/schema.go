package sim

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// schema.json is generated from the XAPI datamodel as data (xenapi.json, which
// xen-api's SDK generator publishes): go run ./internal/schemagen -in PATH/xenapi.json -out schema.json

// schemaJSON is the datamodel trimmed to the served classes (see internal/schemagen). Real
// xapi renders every field of a class in get_record; carrying the datamodel lets the
// simulator do the same, with the datamodel's types and defaults.
//
//go:embed schema.json
var schemaJSON []byte

// fieldKind is the wire shape of a datamodel type.
type fieldKind int

const (
	kString fieldKind = iota // string, ref, enum, uuid
	kInt
	kBool
	kFloat
	kDateTime
	kSet   // any "X set"
	kMap   // any "(A -> B) map"
	kOther // "<class> record" (event snapshot)
)

type fieldDef struct {
	Name    string
	Type    string
	Kind    fieldKind
	Default any
	// Elem is the kind of a set's elements (ints in an "int set" are untyped decimals too).
	Elem fieldKind
}

type messageDef struct {
	Name   string
	Params []string
	Names  []string
	Result string
	Roles  map[string]bool
	// Explicit: declared in the datamodel, not generated for a field
	// (see synced).
	Explicit bool
}

type classDef struct {
	Name     string
	Fields   []fieldDef
	Index    map[string]int
	Messages map[string]*messageDef
}

// schema is the parsed embedded datamodel, keyed by class name.
var schema = mustParseSchema(schemaJSON)

// classByLower maps lower-cased class names to their datamodel spelling, for event
// subscriptions (xapi matches them case-insensitively).
var classByLower = func() map[string]string {
	m := map[string]string{}
	for n := range schema {
		m[strings.ToLower(n)] = n
	}
	return m
}()

func mustParseSchema(data []byte) map[string]*classDef {
	var raw []struct {
		Name   string `json:"name"`
		Fields []struct {
			N string  `json:"n"`
			T string  `json:"t"`
			D *string `json:"d"`
		} `json:"fields"`
		Messages []struct {
			N     string   `json:"n"`
			P     []string `json:"p"`
			PN    []string `json:"pn"`
			R     string   `json:"r"`
			Roles []string `json:"roles"`
			X     bool     `json:"x"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		panic(fmt.Sprintf("sim: embedded schema.json is invalid: %v", err))
	}
	out := map[string]*classDef{}
	for _, c := range raw {
		cd := &classDef{Name: c.Name, Index: map[string]int{}, Messages: map[string]*messageDef{}}
		for _, f := range c.Fields {
			fd := fieldDef{Name: f.N, Type: f.T, Kind: kindOf(f.T)}
			if fd.Kind == kSet {
				fd.Elem = kindOf(strings.TrimSuffix(f.T, " set"))
			}
			fd.Default = defaultValue(fd, f.D)
			cd.Index[f.N] = len(cd.Fields)
			cd.Fields = append(cd.Fields, fd)
		}
		for _, m := range c.Messages {
			md := &messageDef{Name: m.N, Params: m.P, Names: m.PN, Result: m.R, Roles: map[string]bool{}, Explicit: m.X}
			for _, r := range m.Roles {
				md.Roles[r] = true
			}
			cd.Messages[m.N] = md
		}
		// xapi generates get_all_records_where for every class that has
		// get_all_records, hidden from the published datamodel (only
		// message's is listed), with the same roles.
		if all := cd.Messages["get_all_records"]; all != nil && cd.Messages["get_all_records_where"] == nil {
			cd.Messages["get_all_records_where"] = &messageDef{Name: "get_all_records_where", Params: append(append([]string{}, all.Params...), "string"),
				Names: append(append([]string{}, all.Names...), "expr"), Result: all.Result, Roles: all.Roles}
		}
		out[c.Name] = cd
	}
	return out
}

func kindOf(t string) fieldKind {
	switch {
	case strings.HasSuffix(t, " set"):
		return kSet
	case strings.HasSuffix(t, " map"):
		return kMap
	case strings.HasSuffix(t, " record"):
		return kOther
	case t == "int":
		return kInt
	case t == "bool":
		return kBool
	case t == "float":
		return kFloat
	case t == "datetime":
		return kDateTime
	}
	return kString
}

// defaultValue turns the datamodel's default (an OCaml-ish literal) into the Go value the
// store holds. Fields without a default get the zero value of their type, which is what a
// constructor-supplied field holds when the simulator does not set it.
func defaultValue(f fieldDef, d *string) any {
	s := ""
	if d != nil {
		s = *d
	}
	switch f.Kind {
	case kInt:
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	case kBool:
		return s == "true"
	case kFloat:
		v, _ := strconv.ParseFloat(strings.TrimSuffix(s, "."), 64)
		return v
	case kDateTime:
		return time.Unix(0, 0).UTC()
	case kSet:
		return []string{}
	case kMap:
		m := map[string]string{}
		// The only non-empty map default among the served classes is
		// {"address" -> "localhost", "port" -> "27000"} (host.license_server).
		if strings.HasPrefix(s, "{\"") {
			for _, kv := range strings.Split(strings.Trim(s, "{}"), ",") {
				parts := strings.SplitN(kv, "->", 2)
				if len(parts) == 2 {
					m[strings.Trim(strings.TrimSpace(parts[0]), `"`)] = strings.Trim(strings.TrimSpace(parts[1]), `"`)
				}
			}
		}
		return m
	case kOther:
		return nil
	}
	if strings.HasSuffix(f.Type, " ref") {
		if s == "" || s == "Null" || s == "None" {
			return NullRef
		}
		return s
	}
	if s == "None" {
		return ""
	}
	return strings.Trim(s, `"`)
}

// NullRef is xapi's null reference.
const NullRef = "OpaqueRef:NULL"

// lookupMessage resolves a wire method name (already stripped of "Async.") to its class and
// message, accepting both "<class>.<message>" and the alternative "<class>_<message>".
func lookupMessage(name string) (*classDef, *messageDef, bool) {
	if i := strings.IndexByte(name, '.'); i > 0 {
		c, ok := schema[name[:i]]
		if !ok {
			return nil, nil, false
		}
		m, ok := c.Messages[name[i+1:]]
		return c, m, ok
	}
	// Alternative spelling: try the longest class prefix first (VM_appliance before VM).
	best := -1
	var bc *classDef
	var bm *messageDef
	for i := 0; i < len(name); i++ {
		if name[i] != '_' {
			continue
		}
		if c, ok := schema[name[:i]]; ok {
			if m, ok := c.Messages[name[i+1:]]; ok && i > best {
				best, bc, bm = i, c, m
			}
		}
	}
	return bc, bm, best > 0
}
