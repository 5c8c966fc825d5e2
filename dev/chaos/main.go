// Command chaos is `make chaos`: it proves that every lifeboat run ends, and
// ends well, whatever breaks around it. On the demo world at a fast
// simulator speed it runs Failover, Failback and TestFailover while it
// SIGKILLs the worker in every phase, kills and restarts the Temporal dev
// server, injects simulator faults, re-runs failed runs and starts one plan
// from two operators at once; then it checks each run (completed, recovered
// twice, lost, leftovers, start order) and prints a table, also written as
// JSON. Everything is drawn from CHAOS_SEED, so a schedule can be replayed.
// See docs/chaos.md.
//
//	make chaos
//	CHAOS_KILLS=3 CHAOS_SEED=7 CHAOS_OUT=chaos.json make chaos
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lifeboat-dr/lifeboat/version"
)

func main() {
	if done, code := version.Flag("lifeboat-chaos", "CHAOS_* (see docs/chaos.md)", os.Args[1:], os.Stdout, os.Stderr); done {
		os.Exit(code)
	}
	os.Exit(run())
}

func run() int {
	cfg := &config{
		seed:        envInt("CHAOS_SEED", 1),
		kills:       int(envInt("CHAOS_KILLS", 0)),
		perRun:      int(envInt("CHAOS_KILLS_PER_RUN", 2)),
		faultRuns:   int(envInt("CHAOS_FAULT_RUNS", 2)),
		restartRuns: int(envInt("CHAOS_RESTART_RUNS", 2)),
		parallel:    int(envInt("CHAOS_PARALLEL", 4)),
		speed:       envFloat("CHAOS_SPEED", 0.05),
		resumeLimit: envDuration("CHAOS_RESUME_LIMIT", 90*time.Second),
		runTimeout:  envDuration("CHAOS_RUN_TIMEOUT", 3*time.Minute),
		out:         envString("CHAOS_OUT", "dev/state/chaos/chaos.json"),
		temporalBin: envString("LIFEBOAT_TEMPORAL_BIN", "bin/temporal"),
		workerBin:   filepath.Join(envString("LIFEBOAT_BIN", "bin"), "lifeboat-worker"),
		stateDir:    "dev/state/chaos",
		verbose:     os.Getenv("CHAOS_VERBOSE") != "",
	}
	if v := os.Getenv("CHAOS_ONLY"); v != "" {
		cfg.only = strings.Split(v, ",")
	}
	if cfg.parallel < 1 {
		cfg.parallel = 1
	}
	if err := chdirRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	for _, b := range []string{cfg.temporalBin, cfg.workerBin} {
		if _, err := os.Stat(b); err != nil {
			fmt.Fprintf(os.Stderr, "chaos: %s is missing; run 'make chaos' (it builds everything first)\n", b)
			return 2
		}
	}
	// Each run starts from a clean state directory: the workflow IDs are
	// derived from the seed, and old runs would be found again.
	_ = os.RemoveAll(cfg.stateDir)
	if err := os.MkdirAll(cfg.stateDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	cases := buildCases(cfg)
	fmt.Printf("chaos: seed %d, %d cases (%s), %d in parallel, simulator speed %g, resume limit %s; logs in %s/\n",
		cfg.seed, len(cases), killsSummary(cfg), cfg.parallel, cfg.speed, cfg.resumeLimit, cfg.stateDir)

	srv, err := newServer(cfg.temporalBin, filepath.Join(cfg.stateDir, "temporal"))
	if err == nil {
		err = srv.start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: the Temporal dev server did not start:", err)
		return 1
	}
	defer srv.close()

	results := runCases(ctx, cfg, srv, cases)
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "chaos: interrupted; the table covers the cases that ended")
	}
	rows := buildRows(results)
	fmt.Printf("\nchaos: seed %d, %s, in %s\n\n", cfg.seed, killsSummary(cfg), time.Since(began).Round(time.Second))
	printTable(os.Stdout, rows, cfg.resumeLimit)
	planned, done := map[string]int{}, map[string]int{}
	for _, r := range results {
		planned[r.Case.Row] += len(r.Case.Kills) + len(r.Case.Restarts)
		done[r.Case.Row] += len(r.Kills) + len(r.Restarts)
	}
	fmt.Println()
	for _, name := range append([]string{killRow(modes[0]), killRow(modes[1]), killRow(modes[2])}, rowRestart) {
		if planned[name] > 0 {
			fmt.Printf("%s: %d of %d planned done (a run that stalls or ends early takes no more)\n", name, done[name], planned[name])
		}
	}
	cov := coverage(results)
	for _, m := range modes {
		var short []string
		for _, ph := range killPhases[m] {
			if cov[m][ph] < 3 {
				short = append(short, fmt.Sprintf("%s %d", ph, cov[m][ph]))
			}
		}
		if len(short) > 0 {
			fmt.Printf("note: %s: phases hit fewer than 3 times: %v\n", m, short)
		}
	}
	if err := os.MkdirAll(filepath.Dir(cfg.out), 0o755); err == nil {
		err = writeJSON(cfg.out, rows)
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
		}
	}
	fmt.Printf("\nJSON: %s\n", cfg.out)
	if !clean(rows) {
		return 1
	}
	return 0
}

// clean says whether the table meets the bar: every run completed, nothing
// recovered twice or lost, no leftovers or wrong order, and the time to
// resume after a kill at most 30 s at the median and 60 s at worst in every
// phase.
func clean(rows []row) bool {
	for _, r := range rows {
		if r.Completed != r.Runs || r.RecoveredTwice+r.Lost+r.Leftovers+r.OrderViolation > 0 || r.Stalled > 0 {
			return false
		}
		if r.ResumeMedian != nil && (*r.ResumeMedian > 30 || *r.ResumeMax > 60) {
			return false
		}
	}
	return true
}

func killsSummary(cfg *config) string {
	s := ""
	for i, m := range modes {
		n := cfg.kills
		if n <= 0 {
			n = defaultKills(m)
		}
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d kills in %s", n, m)
	}
	return s
}

// chdirRoot moves to the repository root (the directory of go.mod), so that
// the demo's files and bin/ are found from anywhere.
func chdirRoot() error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return os.Chdir(d)
		}
		if filepath.Dir(d) == d {
			return fmt.Errorf("no go.mod above %s: run it from the lifeboat repository", dir)
		}
	}
}

func envString(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int64) int64 {
	if v := os.Getenv(k); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
		fmt.Fprintf(os.Stderr, "chaos: %s=%q is not a number; using %d\n", k, v, def)
	}
	return def
}

func envFloat(k string, def float64) float64 {
	if v := os.Getenv(k); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
		fmt.Fprintf(os.Stderr, "chaos: %s=%q is not a number; using %g\n", k, v, def)
	}
	return def
}

func envDuration(k string, def time.Duration) time.Duration {
	if v := os.Getenv(k); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		fmt.Fprintf(os.Stderr, "chaos: %s=%q is not a duration; using %s\n", k, v, def)
	}
	return def
}
