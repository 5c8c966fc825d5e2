package sim

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// This file is what the lvmoiscsi / lvmohba SM drivers answer to SR.probe: the discovery
// ladder errors with their XML payloads, and the SRlist, all pretty-printed the way
// Python's minidom toprettyxml() does (tabs, one element per line, text inline).

type xnode struct {
	name     string
	text     string
	children []*xnode
}

func xel(name string, children ...*xnode) *xnode { return &xnode{name: name, children: children} }
func xtext(name, text string) *xnode             { return &xnode{name: name, text: text} }

// minidom renders a document like minidom's toprettyxml(indent="\t", newl="\n").
func minidom(root *xnode) string {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" ?>\n")
	var write func(n *xnode, depth int)
	write = func(n *xnode, depth int) {
		ind := strings.Repeat("\t", depth)
		switch {
		case len(n.children) == 0 && n.text == "":
			fmt.Fprintf(&b, "%s<%s/>\n", ind, n.name)
		case len(n.children) == 0:
			fmt.Fprintf(&b, "%s<%s>", ind, n.name)
			minidomEscape(&b, n.text)
			fmt.Fprintf(&b, "</%s>\n", n.name)
		default:
			fmt.Fprintf(&b, "%s<%s>\n", ind, n.name)
			for _, c := range n.children {
				write(c, depth+1)
			}
			fmt.Fprintf(&b, "%s</%s>\n", ind, n.name)
		}
	}
	write(root, 0)
	return b.String()
}

func minidomEscape(b *bytes.Buffer, s string) {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", "\"", "&quot;", ">", "&gt;")
	b.WriteString(r.Replace(s))
}

// SM error reasons (XE_SR_ERRORCODES.xml).
const (
	reasonTargetMissing = "The request is missing the target parameter"
	reasonIQNMissing    = "The request is missing the targetIQN parameter"
	reasonSCSIid        = "The SCSIid parameter is missing or incorrect"
	reasonDNS           = "Incorrect DNS name, unable to resolve."
	reasonISCSITarget   = "Unable to connect to ISCSI service on target"
	reasonISCSILogin    = "ISCSI login failed, verify CHAP credentials"
	reasonUnavailable   = "The SR is not available"
)

// probeISCSI walks the lvmoiscsi discovery ladder and returns the LUN on success.
func (w *World) probeISCSI(p *Pool, dc map[string]string) (*LUN, *Failure) {
	addr := firstTarget(dc["target"])
	if addr == "" {
		return nil, backendFailure(95, reasonTargetMissing, "")
	}
	ts := w.fabric.targetsAt(addr)
	if len(ts) == 0 {
		return nil, backendFailure(140, reasonDNS, "")
	}
	port := 3260
	if s := dc["port"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, backendFailure(141, reasonISCSITarget, "")
		}
		port = n
	}
	var reachable []*Target
	for _, t := range ts {
		if t.Site.Up && t.Port == port {
			reachable = append(reachable, t)
		}
	}
	if len(reachable) == 0 {
		return nil, backendFailure(141, reasonISCSITarget, "")
	}
	for _, t := range reachable {
		if t.CHAPUser != "" && (dc["chapuser"] != t.CHAPUser || dc["chappassword"] != t.CHAPPassword) {
			return nil, backendFailure(68, reasonISCSILogin, "")
		}
	}
	iqn := dc["targetIQN"]
	if iqn == "" {
		var tgts []*xnode
		for i, t := range reachable {
			ip := t.IP
			if ip == "" {
				ip = t.Address
			}
			tgt := xel("TGT", xtext("Index", strconv.Itoa(i)), xtext("IPAddress", ip))
			if t.Port != 3260 {
				tgt.children = append(tgt.children, xtext("Port", strconv.Itoa(t.Port)))
			}
			tgt.children = append(tgt.children, xtext("TargetIQN", t.IQN))
			tgts = append(tgts, tgt)
		}
		return nil, backendFailure(96, reasonIQNMissing, minidom(xel("iscsi-target-iqns", tgts...)))
	}
	var matched []*Target
	for _, t := range reachable {
		if iqn == "*" || iqn == t.IQN {
			matched = append(matched, t)
		}
	}
	if len(matched) == 0 {
		return nil, backendFailure(68, reasonISCSILogin, "")
	}
	id := dc["SCSIid"]
	for _, t := range matched {
		for _, l := range t.LUNs {
			if id != "" && l.SCSIid == id {
				return l, nil
			}
		}
	}
	var luns []*xnode
	for _, t := range matched {
		for _, l := range t.LUNs {
			n := xel("LUN")
			add := func(k, v string) {
				if v != "" {
					n.children = append(n.children, xtext(k, v))
				}
			}
			add("vendor", l.Vendor)
			add("serial", l.Serial)
			add("LUNid", strconv.Itoa(l.LUNid))
			add("size", strconv.FormatInt(l.Size, 10))
			add("SCSIid", l.SCSIid)
			luns = append(luns, n)
		}
	}
	return nil, backendFailure(107, reasonSCSIid, minidom(xel("iscsi-target", luns...)))
}

