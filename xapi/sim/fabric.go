package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// This file is the storage fabric shared by all pools: iSCSI targets and FC LUNs, each LUN
// holding an SR image (what the SM driver would read from the disk), and mirror links that
// copy images between LUNs.

// Fabric is every storage array of every site.
type Fabric struct {
	targets []*Target
	luns    []*LUN
	mirrors []*Mirror
	// snapshots are array snapshots of LUNs (snapshot.go).
	snapshots []*Snapshot
}

// Target is an iSCSI target portal with one IQN.
type Target struct {
	Name                   string
	Site                   *Site
	Address                string // host name, resolvable by every pool
	IP                     string // what discovery reports
	Port                   int
	IQN                    string
	CHAPUser, CHAPPassword string
	Vendor                 string
	LUNs                   []*LUN
}

// LUN is a block device holding (at most) one SR image.
type LUN struct {
	Kind   string // "iscsi" or "fc"
	Site   *Site
	Target *Target // iSCSI only
	LUNid  int
	SCSIid string
	Size   int64
	Vendor string
	Serial string
	Image  *SRImage
	// mirror is the link this LUN belongs to (nil when not mirrored).
	mirror *Mirror
}

// readOnly reports whether the LUN is the destination of an active mirror.
func (l *LUN) readOnly() (bool, string) {
	m := l.mirror
	if m == nil {
		return false, ""
	}
	switch {
	case m.State == MirrorReplicating && m.Dst == l:
		return true, fmt.Sprintf("LUN %s is the read-only destination of mirror %s (state %s); split or promote the mirror first", l.SCSIid, m.Name, m.State)
	case m.State == MirrorReversed && m.Src == l:
		return true, fmt.Sprintf("LUN %s is the read-only destination of reversed mirror %s; split the mirror first", l.SCSIid, m.Name)
	}
	return false, ""
}

// SRImage is the on-disk content of an SR: its MGT volume (identity) and its VDIs.
type SRImage struct {
	UUID, NameLabel, NameDescription, Type string
	VDIs                                   map[string]*ImageVDI // by VDI uuid
}

// ImageVDI is a VDI as the SR's on-disk metadata describes it.
type ImageVDI struct {
	UUID, NameLabel, NameDescription, Location, Type string
	VirtualSize                                      int64
	SMConfig                                         map[string]string
	// MetadataOfPool is the ref (in its own database) of the pool whose database this
	// metadata VDI holds; Content is that database as last written.
	MetadataOfPool string
	Content        *DB
	ContentPool    string // uuid of the pool in Content
}

func (img *SRImage) clone() *SRImage {
	if img == nil {
		return nil
	}
	n := *img
	n.VDIs = make(map[string]*ImageVDI, len(img.VDIs))
	for k, v := range img.VDIs {
		c := *v
		c.SMConfig = copyMap(v.SMConfig)
		n.VDIs[k] = &c
	}
	return &n
}

func (img *SRImage) hasMetadata() bool {
	for _, v := range img.VDIs {
		if v.Type == "metadata" {
			return true
		}
	}
	return false
}

// Mirror states.
const (
	MirrorReplicating = "replicating"
	MirrorSplit       = "split"
	MirrorReversed    = "reversed"
)

// Mirror copies the source LUN's image to the destination (or back, when reversed).
type Mirror struct {
	Name     string
	Src, Dst *LUN
	State    string
	Lag      time.Duration
	LastCopy time.Time
	Copies   int
}

func newFabric() *Fabric { return &Fabric{} }

func (f *Fabric) lunBySCSIid(id string) *LUN {
	for _, l := range f.luns {
		if l.SCSIid == id {
			return l
		}
	}
	return nil
}

// targetsAt resolves an iSCSI "target" device_config value (host name or IP).
func (f *Fabric) targetsAt(addr string) []*Target {
	var out []*Target
	for _, t := range f.targets {
		if strings.EqualFold(t.Address, addr) || (t.IP != "" && t.IP == addr) {
			out = append(out, t)
		}
	}
	return out
}

