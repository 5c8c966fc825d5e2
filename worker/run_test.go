package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("temporal:\n  adress: x\n"), 0o600))
	noSites := filepath.Join(dir, "nosites.yaml")
	require.NoError(t, os.WriteFile(noSites, []byte("log: {format: json}\n"), 0o600))

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		out  string
	}{
		{"help", []string{"-h"}, nil, 0, "usage: lifeboat-worker -config FILE"},
		{"version", []string{"--version"}, nil, 0, ""}, // no configuration needed
		{"no config", nil, nil, 2, "no configuration given; pass -config FILE or set LIFEBOAT_CONFIG"},
		{"unknown flag", []string{"-confg", "x"}, nil, 2, "flag provided but not defined: -confg"},
		{"stray argument", []string{"-config", bad, "extra"}, nil, 2, `unexpected argument "extra"`},
		{"missing file", []string{"-config", filepath.Join(dir, "none.yaml")}, nil, 2, "cannot read the worker configuration: no such file or directory"},
		{"invalid config", nil, map[string]string{"LIFEBOAT_CONFIG": bad}, 2, `bad.yaml:2:3: temporal.adress: unknown key "adress"; did you mean address?`},
		{"bad log level flag", []string{"-config", noSites, "-log-level", "loud"}, nil, 2, `"loud" is not a log level`},
		{"no sites", []string{"-config", noSites}, nil, 2, "the configuration lists no site"},
		{"password env unset", []string{"-config", "../dev/worker.yaml", "-log-format", "json"}, nil, 2,
			"site dr: the password comes from environment variable LIFEBOAT_DEMO_PASSWORD, which is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), tc.args, env(tc.env), &out)
			assert.Equal(t, tc.code, code, out.String())
			assert.Contains(t, out.String(), tc.out)
		})
	}
}

func TestSDKLoggerRedactsSecrets(t *testing.T) {
	var buf bytes.Buffer
	z, err := newLogger("json", "debug", zapcore.AddSync(&buf))
	require.NoError(t, err)
	l := newSDKLogger(z).With("Namespace", "default")
	l.Info("polling", "TaskQueue", "lifeboat", "Password", "hunter2", "chap_secret", "s3cr3t", "odd")
	l.Debug("debug")
	out := buf.String()
	assert.Contains(t, out, `"task_queue":"lifeboat"`, "the SDK's keys in snake_case")
	assert.Contains(t, out, `"namespace":"default"`)
	assert.Contains(t, out, `"Password":"[redacted]"`)
	assert.NotContains(t, out, "hunter2")
	assert.NotContains(t, out, "s3cr3t")
	assert.Contains(t, out, `"!BADKEY":"odd"`)
	assert.Equal(t, 2, strings.Count(out, "\n"))
}

func TestNewLogger(t *testing.T) {
	_, err := newLogger("xml", "info", zapcore.AddSync(&bytes.Buffer{}))
	assert.EqualError(t, err, `"xml" is not a log format; use console or json`)
	var buf bytes.Buffer
	z, err := newLogger("console", "warn", zapcore.AddSync(&buf))
	require.NoError(t, err)
	z.Info("hidden")
	z.Warn("shown", zap.String("site", "dr"))
	assert.NotContains(t, buf.String(), "hidden")
	assert.Contains(t, buf.String(), "shown")
}
