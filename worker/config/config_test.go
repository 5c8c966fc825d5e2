package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadFull(t *testing.T) {
	c, err := Load("testdata/full.yaml")
	require.NoError(t, err)
	assert.Equal(t, "temporal.example.com:7233", c.Temporal.Address)
	assert.Equal(t, "dr", c.Temporal.Namespace)
	assert.Equal(t, filepath.Join("testdata", "ca.pem"), c.Temporal.TLS.CAFile, "relative to the file")
	assert.Equal(t, "lifeboat-eu", c.TaskQueue)
	assert.Equal(t, Log{Format: "json", Level: "debug"}, c.Log)
	assert.Equal(t, []string{"lyon", "paris"}, c.SiteNames())
	assert.Equal(t, "/run/secrets/paris", c.Sites["paris"].PasswordFile)
	assert.Equal(t, 2*time.Minute, c.Sites["paris"].Timeout.D())
	assert.Equal(t, []string{"10.0.0.12", "paris-02.example.com:443"}, c.Sites["paris"].Hosts)
	var ws []string
	for _, w := range c.Warnings {
		ws = append(ws, w.String())
	}
	assert.Equal(t, []string{
		"testdata/full.yaml:20:10: sites.lyon.url: site lyon is reached over plain http, so its password crosses the network in clear; use https",
		"testdata/full.yaml:23:15: sites.lyon.insecure: insecure has no effect on an http:// URL; remove it",
	}, ws)
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("sites: {}\n"), "w.yaml")
	require.NoError(t, err)
	assert.Equal(t, DefaultAddress, c.Temporal.Address)
	assert.Equal(t, "default", c.Temporal.Namespace)
	assert.Equal(t, DefaultTaskQueue, c.TaskQueue)
	assert.Equal(t, Log{Format: "console", Level: "info"}, c.Log)
	assert.False(t, c.Temporal.TLS.On())
}

func TestBad(t *testing.T) {
	_, err := Load("testdata/bad.yaml")
	require.Error(t, err)
	want := []string{
		"testdata/bad.yaml:2:12: temporal.address: \"temporal.example.com\" is not host:port; write the Temporal frontend's address such as 127.0.0.1:7233",
		"testdata/bad.yaml:3:3: temporal.tls: mTLS needs both cert_file and key_file; add the missing one or remove both",
		"testdata/bad.yaml:5:13: task_queue: \"life boat\" is not a task queue name; use letters, digits, '-', '_' and '.'",
		"testdata/bad.yaml:7:11: log.format: \"text\" is not a log format; use console (for people) or json (for log collectors)",
		"testdata/bad.yaml:8:10: log.level: \"verbose\" is not a log level; use debug, info, warn or error",
		"testdata/bad.yaml:10:3: sites.paris: site paris has both password_env and password_file; keep exactly one",
		"testdata/bad.yaml:11:10: sites.paris.url: \"paris-master\" is not an http:// or https:// URL of a pool master; write it like https://xen-master.example.com",
		"testdata/bad.yaml:15:3: sites.lyon: site lyon has no username; add username: (a pool-operator or pool-admin account)",
		"testdata/bad.yaml:16:10: sites.lyon.url: the URL of site lyon holds credentials; remove them and use username with password_env or password_file",
		"testdata/bad.yaml:17:19: sites.lyon.password_env: this is not an environment variable name; write the variable's name (such as XAPI_PASSWORD), never the password itself",
		"testdata/bad.yaml:18:3: sites.bad site: site name \"bad site\" is used in plans and logs; use letters, digits, '-', '_' and '.'",
		"testdata/bad.yaml:18:3: sites.bad site: site bad site has no password source; add password_env: (an environment variable's name) or password_file:",
		"testdata/bad.yaml:22:3: secrets.chap: secret chap has both env and file; keep exactly one",
		"testdata/bad.yaml:25:3: secrets.empty: secret empty has no source; add env: (an environment variable's name) or file: (a file holding the value)",
	}
	assert.Equal(t, strings.Join(want, "\n"), err.Error())
	assert.NotContains(t, err.Error(), "secret@", "never echo credentials")
	assert.NotContains(t, err.Error(), "hunter", "never echo what may be a password")

	_, err = Parse([]byte("sites:\n  lyon: {url: https://l, username: u, password_env: P, hosts: [\"\", \"https://u:pw@l2\", ok:443]}\n"), "w.yaml")
	assert.EqualError(t, err, strings.Join([]string{
		"w.yaml:2:56: sites.lyon.hosts: entry 1 is empty; write a host's address such as 10.0.0.12, xen-02.example.com:443 or https://xen-02.example.com",
		"w.yaml:2:56: sites.lyon.hosts: entry 2 holds credentials; write a host's address such as 10.0.0.12, xen-02.example.com:443 or https://xen-02.example.com",
	}, "\n"))
	assert.NotContains(t, err.Error(), "pw@")

	_, err = Parse([]byte("sites:\n  lyon: {url: https://l, username: u, password_env: P, sync_starts: -1}\n"), "w.yaml")
	assert.EqualError(t, err, "w.yaml:2:69: sites.lyon.sync_starts: sync_starts is negative; write 0 for Async starts only, or leave it out for the default (256)")

	_, err = Parse([]byte("sites:\n  lyon:\n    timout: 30s\n"), "w.yaml")
	assert.EqualError(t, err, `w.yaml:3:5: sites.lyon.timout: unknown key "timout"; did you mean timeout?`)
}

