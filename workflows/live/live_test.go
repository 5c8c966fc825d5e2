package live

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

func TestMergeOnlyOverlaysWhatChildrenHold(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	p := &workflows.Progress{Phase: workflows.PhaseStart, StartedAt: t0, UpdatedAt: t0.Add(time.Minute), VMs: []workflows.ObjectState{
		{UUID: "a", Name: "a", State: workflows.StateStarting},
		{UUID: "b", Name: "b", State: workflows.StateStarting},
		{UUID: "c", Name: "c", State: workflows.StateRunning}, // the parent already recorded it
		{UUID: "d", Name: "d", State: workflows.StateStarting},
	}}
	started := t0.Add(2 * time.Minute)
	answers := []Answer{{Start: &workflows.StartVMsProgress{VMs: []workflows.VMStartProgress{
		{VMStart: workflows.VMStart{UUID: "a", PowerState: "Running", StartedAt: started}, State: workflows.StateRunning},
		{VMStart: workflows.VMStart{UUID: "b"}, State: workflows.StateRecovered},
		{VMStart: workflows.VMStart{UUID: "c"}, State: workflows.StateRecovered},
		{VMStart: workflows.VMStart{UUID: "x"}, State: workflows.StateStarting}, // unknown to the parent
	}}}, {}}
	got := Merge(p, answers)
	states := map[string]string{}
	for _, vm := range got.VMs {
		states[vm.UUID] = vm.State
	}
	assert.Equal(t, map[string]string{"a": "running", "b": "recovered", "c": "running", "d": "starting"}, states)
	assert.Equal(t, started, *got.VMs[0].StartedAt)
	assert.Equal(t, 2*time.Minute, got.VMs[0].RTO)
	assert.Equal(t, started, got.UpdatedAt)
	assert.Equal(t, workflows.StateStarting, p.VMs[0].State, "the parent's progress is not modified")
	assert.Nil(t, p.VMs[0].StartedAt)
}
