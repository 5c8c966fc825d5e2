package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/worker/config"
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
		Short: fmt.Sprintf("Check plans: every problem and warning with its line; exit %d valid, %d invalid", exitcode.OK, exitcode.Invalid),
		Long: `Check plans without running them: every problem and warning is printed with its file,
line and column and what to do about it, all at once. With --config (or LIFEBOAT_CONFIG),
the plans are also checked against that worker configuration: their source and target
sites and the secrets they refer to must be defined there. Without it, the secrets each
plan refers to are listed. A plan too large to be a run's input (Temporal refuses
payloads above 2 MiB) is a problem too. Exits 0 when every plan is valid, 3 otherwise.
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
	// Config is the worker configuration the plan was checked against.
	Config string `json:"config,omitempty"`
}

// planEnvironment is the worker configuration plans are checked against:
// --config or LIFEBOAT_CONFIG, or none (nil).
func (a *app) planEnvironment() (*plan.Environment, error) {
	path := firstOf(a.configPath, a.env("LIFEBOAT_CONFIG"))
	if path == "" {
		return nil, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fail(exitcode.Invalid, "the configuration %s is invalid, so plans cannot be checked against it:\n%v", path, indent(err.Error()))
	}
	return &plan.Environment{File: path, Sites: slices.Collect(maps.Keys(cfg.Sites)), Secrets: slices.Collect(maps.Keys(cfg.Secrets))}, nil
}

func (a *app) planCheck(files []string) error {
	env, err := a.planEnvironment()
	if err != nil {
		return err
	}
	results := make([]planCheckResult, 0, len(files))
	invalid := 0
	for _, f := range files {
		p, warnings, err := plan.LoadCheckedIn(f, env)
		r := planCheckResult{File: f, Valid: err == nil, Problems: []plan.Problem{}, Warnings: []plan.Problem{}}
		var re *plan.ReadError
		if probs, ok := err.(plan.Problems); ok {
			r.Problems = probs
		} else if errors.As(err, &re) {
			r.Problems = []plan.Problem{{File: f, Message: fmt.Sprintf("cannot read it: %v; check the path", re.Err)}}
		} else if err != nil {
			r.Problems = []plan.Problem{{File: f, Message: err.Error()}}
		}
		if env != nil {
			r.Config = env.File
		}
		if warnings != nil {
			r.Warnings = warnings
		}
		if p != nil {
			r.Plan = p.Name
			if env == nil {
				r.Secrets = p.SecretRefs()
			}
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
		return &exitError{code: exitcode.Invalid, err: fmt.Errorf("%s of %d invalid; fix the problems above", plural(invalid, "plan"), len(files))}
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
		if r.Config != "" {
			fmt.Fprintf(&b, "; its sites and secrets are in %s", r.Config)
		}
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
