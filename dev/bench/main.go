// Command bench is `make bench`: lifeboat's failover of generated worlds of 100 to
// 10,000 VMs against the XAPI simulator's timing model, next to the lower bound that
// model allows and a XenCenter-like sequential failover of the same world.
//
// For each size it builds the world (sim.Generate) and the plan a user would write for
// it, starts the simulator in-process and a real lifeboat-worker against the pinned
// Temporal dev server (SQLite, free ports), runs the failover with the lifeboat CLI
// approving each gate at once, and measures wall time per phase, history sizes, the
// largest payload, the worker's peak RSS and the XAPI calls per VM. Then it runs the
// sequential baseline against a fresh copy of the world.
//
//	make bench
//	BENCH_SIZES=100,1000 BENCH_OUT=bench.json make bench
//	BENCH_SPEED=0.1 make bench     # slower simulated world (default 0.05)
//	BENCH_PLAN_CONCURRENCY='{recover: 20, start: 64}' make bench   # the plan's concurrency: (default: none, plan defaults)
//	BENCH_PLACEMENT=pool make bench   # the plan's start.placement (default: spread, as the README recommends)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	sdklog "go.temporal.io/sdk/log"

	"github.com/lifeboat-dr/lifeboat/dev/devproc"
	"github.com/lifeboat-dr/lifeboat/version"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// Defaults, chosen so that the four sizes run in about 25 minutes on a 2-core machine
// once lifeboat approaches the bound (docs/timing-model.md, "Speed factor").
const (
	defaultSizes = "100,1000,5000,10000"
	defaultSpeed = 0.05
	// defaultBaselineBudget: a baseline predicted to take longer than this (real time)
	// is run on a sample of units and estimated.
	defaultBaselineBudget = 90 * time.Second
	baselineSample        = 25
	blobWarning           = "Blob data size exceeds the warning limit"
	// workerPayloadWarning is the SDK's own warning (TMPRL1103) about a payload it sends.
	workerPayloadWarning = "exceeded the warning limit"
)

type env struct {
	lifeboat, workerBin string
	temporal            *temporal
	speed               float64
	dir                 string
}

// Row is one size's result (BENCH_OUT is a JSON list of them).
type Row struct {
	VMs                int                `json:"vms"`
	LifeboatS          *float64           `json:"lifeboat_s"`
	LowerBoundS        float64            `json:"lower_bound_s"`
	BaselineS          *float64           `json:"baseline_s"`
	BaselineEstimated  bool               `json:"baseline_estimated"`
	RatioLowerBound    *float64           `json:"ratio_lower_bound"`
	SpeedupVsBaseline  *float64           `json:"speedup_vs_baseline"`
	XAPICallsPerVM     float64            `json:"xapi_calls_per_vm"`
	XAPICallsByMethod  map[string]float64 `json:"xapi_calls_per_vm_by_method,omitempty"`
	MaxPayloadBytes    int                `json:"max_payload_bytes"`
	MaxPayloadWhere    string             `json:"max_payload_where,omitempty"`
	MaxHistoryEvents   int                `json:"max_history_events"`
	ParentEvents       int                `json:"parent_history_events"`
	LargestChildEvents int                `json:"largest_child_history_events"`
	WorkerPeakRSSBytes int64              `json:"worker_peak_rss_bytes"`
	CPU                *CPUUse            `json:"cpu,omitempty"`
	BlobWarnings       int                `json:"blob_size_warnings"`
	WorkerWarnings     int                `json:"worker_payload_warnings"`
	Hosts              int                `json:"hosts"`
	Speed              float64            `json:"speed"`
	Phases             map[string]float64 `json:"phases_s,omitempty"`
	LowerBoundPhases   map[string]float64 `json:"lower_bound_phases_s,omitempty"`
	// GroupsRunning is when each priority group was all running (s, gate
	// waits excluded).
	GroupsRunning map[string]float64 `json:"groups_running_s,omitempty"`
	Error         string             `json:"error,omitempty"`
}

func main() {
	if done, code := version.Flag("lifeboat-bench", "BENCH_* (see docs/timing-model.md)", os.Args[1:], os.Stdout, os.Stderr); done {
		os.Exit(code)
	}
	os.Exit(run())
}

