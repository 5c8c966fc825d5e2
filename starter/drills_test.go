package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// listClient is the fake Temporal whose ListWorkflow answers a set list,
// in pages of one, recording the queries.
type listClient struct {
	*fakeClient
	execs   []*workflowpb.WorkflowExecutionInfo
	queries []string
}

func (l *listClient) ListWorkflow(_ context.Context, r *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	l.queries = append(l.queries, r.Query)
	i := 0
	if len(r.NextPageToken) > 0 {
		i = int(r.NextPageToken[0])
	}
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	if i < len(l.execs) {
		resp.Executions = l.execs[i : i+1]
		if i+1 < len(l.execs) {
			resp.NextPageToken = []byte{byte(i + 1)}
		}
	}
	return resp, nil
}

func execInfo(id string, start time.Time, status enumspb.WorkflowExecutionStatus, schedule string) *workflowpb.WorkflowExecutionInfo {
	attrs := map[string]*commonpb.Payload{}
	p, _ := converter.GetDefaultDataConverter().ToPayload("demo")
	attrs[workflows.SearchAttrPlan] = p
	if schedule != "" {
		s, _ := converter.GetDefaultDataConverter().ToPayload(schedule)
		attrs[scheduledByAttr] = s
	}
	e := &workflowpb.WorkflowExecutionInfo{
		Execution:        &commonpb.WorkflowExecution{WorkflowId: id, RunId: "r-" + id},
		StartTime:        timestamppb.New(start),
		Status:           status,
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: attrs},
	}
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		e.CloseTime = timestamppb.New(start.Add(3 * time.Minute))
	}
	return e
}

// drillWorld is three drills of plan demo: a scheduled one that met its
// target, one by hand that failed and left a VM behind, one running.
func drillWorld() (*testApp, *listClient) {
	ok := &workflows.Report{Plan: "demo", Mode: "test-failover", Outcome: workflows.OutcomeSucceeded, Unattended: true,
		RequestedBy: "schedule lifeboat-demo-drill (set up by ops)", RTO: 2*time.Minute + 4*time.Second, TargetRTO: 10 * time.Minute,
		VMCounts: map[string]int{"paused": 12},
		Gates: []workflows.GateStatus{{Gate: plan.GateRecover, State: workflows.GateApproved,
			Decisions: []workflows.Decision{{By: workflows.DecidedByUnattended, Approved: true, At: at(-7*24*60 - 6*60 + 1)}}}}}
	bad := &workflows.Report{Plan: "demo", Mode: "test-failover", Outcome: workflows.OutcomeFailed, RequestedBy: "carol",
		Message: "The test failover left 1 object behind at site dr: VM 'erp-db'; remove them by hand.",
		RTO:     12 * time.Minute, TargetRTO: 10 * time.Minute, Leftovers: []string{"VM 'erp-db' could not be destroyed."}}
	runs := []*fakeRun{
		{id: "lifeboat-demo-test-failover-2026-03-07T03:00:00Z", runID: "r-lifeboat-demo-test-failover-2026-03-07T03:00:00Z", steps: []step{completed(ok)}},
		{id: "lifeboat-demo-test-failover", runID: "r-lifeboat-demo-test-failover", steps: []step{failedWith(bad)}},
	}
	lc := &listClient{fakeClient: newFake(runs...)}
	lc.execs = []*workflowpb.WorkflowExecutionInfo{
		execInfo("lifeboat-demo-test-failover-2026-03-07T03:00:00Z", at(-7*24*60-6*60), enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, "lifeboat-demo-drill"),
		execInfo("lifeboat-demo-test-failover", at(-3*24*60), enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, ""),
		execInfo("lifeboat-demo-test-failover-2026-03-14T08:00:00Z", at(-60), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "lifeboat-demo-drill"),
	}
	ta := newTestApp(lc.fakeClient, nil)
	ta.app.dial = func(context.Context, connection) (temporalClient, error) { return lc, nil }
	return ta, lc
}

