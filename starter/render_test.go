package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"
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

func TestFitFrame(t *testing.T) {
	frame := renderStatus(statusView{ref: runRef{id: "lifeboat-demo-failover", runID: "run-1"}, status: "running", progress: recoveringProgress()}, time.UTC)
	for _, tc := range []struct{ width, height int }{{60, 30}, {100, 30}, {160, 50}, {20, 5}, {8, 2}} {
		got := fitFrame(frame, tc.width, tc.height)
		assert.LessOrEqual(t, len(got), tc.height, "%dx%d", tc.width, tc.height)
		for _, l := range got {
			assert.LessOrEqual(t, runewidth.StringWidth(l), tc.width, "%dx%d: %q", tc.width, tc.height, l)
		}
		assert.True(t, strings.HasPrefix(got[0], "Run"), "the top is kept")
		if len(frame) > tc.height {
			assert.True(t, strings.HasPrefix(got[len(got)-1], "… "), "the last line says lines are not shown")
		}
	}
	lines := []string{"  approve: lifeboat approve lifeboat-demo-failover --gate recover --as NAME", "erp-db 数据库数据库 primary", strings.Repeat("x", 25)}
	assert.Equal(t, []string{
		"  approve: lifeboat approve",
		"    lifeboat-demo-failover",
		"    --gate recover --as",
		"    NAME",
	}, fitFrame(lines[:1], 27, 10), "wrapped at spaces")
	assert.Equal(t, []string{"erp-db 数据库数据库", "  primary", strings.Repeat("x", 20), "  xxxxx"}, fitFrame(lines[1:], 20, 10),
		"wide characters count twice, a word longer than the room is cut")
	assert.Equal(t, lines, fitFrame(lines, 0, 0), "an unknown size changes nothing")
}

func TestVMCountsAndBar(t *testing.T) {
	rec, started := vmCounts(recoveringProgress().VMs)
	assert.Equal(t, 2, rec)
	assert.Equal(t, 1, started)
	assert.Equal(t, "[#####.....]", bar(1, 2, 10))
	assert.Equal(t, "[..........]", bar(0, 0, 10))
}
