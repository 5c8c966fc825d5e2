package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdapters(t *testing.T) {
	const good = `sites:
  dr:
    url: https://dr.example.com
    username: lifeboat
    password_env: DR_PASSWORD
    adapter: array-dr
adapters:
  array-dr:
    command: [./bin/array-adapter, --profile, dr]
    timeout: 45s
`
	c, err := Parse([]byte(good), "w.yaml")
	require.NoError(t, err)
	c.resolvePaths("/etc/lifeboat")
	assert.Equal(t, []string{filepath.Join("/etc/lifeboat", "bin/array-adapter"), "--profile", "dr"}, c.Adapters["array-dr"].Command)
	sites, _, err := c.ResolveWith(func(string) (string, bool) { return "pw", true })
	require.NoError(t, err)
	a := sites["dr"].Adapter
	assert.Equal(t, "array-dr", a.Name)
	assert.Equal(t, 45*time.Second, a.Timeout)
	assert.Equal(t, "dr", a.Command[2])

	_, err = Parse([]byte(`sites:
  dr: {url: https://dr, username: u, password_env: P, adapter: nope}
adapters:
  bad name: {command: [x]}
  empty: {timeout: -1s}
`), "w.yaml")
	assert.EqualError(t, err, strings.Join([]string{
		"w.yaml:2:64: sites.dr.adapter: no adapter is named nope; define it under adapters: (command and timeout) or remove adapter from site dr",
		"w.yaml:4:3: adapters.bad name: adapter name \"bad name\" is used in plans; use letters, digits, '-', '_' and '.'",
		"w.yaml:5:3: adapters.empty: adapter empty has no command; add command: [path/to/adapter, its arguments...]",
		"w.yaml:5:20: adapters.empty.timeout: the timeout is negative; write 0 for the default (2m) or a duration such as 30s",
	}, "\n"))
}
