package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Control drives the world from outside XAPI: disasters, mirrors, faults, sessions,
// speed, and a state dump. Every action is also exposed as JSON over HTTP (handler).
type Control struct{ w *World }

// ErrNotFound is returned for unknown sites, pools, mirrors, hosts or fault ids.
type ErrNotFound struct{ What, Name string }

func (e *ErrNotFound) Error() string { return fmt.Sprintf("no %s named %q", e.What, e.Name) }

func (ct *Control) site(name string) (*Site, error) {
	for _, s := range ct.w.sites {
		if strings.EqualFold(s.Name, name) {
			return s, nil
		}
	}
	return nil, &ErrNotFound{"site", name}
}

// SiteDown takes a site down: its hosts stop listening (connection refused), its arrays
// stop answering and mirrors from it stop copying. Pool state is frozen as it was.
func (ct *Control) SiteDown(name string) error {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := ct.site(name)
	if err != nil {
		return err
	}
	if !s.Up {
		return nil
	}
	w.refreshStorage()
	s.Up = false
	for _, p := range s.Pools {
		for _, h := range p.hosts {
			h.stop()
		}
	}
	return nil
}

// SiteUp brings a site back. Like hosts rebooting after a power loss, every session is
// lost and, unless keepPowerState, every VM of its pools is Halted.
func (ct *Control) SiteUp(name string, keepPowerState bool) error {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := ct.site(name)
	if err != nil {
		return err
	}
	if s.Up {
		return nil
	}
	s.Up = true
	for _, p := range s.Pools {
		p.sessions = map[string]*Session{}
		if !keepPowerState {
			for _, vm := range p.db.All("VM") {
				if vm.B("is_control_domain") || vm.S("power_state") == "Halted" {
					continue
				}
				p.setPower(vm.ref, "Halted", nil)
			}
		}
		for _, h := range p.hosts {
			if err := h.relisten(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (ct *Control) mirror(name string) (*Mirror, error) {
	if m := ct.w.fabric.mirror(name); m != nil {
		return m, nil
	}
	return nil, &ErrNotFound{"mirror", name}
}

// SplitMirror stops replication and makes the destination writable (promote).
func (ct *Control) SplitMirror(name string) error {
	return ct.mirrorState(name, MirrorSplit)
}

// ReverseMirror replicates destination → source (failback); the source becomes read-only
// and is overwritten with the destination's image right away.
func (ct *Control) ReverseMirror(name string) error {
	return ct.mirrorState(name, MirrorReversed)
}

// ResumeMirror replicates source → destination again; the destination is overwritten.
func (ct *Control) ResumeMirror(name string) error {
	return ct.mirrorState(name, MirrorReplicating)
}

func (ct *Control) mirrorState(name, state string) error {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	m, err := ct.mirror(name)
	if err != nil {
		return err
	}
	w.refreshStorage()
	m.State = state
	w.copyMirror(m)
	return nil
}

// SyncMirror copies the current image along the mirror now (metadata flushed first).
func (ct *Control) SyncMirror(name string) error {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	m, err := ct.mirror(name)
	if err != nil {
		return err
	}
	w.flushMetadata()
	if m.State == MirrorSplit {
		return fmt.Errorf("mirror %s is split: nothing to sync", name)
	}
	if !w.copyMirror(m) {
		return fmt.Errorf("mirror %s: a site is down, cannot copy", name)
	}
	return nil
}

// SyncAll syncs every mirror that is not split and whose sites are up.
func (ct *Control) SyncAll() {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushMetadata()
	for _, m := range w.fabric.mirrors {
		w.copyMirror(m)
	}
}

// AddFault installs a fault rule and returns its id.
func (ct *Control) AddFault(f Fault) int { return ct.w.faults.Add(f) }

// RemoveFault removes one rule.
func (ct *Control) RemoveFault(id int) error {
	if !ct.w.faults.Remove(id) {
		return &ErrNotFound{"fault", strconv.Itoa(id)}
	}
	return nil
}

// ClearFaults removes every rule.
func (ct *Control) ClearFaults() { ct.w.faults.Clear() }

// Faults lists the rules.
func (ct *Control) Faults() []Fault { return ct.w.faults.List() }

// ExpireSessions invalidates the sessions of a pool (of one user when user != "").
func (ct *Control) ExpireSessions(pool, user string) (int, error) {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pool(pool)
	if p == nil {
		return 0, &ErrNotFound{"pool", pool}
	}
	n := 0
	for ref, s := range p.sessions {
		if user == "" || s.User == user {
			delete(p.sessions, ref)
			n++
		}
	}
	return n, nil
}

// MoveMaster makes another host the pool master (HOST_IS_SLAVE from the old one).
// Foreign databases are lost, like any in-memory state of the old master.
func (ct *Control) MoveMaster(pool, host string) error {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pool(pool)
	if p == nil {
		return &ErrNotFound{"pool", pool}
	}
	for _, h := range p.hosts {
		if h.Name == host {
			p.master = h
			p.db.Set("pool", p.ref, "master", h.ref)
			for ref, s := range p.sessions {
				if s.db != nil {
					delete(p.sessions, ref)
				}
			}
			return nil
		}
	}
	return &ErrNotFound{"host", host}
}

// SetSpeed changes the speed factor.
func (ct *Control) SetSpeed(speed float64) {
	ct.w.mu.Lock()
	ct.w.speed = speed
	ct.w.mu.Unlock()
}

// State is the state dump.
type State struct {
	Speed   float64       `json:"speed"`
	Sites   []SiteState   `json:"sites"`
	Pools   []PoolState   `json:"pools"`
	Mirrors []MirrorState `json:"mirrors"`
	LUNs    []LUNState    `json:"luns"`
	// Snapshots are the arrays' snapshots of LUNs (snapshot.go).
	Snapshots []SnapshotState `json:"snapshots"`
}

// SiteState is a site in the dump.
type SiteState struct {
	Name string `json:"name"`
	Up   bool   `json:"up"`
}

// PoolState is a pool in the dump.
type PoolState struct {
	Name       string      `json:"name"`
	UUID       string      `json:"uuid"`
	Site       string      `json:"site"`
	URL        string      `json:"url"`
	TLSURL     string      `json:"tls_url,omitempty"` // with Options.TLS
	Master     string      `json:"master"`
	Hosts      []HostState `json:"hosts"`
	Generation int64       `json:"generation"`
	Sessions   int         `json:"sessions"`
	VMs        []VMState   `json:"vms"`
	VApps      []VAppState `json:"vapps"`
	SRs        []SRState   `json:"srs"`
	Networks   []string    `json:"networks"`
	DRTasks    []DRState   `json:"dr_tasks"`
}

// HostState is a host in the dump.
type HostState struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	TLSURL  string `json:"tls_url,omitempty"`
	Address string `json:"address"` // host.address
}

// VMState is a VM in the dump.
type VMState struct {
	Name       string `json:"name"`
	UUID       string `json:"uuid"`
	PowerState string `json:"power_state"`
	VApp       string `json:"vapp,omitempty"`
	Version    int64  `json:"version"`
	Host       string `json:"host,omitempty"`
}

// VAppState is a vApp in the dump.
type VAppState struct {
	Name string   `json:"name"`
	UUID string   `json:"uuid"`
	VMs  []string `json:"vms"`
}

// SRState is an SR in the dump.
type SRState struct {
	Name         string   `json:"name"`
	UUID         string   `json:"uuid"`
	Type         string   `json:"type"`
	Shared       bool     `json:"shared"`
	Attached     bool     `json:"attached"`
	IntroducedBy string   `json:"introduced_by,omitempty"`
	LUN          string   `json:"lun,omitempty"`
	MetadataVDIs []string `json:"metadata_vdis,omitempty"`
}

// DRState is a DR task in the dump.
type DRState struct {
	Ref           string   `json:"ref"`
	UUID          string   `json:"uuid"`
	IntroducedSRs []string `json:"introduced_srs"`
}

// MirrorState is a mirror in the dump.
type MirrorState struct {
	Name        string    `json:"name"`
	Source      string    `json:"source"`
	Destination string    `json:"destination"`
	State       string    `json:"state"`
	Lag         string    `json:"lag"`
	LastCopy    time.Time `json:"last_copy"`
	Copies      int       `json:"copies"`
}

// LUNState is a LUN in the dump.
type LUNState struct {
	SCSIid   string `json:"scsi_id"`
	Kind     string `json:"kind"`
	Site     string `json:"site"`
	SR       string `json:"sr,omitempty"`
	SRName   string `json:"sr_name,omitempty"`
	ReadOnly bool   `json:"read_only"`
	VDIs     int    `json:"vdis"`
	Metadata []struct {
		VDI        string `json:"vdi"`
		Pool       string `json:"pool"`
		Generation int64  `json:"generation"`
	} `json:"metadata,omitempty"`
}

// State dumps the world (metadata flushed and mirrors refreshed first).
func (ct *Control) State() State {
	w := ct.w
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refreshStorage()
	st := State{Speed: w.speed}
	for _, s := range w.sites {
		st.Sites = append(st.Sites, SiteState{Name: s.Name, Up: s.Up})
	}
	for _, p := range w.pools {
		ps := PoolState{Name: p.Name, UUID: p.uuid, Site: p.Site.Name, URL: p.master.URL(), TLSURL: p.master.TLSURL(), Master: p.master.Name, Generation: p.db.gen, Sessions: len(p.sessions)}
		for _, h := range p.hosts {
			ps.Hosts = append(ps.Hosts, HostState{Name: h.Name, URL: h.URL(), TLSURL: h.TLSURL(), Address: h.Address()})
		}
		for _, vm := range p.db.All("VM") {
			if vm.B("is_control_domain") || vm.B("is_a_template") || vm.B("is_a_snapshot") {
				continue
			}
			vs := VMState{Name: vm.S("name_label"), UUID: vm.S("uuid"), PowerState: vm.S("power_state"), Version: vm.I("version")}
			if a := p.db.Get("VM_appliance", vm.S("appliance")); a != nil {
				vs.VApp = a.S("name_label")
			}
			if h := p.db.Get("host", vm.S("resident_on")); h != nil {
				vs.Host = h.S("name_label")
			}
			ps.VMs = append(ps.VMs, vs)
		}
		for _, a := range p.db.All("VM_appliance") {
			as := VAppState{Name: a.S("name_label"), UUID: a.S("uuid"), VMs: []string{}}
			for _, v := range a.Refs("VMs") {
				if o := p.db.Get("VM", v); o != nil {
					as.VMs = append(as.VMs, o.S("name_label"))
				}
			}
			ps.VApps = append(ps.VApps, as)
		}
		for _, sr := range p.db.All("SR") {
			ss := SRState{Name: sr.S("name_label"), UUID: sr.S("uuid"), Type: sr.S("type"), Shared: sr.B("shared"), Attached: p.srAttachedOn(sr.ref, nil)}
			if sr.S("introduced_by") != NullRef {
				ss.IntroducedBy = sr.S("introduced_by")
			}
			if l := p.lunOfSR(sr.ref); l != nil {
				ss.LUN = l.SCSIid
			}
			for _, v := range sr.Refs("VDIs") {
				if o := p.db.Get("VDI", v); o != nil && o.S("type") == "metadata" {
					ss.MetadataVDIs = append(ss.MetadataVDIs, o.S("uuid"))
				}
			}
			ps.SRs = append(ps.SRs, ss)
		}
		for _, n := range p.db.All("network") {
			ps.Networks = append(ps.Networks, n.S("name_label"))
		}
		for _, t := range p.db.All("DR_task") {
			ps.DRTasks = append(ps.DRTasks, DRState{Ref: t.ref, UUID: t.S("uuid"), IntroducedSRs: t.Refs("introduced_SRs")})
		}
		st.Pools = append(st.Pools, ps)
	}
	for _, m := range w.fabric.mirrors {
		st.Mirrors = append(st.Mirrors, MirrorState{Name: m.Name, Source: m.Src.SCSIid, Destination: m.Dst.SCSIid, State: m.State,
			Lag: m.Lag.String(), LastCopy: m.LastCopy, Copies: m.Copies})
	}
	for _, l := range w.fabric.luns {
		ro, _ := l.readOnly()
		ls := LUNState{SCSIid: l.SCSIid, Kind: l.Kind, Site: l.Site.Name, ReadOnly: ro}
		if l.Image != nil {
			ls.SR, ls.SRName, ls.VDIs = l.Image.UUID, l.Image.NameLabel, len(l.Image.VDIs)
			for _, u := range sortedImageVDIs(l.Image) {
				iv := l.Image.VDIs[u]
				if iv.Type == "metadata" && iv.Content != nil {
					ls.Metadata = append(ls.Metadata, struct {
						VDI        string `json:"vdi"`
						Pool       string `json:"pool"`
						Generation int64  `json:"generation"`
					}{u, iv.ContentPool, iv.Content.gen})
				}
			}
		}
		st.LUNs = append(st.LUNs, ls)
	}
	st.Snapshots = w.snapshotStates()
	return st
}

// handler serves the JSON control API.
func (ct *Control) handler() http.Handler {
	mux := http.NewServeMux()
	ok := func(rw http.ResponseWriter, v any) {
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(v)
	}
	fail := func(rw http.ResponseWriter, err error) {
		code := http.StatusBadRequest
		if _, nf := err.(*ErrNotFound); nf {
			code = http.StatusNotFound
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(code)
		_ = json.NewEncoder(rw).Encode(map[string]string{"error": err.Error()})
	}
	done := func(rw http.ResponseWriter, err error) {
		if err != nil {
			fail(rw, err)
			return
		}
		ok(rw, map[string]string{"status": "ok"})
	}
	mux.HandleFunc("GET /state", func(rw http.ResponseWriter, r *http.Request) { ok(rw, ct.State()) })
	mux.HandleFunc("GET /pools", func(rw http.ResponseWriter, r *http.Request) {
		out := map[string]string{}
		for _, p := range ct.State().Pools {
			out[p.Name] = p.URL
		}
		ok(rw, out)
	})
	mux.HandleFunc("GET /journal", func(rw http.ResponseWriter, r *http.Request) {
		since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
		e := ct.w.journal.Entries(since)
		if e == nil {
			e = []JournalEntry{}
		}
		ok(rw, e)
	})
	mux.HandleFunc("POST /sites/{site}/down", func(rw http.ResponseWriter, r *http.Request) { done(rw, ct.SiteDown(r.PathValue("site"))) })
	mux.HandleFunc("POST /sites/{site}/up", func(rw http.ResponseWriter, r *http.Request) {
		done(rw, ct.SiteUp(r.PathValue("site"), r.URL.Query().Get("keep_power_state") == "true"))
	})
	mux.HandleFunc("POST /mirrors/{name}/{action}", func(rw http.ResponseWriter, r *http.Request) {
		n := r.PathValue("name")
		switch r.PathValue("action") {
		case "split", "promote":
			done(rw, ct.SplitMirror(n))
		case "reverse":
			done(rw, ct.ReverseMirror(n))
		case "resume":
			done(rw, ct.ResumeMirror(n))
		case "sync":
			done(rw, ct.SyncMirror(n))
		default:
			fail(rw, fmt.Errorf("unknown mirror action %q (split, promote, reverse, resume, sync)", r.PathValue("action")))
		}
	})
	ct.snapshotRoutes(mux, ok, fail)
	mux.HandleFunc("POST /mirrors/sync", func(rw http.ResponseWriter, r *http.Request) { ct.SyncAll(); done(rw, nil) })
	mux.HandleFunc("GET /faults", func(rw http.ResponseWriter, r *http.Request) { ok(rw, ct.Faults()) })
	mux.HandleFunc("POST /faults", func(rw http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			fail(rw, fmt.Errorf("fault rule: %w", err))
			return
		}
		ok(rw, map[string]int{"id": ct.AddFault(f)})
	})
	mux.HandleFunc("DELETE /faults", func(rw http.ResponseWriter, r *http.Request) { ct.ClearFaults(); done(rw, nil) })
	mux.HandleFunc("DELETE /faults/{id}", func(rw http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			fail(rw, fmt.Errorf("fault id: %w", err))
			return
		}
		done(rw, ct.RemoveFault(id))
	})
	mux.HandleFunc("POST /pools/{pool}/expire-sessions", func(rw http.ResponseWriter, r *http.Request) {
		n, err := ct.ExpireSessions(r.PathValue("pool"), r.URL.Query().Get("user"))
		if err != nil {
			fail(rw, err)
			return
		}
		ok(rw, map[string]int{"expired": n})
	})
	mux.HandleFunc("POST /pools/{pool}/master", func(rw http.ResponseWriter, r *http.Request) {
		var body struct {
			Host string `json:"host"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(rw, fmt.Errorf("master: %w", err))
			return
		}
		done(rw, ct.MoveMaster(r.PathValue("pool"), body.Host))
	})
	mux.HandleFunc("POST /speed", func(rw http.ResponseWriter, r *http.Request) {
		var body struct {
			Speed *float64 `json:"speed"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Speed == nil || *body.Speed < 0 {
			fail(rw, fmt.Errorf(`speed: send {"speed": 0.01}`))
			return
		}
		ct.SetSpeed(*body.Speed)
		done(rw, nil)
	})
	return mux
}

// UnmarshalJSON accepts "30s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("invalid duration %s", b)
	}
	*d = Duration(time.Duration(f * float64(time.Second)))
	return nil
}

// MarshalJSON writes "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
