package sim_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// A snapshot of a mirror's destination is a LUN of its own that a pool can probe and
// introduce while the mirror goes on replicating; it cannot be deleted under an SR.
func TestSnapshotOfAReplicatingDestination(t *testing.T) {
	w := startDemo(t)
	ct := w.Control()
	var snap sim.SnapshotState
	require.Equal(t, 200, ctl(t, w, "POST", "/luns/"+drLUN0["SCSIid"]+"/snapshots", `{"name":"drill-gold-1"}`, &snap))
	assert.Equal(t, drLUN0["SCSIid"], snap.Source)
	assert.NotEqual(t, drLUN0["SCSIid"], snap.SCSIid)
	assert.Len(t, snap.SCSIid, len(drLUN0["SCSIid"]))
	assert.Equal(t, 3, snap.LUNid, "the next LUN number of dr-array")
	assert.Equal(t, "dr-array.lab", snap.Target)
	assert.Equal(t, gold01UUID, snap.SR)
	assert.Equal(t, "gold-01", snap.Mirror)

	// Asked again under the same name: the same snapshot, not a second one.
	again, err := ct.TakeSnapshot("drill-gold-1", drLUN0["SCSIid"], "")
	require.NoError(t, err)
	assert.Equal(t, snap.SCSIid, again.SCSIid)
	_, err = ct.TakeSnapshot("drill-gold-1", drLUN1["SCSIid"], "")
	assert.ErrorContains(t, err, "already used")
	_, err = ct.TakeSnapshot("x", "36001405nope", "")
	assert.ErrorAs(t, err, new(*sim.ErrNotFound))
	st := ct.State()
	require.Len(t, st.Snapshots, 1)

	// The DR pool probes the snapshot (metadata included) and introduces its SR
	// while the mirror replicates; the mirror's destination itself stays read-only.
	f := newFailover(t, w)
	c, s := f.c, f.s
	snapDC := map[string]string{"target": "dr-array.lab", "port": "3260", "targetIQN": "iqn.2026-01.lab.dr-array:gold", "SCSIid": snap.SCSIid}
	list := c.str("SR.probe", s, f.host, snapDC, "lvmoiscsi", map[string]string{"metadata": "true"})
	assert.Contains(t, list, "<UUID>"+gold01UUID+"</UUID>")
	assert.Contains(t, list, "<pool_metadata_detected>true</pool_metadata_detected>")
	dt := c.str("DR_task.create", s, "lvmoiscsi", snapDC, []string{gold01UUID})
	srs := c.refs("DR_task.get_introduced_SRs", s, dt)
	require.Len(t, srs, 1)
	assert.NotEmpty(t, findMetadata(t, f), "the snapshot holds the primary's metadata VDI")
	for _, m := range ct.State().Mirrors {
		assert.Equal(t, sim.MirrorReplicating, m.State, "mirror %s", m.Name)
	}
	require.NoError(t, ct.SyncMirror("gold-01"), "the mirror still copies")

	err = ct.DeleteSnapshot("drill-gold-1")
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "in use by SR gold-01"), err.Error())
	c.must("DR_task.destroy", s, dt)
	require.NoError(t, ct.DeleteSnapshot("drill-gold-1"))
	assert.ErrorAs(t, ct.DeleteSnapshot("drill-gold-1"), new(*sim.ErrNotFound))
	assert.Equal(t, 404, ctl(t, w, "DELETE", "/snapshots/drill-gold-1", "", nil))
	assert.Empty(t, ct.State().Snapshots)
	e := c.fails("SR.probe", s, f.host, snapDC, "lvmoiscsi", map[string]string{"metadata": "true"})
	assert.Equal(t, "SR_BACKEND_FAILURE_107", e[0], "the deleted LUN is gone")
}

// The snapshot holds the image as of when it was taken: later copies of the mirror do
// not reach it.
func TestSnapshotIsAPointInTimeCopy(t *testing.T) {
	w := startDemo(t)
	ct := w.Control()
	snap, err := ct.TakeSnapshot("fc", drFC["SCSIid"], "3600a0b80000000000000000000005a")
	require.NoError(t, err)
	assert.Equal(t, "fc", snap.Kind)
	gen := func(scsi string) int64 {
		for _, l := range ct.State().LUNs {
			if l.SCSIid == scsi && len(l.Metadata) > 0 {
				return l.Metadata[0].Generation
			}
		}
		return -1
	}
	before := gen(snap.SCSIid)
	require.Positive(t, before)
	// A change at the primary reaches the mirror's destination, not the snapshot.
	c := rpc{t: t, url: w.PoolURL("Primary")}
	s := c.login("root")
	vm, _ := c.byName("VM", s, "dns-01")
	c.must("VM.set_name_description", s, vm, "changed after the snapshot")
	require.NoError(t, ct.SyncMirror("fc-silver-01"))
	assert.Greater(t, gen(drFC["SCSIid"]), before)
	assert.Equal(t, before, gen(snap.SCSIid))
}

func TestScenarioSnapshots(t *testing.T) {
	sc := sim.DemoScenario()
	sc.Snapshots = []sim.SnapshotSpec{{Name: "weekly-gold-1", Source: drLUN0["SCSIid"]}}
	w, err := sim.Start(t.Context(), sc, sim.Options{FreePorts: true})
	require.NoError(t, err)
	defer w.Close()
	st := w.Control().State()
	require.Len(t, st.Snapshots, 1)
	assert.Equal(t, gold01UUID, st.Snapshots[0].SR)

	for _, bad := range []struct{ yaml, want string }{
		{"snapshots:\n  - {name: a, source: nope}\n", `line 2: snapshot "a": no LUN with scsi_id "nope"`},
		{"snapshots:\n  - {source: " + drLUN0["SCSIid"] + "}\n", "line 2: snapshot without a name"},
	} {
		_, err := sim.ParseScenario(append(sim.DemoYAML(), []byte(bad.yaml)...))
		require.Error(t, err)
		assert.Contains(t, err.Error(), strings.TrimPrefix(bad.want, "line 2: "))
	}
}
