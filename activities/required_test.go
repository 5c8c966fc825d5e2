package activities

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi"
)

// lacking applies xapi's assert_can_be_recovered rule to the metadata's
// disks: non-CD VBDs, their VDIs' SRs, ISO SRs aside.
func TestLackingFollowsXapiRule(t *testing.T) {
	ix := newStorageIndex(
		map[xapi.ForeignRef]xapi.ForeignVBDSummary{
			"vbd-disk-gold":  {VM: "vm1", VDI: "vdi-gold", Type: "Disk"},
			"vbd-disk-gone":  {VM: "vm1", VDI: "vdi-gone", Type: "Disk"},
			"vbd-cd-gone":    {VM: "vm1", VDI: "vdi-gone-2", Type: "CD"},
			"vbd-disk-iso":   {VM: "vm1", VDI: "vdi-iso", Type: "Disk"},
			"vbd-empty":      {VM: "vm1", VDI: xapi.ForeignRef(xapi.NullRef), Type: "Disk"},
			"vbd-local":      {VM: "vm2", VDI: "vdi-local", Type: "Disk"},
			"vbd-gone-again": {VM: "vm2", VDI: "vdi-gone-3", Type: "Disk"},
			"vbd-unplugged":  {VM: "vm3", VDI: "vdi-unplugged", Type: "Disk"},
		},
		map[xapi.ForeignRef]xapi.ForeignSRDisks{
			"sr-gold":      {UUID: "u-gold", NameLabel: "gold", Shared: true, VDIs: []xapi.ForeignRef{"vdi-gold"}},
			"sr-gone":      {UUID: "u-gone", NameLabel: "gone", Shared: true, VDIs: []xapi.ForeignRef{"vdi-gone", "vdi-gone-3"}},
			"sr-gone-2":    {UUID: "u-gone-2", NameLabel: "gone 2", Shared: true, VDIs: []xapi.ForeignRef{"vdi-gone-2"}},
			"sr-iso":       {UUID: "u-iso", NameLabel: "isos", Shared: true, ContentType: "iso", VDIs: []xapi.ForeignRef{"vdi-iso"}},
			"sr-local":     {UUID: "u-local", NameLabel: "Local storage", Shared: false, VDIs: []xapi.ForeignRef{"vdi-local"}},
			"sr-unplugged": {UUID: "u-unplugged", NameLabel: "unplugged", Shared: true, VDIs: []xapi.ForeignRef{"vdi-unplugged"}},
		})
	recs := &foreignRecords{vmByRef: map[xapi.ForeignRef]xapi.ForeignVMSummary{
		"vm1": {VBDs: []xapi.ForeignRef{"vbd-disk-gold", "vbd-disk-gone", "vbd-cd-gone", "vbd-disk-iso", "vbd-empty"}},
		"vm2": {VBDs: []xapi.ForeignRef{"vbd-local", "vbd-gone-again"}},
		"vm3": {VBDs: []xapi.ForeignRef{"vbd-unplugged"}},
	}}
	target := attachedSRs{"u-gold": true} // u-unplugged is there with no attached PBD
	uuids := func(need []neededSR) []string {
		var out []string
		for _, n := range need {
			out = append(out, n.uuid)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		vms  []xapi.ForeignRef
		want []string
	}{
		{"a CD drive and an ISO SR need nothing, an empty drive neither", []xapi.ForeignRef{"vm1"}, []string{"u-gone"}},
		{"local storage and a missing SR", []xapi.ForeignRef{"vm2"}, []string{"u-local", "u-gone"}},
		{"an SR with no attached PBD", []xapi.ForeignRef{"vm3"}, []string{"u-unplugged"}},
		{"a vApp needs what its VMs need, each SR once", []xapi.ForeignRef{"vm1", "vm2"}, []string{"u-gone", "u-local"}},
		{"a VM the index does not know needs nothing it can name", []xapi.ForeignRef{"vm9"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ElementsMatch(t, tc.want, uuids(ix.lacking(tc.vms, recs, target)))
		})
	}
	assert.Contains(t, storageText("dr", ix.lacking([]xapi.ForeignRef{"vm2"}, recs, target)), "uses local storage 'Local storage'")
	assert.Contains(t, storageText("dr", ix.lacking([]xapi.ForeignRef{"vm3"}, recs, target)), "needs SR 'unplugged' which is not attached at site dr")
}

// The precheck's storage line agrees with xapi's own assert for every unit
// of the demo, with all its storage attached and with one SR unplugged.
func TestPrecheckStorageAgreesWithXapi(t *testing.T) {
	f, intro, sc := prepared(t)
	us, vms := units(sc)
	ctx := context.Background()
	c, err := f.a.connect(ctx, "dr")
	require.NoError(t, err)
	compare := func(t *testing.T) (problems int) {
		var res PrecheckResult
		f.must(&res, f.a.Precheck, &PrecheckInput{Site: "dr", Mode: plan.ModeTestFailover, Units: us, VMs: vms})
		for _, u := range us {
			line, ok := findCheck(res.Checks, checkStorage, unitLabel(u))
			require.True(t, ok, unitLabel(u))
			err := f.a.withForeign(ctx, c, u.SourceVDI, "", false, func(e *foreignDB) error {
				recs, err := e.records(ctx)
				require.NoError(t, err)
				if u.Kind == KindVApp {
					return e.fs.AssertVMApplianceCanBeRecovered(ctx, recs.apps[u.UUID], c.s)
				}
				return e.fs.AssertVMCanBeRecovered(ctx, recs.vms[u.UUID], c.s)
			})
			if err != nil {
				require.True(t, xapi.IsCode(err, xapi.CodeVMRequiresSR), "%v", err)
				assert.Equal(t, SeverityProblem, line.Severity, "%s: xapi says %v, the precheck %q", unitLabel(u), err, line.Message)
				problems++
			} else {
				assert.Equal(t, SeverityOK, line.Severity, "%s: xapi says it can be recovered, the precheck %q", unitLabel(u), line.Message)
			}
		}
		return problems
	}
	before := compare(t)
	require.Positive(t, before, "the demo has a VM on local storage")
	// Unplug every PBD of one introduced SR: its units cannot be recovered.
	srs, err := c.s.GetAllSRRecords(ctx)
	require.NoError(t, err)
	pbds, err := c.s.GetAllPBDRecords(ctx)
	require.NoError(t, err)
	unplugged := 0
	for ref, pbd := range pbds {
		if srs[pbd.SR].UUID == intro.AttachedSRs[0].UUID && pbd.CurrentlyAttached {
			_, err := c.s.Call(ctx, "PBD.unplug", string(ref))
			require.NoError(t, err)
			unplugged++
		}
	}
	require.Positive(t, unplugged)
	assert.Greater(t, compare(t), before, "units on SR %s", intro.AttachedSRs[0].UUID)
}

// The scan warms the database for the precheck: each of the storage and
// network reads happens once, whether the precheck comes before or after
// the background reads ended.
func TestScanWarmsThePrecheckReads(t *testing.T) {
	for _, wait := range []bool{true, false} {
		f, _, sc := prepared(t)
		scanned := len(f.w.Journal().Entries(0))
		if wait {
			f.a.foreign.bg.Wait() // the warm reads are over
			scanned = len(f.w.Journal().Entries(0))
		}
		us, vms := units(sc)
		var res PrecheckResult
		f.must(&res, f.a.Precheck, &PrecheckInput{Site: "dr", Mode: plan.ModeTestFailover, Units: us, VMs: vms})
		f.a.foreign.bg.Wait()
		warmed := []string{"VIF.get_all_records", "network.get_all_records", "VBD.get_all_records", "SR.get_all_records"}
		reads, byPrecheck := map[string]int{}, 0
		for i, e := range f.w.Journal().Entries(0) {
			if e.Session == "foreign" && slices.Contains(warmed, e.Method) {
				reads[e.Method]++
				if i >= scanned {
					byPrecheck++
				}
			}
		}
		if wait {
			assert.Zero(t, byPrecheck, "the precheck found every read done")
		}
		opens := f.w.Journal().Count("Async.VDI.open_database", "Success")
		for _, m := range warmed {
			assert.Equal(t, opens, reads[m], "%s, one per metadata database (wait %v)", m, wait)
		}
	}
}
