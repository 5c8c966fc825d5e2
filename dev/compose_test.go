package dev

// No Docker engine runs where lifeboat is tested, so docker-compose.yml is
// never started here; this test keeps it consistent with the rest of the
// repository instead: the addresses the worker configuration and the CLI's
// UI links use, the search attributes the workflows set, pinned images and
// ports reachable from this machine only.

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

type compose struct {
	Services map[string]struct {
		Image       string   `yaml:"image"`
		Ports       []string `yaml:"ports"`
		Command     []string `yaml:"command"`
		Environment map[string]string
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

func TestDockerCompose(t *testing.T) {
	raw, err := os.ReadFile("docker-compose.yml")
	require.NoError(t, err)
	var c compose
	require.NoError(t, yaml.Unmarshal(raw, &c))
	require.Subset(t, keys(c.Services), []string{"postgresql", "temporal", "lifeboat-setup", "temporal-ui"})

	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[0-9][0-9.]*$`)
	var published []string
	for name, s := range c.Services {
		assert.Regexp(t, pinned, s.Image, "service %s: image pinned to a version", name)
		for _, p := range s.Ports {
			assert.True(t, strings.HasPrefix(p, "127.0.0.1:"), "service %s publishes %s beyond this machine", name, p)
			published = append(published, strings.TrimPrefix(p, "127.0.0.1:"))
		}
		for dep := range s.DependsOn {
			assert.Contains(t, c.Services, dep, "service %s depends on an unknown service", name)
		}
	}

	// The worker configuration and the CLI's UI links point here.
	cfg, err := config.Load("worker.yaml")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:7233", cfg.Temporal.Address)
	assert.Contains(t, published, "7233:7233", "frontend as in worker.yaml")
	assert.Contains(t, published, "8233:8080", "the UI on the dev server's port, so printed links work")
	assert.Equal(t, "http://127.0.0.1:8233", c.Services["temporal-ui"].Environment["TEMPORAL_CORS_ORIGINS"])

	setup := strings.Join(c.Services["lifeboat-setup"].Command, "\n")
	for _, attr := range []string{workflows.SearchAttrPlan, workflows.SearchAttrMode, workflows.SearchAttrPhase} {
		assert.Contains(t, setup, attr, "lifeboat-setup registers every search attribute the workflows set")
	}
	assert.Equal(t, c.Services["temporal"].Image, c.Services["lifeboat-setup"].Image, "setup uses the server's own CLI")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
