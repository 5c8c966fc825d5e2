package xapi

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Parsers for the XML documents storage drivers print: the SR list of
// SR.probe with sm_config metadata=true, and the discovery payloads carried
// in ErrorDescription[3] of SR_BACKEND_FAILURE_96 / _107 (docs/xapi-dr.md, "Probing storage").
// Element names are matched case-insensitively and text is trimmed, as
// XenCenter and xapi do (the drivers pretty-print with tabs and newlines).

// SRListEntry is one <SR> of an <SRlist>.
type SRListEntry struct {
	UUID            string
	Devlist         string
	Size            int64
	NameLabel       string
	NameDescription string
	// PoolMetadataDetected is true when the SR holds a metadata VDI; only
	// reported when probing with sm_config metadata=true.
	PoolMetadataDetected bool
}

// ISCSITarget is one <TGT> of <iscsi-target-iqns> (discovery step 1).
type ISCSITarget struct {
	Index     int64
	IPAddress string
	Port      int64 // 3260 when the driver omitted it
	TargetIQN string
}

// ISCSILUN is one <LUN> of <iscsi-target> (discovery step 2).
type ISCSILUN struct {
	Vendor string
	Serial string
	LUNid  string // "" when the driver omitted it
	Size   int64
	SCSIid string
}

// BlockDevice is one <BlockDevice> of an lvmohba <Devlist>.
type BlockDevice struct {
	Path     string
	NumPaths int64
	SCSIid   string
	Vendor   string
	Serial   string
	Size     int64
	Adapter  string
	Channel  string
	ID       string
	LUN      string
	HBA      string
	// Extra holds child elements not listed above (lower-cased names).
	Extra map[string]string
}

// HBAAdapter is one <Adapter> of an lvmohba <Devlist>.
type HBAAdapter struct {
	Host         string
	Name         string
	Manufacturer string
	ID           string
	Extra        map[string]string
}

// Devlist is the device list of an lvmohba probe.
type Devlist struct {
	Devices  []BlockDevice
	Adapters []HBAAdapter
}

// DefaultISCSIPort is the port the iSCSI driver assumes when none is given.
const DefaultISCSIPort = 3260

// ParseSRList parses the <SRlist> document returned by SR.probe.
func ParseSRList(doc string) ([]SRListEntry, error) {
	root, err := parseTree(doc, "srlist")
	if err != nil {
		return nil, fmt.Errorf("parse SR list: %w", err)
	}
	out := []SRListEntry{}
	for _, sr := range root.children("sr") {
		e := SRListEntry{
			UUID:            sr.childText("uuid"),
			Devlist:         sr.childText("devlist"),
			NameLabel:       sr.childText("name_label"),
			NameDescription: sr.childText("name_description"),
		}
		if e.Size, err = parseOptInt(sr.childText("size")); err != nil {
			return nil, fmt.Errorf("parse SR list: SR %s size: %w", e.UUID, err)
		}
		e.PoolMetadataDetected = strings.EqualFold(sr.childText("pool_metadata_detected"), "true")
		if e.UUID == "" {
			return nil, errors.New("parse SR list: an <SR> has no <UUID>")
		}
		out = append(out, e)
	}
	return out, nil
}