func (f *Fabric) mirror(name string) *Mirror {
	for _, m := range f.mirrors {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// from/to are the current copy direction of a mirror.
func (m *Mirror) from() *LUN {
	if m.State == MirrorReversed {
		return m.Dst
	}
	return m.Src
}

func (m *Mirror) to() *LUN {
	if m.State == MirrorReversed {
		return m.Src
	}
	return m.Dst
}

// copyNow copies the image along the mirror if both ends' sites are up.
func (w *World) copyMirror(m *Mirror) bool {
	if m.State == MirrorSplit {
		return false
	}
	src, dst := m.from(), m.to()
	if !src.Site.Up || !dst.Site.Up {
		return false
	}
	dst.Image = src.Image.clone()
	m.LastCopy = time.Now()
	m.Copies++
	return true
}

// refreshStorage brings the LUN images up to date before anyone looks at storage: pools
// write their dirty databases to their metadata VDIs, then mirrors whose lag has elapsed
// copy. Lag 0 means a synchronous mirror; at speed 0 a non-zero lag means "only on sync".
func (w *World) refreshStorage() {
	w.flushMetadata()
	now := time.Now()
	for _, m := range w.fabric.mirrors {
		if m.State == MirrorSplit {
			continue
		}
		switch {
		case m.Lag == 0:
			w.copyMirror(m)
		case w.speed > 0 && now.Sub(m.LastCopy) >= w.scaled(m.Lag):
			w.copyMirror(m)
		}
	}
}

// flushMetadata writes each pool's database to the metadata VDIs it replicates to, when
// it changed since the last write and the pool's site is up and the LUN writable.
func (w *World) flushMetadata() {
	for _, p := range w.pools {
		if !p.metaDirty || !p.Site.Up || len(p.redoLogs) == 0 {
			continue
		}
		p.metaDirty = false
		var snap *DB
		for _, vref := range sortedKeysBool(p.redoLogs) {
			vdi := p.db.Get("VDI", vref)
			if vdi == nil {
				continue
			}
			if !p.srAttachedOn(vdi.S("SR"), p.master) {
				continue
			}
			lun := p.lunOfSR(vdi.S("SR"))
			if lun == nil || lun.Image == nil || !lun.Site.Up {
				continue
			}
			if ro, _ := lun.readOnly(); ro {
				continue
			}
			iv := lun.Image.VDIs[vdi.S("uuid")]
			if iv == nil {
				continue
			}
			if snap == nil {
				snap = p.db.snapshot()
			}
			iv.Content = snap
			iv.ContentPool = p.uuid
			iv.MetadataOfPool = p.ref
		}
	}
}

func sortedKeysBool(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lunOfSR finds the LUN an SR of this pool is attached to, from its PBDs' device_config.
func (p *Pool) lunOfSR(srRef string) *LUN {
	sr := p.db.Get("SR", srRef)
	if sr == nil {
		return nil
	}
	for _, pbd := range sr.Refs("PBDs") {
		o := p.db.Get("PBD", pbd)
		if o == nil {
			continue
		}
		if l, _ := p.w.resolveLUN(p, sr.S("type"), o.Map("device_config")); l != nil {
			return l
		}
	}
	return nil
}

// resolveLUN maps a device_config to a LUN as the SM driver would find it from this pool.
func (w *World) resolveLUN(p *Pool, typ string, dc map[string]string) (*LUN, *Failure) {
	switch typ {
	case "lvmoiscsi":
		ts := w.fabric.targetsAt(firstTarget(dc["target"]))
		for _, t := range ts {
			if dc["targetIQN"] != "" && dc["targetIQN"] != "*" && dc["targetIQN"] != t.IQN {
				continue
			}
			for _, l := range t.LUNs {
				if l.SCSIid == dc["SCSIid"] {
					return l, nil
				}
			}
		}
	case "lvmohba":
		if l := w.fabric.lunBySCSIid(dc["SCSIid"]); l != nil && l.Kind == "fc" && l.Site == p.Site {
			return l, nil
		}
	}
	return nil, backendFailure(107, "The SCSIid parameter is missing or incorrect", "")
}

func firstTarget(s string) string {
	if i := strings.IndexByte(s, ','); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return strings.TrimSpace(s)
}

// backendFailure is an SM error as xapi reports it: ["SR_BACKEND_FAILURE_<n>", "", reason, stderr].
func backendFailure(n int, reason, stderr string) *Failure {
	return failure(fmt.Sprintf("SR_BACKEND_FAILURE_%d", n), "", reason, stderr)
}