// TestDrills: newest first, with who started each, its outcome, RTO
// against target, leftovers and link; a summary sentence; JSON for scripts.
func TestDrills(t *testing.T) {
	ta, lc := drillWorld()
	require.Equal(t, exitcode.OK, ta.run("drills", "--plan", "demo", "--since", "30d", "--ui-url", "http://ui:8233"), ta.errOut.String())
	golden(t, "drills.txt", ta.out.String())
	require.Len(t, lc.queries, 3, "every page read")
	assert.Equal(t, `WorkflowType = "TestFailover" AND StartTime >= "2026-02-12T09:00:00Z" AND LifeboatPlan = "demo"`, lc.queries[0])

	require.Equal(t, exitcode.OK, ta.run("--output", "json", "drills", "--plan", "demo"))
	var rows []map[string]any
	require.NoError(t, json.Unmarshal(ta.out.Bytes(), &rows))
	require.Len(t, rows, 3)
	assert.Equal(t, "running", rows[0]["outcome"])
	assert.Equal(t, "failed", rows[1]["outcome"])
	assert.Nil(t, rows[1]["met_target"], "only a drill that succeeded is scored against the target")
	assert.Len(t, rows[1]["leftovers"], 1)
	assert.Equal(t, "succeeded", rows[2]["outcome"])
	assert.Equal(t, true, rows[2]["met_target"])
	assert.Equal(t, "lifeboat-demo-drill", rows[2]["schedule"])
	assert.Equal(t, []any{}, rows[2]["leftovers"])

	for _, bad := range []string{"soon", "-3d", "0d"} {
		assert.Equal(t, exitcode.Usage, ta.run("drills", "--since", bad), bad)
	}
	d, err := parseSince("12w")
	require.NoError(t, err)
	assert.Equal(t, 84*24*time.Hour, d)
	assert.True(t, strings.Contains(drillsSummary(nil, "demo", t0, time.UTC), "No drill of plan demo"))
}

// TestAuditReport: report --plan P --drills is the audit page of the plan's
// drills, in Markdown, HTML (chart, alerts, links) or JSON; it needs --plan
// and takes no RUN.
func TestAuditReport(t *testing.T) {
	ta, lc := drillWorld()
	require.Equal(t, exitcode.OK, ta.run("report", "--plan", "demo", "--drills", "--since", "30d", "--ui-url", "http://ui:8233"), ta.errOut.String())
	md := ta.out.String()
	assert.Contains(t, md, "# lifeboat drills of plan demo\n\nFrom 2026-02-12 09:00:00 UTC to 2026-03-14 09:00:00 UTC. 3 drills of plan demo")
	assert.Contains(t, md, "**Left behind by drills**\n\n- 2026-03-11 09:00:00 UTC: VM 'erp-db' could not be destroyed.")
	assert.Contains(t, md, "| 2026-03-07 03:00:00 UTC | schedule lifeboat-demo-drill | succeeded | 2m4s / 10m met | 12 | none | not known | [lifeboat-demo-test-failover-2026-03-07T03:00:00Z](http://ui:8233/")
	assert.Contains(t, lc.queries[0], `LifeboatPlan = "demo"`)

	require.Equal(t, exitcode.OK, ta.run("report", "--plan", "demo", "--drills", "--format", "html"))
	page := ta.out.String()
	assert.Contains(t, page, `<svg class="chart"`)
	assert.Contains(t, page, `class="target-rto"`)
	assert.Contains(t, page, `<div class="alert problem"><h3>Drills that did not succeed</h3>`)
	assert.Contains(t, page, `<td>unattended</td>`, "who decided each gate")
	assert.Equal(t, 3, strings.Count(page, `<rect class="drill-`), "one bar per drill")

	require.Equal(t, exitcode.OK, ta.run("report", "--plan", "demo", "--drills", "--format", "json"))
	var rows []drillRow
	require.NoError(t, json.Unmarshal(ta.out.Bytes(), &rows))
	assert.Len(t, rows, 3)

	assert.Equal(t, exitcode.Usage, ta.run("report", "--drills"))
	assert.Contains(t, ta.errOut.String(), "--drills needs --plan NAME")
	assert.Equal(t, exitcode.Usage, ta.run("report", "lifeboat-demo-failover", "--drills", "--plan", "demo"))
	assert.Equal(t, exitcode.Usage, ta.run("report", "--plan", "demo", "--drills", "--since", "forever"))
}