func run() int {
	sizes, err := parseSizes(envOr("BENCH_SIZES", defaultSizes))
	if err != nil {
		say("bench: BENCH_SIZES: %v", err)
		return 2
	}
	speed := defaultSpeed
	// BENCH_CPUPROFILE=FILE profiles this process (the simulator runs in it).
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
		}
	}
	if v := os.Getenv("BENCH_SPEED"); v != "" {
		if speed, err = strconv.ParseFloat(v, 64); err != nil || speed <= 0 {
			say("bench: BENCH_SPEED must be a positive number, got %q", v)
			return 2
		}
	}
	budget := defaultBaselineBudget
	if v := os.Getenv("BENCH_BASELINE_BUDGET"); v != "" {
		if budget, err = time.ParseDuration(v); err != nil {
			say("bench: BENCH_BASELINE_BUDGET must be a duration such as 90s, got %q", v)
			return 2
		}
	}
	if os.Getenv("BENCH_BOUND_ONLY") != "" {
		// The worlds and their lower bounds only: no server, no run.
		for _, n := range sizes {
			step("%d VMs", n)
			w, err := NewWorld(n, os.Getenv("BENCH_PLAN_CONCURRENCY"), envOr("BENCH_PLACEMENT", "spread"))
			if err != nil {
				say("bench: %v", err)
				return 1
			}
			printBound(w, speed)
		}
		return 0
	}
	root, err := os.Getwd()
	if err != nil {
		say("bench: %v", err)
		return 2
	}
	e := &env{lifeboat: filepath.Join(root, "bin/lifeboat"), workerBin: filepath.Join(root, "bin/lifeboat-worker"), speed: speed}
	for _, b := range []string{"bin/temporal", e.lifeboat, e.workerBin} {
		if _, err := os.Stat(b); err != nil {
			say("bench: %s is missing; run 'make bench' (it builds everything first)", b)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if e.dir, err = os.MkdirTemp("", "lifeboat-bench-"); err != nil {
		say("bench: %v", err)
		return 2
	}
	began := time.Now()
	say("lifeboat benchmark: sizes %v, simulator speed %g (1 simulated second = %s), %d CPUs, %s", sizes, speed,
		time.Duration(float64(time.Second)*speed), runtime.NumCPU(), cpuModel())
	say("work directory %s (Temporal log, worker logs, plans)", e.dir)
	if e.temporal, err = startTemporal(ctx, filepath.Join(root, "bin/temporal"), e.dir); err != nil {
		say("bench: %v", err)
		return 1
	}
	defer e.temporal.stop()
	var rows []Row
	for _, n := range sizes {
		rows = append(rows, benchSize(ctx, e, n, budget))
		if ctx.Err() != nil {
			break
		}
	}
	printTable(rows, speed)
	say("\nTotal %s.", time.Since(began).Round(time.Second))
	if out := os.Getenv("BENCH_OUT"); out != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			say("bench: write %s: %v", out, err)
			return 1
		}
		say("Rows written to %s.", out)
	}
	for _, r := range rows {
		if r.Error != "" {
			return 1
		}
	}
	return 0
}

