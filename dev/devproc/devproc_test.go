package devproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaitForLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "w.log")
	require.NoError(t, os.WriteFile(log, []byte("boot\n"+WorkerStarted+"\n"), 0o644))
	running := make(chan struct{})
	assert.NoError(t, WaitForLog(context.Background(), "w", log, WorkerStarted, time.Minute, running, nil))

	// The process ends before it says it is up: its exit is the error.
	require.NoError(t, os.WriteFile(log, []byte("boot\n"), 0o644))
	exited := make(chan struct{})
	close(exited)
	err := WaitForLog(context.Background(), "w", log, WorkerStarted, time.Minute, exited, func() error { return errors.New("exit status 2") })
	assert.ErrorContains(t, err, "w exited while starting (exit status 2)")

	// Cancelled while it waits.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, WaitForLog(ctx, "w", log, WorkerStarted, time.Minute, running, nil), context.Canceled)

	addr, err := FreeAddr()
	require.NoError(t, err)
	assert.Contains(t, addr, "127.0.0.1:")
}
