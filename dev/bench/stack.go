package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/dev/devproc"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// temporal is the pinned Temporal dev server the benchmark runs against (SQLite, free
// ports), started once for every size.
type temporal struct {
	dev     *testsuite.DevServer
	client  client.Client
	address string
	logPath string
}

func startTemporal(ctx context.Context, bin, dir string) (*temporal, error) {
	logPath := filepath.Join(dir, "temporal.log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	hostPort, err := devproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	http, metrics := mustFreePort(), mustFreePort()
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	dev, err := testsuite.StartDevServer(dctx, testsuite.DevServerOptions{
		ExistingPath:  bin,
		ClientOptions: &client.Options{HostPort: hostPort, Namespace: "default", Logger: quietLogger()},
		DBFilename:    filepath.Join(dir, "temporal.db"),
		// warn keeps the server's "Blob data size exceeds the warning limit" lines.
		LogLevel: "warn",
		Stdout:   f,
		Stderr:   f,
		ExtraArgs: []string{
			"--search-attribute", workflows.SearchAttrPlan + "=Keyword",
			"--search-attribute", workflows.SearchAttrMode + "=Keyword",
			"--search-attribute", workflows.SearchAttrPhase + "=Keyword",
			"--http-port", http, "--metrics-port", metrics,
			"--dynamic-config-value", "system.enableActivityEagerExecution=true",
			// As the README advises for the dev server: a write-ahead log
			// synced at checkpoints instead of two fsyncs per transaction.
			"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("the Temporal dev server did not start (log %s): %w", logPath, err)
	}
	return &temporal{dev: dev, client: dev.Client(), address: dev.FrontendHostPort(), logPath: logPath}, nil
}

func (t *temporal) stop() {
	if err := t.dev.Stop(); err != nil {
		say("bench: stopping the Temporal dev server: %v", err)
	}
}

// countInLog counts the lines of the server log containing s from byte offset from on,
// and returns the log's size (the next offset).
func countInLog(path string, from int64, s string) (int, int64) {
	f, err := os.Open(path)
	if err != nil {
		return 0, from
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		return 0, from
	}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	end := from
	if st, err := f.Stat(); err == nil {
		end = st.Size()
	}
	return n, end
}

// worker is a real lifeboat-worker process.
type worker struct{ *devproc.Proc }

// workerConfig is the worker's configuration for one world (no secret in it: the pool
// password comes from the variable it names).
// workerConfig is the benchmark's worker configuration; a non-empty
// metricsAddr serves metrics and the profiler there (BENCH_WORKER_CPUPROFILE).
func workerConfig(address, primaryURL, drURL, metricsAddr string) string {
	metrics := ""
	if metricsAddr != "" {
		metrics = fmt.Sprintf("metrics:\n  listen: %s\n  pprof: true\n", metricsAddr)
	}
	return metrics + fmt.Sprintf(`temporal:
  address: %s
  namespace: default
task_queue: %s
log:
  format: json
  level: info
sites:
  primary:
    url: %s
    username: root
    password_env: LIFEBOAT_BENCH_PASSWORD
    timeout: 10s
  dr:
    url: %s
    username: root
    password_env: LIFEBOAT_BENCH_PASSWORD
    timeout: 120s
`, address, workflows.TaskQueue, primaryURL, drURL)
}

func startWorker(ctx context.Context, bin, dir, config string) (*worker, error) {
	cfg := filepath.Join(dir, "worker.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "worker.log")
	p, err := devproc.Start(devproc.Command{Name: "the worker", Path: bin, Args: []string{"-config", cfg},
		Env: append(os.Environ(), "LIFEBOAT_BENCH_PASSWORD=lifeboat"), Log: logPath})
	if err != nil {
		return nil, err
	}
	w := &worker{p}
	if err := devproc.WaitForLog(ctx, "the worker", logPath, devproc.WorkerStarted, 60*time.Second, w.Done, func() error { return w.Err }); err != nil {
		w.stop()
		return nil, err
	}
	return w, nil
}

// peakRSS is the worker's peak resident set size (VmHWM), in bytes.
func (w *worker) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// stop ends the worker: SIGTERM, then SIGKILL of its process group after a grace time.
func (w *worker) stop() { w.Stop(syscall.SIGTERM, 20*time.Second) }

// lifeboatCLI runs the lifeboat command line as a user would, printing the command.
func lifeboatCLI(ctx context.Context, bin, address string, args ...string) (string, error) {
	say("  $ lifeboat %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, append([]string{"--address", address}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), fmt.Errorf("lifeboat %s exited %d: %s", args[0], ee.ExitCode(), lastLines(string(out), 5))
	}
	return string(out), err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func mustFreePort() string {
	a, err := devproc.FreeAddr()
	if err != nil {
		panic(err)
	}
	_, port, _ := net.SplitHostPort(a)
	return port
}
