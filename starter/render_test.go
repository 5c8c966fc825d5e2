package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run 'go test ./starter -update' to create %s", path)
	assert.Equal(t, string(want), got)
}

func TestRenderStatusWaiting(t *testing.T) {
	v := statusView{ref: runRef{id: "lifeboat-demo-failover", runID: "run-1"}, status: "running", progress: waitingProgress()}
	golden(t, "status-waiting.txt", strings.Join(renderStatus(v, time.UTC), "\n")+"\n")
}

func TestRenderStatusRecovering(t *testing.T) {
	v := statusView{ref: runRef{id: "lifeboat-demo-failover", runID: "run-1"}, status: "running", progress: recoveringProgress()}
	golden(t, "status-recovering.txt", strings.Join(renderStatus(v, time.UTC), "\n")+"\n")
}

func TestRenderStatusFinished(t *testing.T) {
	r := doneReport()
	v := statusView{ref: runRef{id: r.WorkflowID, runID: r.RunID}, status: "completed", progress: progressFromReport(r), outcome: r.Outcome}
	golden(t, "status-done.txt", strings.Join(renderStatus(v, time.UTC), "\n")+"\n")
}

func TestRenderReportMarkdown(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, writeMarkdown(&b, doneReport(), time.UTC))
	golden(t, "report.md", b.String())
	assert.Contains(t, b.String(), `dns\|01`, "pipes are escaped in cells")
}

func TestRenderReportHTML(t *testing.T) {
	r := doneReport()
	r.Leftovers = append(r.Leftovers, "<script>alert(1)</script>")
	var b bytes.Buffer
	require.NoError(t, writeHTML(&b, r, time.UTC))
	golden(t, "report.html", b.String())
	assert.NotContains(t, b.String(), "<script>alert")
}

func TestRenderReportFailedEmptySections(t *testing.T) {
	r := &workflows.Report{Plan: "demo", Mode: "test-failover", WorkflowID: "lifeboat-demo-test-failover", RunID: "r2",
		Outcome: workflows.OutcomeRejected, Message: "gate storage-ready was rejected by bob: mirror still active",
		Source: "primary", Target: "dr", StartedAt: t0, FinishedAt: at(1)}
	var b bytes.Buffer
	require.NoError(t, writeMarkdown(&b, r, time.UTC))
	golden(t, "report-rejected.md", b.String())
}

func TestChangesLines(t *testing.T) {
	var all []string
	var prev *workflows.Progress
	for _, p := range []*workflows.Progress{waitingProgress(), recoveringProgress(), recoveringProgress()} {
		all = append(all, changes(prev, p, time.UTC)...)
		prev = p
	}
	golden(t, "watch-lines.txt", strings.Join(all, "\n")+"\n")
}

func TestRedraw(t *testing.T) {
	var b bytes.Buffer
	n := redraw(&b, 0, []string{"a", "b"})
	assert.Equal(t, 2, n)
	assert.Equal(t, "\x1b[2Ka\n\x1b[2Kb\n\x1b[J", b.String())
	b.Reset()
	redraw(&b, 2, []string{"c"})
	assert.Equal(t, "\x1b[2A\r\x1b[2Kc\n\x1b[J", b.String(), "moves up over the previous frame, clears below the new one")
}

func TestVMCountsAndBar(t *testing.T) {
	rec, started := vmCounts(recoveringProgress().VMs)
	assert.Equal(t, 2, rec)
	assert.Equal(t, 1, started)
	assert.Equal(t, "[#####.....]", bar(1, 2, 10))
	assert.Equal(t, "[..........]", bar(0, 0, 10))
}
