package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// drillReport is a drill of the demo plan as the demo world runs it: 12 VMs
// in three priority groups, erp's VMs started 20 s and 10 s apart, the
// Lab-only network missing at the DR site, cleaned up at the end.
func drillReport() *workflows.Report {
	s := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	vm := func(name, vapp, group string, rec, start int) workflows.ObjectState {
		return workflows.ObjectState{UUID: "uuid-" + name, Name: name, Kind: "vm", VApp: vapp, Group: group, State: workflows.StateCleanedUp,
			RecoveredAt: ptr(s(rec)), StartedAt: ptr(s(start)), RTO: time.Duration(start) * time.Second}
	}
	vms := []workflows.ObjectState{
		vm("erp-db", "erp", "databases-first", 41, 52), vm("erp-app", "erp", "databases-first", 41, 73), vm("erp-web", "erp", "databases-first", 41, 84),
		vm("crm-db", "crm", "databases-first", 38, 50), vm("crm-app", "crm", "databases-first", 38, 61),
		vm("dns-01", "", "core", 35, 88), vm("mail-01", "", "core", 44, 90),
		vm("intranet-web", "intranet", workflows.RestGroup, 46, 93), vm("intranet-search", "intranet", workflows.RestGroup, 46, 97),
		vm("monitoring", "", workflows.RestGroup, 45, 94), vm("lab-tool", "", workflows.RestGroup, 47, 95), vm("file-01", "", workflows.RestGroup, 43, 94),
	}
	return &workflows.Report{
		Plan: "demo", Mode: plan.ModeTestFailover, WorkflowID: "lifeboat-demo-test-failover-2026-03-14T09:00:00Z", RunID: "0c1d2e3f",
		RequestedBy: "schedule lifeboat-demo-drill (set up by ops)", Outcome: workflows.OutcomeSucceeded, Source: "primary", Target: "dr",
		StartedAt: t0, FinishedAt: s(128), RTO: 97 * time.Second, TargetRTO: 10 * time.Minute, Unattended: true,
		Timeline: []workflows.Event{
			{At: s(0), Phase: workflows.PhaseStarting, Message: "Test failover of plan demo from site primary to site dr requested by schedule lifeboat-demo-drill."},
			{At: s(2), Phase: workflows.PhaseProbe, Message: "Probed 3 storage targets: 3 SRs found, 2 with pool metadata."},
			{At: s(14), Phase: workflows.PhaseIntroduce, Message: "Introduced 3 SRs through 3 DR tasks."},
			{At: s(22), Phase: workflows.PhasePrecheck, Message: "Prechecks: 24 ok, 1 warning, 0 problems."},
			{At: s(30), Phase: workflows.PhaseRecover, Message: "Recovering 3 vApps and 5 VMs."},
			{At: s(48), Phase: workflows.PhaseStart, Message: "Starting 12 VMs paused by priority group."},
			{At: s(100), Phase: workflows.PhaseVerify, Message: "12 VMs are paused, as expected."},
			{At: s(104), Phase: workflows.PhaseCleanup, Message: "Cleaning up: 12 VMs, 3 vApps, 3 SRs, 1 network."},
			{At: s(128), Phase: workflows.PhaseDone, Message: "The DR pool is as it was before the test."},
		},
		Gates: []workflows.GateStatus{
			{Gate: plan.GateStorageReady, State: workflows.GateSkipped, Quorum: 1, OpenedAt: s(1),
				Decisions: []workflows.Decision{{By: workflows.DecidedByAuto, Approved: true, At: s(1), Comment: "not required in a test-failover"}}},
			{Gate: plan.GateRecover, State: workflows.GateApproved, Quorum: 1, OpenedAt: s(28),
				Decisions: []workflows.Decision{{By: workflows.DecidedByUnattended, Approved: true, At: s(28), Comment: "unattended drill: approved by the plan's drill policy"}}},
		},
		Prechecks: []workflows.CheckResult{
			{Check: "role", Object: "pool at site dr", Severity: workflows.SeverityOK, Message: `user "lifeboat" may run disaster recovery (pool-operator or higher)`},
			{Check: "ha", Object: "pool at site dr", Severity: workflows.SeverityOK, Message: "HA is off"},
			{Check: "network", Object: "network 'Lab-only'", Severity: workflows.SeverityWarning,
				Message: "does not exist at site dr and is used by VM 'lab-tool': recovery will create it unconnected to any physical network; create it at site dr first if those VMs need connectivity"},
			{Check: "memory", Object: "pool at site dr", Severity: workflows.SeverityOK, Message: "the selected VMs need up to 74.0 GiB, the pool has 500.0 GiB free"},
		},
		VApps: []workflows.ObjectState{
			{UUID: "va-erp", Name: "erp", Kind: "vapp", Group: "databases-first", State: workflows.StateCleanedUp, RecoveredAt: ptr(s(41))},
			{UUID: "va-crm", Name: "crm", Kind: "vapp", Group: "databases-first", State: workflows.StateCleanedUp, RecoveredAt: ptr(s(38))},
			{UUID: "va-intranet", Name: "intranet", Kind: "vapp", Group: workflows.RestGroup, State: workflows.StateCleanedUp, RecoveredAt: ptr(s(46))},
		},
		VMs:      vms,
		Warnings: []string{"Selection vms entry \"legacy-*\" matched nothing in the metadata found; it is ignored."},
	}
}

