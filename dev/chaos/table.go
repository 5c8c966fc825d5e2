package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// row is one line of the table, and of the JSON written to CHAOS_OUT.
type row struct {
	Fault          string   `json:"fault"`
	Runs           int      `json:"runs"`
	Completed      int      `json:"completed"`
	RecoveredTwice int      `json:"recovered_twice"`
	Lost           int      `json:"lost"`
	Leftovers      int      `json:"leftovers"`
	OrderViolation int      `json:"order_violations"`
	ResumeMedian   *float64 `json:"resume_median_s"`
	ResumeMax      *float64 `json:"resume_max_s"`
	// Kills is how many worker kills (or server restarts) the row's figures
	// of time to resume are over, and Stalled how many of them did not
	// resume within the limit (their time is the limit).
	Kills   int `json:"kills"`
	Stalled int `json:"stalled"`
}

// rowOrder is the order of the rows that are not per phase.
var rowOrder = []string{rowRestart, rowDrop, rowSlow, rowSlowStart, rowExpire, rowMaster, rowStartOnce, rowDRDown, rowRerun, rowTwoOps}

// buildRows aggregates the case results: one row per mode of worker kills,
// one per fault, then one per mode and phase of worker kills ("worker kill:
// failover @ probe": the runs with a kill in that phase, the kills there).
func buildRows(results []caseResult) []row {
	byRow := map[string][]caseResult{}
	for _, r := range results {
		byRow[r.Case.Row] = append(byRow[r.Case.Row], r)
	}
	var rows []row
	for _, m := range modes {
		rows = append(rows, aggregate(killRow(m), byRow[killRow(m)], ""))
	}
	for _, name := range rowOrder {
		if rs := byRow[name]; len(rs) > 0 {
			rows = append(rows, aggregate(name, rs, ""))
		}
	}
	for _, m := range modes {
		for _, ph := range killPhases[m] {
			var rs []caseResult
			for _, r := range byRow[killRow(m)] {
				for _, k := range r.Kills {
					if k.Phase == ph {
						rs = append(rs, r)
						break
					}
				}
			}
			rows = append(rows, aggregate(fmt.Sprintf("%s @ %s", killRow(m), ph), rs, ph))
		}
		// Kills that landed in a phase not aimed at (select, report).
		others := map[string]bool{}
		for _, r := range byRow[killRow(m)] {
			for _, k := range r.Kills {
				if phaseIndex(m, k.Phase) < 0 {
					others[k.Phase] = true
				}
			}
		}
		var names []string
		for ph := range others {
			names = append(names, ph)
		}
		sort.Strings(names)
		for _, ph := range names {
			var rs []caseResult
			for _, r := range byRow[killRow(m)] {
				for _, k := range r.Kills {
					if k.Phase == ph {
						rs = append(rs, r)
						break
					}
				}
			}
			rows = append(rows, aggregate(fmt.Sprintf("%s @ %s", killRow(m), ph), rs, ph))
		}
	}
	return rows
}

// aggregate sums the results of a row; phase, when set, limits the times
// to resume to the kills in that phase.
func aggregate(name string, rs []caseResult, phase string) row {
	r := row{Fault: name, Runs: len(rs)}
	var resumes []float64
	for _, c := range rs {
		if c.Completed && c.Err == nil {
			r.Completed++
		}
		r.RecoveredTwice += len(c.RecoveredTwice)
		r.Lost += len(c.Lost)
		r.Leftovers += len(c.Leftovers)
		r.OrderViolation += len(c.Order)
		for _, k := range append(append([]killResult(nil), c.Kills...), c.Restarts...) {
			if phase != "" && k.Phase != phase {
				continue
			}
			r.Kills++
			if k.Stalled {
				r.Stalled++
			}
			resumes = append(resumes, k.Resume.Seconds())
		}
	}
	if len(resumes) > 0 {
		sort.Float64s(resumes)
		med := median(resumes)
		mx := resumes[len(resumes)-1]
		med, mx = round1(med), round1(mx)
		r.ResumeMedian, r.ResumeMax = &med, &mx
	}
	return r
}

func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// printTable writes the rows as a fixed-width table.
func printTable(w io.Writer, rows []row, limit time.Duration) {
	fmt.Fprintf(w, "%-46s %5s %9s %15s %5s %9s %11s %12s %12s %7s\n",
		"fault", "runs", "completed", "recovered twice", "lost", "leftovers", "wrong order", "resume med s", "resume max s", "kills")
	for i, r := range rows {
		if i > 0 && strings.Contains(r.Fault, " @ ") && !strings.Contains(rows[i-1].Fault, " @ ") {
			fmt.Fprintln(w, strings.Repeat("-", 143))
		}
		med, mx := "-", "-"
		if r.ResumeMedian != nil {
			med = fmt.Sprintf("%.1f", *r.ResumeMedian)
			mx = fmt.Sprintf("%.1f", *r.ResumeMax)
			if r.Stalled > 0 {
				mx = fmt.Sprintf(">%.0f", limit.Seconds())
			}
		}
		kills := "-"
		if r.Kills > 0 {
			kills = fmt.Sprint(r.Kills)
			if r.Stalled > 0 {
				kills += fmt.Sprintf(" (%d stalled)", r.Stalled)
			}
		}
		fmt.Fprintf(w, "%-46s %5d %9s %15d %5d %9d %11d %12s %12s %7s\n",
			r.Fault, r.Runs, fmt.Sprintf("%d/%d", r.Completed, r.Runs), r.RecoveredTwice, r.Lost, r.Leftovers, r.OrderViolation, med, mx, kills)
	}
}

func writeJSON(path string, rows []row) error {
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// coverage says, per mode, how many kills landed in each phase aimed at.
func coverage(results []caseResult) map[plan.Mode]map[string]int {
	out := map[plan.Mode]map[string]int{}
	for _, r := range results {
		if len(r.Case.Kills) == 0 {
			continue
		}
		if out[r.Case.Mode] == nil {
			out[r.Case.Mode] = map[string]int{}
		}
		for _, k := range r.Kills {
			out[r.Case.Mode][k.Phase]++
		}
	}
	return out
}
