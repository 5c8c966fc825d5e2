package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/notify"
)

func TestMetricsAndNotifyOffByDefault(t *testing.T) {
	c, err := Parse([]byte("sites: {}\n"), "w.yaml")
	require.NoError(t, err)
	assert.Empty(t, c.Metrics.Listen, "metrics are off unless metrics.listen is set")
	assert.Empty(t, c.Notify.Webhooks)
	assert.Equal(t, DefaultUIURL, c.Notify.UIURL)
}

func TestMetricsAndNotifyProblems(t *testing.T) {
	_, err := Parse([]byte(`metrics:
  listen: localhost
notify:
  ui_url: temporal.example.com
  webhooks:
    none: {}
    both: {url: "https://h/x", url_env: X}
    env: {url_env: "https://hooks.slack.com/services/T/B/tok3n"}
    bad: {url: "ftp://u:pw@h/x", format: xml, events: [gate-opened]}
`), "w.yaml")
	require.Error(t, err)
	assert.Equal(t, strings.Join([]string{
		`w.yaml:2:11: metrics.listen: "localhost" is not host:port; write the address to serve /metrics on, such as 127.0.0.1:9464`,
		`w.yaml:4:11: notify.ui_url: "temporal.example.com" is not an http:// or https:// URL; write the Temporal Web UI's address, such as https://temporal.example.com`,
		`w.yaml:6:5: notify.webhooks.none: webhook none has no URL; add url_env: (an environment variable's name), url_file: or url:`,
		`w.yaml:7:5: notify.webhooks.both: webhook both has more than one of url, url_env and url_file; keep exactly one`,
		`w.yaml:8:20: notify.webhooks.env.url_env: this is not an environment variable name; write the variable's name (such as LIFEBOAT_SLACK_WEBHOOK), never the URL itself`,
		`w.yaml:9:16: notify.webhooks.bad.url: the URL is not an http:// or https:// URL; write it like https://hooks.example.com/lifeboat`,
		`w.yaml:9:42: notify.webhooks.bad.format: "xml" is not a webhook format; use json (every fact as a field) or slack`,
		`w.yaml:9:47: notify.webhooks.bad.events: "gate-opened" is not an event; use gate-waiting or run-ended`,
	}, "\n"), err.Error())
	assert.NotContains(t, err.Error(), "tok3n", "a URL given where a variable name belongs is not echoed")
	assert.NotContains(t, err.Error(), "pw@")
}

func TestResolveWebhooks(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "chat-url"), []byte("https://hooks.slack.com/services/T/B/tok3n\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "worker.yaml"), []byte(`sites: {}
metrics: {listen: "127.0.0.1:9464"}
notify:
  ui_url: https://temporal.example.com
  webhooks:
    chat: {url_file: chat-url, format: slack, events: [gate-waiting]}
    ops: {url_env: LB_TEST_HOOK}
    plain: {url: "https://hooks.example.com/lifeboat"}
`), 0o600))
	c, err := Load(filepath.Join(dir, "worker.yaml"))
	require.NoError(t, err)
	assert.Empty(t, c.Warnings)
	assert.Equal(t, "127.0.0.1:9464", c.Metrics.Listen)

	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err = c.ResolveWebhooks(lookup)
	assert.EqualError(t, err, "webhook ops: the URL comes from environment variable LB_TEST_HOOK, which is not set; export it before starting the worker")
	env["LB_TEST_HOOK"] = "not a url"
	_, err = c.ResolveWebhooks(lookup)
	assert.EqualError(t, err, "webhook ops: the URL read from LB_TEST_HOOK is not an http:// or https:// URL; write an http:// or https:// URL there")
	env["LB_TEST_HOOK"] = "https://ops.example.com/hook?key=k3y"
	hooks, err := c.ResolveWebhooks(lookup)
	require.NoError(t, err)
	assert.Equal(t, []notify.Webhook{
		{Name: "chat", URL: "https://hooks.slack.com/services/T/B/tok3n", Format: "slack", Events: []string{"gate-waiting"}},
		{Name: "ops", URL: "https://ops.example.com/hook?key=k3y", Format: "json"},
		{Name: "plain", URL: "https://hooks.example.com/lifeboat", Format: "json"},
	}, hooks)

	_, err = Parse([]byte("notify:\n  webhooks:\n    chat: {url: \"https://hooks.slack.com/services/T/B/tok3n\", format: slack}\n"), "w.yaml")
	require.NoError(t, err)
	c, _ = Parse([]byte("notify:\n  webhooks:\n    chat: {url: \"https://hooks.slack.com/services/T/B/tok3n\", format: slack}\n"), "w.yaml")
	require.Len(t, c.Warnings, 1)
	assert.Equal(t, "w.yaml:3:17: notify.webhooks.chat.url: a Slack webhook URL holds a token: give it with url_env or url_file rather than in this file", c.Warnings[0].String())
}
