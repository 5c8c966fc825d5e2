package main

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// The audit page: every drill of a plan over a period, for the auditor
// who asks how often the DR plan is tested and for the proof.
// 'lifeboat report --plan P --drills --since 365d --format html'.

type auditFlags struct {
	drills          bool
	planName, since string
}

func addAuditFlags(cmd *cobra.Command, f *auditFlags) {
	cmd.Flags().BoolVar(&f.drills, "drills", false, "instead of one run's report, the audit page of every drill of --plan over --since")
	cmd.Flags().StringVar(&f.planName, "plan", "", "with --drills: the plan `NAME`")
	cmd.Flags().StringVar(&f.since, "since", "365d", "with --drills: how far back, such as 365d or 12w")
}

// auditDoc is the audit page, for HTML and Markdown alike.
type auditDoc struct {
	Title, Summary string
	From, To       string
	Alerts         []alert
	Chart          template.HTML
	Header         []string
	Rows           [][]string
	Links          []string // per row: the run in the Web UI
	Details        []section
}

func buildAuditDoc(rows []drillRow, planName string, from, to time.Time, loc *time.Location) auditDoc {
	d := auditDoc{Title: "lifeboat drills of plan " + planName, Summary: drillsSummary(rows, planName, from, loc),
		From: fmtTime(from, loc), To: fmtTime(to, loc), Chart: drillsSVG(rows, loc),
		Header: []string{"Started", "By", "Outcome", "RTO / target", "VMs", "Leftovers", "Data as of (RPO)", "Run"}}
	var failed, left, missed []string
	for _, r := range rows {
		when := fmtTime(r.StartedAt, loc)
		asOf := "not known"
		if r.DataAsOf != nil {
			asOf = fmtTime(*r.DataAsOf, loc)
		}
		d.Rows = append(d.Rows, []string{when, drillBy(r), r.Outcome, rtoVersus(r), fmt.Sprint(r.VMs), leftoversText(r), asOf, r.WorkflowID})
		d.Links = append(d.Links, r.UIURL)
		switch {
		case r.Outcome == outcomeRunning:
		case r.Outcome != workflows.OutcomeSucceeded:
			failed = append(failed, fmt.Sprintf("%s %s: %s", when, r.Outcome, orText(r.Message, "see its report")))
		case r.MetTarget != nil && !*r.MetTarget:
			missed = append(missed, fmt.Sprintf("%s: %s", when, rtoVersus(r)))
		}
		for _, l := range r.Leftovers {
			left = append(left, when+": "+l)
		}
		if rep := r.report; rep != nil {
			sec := section{Title: "Drill of " + when, Header: []string{"Gate", "State", "Decided by", "At"}, Empty: "No gate was opened."}
			for _, g := range rep.Gates {
				by, at := "-", "-"
				if n := len(g.Decisions); n > 0 {
					by, at = g.Decisions[n-1].By, fmtTime(g.Decisions[n-1].At, loc)
				}
				sec.Rows = append(sec.Rows, []string{g.Gate, g.State, by, at})
			}
			d.Details = append(d.Details, sec)
		}
	}
	if len(failed) > 0 {
		d.Alerts = append(d.Alerts, alert{Class: "problem", Title: "Drills that did not succeed", Lines: failed})
	}
	if len(left) > 0 {
		d.Alerts = append(d.Alerts, alert{Class: "problem", Title: "Left behind by drills", Lines: left})
	}
	if len(missed) > 0 {
		d.Alerts = append(d.Alerts, alert{Class: "warning", Title: "Target RTO missed", Lines: missed})
	}
	return d
}

var auditHTML = template.Must(template.New("audit").Parse(pageHead + `<p>From {{.From}} to {{.To}}. {{.Summary}}</p>
{{- range .Alerts}}
<div class="alert {{.Class}}"><h3>{{.Title}}</h3><ul>{{range .Lines}}<li>{{.}}</li>{{end}}</ul></div>
{{- end}}
{{- if .Chart}}
<h2>RTO of each drill</h2>
{{.Chart}}
{{- end}}
<h2>Drills</h2>
{{- if .Rows}}
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{- range $i, $r := .Rows}}
<tr>{{range $j, $c := $r}}{{if eq $j 2}}<td class="outcome-{{$c}}">{{$c}}</td>{{else if eq $j 7}}<td><a href="{{index $.Links $i}}">{{$c}}</a></td>{{else}}<td>{{$c}}</td>{{end}}{{end}}</tr>
{{- end}}
</table>
{{- else}}
<p>No drill in the period.</p>
{{- end}}
{{- if .Details}}
<h2>Who decided each drill's gates</h2>
{{- range .Details}}
<h3>{{.Title}}</h3>
{{- if .Rows}}
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{- range .Rows}}
<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{- end}}
</table>
{{- else}}
<p>{{.Empty}}</p>
{{- end}}
{{- end}}
{{- end}}
<p class="note">Read from the Temporal history of each run; each run's own report: lifeboat report RUN --format html.</p>
</body>
</html>
`))

func writeAuditHTML(w io.Writer, d auditDoc) error {
	return auditHTML.Execute(w, struct {
		auditDoc
		Style template.CSS
	}{d, template.CSS(reportStyle)})
}

func writeAuditMarkdown(w io.Writer, d auditDoc) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\nFrom %s to %s. %s\n", d.Title, d.From, d.To, mdText(d.Summary))
	for _, al := range d.Alerts {
		fmt.Fprintf(&b, "\n**%s**\n\n", al.Title)
		for _, l := range al.Lines {
			fmt.Fprintf(&b, "- %s\n", mdText(l))
		}
	}
	if len(d.Rows) > 0 {
		fmt.Fprintf(&b, "\n| %s |\n|%s\n", strings.Join(d.Header, " | "), strings.Repeat("---|", len(d.Header)))
		for i, row := range d.Rows {
			cells := make([]string, len(row))
			for j, c := range row {
				cells[j] = mdCell(c)
			}
			cells[len(cells)-1] = fmt.Sprintf("[%s](%s)", mdCell(row[len(row)-1]), d.Links[i])
			fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (a *app) auditReport(ctx context.Context, f reportFlags) error {
	if f.audit.planName == "" {
		return usageErr("--drills needs --plan NAME: the audit page is of one plan's drills")
	}
	format, err := reportFormat(f.format, f.out)
	if err != nil {
		return err
	}
	if f.format == "" && f.out == "" && a.json() {
		format = "json"
	}
	period, err := parseSince(f.audit.since)
	if err != nil {
		return err
	}
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	to := a.now()
	from := to.Add(-period)
	rows, err := a.listDrills(ctx, c, conn, f.audit.planName, from)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	doc := buildAuditDoc(rows, f.audit.planName, from, to, a.loc)
	switch format {
	case "json":
		err = writeJSON(&buf, rows)
	case "html":
		err = writeAuditHTML(&buf, doc)
	default:
		err = writeAuditMarkdown(&buf, doc)
	}
	if err != nil {
		return fail(exitcode.RunFailed, "cannot render the audit page of plan %s: %v", f.audit.planName, err)
	}
	if f.out == "" {
		_, _ = a.stdout.Write(buf.Bytes())
		return nil
	}
	if err := os.WriteFile(f.out, buf.Bytes(), 0o644); err != nil {
		return fail(exitcode.RunFailed, "cannot write the audit page to %s: %v; check the directory exists and is writable", f.out, unwrapPath(err))
	}
	fmt.Fprintf(a.stderr, "Wrote the %s audit page of plan %s (%s) to %s.\n", format, f.audit.planName, plural(len(rows), "drill"), f.out)
	return nil
}
