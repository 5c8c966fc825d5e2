package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// resultClient is the fake Temporal whose started workflows end at once
// with a given result (readiness, protect), whatever their type.
type resultClient struct {
	*fakeClient
	result any
}

func (r *resultClient) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	if _, err := r.fakeClient.ExecuteWorkflow(ctx, o, wf, args...); err != nil {
		return nil, err
	}
	return resultRun{id: o.ID, v: r.result}, nil
}

type resultRun struct {
	id string
	v  any
}

func (w resultRun) GetID() string                  { return w.id }
func (w resultRun) GetRunID() string               { return "run-1" }
func (w resultRun) GetFirstExecutionRunID() string { return "run-1" }
func (w resultRun) Get(_ context.Context, v any) error {
	return jsonValue{w.v}.Get(v)
}
func (w resultRun) GetWithOptions(ctx context.Context, v any, _ client.WorkflowRunGetOptions) error {
	return w.Get(ctx, v)
}

func newResultApp(result any) (*testApp, *resultClient) {
	rc := &resultClient{fakeClient: newFake(), result: result}
	ta := newTestApp(rc.fakeClient, map[string]string{"USER": "carol"})
	ta.app.dial = func(context.Context, connection) (temporalClient, error) { return rc, nil }
	return ta, rc
}

func readinessOf(ready bool) *workflows.ReadinessResult {
	lag := 30 * time.Second
	r := &workflows.ReadinessResult{Plan: "demo", Mode: "failover", Source: "primary", Target: "dr", CheckedAt: t0, Ready: ready,
		VMs: 12, VApps: 3, WorkflowID: "lifeboat-demo-readiness", RunID: "run-1",
		RPO: workflows.RPO{MetadataCurrent: true, MirrorLag: &lag, Text: "The pool's metadata is written to every SR the plan uses at each change; the DR copies are at most 30s behind (storage adapter)."},
		Checks: []workflows.CheckResult{
			{Check: "reachable", Object: "site primary", Severity: workflows.SeverityOK, Message: "reachable"},
			{Check: "network", Object: "network 'Lab-only'", Severity: workflows.SeverityWarning, Message: "does not exist at site dr"},
		}}
	r.Summary = "A failover of plan demo from site primary to site dr would work now (2 checks, 1 warning)."
	if !ready {
		r.Checks = append(r.Checks, workflows.CheckResult{Check: "mirror", Object: `storage "dr-gold-1"`, Severity: workflows.SeverityProblem, Message: "mirror gold-01 is split"})
		r.Summary = "A failover of plan demo from site primary to site dr would not work now: 1 problem; first storage \"dr-gold-1\": mirror gold-01 is split."
	}
	return r
}

