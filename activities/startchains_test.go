package activities

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A stage's chains begin once every chain of the stage before has ended,
// whatever their outcome; the entries stay in input order.
func TestRunChainsRunsStagesInTurn(t *testing.T) {
	vm := func(u string) VMRef { return VMRef{UUID: u, Name: u} }
	chains := []StartChain{
		// Given out of stage order: the stage, not the position, decides.
		{Label: "web", Stage: 2, Steps: [][]VMRef{{vm("web-1"), vm("web-2")}}},
		{Label: "vApp db", Stage: 0, Steps: [][]VMRef{{vm("db-1")}, {vm("app-1")}}},
		{Label: "tier1", Stage: 0, Steps: [][]VMRef{{vm("t1-bad")}}},
		{Label: "rest", Stage: 1, Steps: [][]VMRef{{vm("misc-1")}}},
	}
	stageOf := map[string]int{"web-1": 2, "web-2": 2, "db-1": 0, "app-1": 0, "t1-bad": 0, "misc-1": 1}
	var mu sync.Mutex
	var order []string
	ended := map[int]int{} // stage -> VMs returned
	size := map[int]int{0: 3, 1: 1, 2: 2}
	out := RunChains(context.Background(), chains, func(v VMRef, _ int) StartedVM {
		mu.Lock()
		defer mu.Unlock()
		st := stageOf[v.UUID]
		for below := 0; below < st; below++ {
			assert.Equal(t, size[below], ended[below], "%s began before stage %d ended", v.UUID, below)
		}
		order = append(order, v.UUID)
		ended[st]++
		if v.UUID == "t1-bad" {
			return StartedVM{UUID: v.UUID, Error: "HOST_NOT_ENOUGH_FREE_MEMORY"}
		}
		return StartedVM{UUID: v.UUID, PowerState: "Running"}
	})
	require.Len(t, out, 6)
	var got []string
	for _, r := range out {
		got = append(got, r.UUID)
	}
	assert.Equal(t, []string{"web-1", "web-2", "db-1", "app-1", "t1-bad", "misc-1"}, got, "input order")
	assert.Equal(t, "HOST_NOT_ENOUGH_FREE_MEMORY", out[4].Error)
	assert.Equal(t, "Running", out[5].PowerState, "a failure in one stage does not hold back the next")
	assert.Len(t, order, 6)
}

// Once the context is done no later stage begins.
func TestRunChainsStopsBetweenStages(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chains := []StartChain{
		{Stage: 0, Steps: [][]VMRef{{{UUID: "a"}}}},
		{Stage: 1, Steps: [][]VMRef{{{UUID: "b"}}}},
	}
	var started []string
	out := RunChains(ctx, chains, func(v VMRef, _ int) StartedVM {
		started = append(started, v.UUID)
		cancel()
		return StartedVM{UUID: v.UUID, PowerState: "Running"}
	})
	assert.Equal(t, []string{"a"}, started)
	assert.Equal(t, StartedVM{}, out[1])
}
