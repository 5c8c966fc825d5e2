package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// This file models array snapshots (or clones) of a LUN, what arrays and SRM give a test
// failover: a new LUN of its own (own SCSIid, next LUN number on the same target or FC
// fabric) holding a copy of the source LUN's SR image as it is at that moment, metadata
// VDI included. It belongs to no mirror, so it is writable while the mirror of its source
// goes on replicating. A snapshot is named; taking one again under the same name returns
// it (so a retried request does not make two), and it cannot be deleted while an SR of a
// pool still sits on it.

// Snapshot is an array snapshot of a LUN.
type Snapshot struct {
	Name   string
	Source *LUN
	LUN    *LUN
	Taken  time.Time
	// Copies is the source mirror's copy count when it was taken: which
	// replicated state of the primary the snapshot holds.
	Copies int
	// DataAsOf is when the data it holds was current: for a snapshot of a
	// mirror's read-only end, the mirror's last copy before it was taken;
	// for any other LUN, Taken.
	DataAsOf time.Time
}

// SnapshotSpec is a snapshot taken when the world starts (scenario key snapshots).
type SnapshotSpec struct {
	Name   string `yaml:"name"`
	Source string `yaml:"source"`  // SCSIid of the LUN to snapshot
	SCSIid string `yaml:"scsi_id"` // optional: the snapshot LUN's SCSIid
}

// SnapshotState is a snapshot in the dump and the control API's answers.
type SnapshotState struct {
	Name   string    `json:"name"`
	Source string    `json:"source"`
	SCSIid string    `json:"scsi_id"`
	Kind   string    `json:"kind"`
	Site   string    `json:"site"`
	LUNid  int       `json:"lun"`
	Target string    `json:"target,omitempty"` // iSCSI: the target's address
	IQN    string    `json:"iqn,omitempty"`
	Port   int       `json:"port,omitempty"`
	SR     string    `json:"sr,omitempty"` // uuid of the SR image it holds
	Taken  time.Time `json:"taken"`
	// Mirror is the mirror of the source (if any) and its copy count when
	// the snapshot was taken.
	Mirror string `json:"mirror,omitempty"`
	Copies int    `json:"copies"`
	// DataAsOf is when the data it holds was current (Snapshot.DataAsOf).
	DataAsOf time.Time `json:"data_as_of"`
}

func (s *Snapshot) state() SnapshotState {
	st := SnapshotState{Name: s.Name, Source: s.Source.SCSIid, SCSIid: s.LUN.SCSIid, Kind: s.LUN.Kind, Site: s.LUN.Site.Name,
		LUNid: s.LUN.LUNid, Taken: s.Taken, Copies: s.Copies, DataAsOf: s.DataAsOf}
	if t := s.LUN.Target; t != nil {
		st.Target, st.IQN, st.Port = t.Address, t.IQN, t.Port
	}
	if s.LUN.Image != nil {
		st.SR = s.LUN.Image.UUID
	}
	if m := s.Source.mirror; m != nil {
		st.Mirror = m.Name
	}
	return st
}

