package main

import (
	"fmt"
	"html"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Charts of the HTML report, drawn as inline SVG so that the page stays one
// self-contained file an auditor can archive: the run's timeline (one bar
// per VM: recovering, starting, running, by priority group, against the
// target RTO), and the audit page's RTO of each drill against the target.

// Chart geometry, in SVG user units (pixels at 100 %).
const (
	chartWidth   = 1000
	chartLabel   = 190 // the names' column
	chartRight   = 20
	chartRow     = 16
	chartGap     = 4
	chartTop     = 28 // room for the legend
	chartAxis    = 34 // room for the time axis below
	chartMaxBars = 300
)

// Segment colours, shared by the legend.
var chartColours = map[string]string{
	"recovering": "#8250df",
	"starting":   "#d4a72c",
	"running":    "#2da44e",
	"paused":     "#54aeff",
	"failed":     "#cf222e",
}

type chartBar struct {
	name, group string
	segs        []chartSeg
	note        string
}

type chartSeg struct {
	kind       string
	from, till time.Duration // since the run's start
}

// timelineBars lays out each VM: recovering from the start of the recover
// phase to its recovery, starting from then to its start (its group's turn
// and the boot), then running (or paused) to the end of the run or the
// start of a test's cleanup.
func timelineBars(r *workflows.Report) ([]chartBar, time.Duration) {
	start := r.StartedAt
	var recoverAt, cleanupAt time.Time
	for _, e := range r.Timeline {
		if e.Phase == workflows.PhaseRecover && recoverAt.IsZero() {
			recoverAt = e.At
		}
		if e.Phase == workflows.PhaseCleanup && cleanupAt.IsZero() {
			cleanupAt = e.At
		}
	}
	end := r.FinishedAt
	if end.IsZero() && len(r.Timeline) > 0 {
		end = r.Timeline[len(r.Timeline)-1].At
	}
	upTill := end
	if r.Mode == "test-failover" && !cleanupAt.IsZero() {
		upTill = cleanupAt
	}
	since := func(t time.Time) time.Duration { return max(0, t.Sub(start)) }
	vms := append([]workflows.ObjectState(nil), r.VMs...)
	groupOrder := map[string]int{}
	for _, vm := range vms {
		if _, ok := groupOrder[vm.Group]; !ok {
			groupOrder[vm.Group] = len(groupOrder)
		}
	}
	sort.SliceStable(vms, func(i, j int) bool {
		a, b := vms[i], vms[j]
		if groupOrder[a.Group] != groupOrder[b.Group] {
			return groupOrder[a.Group] < groupOrder[b.Group]
		}
		return timeOr(a.StartedAt, end).Before(timeOr(b.StartedAt, end))
	})
	total := since(end)
	var bars []chartBar
	for _, vm := range vms {
		b := chartBar{name: vm.Name, group: vm.Group}
		if vm.RecoveredAt != nil {
			from := since(recoverAt)
			if recoverAt.IsZero() || vm.Adopted {
				from = since(*vm.RecoveredAt)
			}
			b.segs = append(b.segs, chartSeg{"recovering", from, since(*vm.RecoveredAt)})
			if vm.StartedAt != nil {
				b.segs = append(b.segs, chartSeg{"starting", since(*vm.RecoveredAt), since(*vm.StartedAt)})
				kind := "running"
				if vm.State == workflows.StatePaused || (r.Mode == "test-failover" && vm.State == workflows.StateCleanedUp) {
					kind = "paused"
				}
				b.segs = append(b.segs, chartSeg{kind, since(*vm.StartedAt), max(since(upTill), since(*vm.StartedAt))})
			}
		}
		if vm.State == workflows.StateFailed {
			b.note = "failed"
			if len(b.segs) == 0 {
				b.segs = append(b.segs, chartSeg{"failed", since(recoverAt), since(end)})
			}
		}
		if vm.Adopted {
			b.note = "adopted"
		}
		bars = append(bars, b)
	}
	return bars, total
}

func timeOr(t *time.Time, d time.Time) time.Time {
	if t == nil {
		return d
	}
	return *t
}

// timelineSVG draws the bars against a time axis, with the target RTO and
// the measured one as vertical lines.
func timelineSVG(r *workflows.Report) template.HTML {
	bars, total := timelineBars(r)
	if len(bars) == 0 {
		return ""
	}
	more := 0
	if len(bars) > chartMaxBars {
		more = len(bars) - chartMaxBars
		bars = bars[:chartMaxBars]
	}
	// The axis covers the run; the target RTO joins it unless it would
	// squeeze the bars into a corner, then it is marked off the scale.
	span := max(total, r.RTO, 30*time.Second)
	if r.TargetRTO > span && r.TargetRTO <= span*3/2 {
		span = r.TargetRTO
	}
	span = niceSpan(span)
	plotW := float64(chartWidth - chartLabel - chartRight)
	x := func(d time.Duration) float64 { return chartLabel + plotW*float64(d)/float64(span) }
	// Rows: a header row per group, then its VMs.
	type row struct {
		group string
		bar   *chartBar
	}
	var rows []row
	last := "\x00"
	for i := range bars {
		if bars[i].group != last {
			rows = append(rows, row{group: bars[i].group})
			last = bars[i].group
		}
		rows = append(rows, row{bar: &bars[i]})
	}
	height := chartTop + len(rows)*(chartRow+chartGap) + chartAxis
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="timeline of %d VMs">`,
		chartWidth, height, chartWidth, height, len(bars))
	b.WriteString(`<style>text{font:12px system-ui,sans-serif;fill:#1b1f24}.grp{font-weight:bold}.axis{fill:#57606a}.tick{stroke:#d0d7de}</style>`)
	seen := map[string]bool{}
	for _, bar := range bars {
		for _, sg := range bar.segs {
			seen[sg.kind] = true
		}
	}
	var kinds []string
	for _, k := range []string{"recovering", "starting", "running", "paused", "failed"} {
		if seen[k] {
			kinds = append(kinds, k)
		}
	}
	legend(&b, kinds)
	plotTop := chartTop
	plotBottom := chartTop + len(rows)*(chartRow+chartGap)
	step := tickStep(span)
	for t := time.Duration(0); t <= span; t += step {
		fmt.Fprintf(&b, `<line class="tick" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`, x(t), plotTop, x(t), plotBottom)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(t), plotBottom+14, rto0(t))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">time since the run started</text>`, chartLabel, plotBottom+30)
	y := plotTop
	for _, rw := range rows {
		if rw.bar == nil {
			fmt.Fprintf(&b, `<text class="grp" x="4" y="%d">%s</text>`, y+chartRow-4, html.EscapeString("group "+orText(rw.group, "(none)")))
			y += chartRow + chartGap
			continue
		}
		bar := rw.bar
		label := bar.name
		if len(label) > 26 {
			label = label[:25] + "…"
		}
		fmt.Fprintf(&b, `<text x="14" y="%d">%s</text>`, y+chartRow-4, html.EscapeString(label))
		for _, s := range bar.segs {
			w := max(x(s.till)-x(s.from), 1.5)
			fmt.Fprintf(&b, `<rect class="seg-%s" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: %s → %s</title></rect>`,
				s.kind, x(s.from), y+1, w, chartRow-2, chartColours[s.kind], html.EscapeString(bar.name), s.kind, rto0(s.from), rto0(s.till))
		}
		if bar.note != "" {
			end := float64(chartLabel)
			if n := len(bar.segs); n > 0 {
				end = x(bar.segs[n-1].till)
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#cf222e">%s</text>`, end+4, y+chartRow-4, bar.note)
		}
		y += chartRow + chartGap
	}
	if r.TargetRTO > span {
		colour := "#1a7f37"
		fmt.Fprintf(&b, `<text class="target-rto" x="%d" y="%d" text-anchor="end" fill="%s">target RTO %s →</text>`, chartWidth-chartRight, plotTop-8, colour, rto(r.TargetRTO))
	} else if r.TargetRTO > 0 {
		colour := "#1a7f37"
		if r.RTO > r.TargetRTO {
			colour = "#cf222e"
		}
		fmt.Fprintf(&b, `<line class="target-rto" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="6 4"/>`, x(r.TargetRTO), plotTop-6, x(r.TargetRTO), plotBottom, colour)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end" fill="%s">target RTO %s</text>`, x(r.TargetRTO)-4, plotTop-8, colour, rto(r.TargetRTO))
	}
	if r.RTO > 0 {
		fmt.Fprintf(&b, `<line class="measured-rto" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#1b1f24" stroke-width="1.5"/>`, x(r.RTO), plotTop, x(r.RTO), plotBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#1b1f24">RTO %s</text>`, x(r.RTO)+4, plotBottom-4, rto(r.RTO))
	}
	b.WriteString(`</svg>`)
	if more > 0 {
		fmt.Fprintf(&b, `<p class="note">The chart shows the first %d VMs; %d more are in the table below.</p>`, chartMaxBars, more)
	}
	return template.HTML(b.String()) // #nosec: built here, every name escaped
}

func legend(b *strings.Builder, kinds []string) {
	x := chartLabel
	for _, k := range kinds {
		fmt.Fprintf(b, `<rect x="%d" y="6" width="12" height="12" fill="%s"/><text x="%d" y="16">%s</text>`, x, chartColours[k], x+16, k)
		x += 110
	}
}

// niceSpan rounds the axis up to a whole number of ticks.
func niceSpan(d time.Duration) time.Duration {
	step := tickStep(d)
	return (d + step - 1) / step * step
}

// tickStep is a round step giving about 6 to 12 ticks.
func tickStep(d time.Duration) time.Duration {
	for _, s := range []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
		10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour} {
		if d/s <= 12 {
			return s
		}
	}
	return 24 * time.Hour
}

// rto0 is rto, with 0 written as 0s (the axis origin).
func rto0(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return rto(d)
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// drillsSVG draws each drill's measured RTO as a bar, oldest left, against
// the plan's target RTO; a failed drill is a red mark at the baseline.
func drillsSVG(rows []drillRow, loc *time.Location) template.HTML {
	if len(rows) == 0 {
		return ""
	}
	ordered := append([]drillRow(nil), rows...)
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].StartedAt.Before(ordered[j].StartedAt) })
	var top, target time.Duration
	for _, r := range ordered {
		top = max(top, r.RTO, r.TargetRTO)
		target = max(target, r.TargetRTO)
	}
	top = niceSpan(max(top, time.Minute))
	const h, left, bottom = 220, 60, 40
	plotH := float64(h - 20 - bottom)
	w := chartWidth
	slot := float64(w-left-chartRight) / float64(len(ordered))
	bw := min(slot*0.7, 60)
	y := func(d time.Duration) float64 { return 20 + plotH*(1-float64(d)/float64(top)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="RTO of %d drills">`, w, h, w, h, len(ordered))
	b.WriteString(`<style>text{font:12px system-ui,sans-serif;fill:#1b1f24}.axis{fill:#57606a}.tick{stroke:#d0d7de}</style>`)
	step := tickStep(top)
	for t := time.Duration(0); t <= top; t += step {
		fmt.Fprintf(&b, `<line class="tick" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/><text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`,
			left, y(t), w-chartRight, y(t), left-6, y(t)+4, rto0(t))
	}
	for i, r := range ordered {
		cx := float64(left) + slot*(float64(i)+0.5)
		colour := chartColours["running"]
		switch {
		case r.Outcome == outcomeRunning:
			colour = "#8c959f"
		case r.Outcome != workflows.OutcomeSucceeded:
			colour = chartColours["failed"]
		case r.MetTarget != nil && !*r.MetTarget:
			colour = "#bf8700"
		}
		height := y(0) - y(r.RTO)
		if r.RTO <= 0 || r.Outcome != workflows.OutcomeSucceeded {
			height = max(height, 4)
		}
		fmt.Fprintf(&b, `<rect class="drill-%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s, RTO %s</title></rect>`,
			html.EscapeString(r.Outcome), cx-bw/2, y(0)-height, bw, height, colour, fmtTime(r.StartedAt, loc), html.EscapeString(r.Outcome), rto(r.RTO))
		if len(ordered) <= 40 || i%(len(ordered)/20+1) == 0 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, cx, h-bottom+16, r.StartedAt.In(loc).Format("01-02"))
		}
	}
	if target > 0 {
		fmt.Fprintf(&b, `<line class="target-rto" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#cf222e" stroke-width="2" stroke-dasharray="6 4"/><text x="%d" y="%.1f" text-anchor="end" fill="#cf222e">target RTO %s</text>`,
			left, y(target), w-chartRight, y(target), w-chartRight, y(target)-4, rto(target))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">measured RTO of each drill (green: met, amber: missed, red: failed, grey: running)</text>`, left, h-6)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: built here, every name escaped
}
