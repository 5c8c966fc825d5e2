package sim_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

func TestDemoScenarioFileIsTheEmbeddedOne(t *testing.T) {
	data, err := os.ReadFile("../../dev/scenarios/demo.yaml")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, sim.DemoYAML()), "xapi/sim/demo.yaml must be a copy of dev/scenarios/demo.yaml")
	sc, err := sim.LoadScenario("../../dev/scenarios/demo.yaml")
	require.NoError(t, err)
	assert.Equal(t, "demo", sc.Name)
}

func TestScenarioErrorsCarryLines(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "name: x\nsites:\n  - name: a\n    pooles: []\n", "line 4: field pooles not found"},
		{"bad role", "sites:\n  - name: a\n    pools:\n      - name: P\n        hosts: [{name: h}]\n        users:\n          - {name: u, password: p, role: god}\n", "line 7: user \"u\": unknown role \"god\""},
		{"unknown LUN", "sites:\n  - name: a\n    pools:\n      - name: P\n        hosts: [{name: h}]\n        srs:\n          - name: s\n            type: lvmoiscsi\n            lun: nope\n", "line 9: SR \"s\": no LUN"},
		{"bad size", "sites:\n  - name: a\n    fc:\n      - {scsi_id: x, size: lots}\n", "line 4: invalid size"},
		{"no sites", "name: x\n", "at least one site"},
		{"bad yaml", "sites: [\n", "invalid YAML"},
	} {
		_, err := sim.ParseScenario([]byte(tc.yaml))
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	spec, err := sim.ParseGenSpec("vms=600,vapps=60,hosts=3,seed=9")
	require.NoError(t, err)
	a, err := sim.Generate(spec)
	require.NoError(t, err)
	b, err := sim.Generate(spec)
	require.NoError(t, err)
	ya, _ := yaml.Marshal(a)
	yb, _ := yaml.Marshal(b)
	assert.Equal(t, string(ya), string(yb))
	// The YAML round-trips through the scenario parser.
	back, err := sim.ParseScenario(ya)
	require.NoError(t, err)
	assert.Len(t, back.Sites[0].Pools[0].VMs, 600)
	_, err = sim.ParseGenSpec("vms=x")
	assert.Error(t, err)
	_, err = sim.ParseGenSpec("foo=1")
	assert.ErrorContains(t, err, "unknown key")

	w, err := sim.Start(context.Background(), a, sim.Options{FreePorts: true})
	require.NoError(t, err)
	defer w.Close()
	c := rpc{t: t, url: w.PoolURL("Primary")}
	s := c.login("root")
	assert.Len(t, c.refs("VM_appliance.get_all", s), 60)
	assert.True(t, strings.HasPrefix(w.PoolURL("DR"), "http://127.0.0."), w.PoolURL("DR"))
}
