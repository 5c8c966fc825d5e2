package main

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unitFile is the systemd unit the repository ships.
const unitFile = "../dev/systemd/lifeboat-worker.service"

// readUnit returns the unit's keys by section ("Service.ExecStart").
func readUnit(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	require.NoError(t, err)
	keys := map[string]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "not a key=value line: %q", line)
			keys[section+"."+k] = v
		}
	}
	return keys
}

// The unit starts lifeboat-worker with flags it accepts, stops it after the
// worker's own stop timeout, and does not restart it on a bad configuration.
func TestSystemdUnit(t *testing.T) {
	u := readUnit(t)
	args := strings.Fields(u["Service.ExecStart"])
	require.NotEmpty(t, args)
	assert.Equal(t, "lifeboat-worker", path.Base(args[0]), "the binary make build produces")
	assert.True(t, path.IsAbs(args[0]), "systemd wants an absolute path")

	var stderr bytes.Buffer
	opts, err := parseFlags(args[1:], env(nil), &stderr)
	require.NoError(t, err, "lifeboat-worker refuses the unit's flags: %s", stderr.String())
	assert.Equal(t, "/etc/lifeboat/worker.yaml", opts.configPath)
	assert.Equal(t, "json", opts.logFormat, "journald and collectors read JSON")

	stopWait, err := time.ParseDuration(u["Service.TimeoutStopSec"])
	require.NoError(t, err)
	assert.Greater(t, stopWait, opts.stopTimeout, "systemd must wait longer than the worker lets activities finish")
	assert.Equal(t, strconv.Itoa(exitBadConfig), u["Service.RestartPreventExitStatus"], "a bad configuration is not fixed by restarting")
	assert.Equal(t, "on-failure", u["Service.Restart"])
	assert.NotContains(t, strings.ToLower(u["Service.ExecStart"]+u["Service.Environment"]), "password", "no secret in the unit")
	assert.Equal(t, "multi-user.target", u["Install.WantedBy"])
}

// docs/deploy.md shows the unit: it must be the file, word for word.
func TestDeployDocShowsTheUnit(t *testing.T) {
	unit, err := os.ReadFile(unitFile)
	require.NoError(t, err)
	doc, err := os.ReadFile("../docs/deploy.md")
	require.NoError(t, err)
	assert.Contains(t, string(doc), "```ini\n"+string(unit)+"```\n", "docs/deploy.md's unit differs from dev/systemd/lifeboat-worker.service")
}
