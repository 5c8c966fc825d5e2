package plan

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lifeboat-dr/lifeboat/plan/strictyaml"
)

// validator collects problems (errors) and warnings, placing each where its
// field is written when the plan came from a file.
type validator struct {
	file  string
	pos   strictyaml.Positions // nil for a plan that did not come from a file
	probs Problems
	warns Problems
}

func (v *validator) at(field, format string, args ...any) Problem {
	if v.pos == nil {
		return Problem{File: v.file, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	return v.pos.At(v.file, field, format, args...)
}

func (v *validator) errorf(field, format string, args ...any) {
	v.probs = append(v.probs, v.at(field, format, args...))
}

func (v *validator) warnf(field, format string, args ...any) {
	v.warns = append(v.warns, v.at(field, format, args...))
}

func (v *validator) err() error {
	v.probs.Sort()
	return v.probs.Err()
}

func (v *validator) warnings() Problems {
	v.warns.Sort()
	return v.warns
}

// safeName is what may go into a workflow ID: letters, digits, - _ .
var safeName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// maxNameLen keeps "lifeboat-<name>-test-failover" well below Temporal's
// workflow ID limit and readable in the UI.
const maxNameLen = 100

func (v *validator) plan(p *Plan) {
	switch {
	case p.Name == "":
		v.errorf("name", "the plan has no name; add name: with letters, digits, '-', '_' or '.'")
	case !safeName.MatchString(p.Name):
		v.errorf("name", "%q cannot be part of a workflow ID; use only letters, digits, '-', '_' and '.'", p.Name)
	case len(p.Name) > maxNameLen:
		v.errorf("name", "the name is %d characters long; shorten it to %d at most", len(p.Name), maxNameLen)
	}
	if p.Source == "" {
		v.errorf("source", "the plan has no source site; add source: with the protected site's name from the worker configuration")
	}
	if p.Target == "" {
		v.errorf("target", "the plan has no target site; add target: with the DR site's name from the worker configuration")
	}
	if p.Source != "" && p.Source == p.Target {
		v.errorf("target", "source and target are both %q; the target must be the DR site, not the protected one", p.Target)
	}

	if len(p.Storage) == 0 {
		v.errorf("storage", "the plan lists no storage; add the mirrored LUNs to probe at the target site (type and device_config)")
	}
	v.storage("storage", p.Storage)
	if len(p.FailbackStorage) == 0 {
		v.warnf("failback_storage", "failback will not be possible until failback_storage is set; add the LUNs to probe at the source site")
	}
	v.storage("failback_storage", p.FailbackStorage)
	v.testStorage(p)

	v.selection(&p.Selection)
	v.groups(p.PriorityGroups)
	v.start(&p.Start)
	v.gate("approvals."+GateStorageReady, GateStorageReady, p.Approvals.StorageReady)
	v.gate("approvals."+GateRecover, GateRecover, p.Approvals.Recover)
	v.gate("approvals."+GateCleanup, GateCleanup, p.Approvals.Cleanup)

	if p.Test.Hold < 0 {
		v.errorf("test.hold", "the hold is negative (%s); write 0 to clean up at once or a duration such as 30m", p.Test.Hold)
	}
	if p.Drill.Hold < 0 {
		v.errorf("drill.hold", "the hold is negative (%s); write 0 to clean up at once or a duration such as 10m", p.Drill.Hold)
	}
	if p.TargetRTO < 0 {
		v.errorf("target_rto", "the target RTO is negative (%s); write a duration such as 30m, or leave it out", p.TargetRTO)
	}
	for _, c := range []struct {
		field string
		n     int
	}{{"concurrency.recover", p.Concurrency.Recover}, {"concurrency.start", p.Concurrency.Start}, {"concurrency.batch_size", p.Concurrency.BatchSize}} {
		if c.n < 0 {
			v.errorf(c.field, "%d is negative; write 0 for the default or a positive number", c.n)
		}
	}
}

// requiredKeys lists the device_config keys each storage type needs, with
// what each one is, for the error message.
var requiredKeys = map[string][]struct{ key, what string }{
	StorageISCSI: {
		{"target", "the iSCSI target's address"},
		{"targetIQN", "the iSCSI target's IQN"},
		{"SCSIid", "the LUN's SCSI ID"},
	},
	StorageHBA: {
		{"SCSIid", "the LUN's SCSI ID"},
	},
}

// knownKeys are device_config keys whose spelling XAPI checks exactly; a
// key that matches one but for case is a typo.
var knownKeys = []string{"target", "port", "targetIQN", "SCSIid", "chapuser", "chappassword",
	"incoming_chapuser", "incoming_chappassword", "multihomelist"}

// secretKeys must be "${secret:NAME}" references, never literal values.
var secretKeys = []string{"chappassword", "incoming_chappassword"}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (v *validator) storage(field string, targets []StorageTarget) {
	scsi := map[string]string{}
	names := map[string]string{}
	for i, st := range targets {
		f := fmt.Sprintf("%s[%d]", field, i)
		dc := f + ".device_config"
		if st.Name != "" {
			if prev, dup := names[st.Name]; dup {
				v.errorf(f+".name", "the name %q is also used by %s; give each storage target its own name", st.Name, prev)
			}
			names[st.Name] = f
		}
		switch st.Type {
		case StorageISCSI, StorageHBA:
		case "":
			v.errorf(f+".type", "the storage target has no type; add type: lvmoiscsi (iSCSI) or type: lvmohba (Fibre Channel / HBA)")
		default:
			v.errorf(f+".type", "%q is not a storage type lifeboat can recover from; use lvmoiscsi or lvmohba", st.Type)
		}
		v.deviceConfig(dc, st)
		if id := st.DeviceConfig["SCSIid"]; id != "" {
			if prev, dup := scsi[id]; dup {
				v.errorf(dc+".SCSIid", "SCSIid %s is also listed in %s; list each LUN once", id, prev)
			}
			scsi[id] = f
		}
		if st.Adapter != "" && !safeName.MatchString(st.Adapter) {
			v.errorf(f+".adapter", "%q is not an adapter name; write the name the worker configuration gives the adapter (letters, digits, '-', '_', '.')", st.Adapter)
		}
		for j, sr := range st.SRs {
			if !uuidRE.MatchString(sr) {
				v.errorf(fmt.Sprintf("%s.srs[%d]", f, j), "%q is not an SR UUID; write the SR's uuid (as shown by xe sr-list) or remove srs to introduce every SR found", sr)
			}
		}
	}
}

// deviceConfig checks one device_config (field dc) for a storage's type.
func (v *validator) deviceConfig(dc string, st StorageTarget) {
	keys := slices.Sorted(maps.Keys(st.DeviceConfig))
	for _, k := range keys {
		for _, known := range knownKeys {
			if k != known && strings.EqualFold(k, known) {
				v.errorf(dc+"."+k, "XAPI spells this key %s; rename %s to %s", known, k, known)
			}
		}
	}
	for _, req := range requiredKeys[st.Type] {
		if strings.TrimSpace(st.DeviceConfig[req.key]) == "" {
			hint := "add it"
			if st.Type == StorageISCSI && req.key != "target" {
				hint = "add it or run discovery"
			}
			v.errorf(dc, "%s needs %s (%s); %s", st.Type, req.key, req.what, hint)
		}
	}
	if port, ok := st.DeviceConfig["port"]; ok && st.Type == StorageISCSI {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.errorf(dc+".port", "port %q is not a TCP port number; write a number such as 3260", port)
		}
	}
	for _, k := range secretKeys {
		val, ok := st.DeviceConfig[k]
		if !ok {
			continue
		}
		if _, isRef := secretRef(val); !isRef {
			v.errorf(dc+"."+k, "%s must be a reference such as ${secret:%s} resolved by the worker, never the password itself: plans are checked into repositories and travel in workflow history", k, suggestSecretName(st, k))
		}
	}
	if _, ok := st.DeviceConfig["chappassword"]; ok && st.DeviceConfig["chapuser"] == "" {
		v.errorf(dc, "chappassword is set without chapuser; add chapuser or remove chappassword")
	}
	if _, ok := st.DeviceConfig["incoming_chappassword"]; ok && st.DeviceConfig["incoming_chapuser"] == "" {
		v.errorf(dc, "incoming_chappassword is set without incoming_chapuser; add incoming_chapuser or remove incoming_chappassword")
	}
	for _, k := range keys {
		if val := st.DeviceConfig[k]; strings.Contains(val, "${secret:") && !slices.Contains(secretKeys, k) {
			if _, isRef := secretRef(val); !isRef {
				v.errorf(dc+"."+k, "%q is not a valid secret reference; write the whole value as ${secret:NAME} with NAME made of letters, digits, '-', '_' or '.'", val)
			}
		}
	}
}

// suggestSecretName proposes a secret name for an error message.
func suggestSecretName(st StorageTarget, key string) string {
	base := st.Name
	if base == "" {
		base = st.DeviceConfig["target"]
	}
	if base == "" || !safeName.MatchString(base) {
		base = "iscsi"
	}
	if key == "incoming_chappassword" {
		return base + "-incoming-chap"
	}
	return base + "-chap"
}

func (v *validator) selection(s *Selection) {
	if !s.All && len(s.VApps) == 0 && len(s.VMs) == 0 && len(s.Tags) == 0 {
		v.errorf("selection", "the selection picks nothing; set all: true or list vapps, vms or tags")
	}
	v.patterns("selection.vapps", s.VApps)
	v.patterns("selection.vms", s.VMs)
	v.names("selection.tags", s.Tags, "tag")
	v.patterns("selection.exclude", s.Exclude)
}

// patterns checks globs (path.Match syntax).
func (v *validator) patterns(field string, pats []string) {
	for i, p := range pats {
		f := fmt.Sprintf("%s[%d]", field, i)
		if strings.TrimSpace(p) == "" {
			v.errorf(f, "the name is empty; write a name, a glob such as web-* or a UUID, or remove the line")
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			v.errorf(f, "%q is not a valid glob; check its [ ] brackets and escape special characters with \\", p)
		}
	}
}

func (v *validator) names(field string, names []string, what string) {
	for i, n := range names {
		if strings.TrimSpace(n) == "" {
			v.errorf(fmt.Sprintf("%s[%d]", field, i), "the %s is empty; write a %s or remove the line", what, what)
		}
	}
}

func (v *validator) groups(groups []PriorityGroup) {
	seen := map[string]int{}
	for i, g := range groups {
		f := fmt.Sprintf("priority_groups[%d]", i)
		switch {
		case strings.TrimSpace(g.Name) == "":
			v.errorf(f+".name", "the priority group has no name; add name: so progress and reports can show it")
		default:
			if prev, dup := seen[g.Name]; dup {
				v.errorf(f+".name", "the group name %q is already used by priority_groups[%d]; give each group its own name", g.Name, prev)
			} else {
				seen[g.Name] = i
			}
		}
		if len(g.VApps) == 0 && len(g.VMs) == 0 && len(g.Tags) == 0 {
			v.errorf(f, "the priority group %q names no vapps, vms or tags; list what it starts or remove it", g.Name)
		}
		v.patterns(f+".vapps", g.VApps)
		v.patterns(f+".vms", g.VMs)
		v.names(f+".tags", g.Tags, "tag")
	}
}

func (v *validator) start(s *StartPolicy) {
	check := func(field string, m StartMode) {
		switch m {
		case "", StartRunning, StartPaused, StartNone:
		default:
			v.errorf(field, "%q is not a start mode; use running, paused or none", m)
		}
	}
	check("start.failover", s.Failover)
	check("start.failback", s.Failback)
	check("start.test_failover", s.TestFailover)
	switch s.Placement {
	case "", PlacementPool, PlacementSpread:
	default:
		v.errorf("start.placement", "%q is not a start placement; use pool or spread", s.Placement)
	}
	if s.TestFailover == StartRunning {
		v.errorf("start.test_failover", "a test failover cannot start VMs running: the recovered copies keep their MAC addresses and UUIDs, so running them next to production is unsafe; use paused or none")
	}
}

func (v *validator) gate(field, name string, g GatePolicy) {
	if g.Quorum < 0 {
		v.errorf(field+".quorum", "quorum %d is negative; write the number of distinct approvers needed (0 means 1)", g.Quorum)
	}
	seen := map[string]int{}
	distinct := 0
	for i, a := range g.Approvers {
		f := fmt.Sprintf("%s.approvers[%d]", field, i)
		if strings.TrimSpace(a) == "" {
			v.errorf(f, "the approver is empty; write who may approve or remove the line")
			continue
		}
		if prev, dup := seen[a]; dup {
			v.errorf(f, "%s is already listed as approvers[%d]; list each approver once", a, prev)
			continue
		}
		seen[a] = i
		distinct++
	}
	if len(g.Approvers) > 0 && g.Quorum > distinct {
		listed := fmt.Sprintf("only %d are listed", distinct)
		if distinct == 1 {
			listed = "only 1 is listed"
		}
		v.errorf(field+".quorum", "quorum %d needs %d distinct approvers but %s; lower the quorum or add approvers", g.Quorum, g.Quorum, listed)
	}
	if g.Timeout < 0 {
		v.errorf(field+".timeout", "the timeout is negative (%s); write 0 to wait for ever or a duration such as 4h", g.Timeout)
	}
	switch g.OnTimeout {
	case "", TimeoutReject, TimeoutApprove:
	default:
		v.errorf(field+".on_timeout", "%q is not a timeout action; use reject or approve", g.OnTimeout)
	}
	if g.OnTimeout != "" && g.Timeout == 0 {
		v.warnf(field+".on_timeout", "on_timeout has no effect without a timeout; set timeout: or remove on_timeout")
	}
	if name != GateCleanup && g.OnTimeout == TimeoutApprove {
		v.warnf(field+".on_timeout", "approve on timeout lets the run go on at the %s gate with nobody approving; make sure that is wanted", name)
	}
	if name != GateCleanup && g.Required != nil && !*g.Required {
		v.warnf(field+".required", "required: false has effect only for test failovers; failover and failback always wait at the %s gate", name)
	}
}

// SecretRefs lists the secret names the plan refers to as "${secret:NAME}"
// in device_config values, sorted and without duplicates, so the worker (or
// `plan check`) can tell which secrets must be configured.
func (p *Plan) SecretRefs() []string {
	set := map[string]bool{}
	for _, targets := range [][]StorageTarget{p.Storage, p.FailbackStorage} {
		for _, st := range targets {
			for _, val := range st.DeviceConfig {
				if name, ok := secretRef(val); ok {
					set[name] = true
				}
			}
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var secretRE = regexp.MustCompile(`^\$\{secret:([A-Za-z0-9._-]+)\}$`)

// secretRef returns NAME if val is exactly "${secret:NAME}".
func secretRef(val string) (string, bool) {
	m := secretRE.FindStringSubmatch(strings.TrimSpace(val))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// SecretRef returns NAME if a device_config value is a "${secret:NAME}"
// reference; the activities use it to resolve the value at the last moment.
func SecretRef(val string) (name string, ok bool) { return secretRef(val) }

// ParseMode reads a mode as written on the command line.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeFailover, ModeFailback, ModeTestFailover:
		return m, nil
	}
	return "", fmt.Errorf("%q is not a mode; use failover, failback or test-failover", s)
}