func benchSize(ctx context.Context, e *env, n int, budget time.Duration) Row {
	row := Row{VMs: n, Speed: e.speed}
	fail := func(err error) Row {
		row.Error = err.Error()
		say("  ERROR: %v", err)
		return row
	}
	step("%d VMs", n)
	w, err := NewWorld(n, os.Getenv("BENCH_PLAN_CONCURRENCY"), envOr("BENCH_PLACEMENT", "spread"))
	if err != nil {
		return fail(err)
	}
	dir := filepath.Join(e.dir, strconv.Itoa(n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	row.Hosts = w.Work().Hosts
	conc := w.Concurrency
	if conc == "" {
		conc = "the plan defaults (no concurrency: key)"
	}
	placement := w.Placement
	if placement == "" {
		placement = "the default (pool)"
	}
	say("  plan %s/plan.yaml, concurrency: %s, start placement: %s", dir, conc, placement)
	lb := printBound(w, e.speed)
	real := func(d time.Duration) float64 { return d.Seconds() * e.speed }
	row.LowerBoundS = real(lb.Total)
	row.LowerBoundPhases = map[string]float64{}
	for _, p := range lb.Phases {
		row.LowerBoundPhases[p.Phase] = real(p.Bound)
	}

	// lifeboat
	if err := func() error {
		// BENCH_JOURNAL=DIR keeps the simulator's journal of each lifeboat
		// run (DIR/failover-N.jsonl), to see where the time goes.
		journal := ""
		if d := os.Getenv("BENCH_JOURNAL"); d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			journal = filepath.Join(d, fmt.Sprintf("failover-%d.jsonl", n))
		}
		simw, err := sim.Start(ctx, w.Scenario, sim.Options{Speed: e.speed, FreePorts: true, ControlAddr: "-", JournalPath: journal})
		if err != nil {
			return err
		}
		defer simw.Close()
		profDir, metricsAddr := os.Getenv("BENCH_WORKER_CPUPROFILE"), ""
		if profDir != "" {
			if err := os.MkdirAll(profDir, 0o755); err != nil {
				return err
			}
			if metricsAddr, err = devproc.FreeAddr(); err != nil {
				return err
			}
		}
		wk, err := startWorker(ctx, e.workerBin, dir, workerConfig(e.temporal.address, simw.PoolURL("Primary"), simw.PoolURL("DR"), metricsAddr))
		if err != nil {
			return err
		}
		defer wk.stop()
		if profDir != "" {
			defer profileWorker(profDir, n, metricsAddr)()
		}
		_, logFrom := countInLog(e.temporal.logPath, 0, blobWarning)
		rctx, cancel := context.WithTimeout(ctx, 40*time.Minute)
		defer cancel()
		cpu0 := sampleCPU(wk.Cmd.Process.Pid)
		res, err := runFailover(rctx, e, w, simw, dir)
		use := cpu0.until(sampleCPU(wk.Cmd.Process.Pid))
		row.CPU = &use
		row.WorkerPeakRSSBytes = wk.peakRSS()
		row.XAPICallsPerVM, _ = callsPerVM(simw.Journal().Counts(), n)
		_, by := callsPerVM(simw.Journal().Counts(), n)
		row.XAPICallsByMethod = map[string]float64{}
		for _, m := range by {
			row.XAPICallsByMethod[m.Method] = round(m.PerVM, 3)
		}
		row.BlobWarnings, _ = countInLog(e.temporal.logPath, logFrom, blobWarning)
		row.WorkerWarnings, _ = countInLog(wk.Log, 0, workerPayloadWarning)
		if err != nil {
			return err
		}
		s := res.Wall.Seconds()
		row.LifeboatS = &s
		row.Phases = map[string]float64{}
		say("  lifeboat failover: %s, %.1f s (gate waits of %.1f s excluded); per phase:", res.Outcome, s, res.GateWait.Seconds())
		for _, p := range res.Phases {
			row.Phases[p.Phase] = p.Took.Seconds()
			lbp := row.LowerBoundPhases[p.Phase]
			say("    %-10s %8.2f s   (bound %6.2f s)", p.Phase, p.Took.Seconds(), lbp)
		}
		hs, err := scanHistories(ctx, e.temporal.client, "lifeboat-"+w.PlanName()+"-failover")
		if err != nil {
			return err
		}
		row.ParentEvents, row.LargestChildEvents = hs.ParentEvents, hs.LargestChildEvents
		row.MaxHistoryEvents = max(hs.ParentEvents, hs.LargestChildEvents)
		row.MaxPayloadBytes, row.MaxPayloadWhere = hs.MaxPayload, hs.MaxPayloadWhere
		if res.Progress > row.MaxPayloadBytes {
			row.MaxPayloadBytes, row.MaxPayloadWhere = res.Progress, "the progress query answer"
		}
		say("  histories: parent %d events, %d children, largest child %s %d events", hs.ParentEvents, hs.Children, hs.LargestChild, hs.LargestChildEvents)
		say("  largest payload %d bytes (%s); report %d bytes, progress query answer %d bytes", row.MaxPayloadBytes, row.MaxPayloadWhere, res.ReportLen, res.Progress)
		say("  lifeboat report --format json lists %d of %d VMs", res.ReportVMs, n)
		if len(res.Groups) > 0 {
			line := "  each group all running after (gate waits excluded):"
			row.GroupsRunning = map[string]float64{}
			for _, g := range res.Groups {
				line += fmt.Sprintf(" %s %.1f s,", g.Group, g.At.Seconds())
				row.GroupsRunning[g.Group] = g.At.Seconds()
			}
			say("%s", strings.TrimSuffix(line, ","))
		}
		say("  worker peak RSS %.1f MiB; server log: %d %q; worker log: %d payload warnings (TMPRL1103)",
			float64(row.WorkerPeakRSSBytes)/(1<<20), row.BlobWarnings, blobWarning, row.WorkerWarnings)
		say("  CPU during the run: %s", use)
		say("  XAPI calls per VM %.2f:", row.XAPICallsPerVM)
		for _, m := range by {
			say("    %-45s %7.3f  (%d)", m.Method, m.PerVM, m.Calls)
		}
		return nil
	}(); err != nil {
		fail(err)
	}

	if row.LifeboatS != nil {
		r := round(*row.LifeboatS/row.LowerBoundS, 3)
		row.RatioLowerBound = &r
	}
	// Baseline, on a fresh copy of the world (BENCH_BASELINE_BUDGET=0: none).
	if budget == 0 {
		say("  sequential baseline: skipped (BENCH_BASELINE_BUDGET=0)")
		return row
	}
	sample := 0
	if predicted := time.Duration(float64(predictBaseline(w)) * e.speed); predicted > budget {
		sample = baselineSample
		say("  baseline predicted at %s real time (> BENCH_BASELINE_BUDGET %s): run on %d vApps + %d standalone VMs and estimated",
			predicted.Round(time.Second), budget, sample, sample)
	}
	simw, err := sim.Start(ctx, w.Scenario, sim.Options{Speed: e.speed, FreePorts: true, ControlAddr: "-"})
	if err != nil {
		return fail(err)
	}
	defer simw.Close()
	br, err := runBaseline(ctx, w, simw, sample)
	if err != nil {
		return fail(err)
	}
	b := br.Took.Seconds()
	row.BaselineS, row.BaselineEstimated = &b, br.Sampled
	how := "measured"
	if br.Sampled {
		how = fmt.Sprintf("estimated from %d of %d units", br.SampleUnits, br.Units)
	}
	say("  sequential baseline: %.1f s (%s)", b, how)
	if row.LifeboatS != nil {
		sp := round(b / *row.LifeboatS, 3)
		row.SpeedupVsBaseline = &sp
	}
	return row
}

// printBound describes the world and prints its lower bound, phase by phase.
func printBound(w *World, speed float64) Bound {
	work := w.Work()
	apps, standalone := 0, 0
	for _, g := range work.Groups {
		for _, u := range g {
			if len(u.VMs) > 1 || strings.HasPrefix(u.Name, "app-") {
				apps++
			} else {
				standalone++
			}
		}
	}
	say("  world: %d VMs (%d vApps, %d standalone), %d hosts per pool, %d LUNs, %d priority groups + the rest",
		w.VMs, apps, standalone, work.Hosts, work.LUNs, len(w.Groups))
	lb := LowerBound(work)
	say("  lower bound under the timing model (simulated time; x%g = real):", speed)
	for _, p := range lb.Phases {
		say("    %-10s %9s  %s", p.Phase, p.Bound.Round(time.Millisecond), p.How)
	}
	say("    %-10s %9s  = %.1f s at speed %g", "total", lb.Total.Round(time.Millisecond), lb.Total.Seconds()*speed, speed)
	return lb
}

func printTable(rows []Row, speed float64) {
	say("\n## Results (simulator speed %g; seconds are real time on this machine)\n", speed)
	say("| VMs | hosts | lifeboat s | lower bound s | baseline s | lifeboat/bound | baseline/lifeboat | XAPI calls/VM | max payload B | max history events | worker peak RSS MiB | payload warnings (server/worker) |")
	say("|---|---|---|---|---|---|---|---|---|---|---|---|")
	f := func(p *float64, est bool) string {
		if p == nil {
			return "—"
		}
		if est {
			return fmt.Sprintf("≈%.1f", *p)
		}
		return fmt.Sprintf("%.1f", *p)
	}
	ratio := func(p *float64) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprintf("%.2f", *p)
	}
	for _, r := range rows {
		say("| %d | %d | %s | %.1f | %s | %s | %s | %.2f | %d | %d | %.0f | %d / %d |", r.VMs, r.Hosts, f(r.LifeboatS, false), r.LowerBoundS,
			f(r.BaselineS, r.BaselineEstimated), ratio(r.RatioLowerBound), f(r.SpeedupVsBaseline, false), r.XAPICallsPerVM,
			r.MaxPayloadBytes, r.MaxHistoryEvents, float64(r.WorkerPeakRSSBytes)/(1<<20), r.BlobWarnings, r.WorkerWarnings)
	}
	for _, r := range rows {
		if r.Error != "" {
			say("\n%d VMs: %s", r.VMs, r.Error)
		}
	}
	say("\n≈ = estimated from a sample of units (the whole baseline would exceed BENCH_BASELINE_BUDGET).")
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 10 {
			return nil, fmt.Errorf("%q is not a number of VMs (at least 10)", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no size given")
	}
	return out, nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func round(f float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	return float64(int64(f*p+0.5)) / p
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func step(format string, args ...any) { say("\n==> "+format, args...) }