// probeHBA resolves an lvmohba device_config, or fails with the device list.
func (w *World) probeHBA(p *Pool, dc map[string]string) (*LUN, *Failure) {
	id := dc["SCSIid"]
	if id != "" {
		if l := w.fabric.lunBySCSIid(id); l != nil && l.Kind == "fc" && l.Site == p.Site {
			return l, nil
		}
	}
	used := map[string]bool{}
	for _, pbd := range p.db.All("PBD") {
		if s := pbd.Map("device_config")["SCSIid"]; s != "" {
			used[s] = true
		}
	}
	var devs []*xnode
	n := 0
	for _, l := range w.fabric.luns {
		if l.Kind != "fc" || l.Site != p.Site || used[l.SCSIid] {
			continue
		}
		a, b := 'c'+rune(2*n), 'c'+rune(2*n+1)
		devs = append(devs, xel("BlockDevice",
			xtext("path", fmt.Sprintf("/dev/sd%c [sd%c]", a, b)), xtext("numpaths", "2"), xtext("SCSIid", l.SCSIid),
			xtext("vendor", l.Vendor), xtext("serial", l.Serial), xtext("size", strconv.FormatInt(l.Size, 10)),
			xtext("adapter", "2"), xtext("channel", "0"), xtext("id", "0"), xtext("lun", strconv.Itoa(l.LUNid)), xtext("hba", "qla2xxx")))
		n++
	}
	devs = append(devs, xel("Adapter", xtext("host", "host2"), xtext("name", "qla2xxx"), xtext("manufacturer", "QLogic HBA Driver"), xtext("id", "2")))
	return nil, backendFailure(107, reasonSCSIid, minidom(xel("Devlist", devs...)))
}

// srList renders the probe result for a LUN.
func srList(l *LUN, metadata bool) string {
	root := xel("SRlist")
	if img := l.Image; img != nil {
		sr := xel("SR", xtext("UUID", img.UUID), xtext("Devlist", "/dev/disk/by-id/scsi-"+l.SCSIid), xtext("size", strconv.FormatInt(l.Size, 10)))
		if metadata {
			sr.children = append(sr.children, xtext("name_label", img.NameLabel), xtext("name_description", img.NameDescription),
				xtext("pool_metadata_detected", strconv.FormatBool(img.hasMetadata())))
		}
		root.children = append(root.children, sr)
	}
	return minidom(root)
}

// probe runs SR.probe's storage side for both DR-capable types.
func (w *World) probe(p *Pool, typ string, dc map[string]string) (*LUN, *Failure) {
	w.refreshStorage()
	switch typ {
	case "lvmoiscsi":
		return w.probeISCSI(p, dc)
	case "lvmohba":
		return w.probeHBA(p, dc)
	}
	return nil, failure("SR_UNKNOWN_DRIVER", typ)
}

func init() {
	register("SR.probe", func(c *call) any {
		c.obj(1, "host")
		dc := c.strMap(2)
		typ := strings.ToLower(c.str(3))
		meta := false
		if len(c.params) > 4 {
			meta = c.strMap(4)["metadata"] == "true"
		}
		c.sleep(c.w.timing.Probe)
		l, f := c.w.probe(c.pool, typ, dc)
		if f != nil {
			c.failWith(f)
		}
		return srList(l, meta)
	})
	register("SR.probe_ext", func(c *call) any {
		c.obj(1, "host")
		typ := strings.ToLower(c.str(3))
		if typ == "lvmoiscsi" || typ == "lvmohba" {
			c.fail("SR_OPERATION_NOT_SUPPORTED")
		}
		c.fail("SR_UNKNOWN_DRIVER", typ)
		return nil
	})
}