func (f *Fabric) snapshot(name string) *Snapshot {
	for _, s := range f.snapshots {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// takeSnapshot makes the snapshot LUN; the caller holds w.mu and has refreshed storage.
func (w *World) takeSnapshot(name, sourceID, scsiID string) (*Snapshot, error) {
	if name == "" {
		return nil, fmt.Errorf("a snapshot needs a name")
	}
	src := w.fabric.lunBySCSIid(sourceID)
	if src == nil {
		return nil, &ErrNotFound{"LUN", sourceID}
	}
	if s := w.fabric.snapshot(name); s != nil {
		if s.Source != src || (scsiID != "" && scsiID != s.LUN.SCSIid) {
			return nil, fmt.Errorf("snapshot name %s is already used by LUN %s (a snapshot of %s); choose another name", name, s.LUN.SCSIid, s.Source.SCSIid)
		}
		return s, nil
	}
	if !src.Site.Up {
		return nil, fmt.Errorf("site %s is down: its array cannot take a snapshot of LUN %s", src.Site.Name, src.SCSIid)
	}
	if scsiID == "" {
		scsiID = w.fabric.newSCSIid(src.SCSIid)
	} else if w.fabric.lunBySCSIid(scsiID) != nil {
		return nil, fmt.Errorf("a LUN with SCSIid %s already exists", scsiID)
	}
	l := &LUN{Kind: src.Kind, Site: src.Site, Target: src.Target, SCSIid: scsiID, Size: src.Size, Vendor: src.Vendor,
		Serial: "snap-" + name, Image: src.Image.clone()}
	if len(l.Serial) > 20 {
		l.Serial = l.Serial[:20]
	}
	l.LUNid = w.fabric.nextLUNid(src)
	if l.Target != nil {
		l.Target.LUNs = append(l.Target.LUNs, l)
	}
	w.fabric.luns = append(w.fabric.luns, l)
	s := &Snapshot{Name: name, Source: src, LUN: l, Taken: time.Now()}
	s.DataAsOf = s.Taken
	if m := src.mirror; m != nil {
		s.Copies = m.Copies
		// The read-only end holds the source as of the last copy: a
		// replicating or split mirror's destination, a reversed one's source.
		if (m.State == MirrorReversed) == (src == m.Src) {
			s.DataAsOf = m.LastCopy
		}
	}
	w.fabric.snapshots = append(w.fabric.snapshots, s)
	return s, nil
}

// newSCSIid derives an unused SCSIid from the source's: same vendor prefix and length.
func (f *Fabric) newSCSIid(src string) string {
	keep := max(0, len(src)-8)
	for n := len(f.snapshots) + 1; ; n++ {
		id := fmt.Sprintf("%s%08x", src[:keep], 0x5a000000+n)
		if len(id) > len(src) {
			id = id[len(id)-len(src):]
		}
		if f.lunBySCSIid(id) == nil {
			return id
		}
	}
}

// nextLUNid is the next free LUN number on the source's target (iSCSI) or among its
// site's FC LUNs.
func (f *Fabric) nextLUNid(src *LUN) int {
	n := 0
	for _, l := range f.luns {
		same := l.Site == src.Site && l.Kind == src.Kind && l.Target == src.Target
		if same && l.LUNid >= n {
			n = l.LUNid + 1
		}
	}
	return n
}

// deleteSnapshot removes a snapshot LUN; the caller holds w.mu.
func (w *World) deleteSnapshot(name string) error {
	s := w.fabric.snapshot(name)
	if s == nil {
		return &ErrNotFound{"snapshot", name}
	}
	if !s.LUN.Site.Up {
		return fmt.Errorf("site %s is down: its array cannot delete snapshot %s", s.LUN.Site.Name, name)
	}
	for _, p := range w.pools {
		for _, sr := range p.db.All("SR") {
			if p.lunOfSR(sr.ref) == s.LUN {
				return fmt.Errorf("snapshot %s (LUN %s) is in use by SR %s of pool %s; forget the SR first", name, s.LUN.SCSIid, sr.S("name_label"), p.Name)
			}
		}
	}
	if t := s.LUN.Target; t != nil {
		t.LUNs = without(t.LUNs, s.LUN)
	}
	w.fabric.luns = without(w.fabric.luns, s.LUN)
	w.fabric.snapshots = without(w.fabric.snapshots, s)
	return nil
}

func without[T comparable](list []T, x T) []T {
	out := list[:0:0]
	for _, v := range list {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// TakeSnapshot takes an array snapshot of the LUN sourceSCSIid under name (scsiID: the
// new LUN's SCSIid, or "" for a derived one). The source's pools write their metadata
// and due mirror copies are made first, so the snapshot holds what the LUN holds now.
// Taking it again under the same name returns the existing snapshot.
func (ct *Control) TakeSnapshot(name, sourceSCSIid, scsiID string) (SnapshotState, error) {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refreshStorage()
	s, err := w.takeSnapshot(name, sourceSCSIid, scsiID)
	if err != nil {
		return SnapshotState{}, err
	}
	return s.state(), nil
}

// DeleteSnapshot deletes a snapshot LUN (ErrNotFound when there is none of that name).
func (ct *Control) DeleteSnapshot(name string) error {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deleteSnapshot(name)
}

// Snapshots lists the snapshots.
func (ct *Control) Snapshots() []SnapshotState {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.snapshotStates()
}

func (w *World) snapshotStates() []SnapshotState {
	out := []SnapshotState{}
	for _, s := range w.fabric.snapshots {
		out = append(out, s.state())
	}
	return out
}

// buildSnapshots takes the scenario's snapshots once the mirrors made their first copy.
func (w *World) buildSnapshots(specs []SnapshotSpec) error {
	for _, sp := range specs {
		if _, err := w.takeSnapshot(sp.Name, sp.Source, sp.SCSIid); err != nil {
			return fmt.Errorf("snapshot %s: %w", sp.Name, err)
		}
	}
	return nil
}

// validateSnapshots checks the scenario's snapshots against its LUNs.
func (sc *Scenario) validateSnapshots(bad func(msg string, path ...any) error) error {
	luns := map[string]bool{}
	for _, s := range sc.Sites {
		for _, t := range s.ISCSI {
			for _, l := range t.LUNs {
				luns[l.SCSIid] = true
			}
		}
		for _, l := range s.FC {
			luns[l.SCSIid] = true
		}
	}
	names := map[string]bool{}
	for i, sp := range sc.Snapshots {
		switch {
		case sp.Name == "":
			return bad("snapshot without a name", "snapshots", i)
		case names[sp.Name]:
			return bad(fmt.Sprintf("duplicate snapshot name %q", sp.Name), "snapshots", i, "name")
		case !luns[sp.Source]:
			return bad(fmt.Sprintf("snapshot %q: no LUN with scsi_id %q", sp.Name, sp.Source), "snapshots", i, "source")
		case sp.SCSIid != "" && luns[sp.SCSIid]:
			return bad(fmt.Sprintf("snapshot %q: scsi_id %s is already a LUN's", sp.Name, sp.SCSIid), "snapshots", i, "scsi_id")
		}
		names[sp.Name] = true
		if sp.SCSIid != "" {
			luns[sp.SCSIid] = true
		}
	}
	return nil
}

// snapshotRoutes adds the snapshot part of the control API.
func (ct *Control) snapshotRoutes(mux *http.ServeMux, ok func(http.ResponseWriter, any), fail func(http.ResponseWriter, error)) {
	mux.HandleFunc("GET /snapshots", func(rw http.ResponseWriter, r *http.Request) { ok(rw, ct.Snapshots()) })
	mux.HandleFunc("POST /luns/{scsi_id}/snapshots", func(rw http.ResponseWriter, r *http.Request) {
		var body struct {
			Name   string `json:"name"`
			SCSIid string `json:"scsi_id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || strings.TrimSpace(body.Name) == "" {
			fail(rw, fmt.Errorf(`snapshot: send {"name": "...", "scsi_id": "(optional)"}`))
			return
		}
		st, err := ct.TakeSnapshot(body.Name, r.PathValue("scsi_id"), body.SCSIid)
		if err != nil {
			fail(rw, err)
			return
		}
		ok(rw, st)
	})
	mux.HandleFunc("DELETE /snapshots/{name}", func(rw http.ResponseWriter, r *http.Request) {
		if err := ct.DeleteSnapshot(r.PathValue("name")); err != nil {
			fail(rw, err)
			return
		}
		ok(rw, map[string]string{"status": "ok"})
	})
}
