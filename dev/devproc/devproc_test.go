package devproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
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

// A started process's log gets its output; Stop ends it with the signal
// when it obeys, and kills it when it does not within the grace time.
func TestProcStartStopKill(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "p.log")
	require.NoError(t, os.WriteFile(log, []byte("an earlier run\n"), 0o644))
	p, err := Start(Command{Name: "echo", Path: "/bin/sh", Args: []string{"-c", "echo up; exec sleep 60"}, Env: os.Environ(), Log: log})
	require.NoError(t, err)
	require.NoError(t, WaitForLog(context.Background(), "echo", log, "up", 10*time.Second, p.Done, func() error { return p.Err }))
	assert.False(t, LogContains(log, "an earlier run"), "the log starts empty")
	assert.True(t, p.Stop(syscall.SIGTERM, 10*time.Second), "sleep obeys SIGTERM")
	assert.True(t, p.Exited())

	p, err = Start(Command{Name: "stubborn", Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; echo stubborn; while :; do sleep 1; done"}, Env: os.Environ(), Log: log, AppendLog: true})
	require.NoError(t, err)
	// Its own line: the appended log still holds the first process's.
	require.NoError(t, WaitForLog(context.Background(), "stubborn", log, "stubborn", 10*time.Second, p.Done, func() error { return p.Err }))
	assert.True(t, LogContains(log, "up"), "the log was appended to")
	assert.False(t, p.Stop(syscall.SIGTERM, 50*time.Millisecond), "a process that ignores SIGTERM is killed")
	assert.True(t, p.Exited())
}
