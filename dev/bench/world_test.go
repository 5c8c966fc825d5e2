package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// The generated plan is one a user could write: it passes plan check, names every LUN,
// and its priority groups split the world as the lower bound assumes.
func TestGeneratedPlan(t *testing.T) {
	w, err := NewWorld(1000, "", "spread")
	require.NoError(t, err)
	p, problems, err := plan.Check(w.Plan, "plan.yaml")
	require.NoError(t, err)
	assert.Empty(t, problems)
	assert.Len(t, p.Storage, len(w.Scenario.Mirrors))
	require.Len(t, p.PriorityGroups, 3)
	assert.Equal(t, plan.Concurrency{}, p.Concurrency, "plan defaults: the benchmark runs what users run")

	groups := w.Units()
	require.Len(t, groups, 4)
	vms, apps := 0, 0
	for i, g := range groups {
		assert.NotEmpty(t, g, "group %d", i)
		for _, u := range g {
			vms += len(u.VMs)
			if len(u.VMs) > 1 {
				apps++
			}
		}
	}
	assert.Equal(t, 1000, vms)
	assert.Equal(t, 100, apps)
	for _, u := range groups[1] {
		assert.Len(t, u.VMs, 1, "tier1 holds standalone VMs")
	}
	work := w.Work()
	assert.Equal(t, 20, work.Hosts)
	assert.Equal(t, 1, work.Databases, "one source pool, whatever the number of its metadata copies")

	w, err = NewWorld(100, "{recover: 20, start: 64}", "")
	require.NoError(t, err)
	p, _, err = plan.Check(w.Plan, "plan.yaml")
	require.NoError(t, err)
	assert.Equal(t, 20, p.Concurrency.Recover)
}
