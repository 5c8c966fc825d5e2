package sim

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A set grown in place (addToSet) must look the same to every stored
// version of its object, to a snapshot taken along the way and to a
// caller that appends to what Refs returned.
func TestSetAppendInPlaceKeepsVersionsApart(t *testing.T) {
	db := newDB()
	db.Create("network", "net", map[string]any{"uuid": "n"})
	vif := func(db *DB, i int) string {
		ref := fmt.Sprintf("vif-%d", i)
		db.Create("VIF", ref, map[string]any{"network": "net"})
		return ref
	}
	var want []string
	for i := range 20 {
		want = append(want, vif(db, i))
	}
	before := db.Get("network", "net")
	snap := db.snapshot()

	// The live database and the snapshot each add their own VIF.
	want = append(want, vif(db, 100))
	vif(snap, 200)
	assert.Equal(t, want, db.Get("network", "net").Refs("VIFs"))
	assert.Equal(t, append(append([]string{}, want[:20]...), "vif-200"), snap.Get("network", "net").Refs("VIFs"))
	assert.Equal(t, want[:20], before.Refs("VIFs"), "an earlier version of the record is unchanged")

	// A caller's append never writes into the set's spare room.
	mine := append(db.Get("network", "net").Refs("VIFs"), "not-stored")
	want = append(want, vif(db, 101))
	assert.Equal(t, want, db.Get("network", "net").Refs("VIFs"))
	assert.Equal(t, "not-stored", mine[len(mine)-1])

	// Removing and re-adding keeps the set exact.
	db.Delete("VIF", "vif-3")
	want = append(want[:3:3], want[4:]...)
	require.Equal(t, want, db.Get("network", "net").Refs("VIFs"))
	want = append(want, vif(db, 3))
	assert.Equal(t, want, db.Get("network", "net").Refs("VIFs"))
	// Moving a VIF to another network is not a fresh add: no duplicate.
	db.Create("network", "other", map[string]any{"uuid": "o"})
	db.Set("VIF", "vif-5", "network", "other")
	db.Set("VIF", "vif-5", "network", "net")
	got := db.Get("network", "net").Refs("VIFs")
	assert.Len(t, got, len(want))
	assert.ElementsMatch(t, want, got)
}
