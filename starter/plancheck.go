package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/workflows/plan"
)

func (a *app) planCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Work with plan files",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr("plan needs a subcommand: 'lifeboat plan check FILE...'")
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE...",
		Short: "Check plans: every problem and warning with its line; exit 0 valid, 3 invalid",
		Long: `Check plans without running them: every problem and warning is printed with its file,
line and column and what to do about it. Also lists the secrets each plan refers to, which
the worker configuration must define. Exits 0 when every plan is valid, 3 otherwise.
Needs no Temporal.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("plan check needs at least one plan FILE")
			}
			return a.planCheck(args)
		},
	})
	return cmd
}

type planCheckResult struct {
	File     string         `json:"file"`
	Plan     string         `json:"plan,omitempty"`
	Valid    bool           `json:"valid"`
	Problems []plan.Problem `json:"problems"`
	Warnings []plan.Problem `json:"warnings"`
	Secrets  []string       `json:"secrets,omitempty"`
}

func (a *app) planCheck(files []string) error {
	results := make([]planCheckResult, 0, len(files))
	invalid := 0
	for _, f := range files {
		p, warnings, err := plan.LoadChecked(f)
		r := planCheckResult{File: f, Valid: err == nil, Problems: []plan.Problem{}, Warnings: []plan.Problem{}}
		if probs, ok := err.(plan.Problems); ok {
			r.Problems = probs
		} else if err != nil {
			r.Problems = []plan.Problem{{File: f, Message: err.Error()}}
		}
		if warnings != nil {
			r.Warnings = warnings
		}
		if p != nil {
			r.Plan = p.Name
			r.Secrets = p.SecretRefs()
		}
		if !r.Valid {
			invalid++
		}
		results = append(results, r)
	}
	if a.json() {
		if err := writeJSON(a.stdout, results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			fmt.Fprint(a.stdout, renderPlanCheck(r))
		}
	}
	if invalid > 0 {
		return &exitError{code: exitInvalid, err: fmt.Errorf("%s of %d invalid; fix the problems above", plural(invalid, "plan"), len(files))}
	}
	return nil
}

// renderPlanCheck prints problems as "file:line:col: field: message" (which
// editors can jump to), warnings with "warning:" after the position.
func renderPlanCheck(r planCheckResult) string {
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString(p.String() + "\n")
	}
	for _, w := range r.Warnings {
		pos := w
		pos.Field, pos.Message = "", ""
		prefix := strings.TrimSuffix(pos.String(), " ")
		rest := w
		rest.File, rest.Line, rest.Column = "", 0, 0
		if prefix != "" {
			prefix += " "
		}
		b.WriteString(prefix + "warning: " + rest.String() + "\n")
	}
	switch {
	case !r.Valid:
		fmt.Fprintf(&b, "%s: invalid (%s", r.File, plural(len(r.Problems), "problem"))
	default:
		fmt.Fprintf(&b, "%s: plan %s is valid (%s", r.File, r.Plan, plural(len(r.Warnings), "warning"))
	}
	if !r.Valid && len(r.Warnings) > 0 {
		fmt.Fprintf(&b, ", %s", plural(len(r.Warnings), "warning"))
	}
	b.WriteString(")")
	if len(r.Secrets) > 0 {
		fmt.Fprintf(&b, "; the worker must define the secrets %s", strings.Join(r.Secrets, ", "))
	}
	b.WriteString("\n")
	return b.String()
}
