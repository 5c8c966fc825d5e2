package sim

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Scenario is a simulated world described in YAML (see README.md for every key).
type Scenario struct {
	Name    string       `yaml:"name"`
	Seed    int64        `yaml:"seed"`
	Control string       `yaml:"control"`
	Timing  TimingSpec   `yaml:"timing"`
	Sites   []SiteSpec   `yaml:"sites"`
	Mirrors []MirrorSpec `yaml:"mirrors"`
	// Snapshots are array snapshots taken when the world starts (snapshot.go).
	Snapshots []SnapshotSpec `yaml:"snapshots"`
}

// TimingSpec is the timing model; unset values take the defaults of DefaultTiming.
type TimingSpec struct {
	Latency      *Duration `yaml:"latency"`
	Recover      *Duration `yaml:"recover"`
	RecoverDB    *Duration `yaml:"recover_db"`
	Start        *Duration `yaml:"start"`
	Shutdown     *Duration `yaml:"shutdown"`
	Probe        *Duration `yaml:"probe"`
	Plug         *Duration `yaml:"plug"`
	OpenDatabase *Duration `yaml:"open_database"`
	Concurrency  int       `yaml:"concurrency"`
	HostVMOps    int       `yaml:"host_vm_ops"`
}

// SiteSpec is one site.
type SiteSpec struct {
	Name  string       `yaml:"name"`
	ISCSI []TargetSpec `yaml:"iscsi"`
	FC    []LUNSpec    `yaml:"fc"`
	Pools []PoolSpec   `yaml:"pools"`
}

// TargetSpec is an iSCSI target.
type TargetSpec struct {
	Name         string    `yaml:"name"`
	Address      string    `yaml:"address"`
	IP           string    `yaml:"ip"`
	Port         int       `yaml:"port"`
	IQN          string    `yaml:"iqn"`
	CHAPUser     string    `yaml:"chap_user"`
	CHAPPassword string    `yaml:"chap_password"`
	Vendor       string    `yaml:"vendor"`
	LUNs         []LUNSpec `yaml:"luns"`
}

// LUNSpec is a LUN (iSCSI or FC).
type LUNSpec struct {
	LUN    int    `yaml:"lun"`
	SCSIid string `yaml:"scsi_id"`
	Size   Size   `yaml:"size"`
	Vendor string `yaml:"vendor"`
	Serial string `yaml:"serial"`
}

// PoolSpec is a pool.
type PoolSpec struct {
	Name              string        `yaml:"name"`
	UUID              string        `yaml:"uuid"`
	Description       string        `yaml:"description"`
	Hosts             []HostSpec    `yaml:"hosts"`
	Users             []UserSpec    `yaml:"users"`
	Networks          []NetworkSpec `yaml:"networks"`
	SRs               []SRSpec      `yaml:"srs"`
	ReplicateMetadata []string      `yaml:"replicate_metadata"`
	VApps             []VAppSpec    `yaml:"vapps"`
	VMs               []VMSpec      `yaml:"vms"`
	SessionTTL        Duration      `yaml:"session_ttl"`
}

// HostSpec is a host; the first one is the master.
type HostSpec struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	Memory  Size   `yaml:"memory"`
	CPUs    int    `yaml:"cpus"`
}

// UserSpec is a local account.
type UserSpec struct {
	Name     string `yaml:"name"`
	Password string `yaml:"password"`
	Role     string `yaml:"role"`
}

// NetworkSpec is a network.
type NetworkSpec struct {
	Name        string `yaml:"name"`
	Bridge      string `yaml:"bridge"`
	Description string `yaml:"description"`
}

// SRSpec is an SR: shared ones name their LUN by SCSIid, local ones their host.
type SRSpec struct {
	Name        string `yaml:"name"`
	UUID        string `yaml:"uuid"`
	Description string `yaml:"description"`
	Type        string `yaml:"type"`
	LUN         string `yaml:"lun"`
	Host        string `yaml:"host"`
}

