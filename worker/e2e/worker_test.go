//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// passwordEnv is the variable the test's worker configuration reads the pool
// password from (the file itself holds no secret, as in production).
const passwordEnv = "LIFEBOAT_E2E_PASSWORD"

// workerEnv is one test's worker setup: its configuration file, task queue
// and the processes started from it.
type workerEnv struct {
	t         *testing.T
	dir       string
	config    string
	taskQueue string

	// password is the pool password the workers read from passwordEnv.
	password string

	mu    sync.Mutex
	procs []*workerProc
}

// workerOptions tune a test's worker configuration.
type workerOptions struct {
	// password is the pools' password (simPassword when empty).
	password string
	// secrets maps a plan's ${secret:NAME} to the environment variable the
	// worker reads it from (the configuration's secrets: section).
	secrets map[string]string
	// extra is appended to the configuration (metrics:, notify:).
	extra string
	// adapter is the storage adapter's command (default: bin/xapisim-adapter
	// on the world's control API).
	adapter []string
}

// workerProc is one lifeboat-worker process.
type workerProc struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// newWorkerEnv writes a worker configuration whose sites are the simulator's
// pool masters, on a task queue of the test's own (so tests may run side by
// side on one Temporal server).
func newWorkerEnv(t *testing.T, w *simWorld) *workerEnv {
	t.Helper()
	return newWorkerEnvWith(t, w, workerOptions{})
}

// newWorkerEnvWith is newWorkerEnv with a password and secrets of the test's.
func newWorkerEnvWith(t *testing.T, w *simWorld, o workerOptions) *workerEnv {
	t.Helper()
	dir := t.TempDir()
	if o.adapter == nil {
		o.adapter = []string{filepath.Join(srv.binDir, "xapisim-adapter"), "-control", w.ControlURL()}
	}
	tq := "lifeboat-e2e-" + strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
	cfg := fmt.Sprintf(`# written by the e2e test %s
temporal:
  address: %s
  namespace: default
task_queue: %s
log:
  format: json
  level: debug
sites:
  primary:
    url: %s
    username: root
    password_env: %s
    timeout: 30s
  dr:
    url: %s
    username: root
    password_env: %s
    timeout: 30s
    adapter: xapisim
# The demo plan's test failovers run on snapshots made by the simulator's adapter.
adapters:
  xapisim:
    command: %s
    timeout: 30s
`, t.Name(), srv.hostPort, tq, w.PoolURL(poolPrimary), passwordEnv, w.PoolURL(poolDR), passwordEnv, yamlList(o.adapter))
	if len(o.secrets) > 0 {
		names := make([]string, 0, len(o.secrets))
		for n := range o.secrets {
			names = append(names, n)
		}
		sort.Strings(names)
		cfg += "secrets:\n"
		for _, n := range names {
			cfg += fmt.Sprintf("  %s:\n    env: %s\n", n, o.secrets[n])
		}
	}
	cfg += o.extra
	path := filepath.Join(dir, "worker.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	if o.password == "" {
		o.password = simPassword
	}
	e := &workerEnv{t: t, dir: dir, config: path, taskQueue: tq, password: o.password}
	t.Cleanup(e.stopAll)
	return e
}

// start starts a lifeboat-worker process and waits until it polls.
func (e *workerEnv) start() *workerProc { return e.startWith() }

// startWith starts a worker with extra environment variables (NAME=value),
// such as the secrets of the configuration.
func (e *workerEnv) startWith(env ...string) *workerProc {
	t := e.t
	t.Helper()
	e.mu.Lock()
	n := len(e.procs) + 1
	e.mu.Unlock()
	logPath := filepath.Join(e.dir, fmt.Sprintf("worker-%d.log", n))
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(filepath.Join(srv.binDir, "lifeboat-worker"), "-config", e.config, "-stop-timeout", "5s")
	cmd.Env = append(append(os.Environ(), passwordEnv+"="+e.password), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start(), "start lifeboat-worker")
	p := &workerProc{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	eventually(t, 30*time.Second, "lifeboat-worker started", func() bool {
		select {
		case <-p.done:
			t.Fatalf("lifeboat-worker exited at start (%v):\n%s", p.err, tail(logPath, 30))
		default:
		}
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "lifeboat worker started")
	}, func() string { return tail(logPath, 10) })
	return p
}

// kill SIGKILLs the process, as a crash would, and waits for it to be gone.
func (p *workerProc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
}

// stop sends SIGTERM and waits; a worker that does not stop in time is killed.
func (p *workerProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stopAll stops every worker of the test and, when the test failed, shows
// their logs.
func (e *workerEnv) stopAll() {
	e.mu.Lock()
	procs := append([]*workerProc(nil), e.procs...)
	e.mu.Unlock()
	for _, p := range procs {
		p.stop()
	}
	if e.t.Failed() {
		noteFailed(e.t)
		// Straight to stderr: it then comes before the test's own failure
		// messages, which Go prints when the test ends, so that those stay
		// at the end of the output.
		for i, p := range procs {
			fmt.Fprintf(os.Stderr, "e2e: %s: lifeboat-worker #%d log, last lines above debug level:\n%s\n",
				e.t.Name(), i+1, tailWithout(p.logPath, 40, `"level":"debug"`))
		}
	}
}

// yamlList writes strings as a YAML flow sequence.
func yamlList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
