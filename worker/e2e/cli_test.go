//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// cliResult is one lifeboat command's outcome.
type cliResult struct {
	code           int
	stdout, stderr string
}

// lifeboat runs the lifeboat binary against the test's Temporal and task
// queue (through the worker configuration, as an operator would).
func lifeboat(t *testing.T, e *workerEnv, args ...string) cliResult {
	t.Helper()
	res := lifeboatQuiet(t, e, args...)
	t.Logf("$ lifeboat %s  → exit %d\n%s%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	return res
}

// lifeboatQuiet is lifeboat without logging the output (for polling).
func lifeboatQuiet(t *testing.T, e *workerEnv, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runWithin)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(srv.binDir, "lifeboat"), append([]string{"--config", e.config}, args...)...)
	env := []string{"TERM=dumb", "USER=e2e"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIFEBOAT_") && !strings.HasPrefix(kv, "TERM=") && !strings.HasPrefix(kv, "USER=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("lifeboat %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// TestCLIOperatorPath drives a failover the operator's way: the lifeboat
// binary starts it, refuses wrong approvals, approves, watches and reports.
func TestCLIOperatorPath(t *testing.T) {
	t.Parallel()
	w := startSimulator(t, simOptions{speed: demoSpeed})
	e := newWorkerEnv(t, w)
	e.start()
	w.primaryDown(t)

	src, err := os.ReadFile("../../dev/plans/demo.yaml")
	require.NoError(t, err)
	planFile := filepath.Join(t.TempDir(), "cli.yaml")
	require.NoError(t, os.WriteFile(planFile, bytes.Replace(src, []byte("\nname: demo\n"), []byte("\nname: e2e-cli\n"), 1), 0o600))
	id := workflows.WorkflowID("e2e-cli", plan.ModeFailover)

	res := lifeboat(t, e, "plan", "check", planFile)
	assert.Equal(t, exitcode.OK, res.code, "plan check")
	res = lifeboat(t, e, "failover", "--plan", planFile, "--as", "alice")
	require.Equal(t, exitcode.OK, res.code, "failover start")
	assert.Contains(t, res.stdout, id)
	began := time.Now()
	r := &run{t: t, id: id, mode: plan.ModeFailover, began: began}
	t.Cleanup(r.terminateIfRunning)

	res = lifeboat(t, e, "failover", "--plan", planFile)
	assert.Equal(t, exitcode.Running, res.code, "a second failover of the same plan is refused while one runs")

	r.waitGate(plan.GateStorageReady)
	res = lifeboat(t, e, "status", id)
	assert.Equal(t, exitcode.Running, res.code, "status of a running run")
	assert.Contains(t, res.stdout, plan.GateStorageReady)
	res = lifeboat(t, e, "approve", id, "--gate", plan.GateRecover, "--as", "alice")
	assert.NotEqual(t, exitcode.OK, res.code, "approving a gate that is not waiting is refused")
	res = lifeboat(t, e, "approve", id, "--gate", plan.GateStorageReady, "--as", "mallory")
	assert.NotEqual(t, exitcode.OK, res.code, "approval by someone not in the approvers is refused")
	assert.Contains(t, res.stderr, "not counted: only alice, bob may decide it (refused by the run)", "the run's Update validator answers")
	res = lifeboat(t, e, "approve", id, "--gate", plan.GateStorageReady, "--as", "Alice", "--comment", "mirrors split")
	require.Equal(t, exitcode.OK, res.code, "approve storage-ready")
	assert.Contains(t, res.stdout, "Gate storage-ready approved by alice (1 of 1): the run goes on.", "the run answers the Update, with the plan's spelling")

	r.waitGate(plan.GateRecover)
	res = lifeboat(t, e, "approve", "e2e-cli", "--mode", "failover", "--gate", plan.GateRecover, "--as", "bob", "--comment", "prechecks read")
	require.Equal(t, exitcode.OK, res.code, "approve recover (plan name and --mode)")

	// During the start phase, status shows each vApp's VMs as its start
	// child has them: an earlier order running while a later one of the same
	// vApp has not started yet.
	seen := waitStartOrder(t, w, e, id)
	t.Logf("status --output json during the start phase: %s", seen)

	res = lifeboat(t, e, "status", id, "--watch")
	assert.Equal(t, exitcode.OK, res.code, "status --watch ends with the run's success")
	t.Logf("failover through the CLI: %s from start to the end of --watch", time.Since(began).Round(time.Millisecond))

	res = lifeboat(t, e, "report", id)
	assert.Equal(t, exitcode.OK, res.code, "report of a succeeded run")
	for _, name := range demoSelectedVMs() {
		assert.Contains(t, res.stdout, name, "the report names VM %s", name)
	}
	res = lifeboat(t, e, "--output", "json", "report", id)
	require.Equal(t, exitcode.OK, res.code)
	var rep workflows.Report
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep), "report --output json")
	assert.Equal(t, workflows.OutcomeSucceeded, rep.Outcome)
	assert.Len(t, rep.VMs, len(demoSelectedVMs()))
	decisions := map[string]string{}
	for _, g := range rep.Gates {
		for _, d := range g.Decisions {
			decisions[g.Gate] = d.By
		}
	}
	assert.Equal(t, map[string]string{plan.GateStorageReady: "alice", plan.GateRecover: "bob"}, decisions, "who approved what")

	res = lifeboat(t, e, "report", "lifeboat-no-such-plan-failover")
	assert.Equal(t, exitcode.NotFound, res.code, "report of an unknown run")
	checkRecovered(t, w.pool(t, poolPrimary), w.pool(t, poolDR), "Running")
}

// waitStartOrder polls `lifeboat --output json status` until, in one
// snapshot, a VM of a vApp is running while a VM of a later order of the same
// vApp is still recovered (waiting for its order) or starting; it returns
// that snapshot's vApp VMs.
func waitStartOrder(t *testing.T, w *simWorld, e *workerEnv, id string) string {
	t.Helper()
	orders := vmOrders(w)
	var last, found string
	eventually(t, gateWithin, "status shows a vApp's VMs starting in order", func() bool {
		res := lifeboatQuiet(t, e, "--output", "json", "status", id)
		var v struct {
			Status   string             `json:"status"`
			Progress workflows.Progress `json:"progress"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &v); err != nil {
			last = fmt.Sprintf("exit %d, %v: %s%s", res.code, err, res.stdout, res.stderr)
			return false
		}
		state := map[string]string{}
		var vms []string
		for _, vm := range v.Progress.VMs {
			state[vm.Name] = vm.State
			if vm.VApp != "" {
				vms = append(vms, vm.Name+"="+vm.State)
			}
		}
		last = fmt.Sprintf("phase %s: %s", v.Progress.Phase, strings.Join(vms, " "))
		if res.code != exitcode.Running {
			t.Fatalf("the run ended before status showed a vApp's start order; last seen: %s", last)
		}
		for _, members := range demoVApps {
			for _, earlier := range members {
				for _, later := range members {
					if orders[later] > orders[earlier] && state[earlier] == workflows.StateRunning &&
						(state[later] == workflows.StateRecovered || state[later] == workflows.StateStarting) {
						found = fmt.Sprintf("%s running while %s is %s (%s)", earlier, later, state[later], last)
						return true
					}
				}
			}
		}
		return false
	}, func() string { return last })
	return found
}
