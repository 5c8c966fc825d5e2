package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileShell is a shell set up for a production cluster: nothing of it may
// reach the processes the demo starts.
var hostileShell = map[string]string{
	"LIFEBOAT_ADDRESS":        "temporal.prod.example.com:7233",
	"LIFEBOAT_NAMESPACE":      "dr-prod",
	"LIFEBOAT_CONFIG":         "/etc/lifeboat/worker.yaml",
	"LIFEBOAT_UI_URL":         "https://temporal.prod.example.com",
	"LIFEBOAT_DEMO_PASSWORD":  "not-the-demo-one",
	"TEMPORAL_ADDRESS":        "temporal.prod.example.com:7233",
	"TEMPORAL_NAMESPACE":      "dr-prod",
	"TEMPORAL_TLS_CERT":       "/etc/lifeboat/prod.pem",
	"LIFEBOAT_TEST_UNRELATED": "x",
}

// envOf runs a stand-in bin/lifeboat (or worker) that prints its environment,
// so the test sees what the real child process would get.
func envOf(t *testing.T, cmdline func() ([]string, error)) map[string]string {
	t.Helper()
	out, err := cmdline()
	require.NoError(t, err)
	env := map[string]string{}
	for _, kv := range out {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func standIns(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, stateDir), 0o755))
	for _, b := range []string{"lifeboat", "lifeboat-worker"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", b), []byte("#!/bin/sh\nenv\n"), 0o755))
	}
	t.Chdir(dir)
	for k, v := range hostileShell {
		t.Setenv(k, v)
	}
	t.Setenv("PATH", os.Getenv("PATH"))
}

func TestDemoCLIIgnoresTheUsersShell(t *testing.T) {
	standIns(t)
	env := envOf(t, func() ([]string, error) {
		out, err := lifeboatCmd(context.Background(), os.Environ(), "status", "x").Output()
		return strings.Split(strings.TrimSpace(string(out)), "\n"), err
	})
	assert.Equal(t, "127.0.0.1:7233", env["LIFEBOAT_ADDRESS"])
	assert.Equal(t, "default", env["LIFEBOAT_NAMESPACE"])
	assert.Equal(t, "http://127.0.0.1:8233", env["LIFEBOAT_UI_URL"])
	for k := range hostileShell {
		if k == "LIFEBOAT_ADDRESS" || k == "LIFEBOAT_NAMESPACE" || k == "LIFEBOAT_UI_URL" {
			continue
		}
		assert.NotContains(t, env, k, "the demo's CLI must not see the shell's %s", k)
	}
	assert.NotEmpty(t, env["PATH"], "the rest of the environment is kept")
}

func TestDemoWorkerIgnoresTheUsersShell(t *testing.T) {
	standIns(t)
	st := &stack{}
	p, err := st.start("worker", "bin/lifeboat-worker", []string{"LIFEBOAT_DEMO_PASSWORD=" + demoPassword}, "-config", workerConfig)
	require.NoError(t, err)
	<-p.Done
	require.NoError(t, p.Err)
	env := envOf(t, func() ([]string, error) {
		b, err := os.ReadFile(p.Log)
		return strings.Split(strings.TrimSpace(string(b)), "\n"), err
	})
	assert.Equal(t, demoPassword, env["LIFEBOAT_DEMO_PASSWORD"])
	for k := range hostileShell {
		if k != "LIFEBOAT_DEMO_PASSWORD" {
			assert.NotContains(t, env, k)
		}
	}
}

// The demo's verdict is the CLI's: its exit code for the report.
func TestOutcomeOf(t *testing.T) {
	for code, want := range map[int]string{0: "succeeded", 1: "failed", 4: "rejected", 5: "aborted", 7: "failed"} {
		assert.Equal(t, want, outcomeOf(code), "exit %d", code)
	}
}
