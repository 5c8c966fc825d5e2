// Command schemagen trims the XAPI datamodel (xenapi.json, as published by xen-api's
// datamodel generator) down to the classes the simulator serves, so that the simulator
// can render full records (every field, with its type and default) without carrying the
// 1.4 MB datamodel around.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
)

// served lists the classes whose records and messages the simulator knows about.
var served = []string{"session", "pool", "host", "SR", "PBD", "VDI", "VBD", "VIF", "network",
	"VM", "VM_appliance", "DR_task", "task", "event"}

type inField struct {
	Name      string  `json:"name"`
	Type      string  `json:"type"`
	Default   *string `json:"default"`
	Qualifier string  `json:"qualifier"`
}

type inParam struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

type inMessage struct {
	Name     string    `json:"name"`
	Result   []string  `json:"result"`
	Params   []inParam `json:"params"`
	Roles    []string  `json:"roles"`
	Implicit bool      `json:"implicit"`
}

type inClass struct {
	Name     string      `json:"name"`
	Fields   []inField   `json:"fields"`
	Messages []inMessage `json:"messages"`
}

type outField struct {
	Name    string  `json:"n"`
	Type    string  `json:"t"`
	Default *string `json:"d,omitempty"`
}

type outMessage struct {
	Name   string   `json:"n"`
	Params []string `json:"p"`
	Names  []string `json:"pn"`
	Result string   `json:"r"`
	Roles  []string `json:"roles"`
	// Explicit marks a message declared in the datamodel, not generated
	// for a field: xapi gives those an Async form (datamodel_common.ml's
	// call defaults its flags to Session and Async), and a task even when
	// called synchronously.
	Explicit bool `json:"x,omitempty"`
}

type outClass struct {
	Name     string       `json:"name"`
	Fields   []outField   `json:"fields"`
	Messages []outMessage `json:"messages"`
}

func main() {
	in := flag.String("in", "xenapi.json", "datamodel JSON")
	out := flag.String("out", "schema.json", "trimmed schema to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("read datamodel: %w", err)
	}
	var classes []inClass
	if err := json.Unmarshal(data, &classes); err != nil {
		return fmt.Errorf("parse datamodel %s: %w", in, err)
	}
	want := map[string]bool{}
	for _, c := range served {
		want[c] = true
	}
	var res []outClass
	for _, c := range classes {
		if !want[c.Name] {
			continue
		}
		oc := outClass{Name: c.Name}
		for _, f := range c.Fields {
			oc.Fields = append(oc.Fields, outField{Name: f.Name, Type: f.Type, Default: f.Default})
		}
		for _, m := range c.Messages {
			om := outMessage{Name: m.Name, Roles: m.Roles, Explicit: !m.Implicit}
			if len(m.Result) > 0 {
				om.Result = m.Result[0]
			}
			for _, p := range m.Params {
				om.Params = append(om.Params, p.Type)
				om.Names = append(om.Names, p.Name)
			}
			oc.Messages = append(oc.Messages, om)
		}
		sort.Slice(oc.Messages, func(i, j int) bool { return oc.Messages[i].Name < oc.Messages[j].Name })
		res = append(res, oc)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode schema: %w", err)
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}