// chromium is the headless browser the rendering tests use, if installed
// (Debian's package).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: install Debian's chromium package to render the reports in a browser")
	return ""
}

// screenshot renders an HTML file in headless Chromium and decodes the PNG.
func screenshot(t *testing.T, browser, htmlFile string, width, height int) image.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--hide-scrollbars", "--user-data-dir="+t.TempDir(), "--screenshot="+out,
		"--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), "file://"+htmlFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Run(), "chromium: %s", stderr.String())
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	if dir := os.Getenv("LIFEBOAT_DOCS_DIR"); dir != "" {
		// go test ./starter -run TestReportInBrowser with LIFEBOAT_DOCS_DIR=docs refreshes the README's pictures.
		raw, err := os.ReadFile(out)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(htmlFile[:len(htmlFile)-len(filepath.Ext(htmlFile))])+".png"), raw, 0o644))
	}
	return img
}

// colourCount counts the pixels within a small distance of an #rrggbb colour.
func colourCount(img image.Image, hex string) int {
	var want [3]int
	for i := range 3 {
		var v int
		for _, c := range hex[1+2*i : 3+2*i] {
			v *= 16
			switch {
			case c >= '0' && c <= '9':
				v += int(c - '0')
			default:
				v += int(c-'a') + 10
			}
		}
		want[i] = v
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			d := abs(int(r>>8)-want[0]) + abs(int(g>>8)-want[1]) + abs(int(bl>>8)-want[2])
			if d <= 12 {
				n++
			}
		}
	}
	return n
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// TestReportInBrowser renders the drill's HTML report and the audit page in
// headless Chromium and checks what the screenshots show: the chart's
// recovering, starting and paused bars and the target RTO line, the
// highlighted warning box; on the audit page the drills' bars, red for the
// failed one.
func TestReportInBrowser(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()

	var page bytes.Buffer
	require.NoError(t, writeReportHTML(&page, drillReport(), time.UTC, "http://127.0.0.1:8233/namespaces/default/workflows/lifeboat-demo-test-failover-2026-03-14T09:00:00Z/0c1d2e3f/history"))
	file := filepath.Join(dir, "report.html")
	require.NoError(t, os.WriteFile(file, page.Bytes(), 0o644))
	img := screenshot(t, browser, file, 1200, 1500)
	// Each of the 12 bars is 14 px high; the segments are several px wide.
	for kind, min := range map[string]int{"recovering": 12 * 14 * 5, "starting": 12 * 14 * 5, "paused": 12 * 14 * 5} {
		assert.Greater(t, colourCount(img, chartColours[kind]), min, "%s bars", kind)
	}
	assert.Zero(t, colourCount(img, chartColours["running"]), "a test failover's VMs run paused")
	assert.Greater(t, colourCount(img, "#1a7f37"), 200, "the target RTO (met: green) and the outcome")
	assert.Greater(t, colourCount(img, "#fff8c5"), 5000, "the warnings box")

	ta, _ := drillWorld()
	ta.run("report", "--plan", "demo", "--drills", "--since", "30d", "--format", "html", "-o", filepath.Join(dir, "audit.html"))
	require.FileExists(t, filepath.Join(dir, "audit.html"), ta.errOut.String())
	img = screenshot(t, browser, filepath.Join(dir, "audit.html"), 1200, 900)
	assert.Greater(t, colourCount(img, chartColours["running"]), 500, "the bar of the drill that met its target")
	assert.Greater(t, colourCount(img, chartColours["failed"]), 200, "the failed drill's mark and its text")
	assert.Greater(t, colourCount(img, "#ffebe9"), 5000, "the box of drills that did not succeed")
}
