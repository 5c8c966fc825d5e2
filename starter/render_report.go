package main

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

// reportDoc is a report laid out for Markdown and HTML alike: the same
// sections, the same rows, so the two formats never drift apart.
type reportDoc struct {
	Title    string
	Summary  [][2]string
	Sections []section
	// HTML only: the run in the Web UI, what needs attention first, and
	// the timeline chart.
	Link   string
	Alerts []alert
	Chart  template.HTML
}

// alert is a highlighted box at the top of the HTML report: class problem
// (red) or warning (amber).
type alert struct {
	Class, Title string
	Lines        []string
}

type section struct {
	Title  string
	Header []string
	Rows   [][]string
	Lines  []string // for sections that are a list, not a table
	Empty  string   // shown when there is nothing
}

func buildReportDoc(r *workflows.Report, loc *time.Location) reportDoc {
	d := reportDoc{Title: fmt.Sprintf("lifeboat %s report: plan %s", r.Mode, r.Plan)}
	outcome := r.Outcome
	if outcome == "" {
		outcome = "running (interim report)"
	}
	d.Summary = [][2]string{
		{"Outcome", outcome},
		{"Plan", r.Plan},
		{"Mode", string(r.Mode)},
		{"Sites", r.Source + " → " + r.Target},
		{"Workflow", r.WorkflowID + " / " + r.RunID},
		{"Requested by", dash(r.RequestedBy)},
		{"Started", fmtTime(r.StartedAt, loc)},
		{"Finished", fmtTime(r.FinishedAt, loc)},
	}
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() {
		d.Summary = append(d.Summary, [2]string{"Duration", rto(r.FinishedAt.Sub(r.StartedAt))})
	}
	rec, started := vmCounts(r.VMs)
	d.Summary = append(d.Summary, [2]string{"VMs", fmt.Sprintf("%d selected, %d recovered, %d started", len(r.VMs), rec, started)})
	if worst := worstRTO(r.VMs); worst > 0 {
		d.Summary = append(d.Summary, [2]string{"Longest RTO", rto(worst)})
	}
	if v := rtoVerdict(r); v != "" {
		d.Summary = append(d.Summary, [2]string{"RTO vs target", v})
	}
	d.Summary = append(d.Summary, [2]string{"Data as of (RPO)", rpoText(r, loc)})
	if r.Unattended {
		d.Summary = append(d.Summary, [2]string{"Drill", "unattended: its gates were decided by the plan's drill policy"})
	}
	if r.Message != "" {
		d.Summary = append(d.Summary, [2]string{"Message", r.Message})
	}

	tl := section{Title: "Timeline", Header: []string{"Time", "Phase", "Event"}, Empty: "No events."}
	for _, e := range r.Timeline {
		tl.Rows = append(tl.Rows, []string{fmtTime(e.At, loc), e.Phase, e.Message})
	}
	ap := section{Title: "Approvals", Header: []string{"Gate", "State", "Decision", "By", "At", "Comment"}, Empty: "No gate was opened."}
	for _, g := range r.Gates {
		if len(g.Decisions) == 0 {
			ap.Rows = append(ap.Rows, []string{g.Gate, g.State, "-", "-", "-", ""})
		}
		for _, dec := range g.Decisions {
			verb := "approved"
			if !dec.Approved {
				verb = "rejected"
			}
			ap.Rows = append(ap.Rows, []string{g.Gate, g.State, verb, dec.By, fmtTime(dec.At, loc), dec.Comment})
		}
	}
	pc := section{Title: "Prechecks", Header: []string{"Severity", "Check", "Object", "Message"}, Empty: "No precheck ran."}
	for _, c := range r.Prechecks {
		pc.Rows = append(pc.Rows, []string{c.Severity, c.Check, c.Object, c.Message})
	}
	va := section{Title: "vApps", Header: []string{"vApp", "Group", "State", "Recovered", "Started", "Error"}, Empty: "No vApp."}
	for _, o := range r.VApps {
		va.Rows = append(va.Rows, []string{o.Name, dash(o.Group), o.State, recoveredCell(o, loc), clock(o.StartedAt, loc), o.Error})
	}
	vm := section{Title: "VMs", Header: []string{"VM", "vApp", "Group", "State", "Recovered", "Started", "RTO", "Error"}, Empty: "No VM."}
	for _, o := range r.VMs {
		vm.Rows = append(vm.Rows, []string{o.Name, dash(o.VApp), dash(o.Group), o.State, recoveredCell(o, loc), clock(o.StartedAt, loc), rto(o.RTO), o.Error})
	}
	lo := section{Title: "Leftovers", Lines: r.Leftovers, Empty: "Nothing was left behind."}
	d.Sections = []section{tl, ap, pc, va, vm, lo}
	if len(r.Warnings) > 0 {
		d.Sections = append(d.Sections, section{Title: "Warnings", Lines: r.Warnings})
	}
	return d
}

