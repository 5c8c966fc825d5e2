package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// missingStorage explains a VM_REQUIRES_SR that recovery raised: which SRs
// the unit needs, named from the foreign database (the SR is missing from
// the target) or from the target (it is there but not attached).
func missingStorage(ctx context.Context, c *conn, fs *xapi.ForeignSession, u Unit, ref xapi.ForeignRef, verr error) string {
	var need []neededSR
	var refs []xapi.ForeignRef
	var err error
	if u.Kind == KindVApp {
		refs, err = fs.GetSRsRequiredForVMApplianceRecovery(ctx, ref, c.s)
	} else {
		refs, err = fs.GetSRsRequiredForVMRecovery(ctx, ref, c.s)
	}
	if err == nil {
		for _, r := range refs {
			if sr, err := fs.GetSRRecord(ctx, r); err == nil {
				need = append(need, neededSR{sr.NameLabel, sr.UUID, sr.Shared})
			}
		}
	}
	// VM_REQUIRES_SR's SR is a foreign ref when the SR is missing from the
	// target, a target ref when it is there but unplugged: try both.
	if xe, ok := xapi.AsError(verr); ok && xe.Param(1) != "" {
		p := xe.Param(1)
		if sr, err := fs.GetSRRecord(ctx, xapi.ForeignRef(p)); err == nil {
			need = append(need, neededSR{sr.NameLabel, sr.UUID, sr.Shared})
		} else if sr, err := c.s.GetSRRecord(ctx, xapi.Ref(p)); err == nil {
			need = append(need, neededSR{sr.NameLabel, sr.UUID, sr.Shared})
		}
	}
	return storageText(c.site, need)
}

// neededSR is an SR a unit needs that the target does not have attached.
type neededSR struct {
	name, uuid string
	shared     bool
}

// storageText says what a unit lacks, in one phrase with its next step.
// Local SRs cannot be recovered at all, which is said first.
func storageText(site string, need []neededSR) string {
	var local, missing []neededSR
	seen := map[string]bool{}
	for _, n := range need {
		if n.uuid == "" || seen[n.uuid] {
			continue
		}
		seen[n.uuid] = true
		if n.shared {
			missing = append(missing, n)
		} else {
			local = append(local, n)
		}
	}
	names := func(l []neededSR) string {
		sort.Slice(l, func(i, j int) bool { return l[i].name < l[j].name })
		var out []string
		for _, s := range l {
			out = append(out, q(s.name, s.uuid))
		}
		return strings.Join(out, ", ")
	}
	switch {
	case len(local) > 0:
		return fmt.Sprintf("uses local storage %s, which cannot be recovered: exclude it from the plan or move its disks to replicated storage", names(local))
	case len(missing) == 1:
		return fmt.Sprintf("needs SR %s which is not attached at site %s: add its storage to the plan or attach it, then re-run", names(missing), site)
	case len(missing) > 1:
		return fmt.Sprintf("needs SRs %s which are not attached at site %s: add their storage to the plan or attach them, then re-run", names(missing), site)
	}
	return fmt.Sprintf("needs storage that is not attached at site %s (XAPI could not name it): check the plan's storage covers every SR of its disks, then re-run", site)
}

// The precheck applies xapi's own rule for whether a VM can be recovered
// (Xapi_vm_helpers.assert_can_be_recovered, which VM.recover and
// VM_appliance.recover assert again before importing): every SR that holds
// a VDI of the VM's non-CD VBDs, ISO SRs aside, must exist in the target,
// by UUID, with at least one PBD currently attached; a vApp needs what each
// of its VMs needs. It reads the metadata's VBDs, VDIs and SRs once per
// database and the target's SRs and PBDs once per precheck instead of one
// assert call per unit: 10,000 calls at 10,000 VMs, each of which creates
// and destroys a task in the master's database. Should the two ever
// disagree, recovery's own assert still refuses the unit and says why.

// storageIndex is the metadata's disks (foreignDB.storage): its VBDs, and
// the SR of each VDI from the SRs' VDIs fields (reading every VDI record
// instead took 0.4 s at 10,000 VMs).
type storageIndex struct {
	vbds map[xapi.ForeignRef]xapi.ForeignVBDSummary
	srs  map[xapi.ForeignRef]xapi.ForeignSRDisks
	srOf map[xapi.ForeignRef]xapi.ForeignRef // VDI -> SR
}

func newStorageIndex(vbds map[xapi.ForeignRef]xapi.ForeignVBDSummary, srs map[xapi.ForeignRef]xapi.ForeignSRDisks) *storageIndex {
	ix := &storageIndex{vbds: vbds, srs: srs, srOf: map[xapi.ForeignRef]xapi.ForeignRef{}}
	for ref, sr := range srs {
		for _, vdi := range sr.VDIs {
			ix.srOf[vdi] = ref
		}
	}
	return ix
}

// attachedSRs is the target's SRs with at least one attached PBD, by UUID.
type attachedSRs map[string]bool

// readAttachedSRs reads the target's SRs and its unplugged PBDs (two
// calls): an SR is attached when one of its PBDs is not unplugged. Every
// PBD of a 64-host pool was 2,600 records to decode in each precheck chunk.
func readAttachedSRs(ctx context.Context, c *conn) (attachedSRs, error) {
	var srs map[xapi.Ref]xapi.SR
	var unplugged map[xapi.Ref]xapi.PBD
	if err := allAtOnce(ctx,
		func() (err error) { srs, err = c.s.GetAllSRRecords(ctx); return err },
		func() (err error) { unplugged, err = c.s.GetUnpluggedPBDs(ctx); return err },
	); err != nil {
		return nil, err
	}
	out := attachedSRs{}
	for _, sr := range srs {
		for _, pbd := range sr.PBDs {
			if _, off := unplugged[pbd]; !off {
				out[sr.UUID] = true
				break
			}
		}
	}
	return out, nil
}

// lacking lists the SRs the VMs (foreign refs) need that the target does
// not have attached.
func (ix *storageIndex) lacking(vms []xapi.ForeignRef, recs *foreignRecords, target attachedSRs) []neededSR {
	var out []neededSR
	seen := map[xapi.ForeignRef]bool{}
	for _, vm := range vms {
		for _, vbdRef := range recs.vmByRef[vm].VBDs {
			vbd, ok := ix.vbds[vbdRef]
			if !ok || vbd.Type == "CD" {
				continue
			}
			srRef, ok := ix.srOf[vbd.VDI]
			if !ok {
				continue // an empty drive: no VDI, nothing to find
			}
			sr := ix.srs[srRef]
			if sr.ContentType == "iso" || seen[srRef] {
				continue
			}
			seen[srRef] = true
			if !target[sr.UUID] {
				out = append(out, neededSR{sr.NameLabel, sr.UUID, sr.Shared})
			}
		}
	}
	return out
}

// unitLabel names a unit: "vApp 'erp'" or "VM 'dns-01'".
func unitLabel(u Unit) string {
	if u.Kind == KindVApp {
		return "vApp " + q(u.Name, u.UUID)
	}
	return "VM " + q(u.Name, u.UUID)
}
