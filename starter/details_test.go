package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// The run's page in the Web UI says when the boots are spread, and only
// for a run that starts VMs.
func TestStaticDetailsNameTheSpreadBoots(t *testing.T) {
	p, _, err := plan.LoadChecked(demoPlan)
	require.NoError(t, err)
	const line = "- boots spread over the pool's hosts (`start.placement: spread`)\n"
	assert.NotContains(t, staticDetails(p, plan.ModeFailover, "alice"), line, "the pool places the boots by default")
	p.Start.Placement = plan.PlacementSpread
	assert.Contains(t, staticDetails(p, plan.ModeFailover, "alice"), line)
	p.Start.TestFailover = plan.StartNone
	assert.NotContains(t, staticDetails(p, plan.ModeTestFailover, "alice"), line, "no VM starts")
}