// rtoVerdict compares the measured RTO with the plan's target.
func rtoVerdict(r *workflows.Report) string {
	switch {
	case r.TargetRTO <= 0 && r.RTO <= 0:
		return ""
	case r.TargetRTO <= 0:
		return rto(r.RTO) + " measured; the plan sets no target_rto"
	case r.RTO <= 0:
		return "target " + rto(r.TargetRTO) + "; nothing was measured (no VM came up)"
	case r.RTO <= r.TargetRTO:
		return fmt.Sprintf("%s measured, target %s: met", rto(r.RTO), rto(r.TargetRTO))
	}
	return fmt.Sprintf("%s measured, target %s: MISSED by %s", rto(r.RTO), rto(r.TargetRTO), rto(r.RTO-r.TargetRTO))
}

// rpoText is the age of the data the run recovered, when the storage
// adapter said when the source last wrote it.
func rpoText(r *workflows.Report, loc *time.Location) string {
	if r.DataAsOf == nil || r.DataAsOf.IsZero() {
		return "not known: no storage adapter reported when the source last wrote the storage this run recovered"
	}
	age := r.StartedAt.Sub(*r.DataAsOf)
	if age < 0 {
		return fmtTime(*r.DataAsOf, loc)
	}
	return fmt.Sprintf("%s (%s before the run started)", fmtTime(*r.DataAsOf, loc), rto(max(age, time.Second)))
}

// reportAlerts is what an operator or auditor must see first: why a run
// did not succeed, what it left behind, a missed target, problems and
// warnings.
func reportAlerts(r *workflows.Report) []alert {
	var out []alert
	if r.Outcome != "" && r.Outcome != workflows.OutcomeSucceeded {
		out = append(out, alert{Class: "problem", Title: "The run " + r.Outcome, Lines: []string{orText(r.Message, "see the timeline")}})
	}
	if len(r.Leftovers) > 0 {
		out = append(out, alert{Class: "problem", Title: "Left behind", Lines: r.Leftovers})
	}
	if r.TargetRTO > 0 && r.RTO > r.TargetRTO {
		out = append(out, alert{Class: "problem", Title: "Target RTO missed", Lines: []string{rtoVerdict(r)}})
	}
	var problems, warnings []string
	for _, c := range r.Prechecks {
		switch c.Severity {
		case workflows.SeverityProblem:
			problems = append(problems, c.Object+": "+c.Message)
		case workflows.SeverityWarning:
			warnings = append(warnings, c.Object+": "+c.Message)
		}
	}
	if len(problems) > 0 {
		out = append(out, alert{Class: "problem", Title: "Precheck problems", Lines: problems})
	}
	warnings = append(warnings, r.Warnings...)
	if len(warnings) > 0 {
		out = append(out, alert{Class: "warning", Title: "Warnings", Lines: warnings})
	}
	return out
}

// recoveredCell is when the object was recovered, and "adopted" when an
// earlier run of the plan had recovered it (docs/reruns.md).
func recoveredCell(o workflows.ObjectState, loc *time.Location) string {
	if o.Adopted {
		return "adopted " + clock(o.RecoveredAt, loc)
	}
	return clock(o.RecoveredAt, loc)
}

func worstRTO(vms []workflows.ObjectState) time.Duration {
	var w time.Duration
	for _, vm := range vms {
		w = max(w, vm.RTO)
	}
	return w
}

