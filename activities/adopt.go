package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Re-runs converge: every VM lifeboat recovers is marked, right after the
// recovery, with the plan, the mode and the metadata it came from. When the
// same plan runs again in the same mode (after a failed, aborted or
// interrupted run), a same-UUID VM at the target that carries this plan's
// mark for the very metadata the scan found, and that was not recovered
// again since, is the earlier run's copy: the precheck adopts it (not a
// conflict), Recover reports it recovered, and the start step starts it if it
// is not yet in the wanted state. Anything else with the UUID — unmarked,
// marked by another plan or mode, from other metadata, or recovered again
// since it was marked — is someone else's copy and still blocks. The rule is
// documented in docs/reruns.md.

// recoveryMarkKey is the VM other_config key of the mark. VM.recover keeps a
// VM's other_config from the metadata, so a VM recovered back (failback)
// arrives with the mark of the run that recovered it the other way: the
// metadata identity in the mark tells them apart.
const recoveryMarkKey = "lifeboat.recovery"

// importTaskKey is set by xapi's import (VM.recover) to the task that
// created the VM; every new recovery of the VM changes it.
const importTaskKey = "import_task"

// recoveryMark is the value of the mark, as JSON.
type recoveryMark struct {
	Plan string    `json:"plan"`
	Mode plan.Mode `json:"mode"`
	// VDI and Version identify the metadata: the metadata VDI's UUID and the
	// VM's version in it (recovery makes the copy's version Version+1).
	VDI     string `json:"metadata_vdi"`
	Version int64  `json:"metadata_version"`
	// ImportTask is the copy's other_config import_task when it was marked.
	ImportTask string `json:"import_task,omitempty"`
}

func (m recoveryMark) String() string {
	b, _ := json.Marshal(m)
	return string(b)
}

func readMark(vm xapi.VMState) (recoveryMark, bool) {
	var m recoveryMark
	v, ok := vm.OtherConfig[recoveryMarkKey]
	if !ok || json.Unmarshal([]byte(v), &m) != nil || m.Plan == "" {
		return recoveryMark{}, false
	}
	return m, true
}

// owner is who a run is: the plan and the mode. An empty plan adopts nothing
// and marks nothing.
type owner struct {
	plan string
	mode plan.Mode
}

// adoptable says whether a same-UUID VM at the target is this owner's copy
// of the metadata VM (uuid, source VDI, version); if not, why, in a phrase
// ("" when it carries no mark at all).
func (o owner) adoptable(ex xapi.VMState, sourceVDI string, version int64) (bool, string) {
	m, ok := readMark(ex)
	switch {
	case o.plan == "":
		return false, ""
	case !ok:
		return false, ""
	case m.Plan != o.plan || m.Mode != o.mode:
		return false, fmt.Sprintf("recovered by the %s of plan %s", m.Mode, m.Plan)
	case m.VDI != sourceVDI || m.Version != version:
		return false, fmt.Sprintf("recovered by this plan from other metadata (VDI %s, version %d)", m.VDI, m.Version)
	case ex.Version != version+1 || m.ImportTask != ex.OtherConfig[importTaskKey]:
		return false, "recovered again since this plan recovered it"
	}
	return true, ""
}

// mark returns the mark of a copy this owner recovered from the metadata.
func (o owner) mark(ex xapi.VMState, sourceVDI string, version int64) recoveryMark {
	return recoveryMark{Plan: o.plan, Mode: o.mode, VDI: sourceVDI, Version: version, ImportTask: ex.OtherConfig[importTaskKey]}
}

// markRecovered marks the unit's VMs as recovered by this owner from the
// unit's metadata. fresh says this attempt recovered them: the mark is then
// set whatever the VM carried (its metadata's own marks). Otherwise (an
// earlier attempt recovered them and may have died before marking) a mark
// that already describes the copy is left as it is. Idempotent.
func (a *Activities) markRecovered(ctx context.Context, c *conn, o owner, u Unit, st *unitState, fresh bool) error {
	if o.plan == "" {
		return nil
	}
	for _, vm := range st.vms {
		ex, ok := st.present[vm.uuid]
		if !ok {
			continue
		}
		if m, ok := readMark(ex); ok && !fresh && m.ImportTask == ex.OtherConfig[importTaskKey] {
			continue
		}
		want := o.mark(ex, u.SourceVDI, vm.version).String()
		if ex.OtherConfig[recoveryMarkKey] == want {
			continue
		}
		set := c.s.SetVMOtherConfigKey
		if _, has := ex.OtherConfig[recoveryMarkKey]; !has {
			set = c.s.AddVMOtherConfigKey // one call: the record read just now has no mark
		}
		err := set(ctx, st.refs[vm.uuid], recoveryMarkKey, want)
		if err != nil {
			if !isTransient(ctx, err) {
				// The copy is recovered all the same; only a re-run will not
				// recognise it (its precheck says the copy is not this plan's).
				a.logger(ctx).Warn("cannot mark a recovered VM", zap.String("site", c.site), zap.String("uuid", vm.uuid), zap.Error(err))
			}
			return fmt.Errorf("marking VM %s as recovered by plan %s: %w", q(vm.name, vm.uuid), o.plan, err)
		}
		a.logger(ctx).Info("marked", zap.String("site", c.site), zap.String("uuid", vm.uuid), zap.String("plan", o.plan), zap.String("unit", u.UUID))
	}
	return nil
}

// adoption is the precheck's view of one unit's same-UUID VMs that are this
// owner's: all of them (and, for a vApp, the vApp) means the unit is adopted.
type adoption struct {
	ours   []string          // names of the VMs that are this owner's copies
	uuids  []string          // and their UUIDs
	others map[string]string // VM UUID -> why a lifeboat-marked VM is not ours
}

// classifyExisting sorts the unit's same-UUID VMs into this owner's copies
// and the rest; rest holds the VMs the version rule still applies to.
func (o owner) classifyExisting(u Unit, vms []VMInfo, byUUID map[string]xapi.VMState) (ad adoption, rest []VMInfo) {
	for _, vm := range vms {
		ex, ok := byUUID[vm.UUID]
		if !ok {
			rest = append(rest, vm)
			continue
		}
		ok, why := o.adoptable(ex, u.SourceVDI, vm.Version)
		if ok {
			ad.ours = append(ad.ours, q(vm.Name, vm.UUID))
			ad.uuids = append(ad.uuids, vm.UUID)
			continue
		}
		if why != "" {
			if ad.others == nil {
				ad.others = map[string]string{}
			}
			ad.others[vm.UUID] = why
		}
		rest = append(rest, vm)
	}
	return ad, rest
}

// adoptedText is the precheck's sentence for an adopted unit.
func adoptedText(o owner, ad adoption, site string) string {
	return fmt.Sprintf("already recovered at site %s by an earlier %s of plan %s from the same metadata (%s): adopted, not recovered again",
		site, o.mode, o.plan, strings.Join(ad.ours, ", "))
}
