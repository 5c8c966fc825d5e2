//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// The demo world (dev/scenarios/demo.yaml), as the tests use it.
const (
	poolPrimary = "Primary"
	poolDR      = "DR"
	simPassword = "lifeboat" // every user of the demo pools
)

var demoMirrors = []string{"gold-01", "gold-02", "fc-silver-01"}

// The demo plan selects everything but build-agent (local storage).
var (
	demoVApps = map[string][]string{ // vApp -> VMs by order
		"erp":      {"erp-db", "erp-app", "erp-web"},
		"crm":      {"crm-db", "crm-web"},
		"intranet": {"intranet-web", "intranet-search", "intranet-proxy"},
	}
	demoStandalone = []string{"mail-01", "dns-01", "monitoring", "lab-tool"}
	notRecovered   = []string{"build-agent"}
)

// demoSelectedVMs is every VM the demo plan recovers.
func demoSelectedVMs() []string {
	out := append([]string(nil), demoStandalone...)
	for _, vms := range demoVApps {
		out = append(out, vms...)
	}
	sort.Strings(out)
	return out
}

// simWorld is one simulated world of a test.
type simWorld struct {
	*sim.World
	sc *sim.Scenario
}

// simOptions tune a test's world.
type simOptions struct {
	// speed is the simulator's time factor: small and non-zero so that
	// recovery takes observable time.
	speed float64
	// recover overrides the simulated duration of one VM recovery.
	recover time.Duration
	// scenario, when set, changes the demo scenario before the world starts
	// (CHAP on a target, other passwords).
	scenario func(*sim.Scenario)
}

// startSimulator starts the demo world in-process on free 127.0.0.1 ports;
// the test closes it.
func startSimulator(t *testing.T, o simOptions) *simWorld {
	t.Helper()
	sc := sim.DemoScenario()
	if o.recover > 0 {
		d := sim.Duration(o.recover)
		sc.Timing.Recover = &d
	}
	if o.scenario != nil {
		o.scenario(sc)
	}
	w, err := sim.Start(context.Background(), sc, sim.Options{
		Speed:       o.speed,
		FreePorts:   true,
		JournalPath: filepath.Join(t.TempDir(), "journal.jsonl"),
	})
	require.NoError(t, err, "start the simulator")
	t.Cleanup(func() { _ = w.Close() })
	return &simWorld{World: w, sc: sc}
}

// primaryDown is the disaster: the primary site goes down and every mirror is
// split, so the DR copies are writable.
func (w *simWorld) primaryDown(t *testing.T) {
	t.Helper()
	ct := w.Control()
	require.NoError(t, ct.SiteDown("primary"))
	for _, m := range demoMirrors {
		require.NoError(t, ct.SplitMirror(m))
	}
}

// splitMirrors promotes the DR copies while the primary keeps running (a drill).
func (w *simWorld) splitMirrors(t *testing.T) {
	t.Helper()
	for _, m := range demoMirrors {
		require.NoError(t, w.Control().SplitMirror(m))
	}
}

// pool returns a pool's part of the state dump.
func (w *simWorld) pool(t *testing.T, name string) sim.PoolState {
	t.Helper()
	for _, p := range w.Control().State().Pools {
		if strings.EqualFold(p.Name, name) {
			return p
		}
	}
	t.Fatalf("no pool %s in the simulator's state", name)
	return sim.PoolState{}
}

// vmsByName indexes a pool's VMs by name.
func vmsByName(p sim.PoolState) map[string]sim.VMState {
	out := map[string]sim.VMState{}
	for _, vm := range p.VMs {
		out[vm.Name] = vm
	}
	return out
}

func vappsByName(p sim.PoolState) map[string]sim.VAppState {
	out := map[string]sim.VAppState{}
	for _, a := range p.VApps {
		out[a.Name] = a
	}
	return out
}

// recoverCalls counts the recover calls (sync or Async) of the journal per
// recovered object (the foreign reference, params[1]): VM.recover for
// standalone VMs, VM_appliance.recover for vApps.
func recoverCalls(entries []sim.JournalEntry) (vms, vapps map[string]int) {
	vms, vapps = map[string]int{}, map[string]int{}
	for _, e := range entries {
		m := strings.TrimPrefix(e.Method, "Async.")
		if m != "VM.recover" && m != "VM_appliance.recover" {
			continue
		}
		ref := "?"
		if len(e.Params) > 1 {
			if s, ok := e.Params[1].(string); ok {
				ref = s
			}
		}
		if m == "VM.recover" {
			vms[ref]++
		} else {
			vapps[ref]++
		}
	}
	return vms, vapps
}

// startCalls returns the journal's VM.start and VM.start_on calls in a pool
// with their paused argument (after the VM, and the host of start_on).
func startCalls(entries []sim.JournalEntry, pool string) (n int, paused int) {
	for _, e := range entries {
		m := strings.TrimPrefix(e.Method, "Async.")
		if !strings.EqualFold(e.Pool, pool) || (m != "VM.start" && m != "VM.start_on") {
			continue
		}
		n++
		at := 2
		if m == "VM.start_on" {
			at = 3
		}
		if len(e.Params) > at {
			if b, ok := e.Params[at].(bool); ok && b {
				paused++
			}
		}
	}
	return n, paused
}
