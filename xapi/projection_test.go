package xapi

import (
	"context"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// decodeBoth decodes body with and without proj into two values of T.
func decodeBoth[T any](t *testing.T, body string, proj *projection) (full, projected T, tree any) {
	t.Helper()
	require.NotNil(t, proj)
	v, err := decodeResponse([]byte(body), nil)
	require.NoError(t, err)
	require.NoError(t, decodeInto(v, &full))
	tree, err = decodeResponse([]byte(body), proj)
	require.NoError(t, err)
	require.NoError(t, decodeInto(tree, &projected))
	return full, projected, tree
}

func TestProjectionDecodesTheSameRecords(t *testing.T) {
	t.Run("get_record", func(t *testing.T) {
		full, got, tree := decodeBoth[VM](t, golden(t, "vm_record.xml"), recordProjection[VM](depthRecord))
		assert.Equal(t, full, got)
		assert.NotEmpty(t, got.UUID)
		assert.Contains(t, tree.(map[string]any), "other_config", "a kept map stays")
	})
	t.Run("get_all_records", func(t *testing.T) {
		full, got, tree := decodeBoth[map[Ref]VM](t, golden(t, "vm_all_records.xml"), recordProjection[VM](depthAllRecords))
		assert.Equal(t, full, got)
		require.NotEmpty(t, got)
		for _, rec := range tree.(map[string]any) {
			assert.Contains(t, rec, "power_state")
		}
	})
	t.Run("event.from", func(t *testing.T) {
		full, got, tree := decodeBoth[EventBatch](t, golden(t, "event_from.xml"), snapshotProjection([]string{"task/OpaqueRef:task-1"}))
		require.Len(t, got.Events, len(full.Events))
		for i := range full.Events {
			f, g := full.Events[i], got.Events[i]
			f.Snapshot, g.Snapshot = nil, nil
			assert.Equal(t, f, g, "the events' own fields are untouched")
		}
		assert.Equal(t, full.Token, got.Token)
		var fullTask, task taskStatus
		require.NoError(t, full.Events[0].DecodeSnapshot(&fullTask))
		require.NoError(t, got.Events[0].DecodeSnapshot(&task))
		assert.Equal(t, fullTask, task, "a task's status, result and error are kept")
		assert.Equal(t, TaskSuccess, task.Status)
		assert.Len(t, got.Events[0].Snapshot, len(fieldsOf(reflect.TypeFor[taskStatus]())), "the task's other fields are dropped")
		assert.Len(t, tree.(map[string]any)["events"], len(full.Events))
	})
}

func TestProjectionKeepsNestedMembers(t *testing.T) {
	// other_config's keys are members of a struct one level below the
	// records: they are never dropped, whatever their names.
	body := success(`<value><struct><member><name>OpaqueRef:1</name><value><struct>` +
		`<member><name>uuid</name><value>u1</value></member>` +
		`<member><name>PV_kernel</name><value><struct><member><name>uuid</name><value>x</value></member></struct></value></member>` +
		`<member><name>other_config</name><value><struct><member><name>PV_kernel</name><value>kept</value></member></struct></value></member>` +
		`<member><name>HVM_boot_params</name><value><struct><member><name>order</name><value>dc</value></member></struct></value></member>` +
		`<member><name>power_state</name><value>Running</value></member>` +
		`</struct></value></member></struct></value>`)
	full, got, tree := decodeBoth[map[Ref]VM](t, body, recordProjection[VM](depthAllRecords))
	assert.Equal(t, full, got)
	assert.Equal(t, map[string]string{"PV_kernel": "kept"}, got["OpaqueRef:1"].OtherConfig)
	assert.Equal(t, "Running", got["OpaqueRef:1"].PowerState)
	rec := tree.(map[string]any)["OpaqueRef:1"].(map[string]any)
	assert.NotContains(t, rec, "PV_kernel", "a field VM does not decode is dropped")
	assert.NotContains(t, rec, "HVM_boot_params")
	assert.Len(t, rec, 3)
}

func TestSnapshotProjection(t *testing.T) {
	assert.Nil(t, snapshotProjection([]string{"*"}), "every class: no projection")
	assert.Nil(t, snapshotProjection([]string{"VM", "SR"}), "a class without a record type here: none")
	p := snapshotProjection([]string{"VM", "VM_appliance"})
	require.NotNil(t, p)
	assert.True(t, p.keep["power_state"] && p.keep["VMs"], "the union of both record types")
	assert.Same(t, snapshotProjection([]string{"task/OpaqueRef:a"}), snapshotProjection([]string{"task/OpaqueRef:b"}),
		"one projection per class, not per object")
}

// TestProjectionAgainstTheSimulator reads the demo world's VMs as the
// simulator renders them (every field of the datamodel, as xapi does) with
// and without the projection.
func TestProjectionAgainstTheSimulator(t *testing.T) {
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{Speed: 0, FreePorts: true, ControlAddr: "-"})
	require.NoError(t, err)
	defer w.Close()
	ctx := context.Background()
	c, err := NewClient(w.PoolURL("Primary"))
	require.NoError(t, err)
	s, err := c.Login(ctx, "root", "lifeboat")
	require.NoError(t, err)

	raw, err := s.call(ctx, "VM.get_all_records")
	require.NoError(t, err)
	var full map[Ref]VM
	require.NoError(t, decodeInto(raw, &full))
	got, err := s.GetAllVMRecords(ctx)
	require.NoError(t, err)
	assert.Equal(t, full, got)
	require.NotEmpty(t, got)
	for _, rec := range raw.(map[string]any) {
		assert.Greater(t, len(rec.(map[string]any)), len(fieldsOf(reflect.TypeFor[VM]())), "the simulator sends fields VM does not decode")
		break
	}

	// The summary a plan reads is the full record's, field for field.
	sums, err := getAllRecords[Ref, VMSummaryRecord[Ref]](ctx, s, "VM")
	require.NoError(t, err)
	require.Len(t, sums, len(full))
	for ref, vm := range full {
		assert.Equal(t, VMSummaryRecord[Ref]{UUID: vm.UUID, NameLabel: vm.NameLabel, PowerState: vm.PowerState,
			IsATemplate: vm.IsATemplate, IsASnapshot: vm.IsASnapshot, IsControlDomain: vm.IsControlDomain,
			Appliance: vm.Appliance, Order: vm.Order, StartDelay: vm.StartDelay, Version: vm.Version,
			MemoryStaticMax: vm.MemoryStaticMax, VIFs: vm.VIFs, VBDs: vm.VBDs, Tags: vm.Tags}, sums[ref])
		assert.Equal(t, vm.IsRealVM(), sums[ref].IsRealVM())
	}

	vdis, err := s.GetAllVDIRecords(ctx)
	require.NoError(t, err)
	vsums, err := s.GetAllVDISummaries(ctx)
	require.NoError(t, err)
	require.Len(t, vsums, len(vdis))
	for ref, v := range vdis {
		assert.Equal(t, VDISummary{UUID: v.UUID, NameLabel: v.NameLabel, SR: v.SR, VBDs: v.VBDs, Type: v.Type,
			MetadataOfPool: v.MetadataOfPool, MetadataLatest: v.MetadataLatest}, vsums[ref])
	}

	vbds, err := s.GetAllVBDRecords(ctx)
	require.NoError(t, err)
	bsums, err := getAllRecords[Ref, VBDSummaryRecord[Ref]](ctx, s, "VBD")
	require.NoError(t, err)
	require.Len(t, bsums, len(vbds))
	require.NotEmpty(t, vbds)
	for ref, v := range vbds {
		assert.Equal(t, VBDSummaryRecord[Ref]{VM: v.VM, VDI: v.VDI, Type: v.Type}, bsums[ref])
	}

	vifs, err := s.GetAllVIFRecords(ctx)
	require.NoError(t, err)
	fsums, err := getAllRecords[Ref, VIFSummaryRecord[Ref]](ctx, s, "VIF")
	require.NoError(t, err)
	require.Len(t, fsums, len(vifs))
	for ref, v := range vifs {
		assert.Equal(t, VIFSummaryRecord[Ref]{UUID: v.UUID, Network: v.Network, VM: v.VM}, fsums[ref])
	}

	b, err := s.EventFrom(ctx, []string{"VM", "VM_appliance"}, "", 0)
	require.NoError(t, err)
	rawEvents, err := s.call(ctx, "event.from", []string{"VM", "VM_appliance"}, "", 0.0)
	require.NoError(t, err)
	var fullBatch EventBatch
	require.NoError(t, decodeInto(rawEvents, &fullBatch))
	require.Len(t, b.Events, len(fullBatch.Events))
	// A VM's snapshot holds what VMState follows, a vApp's every field of
	// VMAppliance, as the full snapshot decodes them.
	vms := 0
	for i, ev := range b.Events {
		if ev.Class == "vm" {
			vms++
			var a, want VMState
			require.NoError(t, ev.DecodeSnapshot(&a))
			require.NoError(t, fullBatch.Events[i].DecodeSnapshot(&want))
			assert.Equal(t, want, a, "event %d (%s)", i, ev.Class)
			continue
		}
		var a, want VMAppliance
		require.NoError(t, ev.DecodeSnapshot(&a))
		require.NoError(t, fullBatch.Events[i].DecodeSnapshot(&want))
		assert.Equal(t, want, a, "event %d (%s)", i, ev.Class)
	}
	assert.Positive(t, vms)
}
