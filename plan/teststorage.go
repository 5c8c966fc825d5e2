package plan

import (
	"fmt"
	"strings"
)

// TestStorageFor returns the test storage entry of a storage target, if the
// plan gives one. Entries name their storage by name (or, for a storage
// without one, by its SCSIid).
func (p *Plan) TestStorageFor(st StorageTarget) (TestStorage, bool) {
	for _, ts := range p.TestStorage {
		if ts.Storage != "" && (ts.Storage == st.Name || (st.Name == "" && ts.Storage == st.DeviceConfig["SCSIid"])) {
			return ts, true
		}
	}
	return TestStorage{}, false
}

// testStorage checks test_storage against storage, and the storage-ready
// gate's method against the storage's adapters.
func (v *validator) testStorage(p *Plan) {
	byName := map[string]int{}
	for i, st := range p.Storage {
		name := st.Name
		if name == "" {
			name = st.DeviceConfig["SCSIid"]
		}
		if name != "" {
			byName[name] = i
		}
	}
	seen := map[string]string{}
	for i, ts := range p.TestStorage {
		f := fmt.Sprintf("test_storage[%d]", i)
		si, ok := byName[ts.Storage]
		switch {
		case strings.TrimSpace(ts.Storage) == "":
			v.errorf(f+".storage", "the entry names no storage; write the name of the entry of storage whose LUN it stands in for")
			continue
		case !ok:
			v.errorf(f+".storage", "no entry of storage is named %q; write the name of the storage this test LUN stands in for", ts.Storage)
			continue
		}
		if prev, dup := seen[ts.Storage]; dup {
			v.errorf(f+".storage", "storage %s already has its test LUN in %s; give each storage one entry", ts.Storage, prev)
		}
		seen[ts.Storage] = f
		st := p.Storage[si]
		switch {
		case ts.Snapshot == "" && len(ts.DeviceConfig) == 0:
			v.errorf(f, "the entry says nothing about its LUN; add snapshot: adapter (made for each run by the storage's adapter) or the device_config of a snapshot LUN")
		case ts.Snapshot != "" && len(ts.DeviceConfig) > 0:
			v.errorf(f, "the entry has both snapshot and device_config; keep snapshot: adapter or the device_config of a snapshot made beforehand")
		case ts.Snapshot != "" && ts.Snapshot != SnapshotByAdapter:
			v.errorf(f+".snapshot", "%q is not a snapshot source; write snapshot: adapter", ts.Snapshot)
		case ts.Snapshot == SnapshotByAdapter && st.Adapter == "":
			v.errorf(f+".snapshot", "storage %s names no adapter to make the snapshot; add adapter: (a name from the worker configuration) to storage[%d]", ts.Storage, si)
		case len(ts.DeviceConfig) > 0:
			lun := StorageTarget{Name: st.Name, Type: st.Type, DeviceConfig: ts.DeviceConfig}
			v.deviceConfig(f+".device_config", lun)
			if id := ts.DeviceConfig["SCSIid"]; id != "" && id == st.DeviceConfig["SCSIid"] {
				v.errorf(f+".device_config.SCSIid", "SCSIid %s is the storage's own LUN (the mirror's destination); write the snapshot LUN's SCSIid", id)
			}
		}
	}
	g := p.Approvals.StorageReady
	switch g.Method {
	case "", MethodApproval, MethodAdapter, MethodAdapterThenApproval:
	default:
		v.errorf("approvals.storage-ready.method", "%q is not a method; use approval, adapter or adapter-then-approval", g.Method)
	}
	if g.Method.Promotes() {
		for _, list := range []struct {
			field   string
			targets []StorageTarget
		}{{"storage", p.Storage}, {"failback_storage", p.FailbackStorage}} {
			for i, st := range list.targets {
				if st.Adapter == "" {
					v.errorf(fmt.Sprintf("%s[%d]", list.field, i), "the storage-ready gate's method %s needs an adapter to promote this LUN; add adapter: (a name from the worker configuration) or use method: approval", g.Method)
				}
			}
		}
	}
	for _, gate := range []struct {
		field string
		g     GatePolicy
	}{{"approvals.recover.method", p.Approvals.Recover}, {"approvals.cleanup.method", p.Approvals.Cleanup}} {
		if gate.g.Method != "" {
			v.errorf(gate.field, "method applies to the storage-ready gate only; remove it here")
		}
	}
}
