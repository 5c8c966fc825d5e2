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

var htmlReport = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1f24; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
.outcome-succeeded { color: #1a7f37; font-weight: bold; }
.outcome-failed, .outcome-rejected, .outcome-aborted { color: #cf222e; font-weight: bold; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<table>
{{- range .Summary}}
<tr><th>{{index . 0}}</th><td{{if eq (index . 0) "Outcome"}} class="outcome-{{index . 1}}"{{end}}>{{index . 1}}</td></tr>
{{- end}}
</table>
{{- range .Sections}}
<h2>{{.Title}}</h2>
{{- if .Rows}}
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{- range .Rows}}
<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
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
	return htmlReport.Execute(w, buildReportDoc(r, loc))
}
