//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// TestReadinessAndProtect drives lifeboat readiness and protect against a
// real worker, as an operator or a monitoring script would: the demo world
// day to day is ready (exit 0) and changes nothing; protect --dry-run says
// what it would change and changes nothing; with the primary site down,
// readiness says not ready (exit 1) and names the site. The mirrors' state
// comes from the worker's storage adapter: replicating, a drill (test
// failover on snapshots) would work; a split mirror is named.
func TestReadinessAndProtect(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	e := newWorkerEnv(t, w)
	e.start()

	src, err := os.ReadFile("../../dev/plans/demo.yaml")
	require.NoError(t, err)
	planFile := filepath.Join(t.TempDir(), "ready.yaml")
	require.NoError(t, os.WriteFile(planFile, bytes.Replace(src, []byte("\nname: demo\n"), []byte("\nname: e2e-ready\n"), 1), 0o600))

	before := w.Control().State()
	res := lifeboat(t, e, "readiness", "--plan", planFile)
	require.Equal(t, exitcode.OK, res.code, "readiness of the healthy world: %s", res.stderr)
	assert.Contains(t, res.stdout, "READY  A failover of plan e2e-ready from site primary to site dr would work now")

	res = lifeboat(t, e, "protect", "--site", "primary", "--sr", "gold-01", "--sr", "gold-02", "--dry-run")
	require.Equal(t, exitcode.OK, res.code, "protect --dry-run: %s", res.stderr)
	assert.Contains(t, res.stdout, "would change 2 SRs (nothing was changed)")
	after := w.Control().State()
	for i := range before.Pools {
		assert.Equal(t, before.Pools[i].SRs, after.Pools[i].SRs, "readiness and a dry run change nothing")
		assert.Equal(t, before.Pools[i].VMs, after.Pools[i].VMs)
	}

	// The weekly drill's question, answered by the worker's storage adapter:
	// every mirror replicates, so a test failover on its snapshots works.
	res = lifeboat(t, e, "--output", "json", "readiness", "--plan", planFile, "--mode", "test-failover")
	require.Equal(t, exitcode.OK, res.code, "readiness of a drill: %s", res.stdout)
	got := readinessJSON(t, res.stdout)
	assert.True(t, got.Ready)
	assert.Equal(t, 3, got.count("mirror", "ok", "replicates"), "each storage's mirror, from the adapter: %s", res.stdout)
	assert.Empty(t, w.Control().State().Snapshots, "readiness makes no snapshot")

	require.NoError(t, w.Control().SplitMirror("gold-01"))
	res = lifeboat(t, e, "--output", "json", "readiness", "--plan", planFile, "--mode", "test-failover")
	assert.Equal(t, exitcode.RunFailed, res.code, "a split mirror: not ready")
	got = readinessJSON(t, res.stdout)
	assert.Equal(t, 1, got.count("mirror", "problem", "mirror gold-01 is split"), res.stdout)
	require.NoError(t, w.Control().ResumeMirror("gold-01"))

	w.primaryDown(t)
	res = lifeboat(t, e, "--output", "json", "readiness", "--plan", planFile)
	assert.Equal(t, exitcode.RunFailed, res.code, "not ready")
	got = readinessJSON(t, res.stdout)
	assert.False(t, got.Ready)
	found := false
	for _, c := range got.Checks {
		if c.Check == "reachable" && c.Object == "site primary" && c.Severity == workflows.SeverityProblem {
			found = true
		}
	}
	assert.True(t, found, "the lost site is named: %s", res.stdout)
}

type readinessOut struct {
	Ready  bool `json:"ready"`
	Checks []struct {
		Check, Object, Severity, Message string
	} `json:"checks"`
}

func readinessJSON(t *testing.T, out string) readinessOut {
	t.Helper()
	var got readinessOut
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	return got
}

// count is how many checks of that name and severity say text.
func (r readinessOut) count(check, severity, text string) int {
	n := 0
	for _, c := range r.Checks {
		if c.Check == check && c.Severity == severity && strings.Contains(c.Message, text) {
			n++
		}
	}
	return n
}
