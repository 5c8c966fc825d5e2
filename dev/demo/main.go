// Command demo is `make demo`: the whole lifeboat stack on this machine and a
// failover of the demo plan, approved from the CLI the way an operator would.
//
// It starts the Temporal dev server (Web UI on 127.0.0.1:8233, SQLite under
// dev/state/), the XAPI simulator with the demo world and a lifeboat worker,
// waits for each to answer, takes the primary site down, starts the failover
// with the lifeboat CLI, shows its progress, approves its gates, prints the
// report and keeps everything up until Ctrl-C, which stops every process it
// started.
//
//	make demo                  # or: go run ./dev/demo
//	DEMO_EXIT=1 make demo      # exit after the report (checks, CI)
//	go run ./dev/demo -speed 0.5
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/lifeboat-dr/lifeboat/dev/devproc"
	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/version"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/workflows/live"
)

// The demo's fixed addresses: the ones dev/worker.yaml, the demo scenario and
// the CLI's defaults use.
const (
	temporalAddr = "127.0.0.1:7233"
	namespace    = "default"
	uiAddr       = "127.0.0.1:8233"
	controlURL   = "http://127.0.0.1:18000"
	planFile     = "dev/plans/demo.yaml"
	workerConfig = "dev/worker.yaml"
	scenarioFile = "dev/scenarios/demo.yaml"
	stateDir     = "dev/state"
	// demoPassword is the demo world's pool password, given to the worker
	// through the variable dev/worker.yaml names.
	demoPassword = "lifeboat"
)

// Every port the demo needs, with what listens there.
var ports = []struct{ addr, what string }{
	{temporalAddr, "Temporal frontend"},
	{uiAddr, "Temporal Web UI"},
	{"127.0.0.1:18000", "simulator control API"},
	{"127.0.0.1:18081", "simulator host primary-01"},
	{"127.0.0.1:18082", "simulator host primary-02"},
	{"127.0.0.1:18181", "simulator host dr-01"},
	{"127.0.0.1:18182", "simulator host dr-02"},
}

var mirrors = []string{"gold-01", "gold-02", "fc-silver-01"}

func main() {
	os.Exit(run())
}

func run() int {
	exitAfter := envBool("DEMO_EXIT")
	speed := 1.0
	if v := os.Getenv("DEMO_SPEED"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			speed = f
		}
	}
	flag.BoolVar(&exitAfter, "exit", exitAfter, "exit after the report instead of keeping the stack up (env DEMO_EXIT=1)")
	flag.Float64Var(&speed, "speed", speed, "simulator time factor: 1 = real time, 0.5 = twice as fast (env DEMO_SPEED)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("lifeboat-demo"))
		return 0
	}

	root, err := repoRoot()
	if err != nil {
		say("demo: %v", err)
		return 2
	}
	if err := os.Chdir(root); err != nil {
		say("demo: %v", err)
		return 2
	}
	for _, b := range []string{"bin/temporal", "bin/lifeboat", "bin/lifeboat-worker", "bin/xapisim", "bin/xapisim-adapter"} {
		if _, err := os.Stat(b); err != nil {
			say("demo: %s is missing; run 'make demo' (it builds everything first)", b)
			return 2
		}
	}
	if busy := busyPorts(); len(busy) > 0 {
		say("demo: these ports are already in use, so the demo cannot start:")
		for _, b := range busy {
			say("  %s", b)
		}
		say("Is another demo (or a Temporal dev server, or xapisim) still running? Stop it (Ctrl-C in its terminal,")
		say("or find it with: ss -ltnp | grep -E ':(7233|8233|18000|1808[12]|1818[12]) '), then run 'make demo' again.")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st := &stack{}
	code := st.demo(ctx, speed, exitAfter)
	if ctx.Err() != nil {
		say("\nCtrl-C: stopping everything.")
	}
	st.stopAll()
	if ctx.Err() != nil {
		say("Stopped. Logs are in %s/.", stateDir)
		return 0
	}
	return code
}

// stack is the processes the demo started, stopped in reverse order.
type stack struct {
	procs []*proc
}

type proc = devproc.Proc