// VAppSpec is a VM appliance.
type VAppSpec struct {
	Name        string `yaml:"name"`
	UUID        string `yaml:"uuid"`
	Description string `yaml:"description"`
}

// VMSpec is a VM.
type VMSpec struct {
	Name              string            `yaml:"name"`
	UUID              string            `yaml:"uuid"`
	Description       string            `yaml:"description"`
	VApp              string            `yaml:"vapp"`
	Order             int64             `yaml:"order"`
	StartDelay        int64             `yaml:"start_delay"`
	ShutdownDelay     int64             `yaml:"shutdown_delay"`
	Memory            Size              `yaml:"memory"`
	VCPUs             int64             `yaml:"vcpus"`
	Power             string            `yaml:"power"`
	Host              string            `yaml:"host"`
	Tags              []string          `yaml:"tags"`
	HARestartPriority string            `yaml:"ha_restart_priority"`
	OtherConfig       map[string]string `yaml:"other_config"`
	Disks             []DiskSpec        `yaml:"disks"`
	Networks          []string          `yaml:"networks"`
	SuspendSR         string            `yaml:"suspend_sr"`
	Version           int64             `yaml:"version"`
}

// DiskSpec is a VM disk (a VDI and its VBD).
type DiskSpec struct {
	Name   string `yaml:"name"`
	SR     string `yaml:"sr"`
	Size   Size   `yaml:"size"`
	SCSIid string `yaml:"scsi_id"`
}

// MirrorSpec is a mirror link between two LUNs (by SCSIid).
type MirrorSpec struct {
	Name        string   `yaml:"name"`
	Source      string   `yaml:"source"`
	Destination string   `yaml:"destination"`
	State       string   `yaml:"state"`
	Lag         Duration `yaml:"lag"`
}

// Duration is a YAML duration ("30s", "1m30s").
type Duration time.Duration

// UnmarshalYAML parses a Go duration string or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a string like 30s", n.Line)
	}
	if s, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*d = Duration(time.Duration(s * float64(time.Second)))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: invalid duration %q (use e.g. 500ms, 30s, 2m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Size is a byte count written as 40GiB, 512MiB, 2TiB or plain bytes.
type Size int64

// UnmarshalYAML parses a size.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseSize(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: invalid size %q (use e.g. 512MiB, 40GiB, 2TiB)", n.Line, n.Value)
	}
	*s = Size(v)
	return nil
}

// MarshalYAML writes the size in the largest exact binary unit.
func (s Size) MarshalYAML() (any, error) {
	v := int64(s)
	for _, u := range []struct {
		suf string
		n   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}} {
		if v != 0 && v%u.n == 0 {
			return fmt.Sprintf("%d%s", v/u.n, u.suf), nil
		}
	}
	return v, nil
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suf string
		n   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			mult = u.n
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suf))
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

//go:embed demo.yaml
var demoYAML []byte

// DemoScenario returns the embedded demo scenario (dev/scenarios/demo.yaml).
func DemoScenario() *Scenario {
	sc, err := ParseScenario(demoYAML)
	if err != nil {
		panic(fmt.Sprintf("sim: embedded demo scenario is invalid: %v", err))
	}
	return sc
}

// DemoYAML returns the embedded demo scenario file.
func DemoYAML() []byte { return append([]byte(nil), demoYAML...) }

// LoadScenario reads and validates a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	sc, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	return sc, nil
}

// ScenarioError is a scenario problem with the line it is on.
type ScenarioError struct {
	Line int
	Msg  string
}

func (e *ScenarioError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// ParseScenario parses and validates scenario YAML; errors carry the line they are on.
func ParseScenario(data []byte) (*Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("invalid scenario: %s", strings.Join(te.Errors, "; "))
		}
		return nil, fmt.Errorf("invalid scenario: %w", err)
	}
	if err := sc.validate(&root); err != nil {
		return nil, err
	}
	return &sc, nil
}