// ParseISCSITargets parses the <iscsi-target-iqns> document of discovery step 1.
func ParseISCSITargets(doc string) ([]ISCSITarget, error) {
	root, err := parseTree(doc, "iscsi-target-iqns")
	if err != nil {
		return nil, fmt.Errorf("parse iSCSI target list: %w", err)
	}
	out := []ISCSITarget{}
	for _, t := range root.children("tgt") {
		e := ISCSITarget{IPAddress: t.childText("ipaddress"), TargetIQN: t.childText("targetiqn"), Port: DefaultISCSIPort}
		if e.Index, err = parseOptInt(t.childText("index")); err != nil {
			return nil, fmt.Errorf("parse iSCSI target list: index: %w", err)
		}
		if p := t.childText("port"); p != "" {
			if e.Port, err = parseOptInt(p); err != nil {
				return nil, fmt.Errorf("parse iSCSI target list: port: %w", err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// ParseISCSILUNs parses the <iscsi-target> document of discovery step 2.
func ParseISCSILUNs(doc string) ([]ISCSILUN, error) {
	root, err := parseTree(doc, "iscsi-target")
	if err != nil {
		return nil, fmt.Errorf("parse iSCSI LUN list: %w", err)
	}
	out := []ISCSILUN{}
	for _, l := range root.children("lun") {
		e := ISCSILUN{
			Vendor: l.childText("vendor"),
			Serial: l.childText("serial"),
			LUNid:  l.childText("lunid"),
			SCSIid: l.childText("scsiid"),
		}
		if e.Size, err = parseOptInt(l.childText("size")); err != nil {
			return nil, fmt.Errorf("parse iSCSI LUN list: size: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// ParseDevlist parses the <Devlist> document of an lvmohba probe.
func ParseDevlist(doc string) (*Devlist, error) {
	root, err := parseTree(doc, "devlist")
	if err != nil {
		return nil, fmt.Errorf("parse device list: %w", err)
	}
	out := &Devlist{Devices: []BlockDevice{}, Adapters: []HBAAdapter{}}
	for _, n := range root.kids {
		switch n.name {
		case "blockdevice":
			d := BlockDevice{}
			for _, c := range n.kids {
				v := strings.TrimSpace(c.text)
				switch c.name {
				case "path":
					d.Path = v
				case "numpaths":
					if d.NumPaths, err = parseOptInt(v); err != nil {
						return nil, fmt.Errorf("parse device list: numpaths: %w", err)
					}
				case "scsiid":
					d.SCSIid = v
				case "vendor":
					d.Vendor = v
				case "serial":
					d.Serial = v
				case "size":
					if d.Size, err = parseOptInt(v); err != nil {
						return nil, fmt.Errorf("parse device list: size: %w", err)
					}
				case "adapter":
					d.Adapter = v
				case "channel":
					d.Channel = v
				case "id":
					d.ID = v
				case "lun":
					d.LUN = v
				case "hba":
					d.HBA = v
				default:
					if d.Extra == nil {
						d.Extra = map[string]string{}
					}
					d.Extra[c.name] = v
				}
			}
			out.Devices = append(out.Devices, d)
		case "adapter":
			a := HBAAdapter{}
			for _, c := range n.kids {
				v := strings.TrimSpace(c.text)
				switch c.name {
				case "host":
					a.Host = v
				case "name":
					a.Name = v
				case "manufacturer":
					a.Manufacturer = v
				case "id":
					a.ID = v
				default:
					if a.Extra == nil {
						a.Extra = map[string]string{}
					}
					a.Extra[c.name] = v
				}
			}
			out.Adapters = append(out.Adapters, a)
		}
	}
	return out, nil
}

func parseOptInt(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", excerpt(s, 40))
	}
	return i, nil
}

// xnode is a minimal element tree: lower-cased names, raw text, children.
type xnode struct {
	name string
	text string
	kids []*xnode
}

func (n *xnode) children(name string) []*xnode {
	var out []*xnode
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
	}
	return out
}

func (n *xnode) childText(name string) string {
	for _, k := range n.kids {
		if k.name == name {
			return strings.TrimSpace(k.text)
		}
	}
	return ""
}

// parseTree parses doc and checks that its root element is root.
func parseTree(doc, root string) (*xnode, error) {
	dec := xml.NewDecoder(strings.NewReader(doc))
	dec.Strict = true
	var stack []*xnode
	var top *xnode
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				return nil, errors.New("XML nested too deeply")
			}
			n := &xnode{name: strings.ToLower(t.Name.Local)}
			if len(stack) == 0 {
				if top != nil {
					return nil, errors.New("more than one root element")
				}
				top = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, errors.New("unbalanced XML")
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if top == nil {
		return nil, errors.New("empty document")
	}
	if len(stack) != 0 {
		return nil, errors.New("truncated XML")
	}
	if top.name != root {
		return nil, fmt.Errorf("root element is <%s>, expected <%s>", top.name, root)
	}
	return top, nil
}
