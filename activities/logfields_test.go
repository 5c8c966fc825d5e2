package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestLogLinesCarryTheContextFields(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	a, err := New(nil, nil, zap.New(core))
	require.NoError(t, err)
	ctx := WithLogFields(context.Background(), zap.String("workflow_id", "lifeboat-p-failover"), zap.String("plan", "p"))
	ctx = WithLogFields(ctx, zap.String("step", "Recover"))
	a.logger(ctx).Info("recovered")
	a.logger(context.Background()).Info("plain")

	entries := logs.AllUntimed()
	require.Len(t, entries, 2)
	assert.Equal(t, map[string]any{"workflow_id": "lifeboat-p-failover", "plan": "p", "step": "Recover"}, entries[0].ContextMap())
	assert.Empty(t, entries[1].ContextMap())
}
