package simadapter

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/activities/adapter"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

const drGold1 = "36001405b0000000000000000000000b1"

func TestAdapterActions(t *testing.T) {
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{FreePorts: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	a := &Adapter{control: w.ControlURL(), http: http.DefaultClient}
	ask := func(action, snapshot string) *adapter.Response {
		req, _ := json.Marshal(adapter.Request{Protocol: adapter.Protocol, Action: action, Site: "dr",
			LUN: adapter.LUN{Type: "lvmoiscsi", SCSIid: drGold1}, Snapshot: snapshot})
		return a.Serve(strings.NewReader(string(req)))
	}

	st := ask(adapter.ActionStatus, "")
	require.True(t, st.OK, "%+v", st.Error)
	assert.Equal(t, adapter.Mirror{Name: "gold-01", State: "replicating", Role: "destination", LagSeconds: 30, LastCopy: st.Mirror.LastCopy}, *st.Mirror)

	snap := ask(adapter.ActionSnapshot, "drill-1")
	require.True(t, snap.OK, "%+v", snap.Error)
	assert.True(t, snap.Snapshot.Created)
	dc := snap.Snapshot.DeviceConfig
	assert.Equal(t, "dr-array.lab", dc["target"])
	assert.Equal(t, "3260", dc["port"])
	assert.Equal(t, "iqn.2026-01.lab.dr-array:gold", dc["targetIQN"])
	assert.Equal(t, st.Mirror.LastCopy, snap.Snapshot.DataAsOf, "a snapshot of the mirror's destination holds its last copy")
	again := ask(adapter.ActionSnapshot, "drill-1")
	assert.False(t, again.Snapshot.Created, "asked twice: the same snapshot")
	assert.Equal(t, dc["SCSIid"], again.Snapshot.DeviceConfig["SCSIid"])
	assert.Equal(t, "replicating", ask(adapter.ActionStatus, "").Mirror.State, "a snapshot leaves the mirror alone")

	del := ask(adapter.ActionDeleteSnapshot, "drill-1")
	assert.True(t, del.OK && del.Deleted)
	del = ask(adapter.ActionDeleteSnapshot, "drill-1")
	assert.True(t, del.OK, "deleting what is gone is done")
	assert.False(t, del.Deleted)

	p := ask(adapter.ActionPromote, "")
	require.True(t, p.OK, "%+v", p.Error)
	assert.Equal(t, "split", p.Mirror.State)
	assert.Equal(t, "split", ask(adapter.ActionPromote, "").Mirror.State, "promote twice")
	r := ask(adapter.ActionReverse, "")
	assert.Equal(t, "reversed", r.Mirror.State)

	bad := a.Serve(strings.NewReader(`{"protocol":1,"action":"status","lun":{"scsi_id":"nope"}}`))
	assert.False(t, bad.OK)
	assert.Equal(t, adapter.CodeNotFound, bad.Error.Code)
	bad = a.Serve(strings.NewReader(`{"protocol":2,"action":"status","lun":{"scsi_id":"x"}}`))
	assert.Equal(t, adapter.CodeUnsupported, bad.Error.Code)

	down := (&Adapter{control: "http://127.0.0.1:1", http: http.DefaultClient}).Serve(strings.NewReader(`{"protocol":1,"action":"status","lun":{"scsi_id":"x"}}`))
	assert.Equal(t, adapter.CodeUnavailable, down.Error.Code)
	assert.True(t, down.Error.Retryable)
}

// -version answers without reading a request or calling the simulator.
func TestMainVersion(t *testing.T) {
	var out strings.Builder
	assert.Equal(t, 0, Main([]string{"-version"}, strings.NewReader(""), &out))
	assert.True(t, strings.HasPrefix(out.String(), "xapisim-adapter "), out.String())
}
