package activities

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Promoting a vApp whose members a test left paused: xapi's VM_appliance.start
// would call VM.start on the paused member and fail OPERATION_PARTIALLY_FAILED;
// lifeboat starts members one by one (StartBatch), unpausing a paused one, so
// the vApp comes up whole and VM_appliance.start is never called.
func TestStartBatchPromotesAPausedVApp(t *testing.T) {
	f, _, sc := prepared(t)
	recoverSome(t, f, sc, "crm")
	var uuids []string
	for _, va := range sc.VApps {
		if va.Name == "crm" {
			for _, vm := range va.VMs {
				uuids = append(uuids, vm.UUID)
			}
		}
	}
	require.Len(t, uuids, 2)
	var r StartVMResult
	f.must(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: uuids[0], Paused: true})
	require.Equal(t, "Paused", r.PowerState)
	var res StartBatchResult
	f.must(&res, f.a.StartBatch, &StartBatchInput{Site: "dr", VMUUIDs: uuids})
	for _, vm := range res.VMs {
		assert.Empty(t, vm.Error)
		assert.Equal(t, "Running", vm.PowerState)
	}
	assert.Zero(t, f.w.Journal().Count("Async.VM_appliance.start", "")+f.w.Journal().Count("VM_appliance.start", ""))
	assert.Equal(t, 1, f.w.Journal().Count("VM.unpause", ""))
}