// TestReadinessCommand: the check runs as workflow lifeboat-<plan>-readiness
// (shared by two callers at once); exit 0 when ready, 1 when not; the text
// leads with the verdict and the problems, the JSON carries everything.
func TestReadinessCommand(t *testing.T) {
	ta, rc := newResultApp(readinessOf(true))
	code := ta.run("readiness", "--plan", demoPlan, "--ui-url", "http://ui:8233")
	require.Equal(t, exitcode.OK, code, ta.errOut.String())
	out := ta.out.String()
	assert.Contains(t, out, "READY  A failover of plan demo")
	assert.Contains(t, out, "RPO       The pool's metadata is written")
	assert.Contains(t, out, "Warnings\n  network              network 'Lab-only': does not exist at site dr")
	assert.NotContains(t, out, "Passed")
	assert.Contains(t, out, "1 check passed (--all lists them).")
	assert.Contains(t, out, "http://ui:8233/namespaces/default/workflows/lifeboat-demo-readiness/run-1/history")
	require.Len(t, rc.started, 1)
	o := rc.started[0]
	assert.Equal(t, "lifeboat-demo-readiness", o.ID)
	assert.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING, o.WorkflowIDConflictPolicy)
	assert.Equal(t, workflows.ReadinessWorkflowName, rc.startArgs[0])
	in := rc.startArgs[1].(*workflows.ReadinessInput)
	assert.Equal(t, "demo", in.Plan.Name)
	assert.Equal(t, "carol", in.RequestedBy)

	ta, _ = newResultApp(readinessOf(false))
	code = ta.run("readiness", "--plan", demoPlan, "--all")
	assert.Equal(t, exitcode.RunFailed, code)
	out = ta.out.String()
	assert.Contains(t, out, "NOT READY  A failover of plan demo")
	assert.Contains(t, out, "Problems\n  mirror               storage \"dr-gold-1\": mirror gold-01 is split")
	assert.Contains(t, out, "Passed\n  reachable            site primary: reachable")
	assert.Empty(t, ta.errOut.String(), "the verdict is the output; no error line")

	ta, _ = newResultApp(readinessOf(false))
	code = ta.run("readiness", "--plan", demoPlan, "--output", "json")
	assert.Equal(t, exitcode.RunFailed, code)
	var got map[string]any
	require.NoError(t, json.Unmarshal(ta.out.Bytes(), &got))
	assert.Equal(t, false, got["ready"])
	assert.Len(t, got["checks"], 3)
	assert.Contains(t, got["ui_url"], "lifeboat-demo-readiness")

	ta, _ = newResultApp(readinessOf(true))
	assert.Equal(t, exitcode.Usage, ta.run("readiness", "--plan", demoPlan, "--mode", "sideways"))
	assert.Equal(t, exitcode.Usage, ta.run("readiness"))
}

// TestProtectCommand: more than 8 SRs are refused before anything starts;
// the worker's answer is printed SR by SR, a dry run says so.
func TestProtectCommand(t *testing.T) {
	ta, rc := newResultApp(nil)
	nine := []string{"protect", "--site", "primary"}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"} {
		nine = append(nine, "--sr", n)
	}
	assert.Equal(t, exitcode.Usage, ta.run(nine...))
	assert.Contains(t, ta.errOut.String(), "at most 8")
	assert.Empty(t, rc.started, "nothing started")
	assert.Equal(t, exitcode.Usage, ta.run("protect", "--sr", "gold-01"))

	res := &activities.ProtectResult{Pool: "'Primary'", DryRun: true, Changes: []activities.SRChange{
		{SR: activities.SRInfo{UUID: "u-fc", Name: "fc-silver-01"}, Action: activities.ActionDisable},
		{SR: activities.SRInfo{UUID: "u-g2", Name: "gold-02"}, Action: activities.ActionEnable},
		{SR: activities.SRInfo{UUID: "u-g1", Name: "gold-01"}, Action: activities.ActionKeep, Done: true},
	}}
	ta, rc = newResultApp(res)
	require.Equal(t, exitcode.OK, ta.run("protect", "--site", "primary", "--sr", "gold-01", "--sr", "gold-02", "--dry-run"), ta.errOut.String())
	assert.Equal(t, "Dry run: pool 'Primary' at site primary would change 2 SRs (nothing was changed):\n"+
		"  disable  fc-silver-01 (u-fc)  (dry run)\n"+
		"  enable   gold-02 (u-g2)  (dry run)\n"+
		"  keep     gold-01 (u-g1)\n", ta.out.String())
	require.Len(t, rc.started, 1)
	assert.Equal(t, "lifeboat-protect-primary", rc.started[0].ID)
	in := rc.startArgs[1].(*workflows.ProtectInput)
	assert.Equal(t, []string{"gold-01", "gold-02"}, in.SRs)
	assert.True(t, in.DryRun)

	res.DryRun = false
	res.Changes[1].Error = "Metadata replication could not be enabled on SR 'gold-02' at site primary: the pool already replicates its metadata to the maximum number of storage repositories (8)."
	res.Errors = []string{res.Changes[1].Error}
	ta, _ = newResultApp(res)
	assert.Equal(t, exitcode.RunFailed, ta.run("protect", "--site", "primary", "--sr", "gold-01", "--sr", "gold-02"))
	assert.Contains(t, ta.out.String(), "FAILED: Metadata replication could not be enabled")
	assert.Contains(t, ta.errOut.String(), "fix it and run the same protect again")
}