func (st *stack) demo(ctx context.Context, speed float64, exitAfter bool) int {
	began := time.Now()
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		say("demo: %v", err)
		return 1
	}
	// Each demo starts from a clean Temporal database: the failover's
	// workflow ID is fixed, and a run left over from an interrupted demo
	// would resume against a new simulated world.
	for _, f := range []string{"temporal.db", "temporal.db-shm", "temporal.db-wal", "journal.jsonl"} {
		_ = os.Remove(filepath.Join(stateDir, f))
	}

	step("Starting the Temporal dev server (Web UI http://%s, database %s/temporal.db)", uiAddr, stateDir)
	tp, err := st.start("temporal", "bin/temporal", nil, "server", "start-dev",
		"--ip", "127.0.0.1", "--port", "7233", "--ui-port", "8233",
		"--db-filename", filepath.Join(stateDir, "temporal.db"),
		"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
		"--search-attribute", workflows.SearchAttrPlan+"=Keyword",
		"--search-attribute", workflows.SearchAttrMode+"=Keyword",
		"--search-attribute", workflows.SearchAttrPhase+"=Keyword",
		"--log-level", "warn")
	if err != nil {
		return fail(err)
	}
	c, err := waitTemporal(ctx, tp)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	if err := waitFor(ctx, tp, "the Temporal Web UI", 60*time.Second, func() bool { return httpOK("http://" + uiAddr + "/") }); err != nil {
		return fail(err)
	}
	ok("Temporal is ready")

	step("Starting the XAPI simulator: two sites (primary, dr), %s, speed %g", scenarioFile, speed)
	sp, err := st.start("xapisim", "bin/xapisim", nil, "-scenario", scenarioFile,
		"-speed", strconv.FormatFloat(speed, 'g', -1, 64), "-journal", filepath.Join(stateDir, "journal.jsonl"))
	if err != nil {
		return fail(err)
	}
	if err := waitFor(ctx, sp, "the simulator", 30*time.Second, func() bool {
		return httpOK(controlURL+"/state") && tcpOpen("127.0.0.1:18081") && tcpOpen("127.0.0.1:18181")
	}); err != nil {
		return fail(err)
	}
	ok("Simulator is ready: pool Primary at http://127.0.0.1:18081, pool DR at http://127.0.0.1:18181, control %s", controlURL)

	step("Starting the lifeboat worker (%s, password from LIFEBOAT_DEMO_PASSWORD)", workerConfig)
	wp, err := st.start("worker", "bin/lifeboat-worker", []string{"LIFEBOAT_DEMO_PASSWORD=" + demoPassword}, "-config", workerConfig)
	if err != nil {
		return fail(err)
	}
	if err := waitFor(ctx, wp, "the worker", 30*time.Second, func() bool { return devproc.LogContains(wp.Log, devproc.WorkerStarted) }); err != nil {
		return fail(err)
	}
	ok("Worker is polling task queue %s", workflows.TaskQueue)

	step("Disaster: the primary site goes down")
	if err := control("POST", "/sites/primary/down"); err != nil {
		return fail(err)
	}
	say("  The primary site's hosts and storage array stop answering.")
	for _, m := range mirrors {
		if err := control("POST", "/mirrors/"+m+"/split"); err != nil {
			return fail(err)
		}
	}
	say("  The storage team splits the mirrors %s: the DR copies are now writable.", strings.Join(mirrors, ", "))

	id := workflows.WorkflowID("demo", plan.ModeFailover)
	step("Starting the failover of %s", planFile)
	if code := lifeboat(ctx, "failover", "--plan", planFile, "--as", "alice"); code != 0 {
		return fail(fmt.Errorf("lifeboat failover exited %d", code))
	}
	failoverBegan := time.Now()

	if err := follow(ctx, c, id); err != nil {
		return fail(err)
	}
	took := time.Since(failoverBegan).Round(time.Second)
	// The CLI reads the report of any end (succeeded, failed, rejected,
	// aborted, cancelled) and says which by its exit code.
	step("The failover ended after %s; its report:", took)
	outcome := outcomeOf(lifeboat(ctx, "report", id))
	say("  The failover %s.", outcome)

	step("Done in %s", time.Since(began).Round(time.Second))
	say("  Web UI of the run:  http://%s/namespaces/%s/workflows/%s", uiAddr, namespace, id)
	say("  Simulator state:    curl -s %s/state", controlURL)
	say("  Logs:               %s/temporal.log, xapisim.log, worker.log", stateDir)
	code := 0
	if outcome != workflows.OutcomeSucceeded {
		code = 1
	}
	if exitAfter {
		return code
	}
	say("\nThe stack stays up: try 'bin/lifeboat status %s', or a test failover. Ctrl-C stops everything.", id)
	select {
	case <-ctx.Done():
	case <-tp.Done:
		say("demo: the Temporal dev server exited (%v); see %s", tp.Err, tp.Log)
	case <-sp.Done:
		say("demo: the simulator exited (%v); see %s", sp.Err, sp.Log)
	case <-wp.Done:
		say("demo: the worker exited (%v); see %s", wp.Err, wp.Log)
	}
	return code
}