// writeMarkdown renders a report as GitHub-flavoured Markdown.
func writeMarkdown(w io.Writer, r *workflows.Report, loc *time.Location) error {
	d := buildReportDoc(r, loc)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", d.Title)
	b.WriteString("| | |\n|---|---|\n")
	for _, kv := range d.Summary {
		fmt.Fprintf(&b, "| **%s** | %s |\n", kv[0], mdCell(kv[1]))
	}
	for _, s := range d.Sections {
		fmt.Fprintf(&b, "\n## %s\n\n", s.Title)
		switch {
		case len(s.Rows) > 0:
			fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(s.Header, " | "), strings.Repeat("---|", len(s.Header)))
			for _, row := range s.Rows {
				cells := make([]string, len(row))
				for i, c := range row {
					cells[i] = mdCell(c)
				}
				fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
			}
		case len(s.Lines) > 0:
			for _, l := range s.Lines {
				fmt.Fprintf(&b, "- %s\n", mdText(l))
			}
		default:
			fmt.Fprintf(&b, "%s\n", s.Empty)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCell keeps a value inside its table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", "<br>")
	return mdText(s)
}

// mdText stops names from being read as Markdown markup.
func mdText(s string) string {
	r := strings.NewReplacer("*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;")
	return strings.ReplaceAll(r.Replace(s), "&lt;br&gt;", "<br>")
}

// pageHead opens the run's report and the audit page: the title, the shared
// style (reportStyle) and the heading.
const pageHead = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
{{.Style}}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
`

// reportStyle is shared by the run's report and the audit page.
const reportStyle = `body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1f24; max-width: 1100px; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
a { color: #0969da; }
.outcome-succeeded { color: #1a7f37; font-weight: bold; }
.outcome-failed, .outcome-rejected, .outcome-aborted { color: #cf222e; font-weight: bold; }
.alert { border-left: 6px solid; padding: .4rem .9rem; margin: 0 0 1rem; border-radius: 4px; }
.alert h3 { margin: .2rem 0; font-size: 1rem; }
.alert ul { margin: .2rem 0; padding-left: 1.2rem; }
.alert.problem { border-color: #cf222e; background: #ffebe9; }
.alert.warning { border-color: #bf8700; background: #fff8c5; }
.sev-problem { background: #ffebe9; }
.sev-warning { background: #fff8c5; }
.chart { display: block; margin: .5rem 0 1.5rem; }
.note { color: #57606a; }`

var htmlReport = template.Must(template.New("report").Parse(pageHead + `{{- if .Link}}
<p>Run in the Temporal Web UI: <a href="{{.Link}}">{{.Link}}</a></p>
{{- end}}
{{- range .Alerts}}
<div class="alert {{.Class}}"><h3>{{.Title}}</h3><ul>{{range .Lines}}<li>{{.}}</li>{{end}}</ul></div>
{{- end}}
<table>
{{- range .Summary}}
<tr><th>{{index . 0}}</th><td{{if eq (index . 0) "Outcome"}} class="outcome-{{index . 1}}"{{end}}>{{index . 1}}</td></tr>
{{- end}}
</table>
{{- if .Chart}}
<h2>Timeline chart</h2>
{{.Chart}}
{{- end}}
{{- range .Sections}}
<h2>{{.Title}}</h2>
{{- if .Rows}}
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{- range .Rows}}
<tr{{if eq (index . 0) "problem" "warning"}} class="sev-{{index . 0}}"{{end}}>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{- end}}
</table>
{{- else if .Lines}}
<ul>
{{- range .Lines}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- else}}
<p>{{.Empty}}</p>
{{- end}}
{{- end}}
</body>
</html>
`))

// writeHTML renders a report as one self-contained HTML page.
func writeHTML(w io.Writer, r *workflows.Report, loc *time.Location) error {
	return writeReportHTML(w, r, loc, "")
}

// writeReportHTML is writeHTML with the run's Web UI link, the alerts and
// the timeline chart.
func writeReportHTML(w io.Writer, r *workflows.Report, loc *time.Location, link string) error {
	d := buildReportDoc(r, loc)
	d.Link, d.Alerts, d.Chart = link, reportAlerts(r), timelineSVG(r)
	return htmlReport.Execute(w, struct {
		reportDoc
		Style template.CSS
	}{d, template.CSS(reportStyle)})
}
