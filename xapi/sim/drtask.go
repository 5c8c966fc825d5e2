package sim

import (
	"encoding/xml"
	"strings"
)

// This file is DR_task: create (probe, whitelist, introduce + PBD per host + plug, tag
// introduced_by) and destroy (unplug and forget only SRs still tagged with the task).

type probedSR struct {
	UUID, NameLabel, NameDescription string
}

// parseSRList is xapi's parse_sr_probe: UUID, name_label and name_description required,
// values trimmed.
func parseSRList(doc string) ([]probedSR, error) {
	var l struct {
		SRs []struct {
			UUID            *string `xml:"UUID"`
			NameLabel       *string `xml:"name_label"`
			NameDescription *string `xml:"name_description"`
		} `xml:"SR"`
	}
	if err := xml.Unmarshal([]byte(doc), &l); err != nil {
		return nil, err
	}
	var out []probedSR
	for _, s := range l.SRs {
		if s.UUID == nil || s.NameLabel == nil || s.NameDescription == nil {
			return nil, errNotFound
		}
		out = append(out, probedSR{strings.TrimSpace(*s.UUID), strings.TrimSpace(*s.NameLabel), strings.TrimSpace(*s.NameDescription)})
	}
	return out, nil
}

type notFoundErr struct{}

func (notFoundErr) Error() string { return "Not_found" }

var errNotFound = notFoundErr{}

func init() {
	register("DR_task.create", func(c *call) any {
		typ := strings.ToLower(c.str(1))
		dc := c.strMap(2)
		whitelist := c.strSet(3)
		if typ != "lvmoiscsi" && typ != "lvmohba" {
			c.fail("OPERATION_NOT_ALLOWED", "Disaster recovery not supported on SRs of type "+typ)
		}
		p := c.pool
		c.sleep(c.w.timing.Probe)
		l, f := c.w.probe(p, typ, dc)
		if f != nil {
			c.failWith(f)
		}
		srs, err := parseSRList(srList(l, true))
		if err != nil {
			c.fail("INTERNAL_ERROR", "SR probe response was malformed: "+err.Error())
		}
		wanted := map[string]bool{}
		for _, u := range whitelist {
			wanted[u] = true
		}
		task := c.w.newRef()
		p.db.Create("DR_task", task, map[string]any{"uuid": c.w.newUUID()})
		for _, s := range srs {
			if !wanted[s.UUID] || p.db.ByUUID("SR", s.UUID) != nil {
				// Already known: introduced by hand or by another DR task; not associated.
				continue
			}
			sr := c.w.newRef()
			p.db.Create("SR", sr, map[string]any{"uuid": s.UUID, "name_label": s.NameLabel, "name_description": s.NameDescription,
				"type": typ, "content_type": "", "shared": true, "sm_config": map[string]string{}, "other_config": map[string]string{},
				"introduced_by": NullRef, "physical_size": l.Size})
			hosts := append([]*Host{p.master}, nil...)
			for _, h := range p.hosts {
				if h != p.master {
					hosts = append(hosts, h)
				}
			}
			var pbds []string
			for _, h := range hosts {
				ref := c.w.newRef()
				p.db.Create("PBD", ref, map[string]any{"uuid": c.w.newUUID(), "host": h.ref, "SR": sr, "device_config": copyMap(dc),
					"other_config": map[string]string{}, "currently_attached": false})
				pbds = append(pbds, ref)
			}
			_, pf := run(c, func(c *call) any {
				for _, pbd := range pbds {
					c.plugPBD(pbd)
				}
				return nil
			})
			if pf != nil {
				// xapi unplugs, forgets the SR and re-raises; the DR_task itself stays.
				for _, pbd := range p.pbdsMasterLast(sr) {
					p.db.Set("PBD", pbd, "currently_attached", false)
				}
				c.forgetSR(sr)
				c.failWith(pf)
			}
			p.db.Set("SR", sr, "introduced_by", task)
		}
		return task
	})
	register("DR_task.destroy", func(c *call) any {
		t := c.obj(1, "DR_task")
		p := c.pool
		for _, sr := range t.Refs("introduced_SRs") {
			if p.db.Get("SR", sr) == nil {
				continue
			}
			for _, pbd := range p.pbdsMasterLast(sr) {
				c.unplugPBD(pbd)
			}
			c.forgetSR(sr)
		}
		p.db.Delete("DR_task", t.ref)
		return nil
	})
}