// start runs a child in its own process group, so the terminal's Ctrl-C
// reaches only the demo, which stops the children in order; if the demo dies
// the children are killed with it.
func (st *stack) start(name, path string, env []string, args ...string) (*proc, error) {
	p, err := devproc.Start(devproc.Command{Name: name, Path: path, Args: args, Env: childEnv(os.Environ(), env...),
		Log: filepath.Join(stateDir, name+".log")})
	if err != nil {
		return nil, err
	}
	st.procs = append(st.procs, p)
	return p, nil
}

// stopAll stops the children newest first: SIGTERM (the worker lets running
// activities finish), SIGINT for the servers, then SIGKILL after a grace time.
func (st *stack) stopAll() {
	for i := len(st.procs) - 1; i >= 0; i-- {
		p := st.procs[i]
		if p.Exited() {
			continue
		}
		sig := syscall.SIGINT
		if p.Name == "worker" {
			sig = syscall.SIGTERM
		}
		if p.Stop(sig, 40*time.Second) {
			say("  stopped %s", p.Name)
		} else {
			say("  killed %s (it did not stop in time)", p.Name)
		}
	}
}

// waitTemporal dials the dev server and waits until it answers health checks.
func waitTemporal(ctx context.Context, p *proc) (client.Client, error) {
	var c client.Client
	err := waitFor(ctx, p, "the Temporal dev server", 90*time.Second, func() bool {
		if c == nil {
			dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			cc, err := client.DialContext(dctx, client.Options{HostPort: temporalAddr, Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
			if err != nil {
				return false
			}
			c = cc
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := c.CheckHealth(hctx, &client.CheckHealthRequest{})
		return err == nil
	})
	if err != nil && c != nil {
		c.Close()
	}
	return c, err
}

// waitFor probes cond until it holds, the process exits, ctx ends or the time is up.
func waitFor(ctx context.Context, p *proc, what string, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.Done:
			return fmt.Errorf("%s exited while starting (%v); last lines of %s:\n%s", p.Name, p.Err, p.Log, tail(p.Log, 15))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become ready within %s; last lines of %s:\n%s", what, within, p.Log, tail(p.Log, 15))
		}
	}
	return nil
}

// outcomeOf is the outcome the CLI's exit code says (lifeboat report).
func outcomeOf(code int) string {
	switch code {
	case 0:
		return workflows.OutcomeSucceeded
	case 4:
		return workflows.OutcomeRejected
	case 5:
		return workflows.OutcomeAborted
	}
	return workflows.OutcomeFailed
}

// follow shows the run's progress and approves each gate from the CLI,
// until the run ends.
func follow(ctx context.Context, c client.Client, id string) error {
	approved := map[string]bool{}
	comments := map[string]string{
		plan.GateStorageReady: "mirrors split, DR LUNs writable",
		plan.GateRecover:      "prechecks reviewed",
	}
	approvers := map[string]string{plan.GateStorageReady: "alice", plan.GateRecover: "bob"}
	phase := ""
	vmState := map[string]string{}
	start := time.Now()
	stamp := func() string {
		d := time.Since(start).Round(time.Second)
		return fmt.Sprintf("[%02d:%02d]", int(d.Minutes()), int(d.Seconds())%60)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			continue
		}
		running := d.GetWorkflowExecutionInfo().GetStatus().String() == "Running"
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := c.QueryWorkflow(qctx, id, "", workflows.QueryProgress)
		cancel()
		if err == nil {
			var q workflows.Progress
			pages := func(ctx context.Context, req workflows.PageRequest, out *workflows.Page) error {
				v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgressPage, req)
				if err != nil {
					return err
				}
				return v.Get(out)
			}
			if v.Get(&q) == nil && live.FillProgress(ctx, pages, &q) == nil {
				// The VMs as their start children have them, one by one in
				// start order, as `lifeboat status` shows them.
				p := *live.Overlay(ctx, c, id, "", &q)
				if p.Phase != phase {
					phase = p.Phase
					say("%s phase %s", stamp(), phase)
				}
				for _, vm := range p.VMs {
					if vmState[vm.Name] == vm.State {
						continue
					}
					vmState[vm.Name] = vm.State
					if vm.State == workflows.StateRecovered || vm.State == workflows.StateStarting || vm.State == workflows.StateRunning || vm.State == workflows.StateFailed {
						where := ""
						if vm.VApp != "" {
							where = " (vApp " + vm.VApp + ")"
						}
						say("%s   %-16s %s%s", stamp(), vm.Name, vm.State, where)
					}
				}
				if g := p.WaitingGate; g != nil && !approved[g.Gate] {
					approved[g.Gate] = true
					say("%s gate %s waits for approval:", stamp(), g.Gate)
					for _, l := range strings.Split(strings.TrimSpace(g.Summary), "\n") {
						say("    | %s", l)
					}
					by := approvers[g.Gate]
					if by == "" {
						by = "alice"
					}
					if code := lifeboat(ctx, "approve", id, "--gate", g.Gate, "--as", by, "--comment", comments[g.Gate]); code != 0 {
						return fmt.Errorf("lifeboat approve exited %d", code)
					}
				}
			}
		}
		if !running {
			return nil
		}
	}
}