func TestDevWorkerConfig(t *testing.T) {
	c, err := Load("../../dev/worker.yaml")
	require.NoError(t, err)
	assert.Empty(t, c.Warnings, "loopback http is fine for the demo")
	assert.Equal(t, "http://127.0.0.1:18081", c.Sites["primary"].URL)
	assert.Equal(t, "http://127.0.0.1:18181", c.Sites["dr"].URL)

	sites, secrets, err := c.ResolveWith(func(k string) (string, bool) {
		return map[string]string{"LIFEBOAT_DEMO_PASSWORD": "lifeboat"}[k], k == "LIFEBOAT_DEMO_PASSWORD"
	})
	require.NoError(t, err)
	assert.Equal(t, "lifeboat", sites["dr"].Password)
	assert.Equal(t, "root", sites["primary"].Username)
	assert.Equal(t, time.Minute, sites["primary"].Timeout)
	_, err = secrets.Secret("nope")
	assert.EqualError(t, err, `secret "nope" is not configured in the worker; add it to the secrets section with an env or file entry`)
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "paris"), []byte(" pa ss\r\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600))
	cfg := fmt.Sprintf(`
sites:
  paris: {url: "https://p", username: u, password_file: paris}
  lyon: {url: "https://l", username: u, password_env: LB_TEST_LYON, sync_starts: 0}
secrets:
  chap: {env: LB_TEST_CHAP}
  blank: {file: empty}
  gone: {file: %s}
`, filepath.Join(dir, "missing"))
	path := filepath.Join(dir, "worker.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	c, err := Load(path)
	require.NoError(t, err)

	t.Setenv("LB_TEST_CHAP", "chap-value")
	_, _, err = c.Resolve()
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	assert.Equal(t, []string{
		"site lyon: the password comes from environment variable LB_TEST_LYON, which is not set; export it before starting the worker",
		"secret blank: the value comes from file " + filepath.Join(dir, "empty") + ", which is empty; write the value in it",
		"secret gone: the value comes from file " + filepath.Join(dir, "missing") + ", which cannot be read (no such file or directory); check the path and that the worker's user may read it",
	}, lines)
	assert.NotContains(t, err.Error(), "chap-value")

	c.Secrets = map[string]Secret{"chap": {Env: "LB_TEST_CHAP"}}
	t.Setenv("LB_TEST_LYON", "lyon-pw")
	sites, secrets, err := c.Resolve()
	require.NoError(t, err)
	assert.Equal(t, " pa ss", sites["paris"].Password, "only the line ending is trimmed")
	assert.Equal(t, "lyon-pw", sites["lyon"].Password)
	require.NotNil(t, sites["lyon"].SyncStarts)
	assert.Zero(t, *sites["lyon"].SyncStarts, "0 is kept: every start an Async call")
	assert.Nil(t, sites["paris"].SyncStarts, "unset: the client's default")
	v, err := secrets.Secret("chap")
	require.NoError(t, err)
	assert.Equal(t, "chap-value", v)
	assert.Equal(t, "secrets(chap)", fmt.Sprintf("%v", secrets))
	assert.Equal(t, "secrets(chap)", fmt.Sprintf("%#v", secrets))
	assert.False(t, errors.Is(err, os.ErrNotExist))
}

func TestTLS(t *testing.T) {
	c, err := TLS{}.Config()
	require.NoError(t, err)
	assert.Nil(t, c)
	c, err = TLS{Enabled: true, ServerName: "t"}.Config()
	require.NoError(t, err)
	assert.Equal(t, "t", c.ServerName)
	_, err = TLS{CAFile: "testdata/none.pem"}.Config()
	assert.EqualError(t, err, "cannot read the Temporal CA file testdata/none.pem: no such file or directory; check tls.ca_file")
	_, err = TLS{CAFile: "testdata/full.yaml"}.Config()
	assert.EqualError(t, err, "the Temporal CA file testdata/full.yaml holds no PEM certificate; point tls.ca_file at the CA's PEM file")
}
