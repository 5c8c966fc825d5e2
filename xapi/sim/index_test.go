package sim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The uuid index follows creation, a changed uuid and deletion, and a
// snapshot builds its own.
func TestByUUIDIndexFollowsChanges(t *testing.T) {
	db := newDB()
	db.Create("VM", "OpaqueRef:a", map[string]any{"uuid": "u-a"})
	require.NotNil(t, db.ByUUID("VM", "u-a")) // builds the index
	db.Create("VM", "OpaqueRef:b", map[string]any{"uuid": "u-b"})
	assert.Equal(t, "OpaqueRef:b", db.ByUUID("VM", "u-b").ref)
	db.Set("VM", "OpaqueRef:a", "uuid", "u-a2")
	assert.Nil(t, db.ByUUID("VM", "u-a"))
	assert.Equal(t, "OpaqueRef:a", db.ByUUID("VM", "u-a2").ref)
	snap := db.snapshot()
	db.Delete("VM", "OpaqueRef:b")
	assert.Nil(t, db.ByUUID("VM", "u-b"))
	assert.Equal(t, "OpaqueRef:b", snap.ByUUID("VM", "u-b").ref, "the snapshot keeps its own objects")
	assert.Nil(t, db.ByUUID("VM", "u-none"))
}

// A host's free memory follows the VMs that become resident or leave it,
// and a change of a resident VM's memory.
func TestFreeMemoryFollowsResidency(t *testing.T) {
	db := newDB()
	db.Create("host", "OpaqueRef:h", map[string]any{"uuid": "h"})
	p := &Pool{db: db}
	h := &Host{ref: "OpaqueRef:h", memory: 10 << 30}
	assert.Equal(t, int64(10<<30), p.freeMemory(h))
	db.Create("VM", "OpaqueRef:v", map[string]any{"uuid": "v", "memory_static_max": int64(4 << 30), "resident_on": "OpaqueRef:h"})
	assert.Equal(t, int64(6<<30), p.freeMemory(h))
	db.Set("VM", "OpaqueRef:v", "memory_static_max", int64(2<<30))
	assert.Equal(t, int64(8<<30), p.freeMemory(h))
	db.Set("VM", "OpaqueRef:v", "resident_on", NullRef)
	assert.Equal(t, int64(10<<30), p.freeMemory(h))
}

// event.from skips a class that did not change, and still reports one that did.
func TestCollectEventsSkipsUnchangedClasses(t *testing.T) {
	db := newDB()
	db.Create("VM", "OpaqueRef:v", map[string]any{"uuid": "v"})
	db.Create("task", "OpaqueRef:t", map[string]any{"uuid": "t"})
	since := db.gen
	db.Set("task", "OpaqueRef:t", "status", "success")
	db.Delete("task", "OpaqueRef:t")
	sub := parseSubscription([]string{"VM", "task"})
	evs := collectEvents(db, sub, since)
	var ops []string
	for _, e := range evs {
		ops = append(ops, e.class+" "+e.op)
	}
	assert.Equal(t, []string{"task del"}, ops)
	db.Set("VM", "OpaqueRef:v", "name_label", "x")
	evs = collectEvents(db, sub, since)
	require.Len(t, evs, 2)
	assert.Equal(t, "VM", evs[1].class)
}