// lineOf finds the line of a node by path (mapping keys and sequence indices).
func lineOf(root *yaml.Node, path ...any) int {
	n := root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, p := range path {
		if n == nil {
			break
		}
		line = n.Line
		switch k := p.(type) {
		case string:
			var next *yaml.Node
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						line = n.Content[i].Line
						next = n.Content[i+1]
					}
				}
			}
			n = next
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				n = n.Content[k]
				line = n.Line
			} else {
				n = nil
			}
		}
	}
	return line
}

var validRoles = map[string]bool{"pool-admin": true, "pool-operator": true, "vm-power-admin": true, "vm-admin": true, "vm-operator": true, "read-only": true}
var validPower = map[string]bool{"": true, "Halted": true, "Running": true, "Paused": true, "Suspended": true}
var validSRTypes = map[string]bool{"lvmoiscsi": true, "lvmohba": true, "lvm": true, "ext": true, "nfs": true}

func (sc *Scenario) validate(root *yaml.Node) error {
	bad := func(msg string, path ...any) error {
		return &ScenarioError{Line: lineOf(root, path...), Msg: msg}
	}
	if len(sc.Sites) == 0 {
		return bad("a scenario needs at least one site under 'sites'")
	}
	luns := map[string]string{} // SCSIid → site
	poolNames := map[string]bool{}
	hostAddrs := map[string]bool{}
	for si, s := range sc.Sites {
		if s.Name == "" {
			return bad("site without a name", "sites", si)
		}
		for ti, t := range s.ISCSI {
			if t.Address == "" || t.IQN == "" {
				return bad(fmt.Sprintf("iSCSI target %q needs 'address' and 'iqn'", t.Name), "sites", si, "iscsi", ti)
			}
			for li, l := range t.LUNs {
				if l.SCSIid == "" {
					return bad("LUN without scsi_id", "sites", si, "iscsi", ti, "luns", li)
				}
				if _, dup := luns[l.SCSIid]; dup {
					return bad(fmt.Sprintf("duplicate LUN scsi_id %s", l.SCSIid), "sites", si, "iscsi", ti, "luns", li, "scsi_id")
				}
				luns[l.SCSIid] = s.Name
			}
		}
		for li, l := range s.FC {
			if l.SCSIid == "" {
				return bad("FC LUN without scsi_id", "sites", si, "fc", li)
			}
			if _, dup := luns[l.SCSIid]; dup {
				return bad(fmt.Sprintf("duplicate LUN scsi_id %s", l.SCSIid), "sites", si, "fc", li, "scsi_id")
			}
			luns[l.SCSIid] = s.Name
		}
		for pi, p := range s.Pools {
			at := func(path ...any) []any { return append([]any{"sites", si, "pools", pi}, path...) }
			if p.Name == "" {
				return bad("pool without a name", at()...)
			}
			if poolNames[p.Name] {
				return bad(fmt.Sprintf("duplicate pool name %q", p.Name), at("name")...)
			}
			poolNames[p.Name] = true
			if len(p.Hosts) == 0 {
				return bad(fmt.Sprintf("pool %q needs at least one host", p.Name), at()...)
			}
			hosts := map[string]bool{}
			for hi, h := range p.Hosts {
				if h.Name == "" {
					return bad("host without a name", at("hosts", hi)...)
				}
				if h.Address != "" && hostAddrs[h.Address] {
					return bad(fmt.Sprintf("address %s is used by two hosts", h.Address), at("hosts", hi, "address")...)
				}
				hostAddrs[h.Address] = h.Address != ""
				hosts[h.Name] = true
			}
			for ui, u := range p.Users {
				if !validRoles[u.Role] {
					return bad(fmt.Sprintf("user %q: unknown role %q (pool-admin, pool-operator, vm-power-admin, vm-admin, vm-operator, read-only)", u.Name, u.Role), at("users", ui, "role")...)
				}
			}
			nets := map[string]bool{}
			for _, n := range p.Networks {
				nets[n.Name] = true
			}
			srs := map[string]bool{}
			for ri, r := range p.SRs {
				if !validSRTypes[r.Type] {
					return bad(fmt.Sprintf("SR %q: unknown type %q (lvmoiscsi, lvmohba, lvm, ext, nfs)", r.Name, r.Type), at("srs", ri, "type")...)
				}
				switch r.Type {
				case "lvmoiscsi", "lvmohba":
					site, ok := luns[r.LUN]
					if !ok {
						return bad(fmt.Sprintf("SR %q: no LUN with scsi_id %q", r.Name, r.LUN), at("srs", ri, "lun")...)
					}
					if site != s.Name {
						return bad(fmt.Sprintf("SR %q: LUN %s is at site %s, not %s", r.Name, r.LUN, site, s.Name), at("srs", ri, "lun")...)
					}
				case "lvm", "ext":
					if !hosts[r.Host] {
						return bad(fmt.Sprintf("local SR %q: 'host' must name a host of the pool", r.Name), at("srs", ri)...)
					}
				}
				srs[r.Name] = true
			}
			for i, r := range p.ReplicateMetadata {
				if !srs[r] {
					return bad(fmt.Sprintf("replicate_metadata: no SR %q in pool %q", r, p.Name), at("replicate_metadata", i)...)
				}
			}
			if len(p.ReplicateMetadata) > 8 {
				return bad("replicate_metadata: at most 8 SRs (xapi's redo log limit)", at("replicate_metadata")...)
			}
			vapps := map[string]bool{}
			for _, a := range p.VApps {
				vapps[a.Name] = true
			}
			for vi, v := range p.VMs {
				if v.Name == "" {
					return bad("VM without a name", at("vms", vi)...)
				}
				if v.VApp != "" && !vapps[v.VApp] {
					return bad(fmt.Sprintf("VM %q: no vApp %q", v.Name, v.VApp), at("vms", vi, "vapp")...)
				}
				if !validPower[v.Power] {
					return bad(fmt.Sprintf("VM %q: power must be Halted, Running, Paused or Suspended", v.Name), at("vms", vi, "power")...)
				}
				if v.Host != "" && !hosts[v.Host] {
					return bad(fmt.Sprintf("VM %q: no host %q", v.Name, v.Host), at("vms", vi, "host")...)
				}
				for di, d := range v.Disks {
					if !srs[d.SR] {
						return bad(fmt.Sprintf("VM %q: disk on unknown SR %q", v.Name, d.SR), at("vms", vi, "disks", di, "sr")...)
					}
				}
				for ni, n := range v.Networks {
					if !nets[n] {
						return bad(fmt.Sprintf("VM %q: unknown network %q", v.Name, n), at("vms", vi, "networks", ni)...)
					}
				}
				if v.Power == "Suspended" && !srs[v.SuspendSR] {
					return bad(fmt.Sprintf("VM %q: a Suspended VM needs 'suspend_sr'", v.Name), at("vms", vi)...)
				}
			}
		}
	}
	for mi, m := range sc.Mirrors {
		if _, ok := luns[m.Source]; !ok {
			return bad(fmt.Sprintf("mirror %q: no LUN with scsi_id %q", m.Name, m.Source), "mirrors", mi, "source")
		}
		if _, ok := luns[m.Destination]; !ok {
			return bad(fmt.Sprintf("mirror %q: no LUN with scsi_id %q", m.Name, m.Destination), "mirrors", mi, "destination")
		}
		switch m.State {
		case "", MirrorReplicating, MirrorSplit, MirrorReversed:
		default:
			return bad(fmt.Sprintf("mirror %q: state must be replicating, split or reversed", m.Name), "mirrors", mi, "state")
		}
	}
	return sc.validateSnapshots(bad)
}