// lifeboat runs the CLI, printing the command as an operator would type it.
func lifeboat(ctx context.Context, args ...string) int {
	shown := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \"'") {
			a = strconv.Quote(a)
		}
		shown[i] = a
	}
	say("\n$ lifeboat %s", strings.Join(shown, " "))
	cmd := lifeboatCmd(ctx, os.Environ(), args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
	say("")
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		say("demo: %v", err)
		return 1
	}
	return 0
}

// lifeboatCmd is the CLI pointed at the demo's own Temporal, whatever the
// user's shell says: a shell set up for a real cluster (LIFEBOAT_ADDRESS,
// LIFEBOAT_CONFIG, ...) must never receive the demo's failover.
func lifeboatCmd(ctx context.Context, environ []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bin/lifeboat", args...)
	cmd.Env = childEnv(environ, demoCLIEnv()...)
	return cmd
}

// demoCLIEnv is where the demo's CLI finds the demo's stack.
func demoCLIEnv() []string {
	return []string{"LIFEBOAT_ADDRESS=" + temporalAddr, "LIFEBOAT_NAMESPACE=" + namespace, "LIFEBOAT_UI_URL=http://" + uiAddr}
}

// childEnv is the environment of a process the demo starts: the user's,
// less every variable that points lifeboat or Temporal somewhere (LIFEBOAT_*,
// TEMPORAL_*), plus the demo's own settings.
func childEnv(environ []string, set ...string) []string {
	env := make([]string, 0, len(environ)+len(set))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "LIFEBOAT_") || strings.HasPrefix(name, "TEMPORAL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, set...)
}

// control calls the simulator's control API.
func control(method, path string) error {
	req, err := http.NewRequest(method, controlURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("simulator control %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("simulator control %s: %s %s", path, resp.Status, e.Error)
	}
	return nil
}

func busyPorts() []string {
	var busy []string
	for _, p := range ports {
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			busy = append(busy, fmt.Sprintf("%-16s %s", p.addr, p.what))
			continue
		}
		_ = l.Close()
	}
	return busy
}

func httpOK(url string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func tcpOpen(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/lifeboat-dr/lifeboat\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("run the demo from the lifeboat repository (no go.mod of github.com/lifeboat-dr/lifeboat above %s)", dir)
		}
	}
}

func envBool(name string) bool {
	v := strings.ToLower(os.Getenv(name))
	return v == "1" || v == "true" || v == "yes"
}

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func step(format string, args ...any) { say("\n==> "+format, args...) }

func ok(format string, args ...any) { say("    "+format, args...) }

func fail(err error) int {
	if errors.Is(err, context.Canceled) {
		return 1
	}
	say("demo: %v", err)
	return 1
}
