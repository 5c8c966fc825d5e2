package workflows

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/adapter"
	"github.com/lifeboat-dr/lifeboat/dev/xapisim-adapter/simadapter"
	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// simAdapterArg, as the first argument of the test binary, makes it the
// simulator's storage adapter (TestMain): tests then drive the real
// adapter protocol, a process per call, without building the command.
const simAdapterArg = "-lifeboat-test-xapisim-adapter"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == simAdapterArg {
		os.Exit(simadapter.Main(os.Args[2:], os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// simAdapterConfig is the xapisim storage adapter of the world, as the
// worker configuration gives it to a site.
func simAdapterConfig(t *testing.T, w *sim.World) adapter.Config {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return adapter.Config{Name: "xapisim", Command: []string{exe, simAdapterArg, "-control", w.ControlURL()}, Timeout: 30 * time.Second}
}

// readinessWorld is the demo world as it is day to day (mirrors
// replicating, both sites up), with the worker's activities and, when
// withAdapter is set, the xapisim storage adapter at site dr (the demo
// plan's storage names it).
func readinessWorld(t *testing.T, sc *sim.Scenario, withAdapter bool) (*sim.World, *activities.Activities, plan.Plan) {
	t.Helper()
	if sc == nil {
		sc = sim.DemoScenario()
	}
	w, err := sim.Start(context.Background(), sc, sim.Options{Speed: 0, FreePorts: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	dr := activities.SiteConfig{URL: w.PoolURL("dr"), Username: "root", Password: "lifeboat", Timeout: 5 * time.Second}
	if withAdapter {
		dr.Adapter = simAdapterConfig(t, w)
	}
	a, err := activities.New(map[string]activities.SiteConfig{
		"dr":      dr,
		"primary": {URL: w.PoolURL("primary"), Username: "root", Password: "lifeboat", Timeout: 5 * time.Second},
	}, nil, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = activities.Close(context.Background(), a) })
	p, err := plan.Load("../dev/plans/demo.yaml")
	require.NoError(t, err)
	w.Control().SyncAll()
	return w, a, *p
}

func runReadiness(t *testing.T, a *activities.Activities, p plan.Plan, mode plan.Mode) *ReadinessResult {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(2 * time.Minute)
	Register(env)
	env.RegisterActivity(a)
	env.ExecuteWorkflow(ReadinessCheck, &ReadinessInput{Plan: p, Mode: mode})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var r ReadinessResult
	require.NoError(t, env.GetWorkflowResult(&r))
	return &r
}

// checkLines returns the checks of one name and severity, as "object: message".
func checkLines(r *ReadinessResult, check, severity string) []string {
	var out []string
	for _, c := range r.Checks {
		if (check == "" || c.Check == check) && c.Severity == severity {
			out = append(out, c.Object+": "+c.Message)
		}
	}
	return out
}

// disableReplication turns the primary pool's metadata replication off on
// every SR, as an admin would in XenCenter's Configure DR.
func disableReplication(t *testing.T, w *sim.World) {
	t.Helper()
	ctx := context.Background()
	c, err := xapi.NewClient(w.PoolURL("primary"))
	require.NoError(t, err)
	s, err := c.Login(ctx, "root", "lifeboat")
	require.NoError(t, err)
	defer func() { _ = s.Logout(ctx) }()
	srs, err := s.GetAllSRRecords(ctx)
	require.NoError(t, err)
	for ref := range srs {
		require.NoError(t, s.DisableDatabaseReplication(ctx, ref))
	}
}

// TestReadiness: a healthy world is ready, and each broken one is not,
// with the problem named; nothing at either site changes (no snapshot is
// made, no mirror touched). The mirrors' state comes from the real xapisim
// adapter, the status action of the storage the plan names.
func TestReadiness(t *testing.T) {
	splitGold1 := func(t *testing.T, w *sim.World) { require.NoError(t, w.Control().SplitMirror("gold-01")) }
	for _, tc := range []struct {
		name    string
		mode    plan.Mode
		adapter bool
		world   func(*sim.Scenario)
		breakIt func(*testing.T, *sim.World)
		ready   bool
		check   string // the check that says what is wrong
		says    string
	}{
		{name: "healthy", adapter: true, ready: true, check: checkMirrorName, says: `storage "dr-gold-1": mirror gold-01 replicates; the DR copy is 30s behind, last copy at `},
		// The weekly drill's question: the mirrors replicate, as they do day
		// to day, and the test runs on the adapter's snapshots of them.
		{name: "healthy test failover on snapshots", mode: plan.ModeTestFailover, adapter: true, ready: true, check: checkMirrorName,
			says: `storage "dr-fc": mirror fc-silver-01 replicates; the DR copy is 1m0s behind`},
		{name: "healthy without adapter", ready: true, check: checkMirrorName,
			says: `storage "dr-gold-1": mirror state and lag not checked: storage "dr-gold-1" names adapter xapisim, but the worker configuration gives site dr no adapter`},
		{name: "test failover without adapter", mode: plan.ModeTestFailover, check: checkMirrorName,
			says: `storage "dr-gold-1": Storage "dr-gold-1" names adapter xapisim, but the worker configuration gives site dr no adapter, and the run calls it (test snapshots or promotion); define the adapter under adapters:`},
		{name: "target site down", breakIt: func(t *testing.T, w *sim.World) { require.NoError(t, w.Control().SiteDown("dr")) },
			check: "reachable", says: "site dr"},
		{name: "source site down", breakIt: func(t *testing.T, w *sim.World) { require.NoError(t, w.Control().SiteDown("primary")) },
			check: "reachable", says: "site primary"},
		{name: "replication off", breakIt: disableReplication,
			check: "metadata-replication", says: "lifeboat protect --site primary --sr"},
		{name: "mirror split", adapter: true, breakIt: splitGold1,
			check: checkMirrorName, says: `storage "dr-gold-1": mirror gold-01 is split: the DR copy no longer receives the source's writes and ages, last copy at `},
		{name: "mirror split before a drill", mode: plan.ModeTestFailover, adapter: true, breakIt: splitGold1,
			check: checkMirrorName, says: "mirror gold-01 is split"},
		{name: "capacity short", world: func(sc *sim.Scenario) {
			for i := range sc.Sites {
				for j := range sc.Sites[i].Pools {
					if sc.Sites[i].Name == "dr" {
						for k := range sc.Sites[i].Pools[j].Hosts {
							sc.Sites[i].Pools[j].Hosts[k].Memory = 4 << 30
						}
					}
				}
			}
		}, check: "memory", says: "some VMs may not start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := sim.DemoScenario()
			if tc.world != nil {
				tc.world(sc)
			}
			w, a, p := readinessWorld(t, sc, tc.adapter)
			if tc.breakIt != nil {
				tc.breakIt(t, w)
			}
			before := inventoryOf(w)
			r := runReadiness(t, a, p, tc.mode)
			assert.Equal(t, tc.ready, r.Ready, "%s\nproblems: %v", r.Summary, checkLines(r, "", SeverityProblem))
			sev := SeverityProblem
			if tc.ready {
				sev = SeverityOK
				if !tc.adapter {
					sev = SeverityWarning
				}
			}
			assert.Contains(t, strings.Join(checkLines(r, tc.check, sev), "\n"), tc.says, "%+v", r.Checks)
			if tc.ready {
				assert.Contains(t, r.Summary, "would work now")
				assert.Equal(t, 12, r.VMs, "the demo plan's VMs: 13 at the primary, build-agent excluded")
				assert.True(t, r.RPO.MetadataCurrent)
				assert.Contains(t, strings.Join(checkLines(r, "storage-visible", SeverityOK), "\n"), "visible at site dr on storage dr-gold-1, with pool metadata")
			} else {
				assert.Contains(t, r.Summary, "would not work now")
			}
			if tc.adapter && tc.ready {
				assert.Len(t, checkLines(r, checkMirrorName, SeverityOK), 3, "every storage's mirror, from the adapter")
				require.NotNil(t, r.RPO.MirrorLag)
				assert.Equal(t, time.Minute, *r.RPO.MirrorLag, "the largest lag: fc-silver-01's")
				assert.Contains(t, r.RPO.Text, "the DR copies are at most 1m0s behind (storage adapter)")
			}
			assert.Equal(t, before, inventoryOf(w), "readiness changed something")
		})
	}
}

const checkMirrorName = "mirror"

// inventoryOf is what readiness must leave alone: every pool's VMs, SRs, DR
// tasks and generation-independent state.
func inventoryOf(w *sim.World) string {
	st := w.Control().State()
	var b strings.Builder
	for _, p := range st.Pools {
		b.WriteString(p.Name + ":")
		for _, vm := range p.VMs {
			b.WriteString(" " + vm.UUID + "=" + vm.PowerState)
		}
		for _, sr := range p.SRs {
			b.WriteString(" sr:" + sr.UUID + "/" + strings.Join(sr.MetadataVDIs, ","))
		}
		b.WriteString(" dr:" + strings.Repeat("x", len(p.DRTasks)) + "\n")
	}
	for _, m := range st.Mirrors {
		b.WriteString(m.Name + "=" + m.State + "\n")
	}
	for _, sn := range st.Snapshots {
		b.WriteString("snapshot " + sn.Name + "\n")
	}
	return b.String()
}

// TestReadinessLargeWorld: a 1,200-VM world is read in pages and checked in
// chunks of scanPageVMs VMs, so no activity payload grows with the pool,
// and every VM is counted.
func TestReadinessLargeWorld(t *testing.T) {
	sc, err := sim.Generate(sim.GenSpec{VMs: 1200, VApps: 120})
	require.NoError(t, err)
	_, a, _ := readinessWorld(t, sc, true)
	// The plan a user writes for it: every mirror's DR copy, everything.
	dr := sc.Sites[1]
	iqn := map[string]sim.TargetSpec{}
	for _, tg := range dr.ISCSI {
		for _, l := range tg.LUNs {
			iqn[l.SCSIid] = tg
		}
	}
	p := plan.Plan{Name: "big", Source: "primary", Target: "dr", Selection: plan.Selection{All: true}}
	for _, m := range sc.Mirrors {
		st := plan.StorageTarget{Name: "dr-" + m.Name, Type: plan.StorageHBA, DeviceConfig: map[string]string{"SCSIid": m.Destination}}
		if tg, ok := iqn[m.Destination]; ok {
			st.Type, st.DeviceConfig = plan.StorageISCSI, map[string]string{"target": tg.Address, "port": "3260", "targetIQN": tg.IQN, "SCSIid": m.Destination}
		}
		p.Storage = append(p.Storage, st)
	}

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(2 * time.Minute)
	Register(env)
	env.RegisterActivity(a)
	calls := map[string]int{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		calls[info.ActivityType.Name]++
	})
	env.ExecuteWorkflow(ReadinessCheck, &ReadinessInput{Plan: p})
	require.NoError(t, env.GetWorkflowError())
	var r ReadinessResult
	require.NoError(t, env.GetWorkflowResult(&r))
	assert.True(t, r.Ready, "%s %v", r.Summary, checkLines(&r, "", SeverityProblem))
	assert.Equal(t, 1200, r.VMs)
	assert.Equal(t, 120, r.VApps)
	assert.GreaterOrEqual(t, calls["ReadSource"], 3, "pages of at most %d VMs", scanPageVMs)
	assert.GreaterOrEqual(t, calls["CheckTarget"], 3, "chunks of at most %d VMs", scanPageVMs)
	assert.Len(t, checkLines(&r, "existing", SeverityOK), 120+1200-countVAppMembers(sc), "one line per unit (vApps and standalone VMs), from every chunk")
	for _, c := range r.Checks {
		assert.Less(t, len(c.Message), 2000, "a line names a few VMs and counts the rest: %s", c.Object)
	}
}

func countVAppMembers(sc *sim.Scenario) int {
	n := 0
	for _, vm := range sc.Sites[0].Pools[0].VMs {
		if vm.VApp != "" {
			n++
		}
	}
	return n
}
