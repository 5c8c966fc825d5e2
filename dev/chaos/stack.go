package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/lifeboat-dr/lifeboat/dev/devproc"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// proc is one child process: a Temporal dev server or a lifeboat worker.
type proc = devproc.Proc

func startProc(name, logPath string, env []string, path string, args ...string) (*proc, error) {
	return devproc.Start(devproc.Command{Name: name, Path: path, Args: args, Env: append(os.Environ(), env...), Log: logPath, AppendLog: true})
}

// server is one Temporal dev server on a fixed port and SQLite file, so that
// it can be killed and started again on the same database.
type server struct {
	bin, dir, db string
	hostPort     string
	ports        []string // http, metrics
	p            *proc
	client       client.Client
	started      bool // once: the frontend port is then fixed
}

func newServer(bin, dir string) (*server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var ports []string
	for i := 0; i < 3; i++ {
		a, err := devproc.FreeAddr()
		if err != nil {
			return nil, err
		}
		ports = append(ports, a[strings.LastIndex(a, ":")+1:])
	}
	return &server{bin: bin, dir: dir, db: filepath.Join(dir, "temporal.db"), hostPort: "127.0.0.1:" + ports[0], ports: ports[1:]}, nil
}

// start starts the server (again) and waits until it answers. A port taken
// meanwhile by another process (ports are picked free, then bound by the
// server) is picked again; the frontend's only before the first start, since
// the workers and clients know it.
func (s *server) start(ctx context.Context) error {
	for try := 0; ; try++ {
		err := s.startOnce(ctx)
		if err == nil || try == 3 || !devproc.LogContains(s.p.Log, "address already in use") {
			return err
		}
		if err := os.Truncate(s.p.Log, 0); err != nil {
			return err
		}
		for i := range s.ports {
			a, err := devproc.FreeAddr()
			if err != nil {
				return err
			}
			s.ports[i] = a[strings.LastIndex(a, ":")+1:]
		}
		if !s.started {
			a, err := devproc.FreeAddr()
			if err != nil {
				return err
			}
			s.hostPort = a
		}
	}
}

func (s *server) startOnce(ctx context.Context) error {
	p, err := startProc("temporal", filepath.Join(s.dir, "temporal.log"), nil, s.bin, "server", "start-dev",
		"--ip", "127.0.0.1", "--port", s.hostPort[strings.LastIndex(s.hostPort, ":")+1:], "--headless",
		"--http-port", s.ports[0], "--metrics-port", s.ports[1],
		"--db-filename", s.db, "--log-level", "error",
		// A write-ahead log, synced at checkpoints: SQLite's own advice for
		// this load, and a SIGKILL loses nothing committed (README).
		"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
		"--search-attribute", workflows.SearchAttrPlan+"=Keyword",
		"--search-attribute", workflows.SearchAttrMode+"=Keyword",
		"--search-attribute", workflows.SearchAttrPhase+"=Keyword")
	if err != nil {
		return err
	}
	s.p = p
	if s.client == nil || !s.started {
		if s.client != nil {
			s.client.Close()
		}
		c, err := client.NewLazyClient(client.Options{HostPort: s.hostPort, Namespace: "default",
			Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
		if err != nil {
			return err
		}
		s.client = c
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := s.client.CheckHealth(hctx, &client.CheckHealthRequest{})
		cancel()
		if err == nil {
			s.started = true
			return nil
		}
		select {
		case <-p.Done:
			return fmt.Errorf("the Temporal dev server exited while starting (%v); see %s", p.Err, p.Log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Temporal dev server did not answer within 90s; see %s", p.Log)
		}
	}
}

func (s *server) close() {
	if s.client != nil {
		s.client.Close()
	}
	if s.p != nil {
		s.p.Stop(syscall.SIGINT, 20*time.Second)
	}
}

// workerPassword is the variable each lane's worker configuration reads the
// demo pools' password from (the file holds no secret).
const workerPassword = "LIFEBOAT_CHAOS_PASSWORD"

// site is a pool as the worker configuration names it: its master's URL
// and its other hosts (where the worker looks for the master if the URL
// stops being it), as dev/worker.yaml does.
type site struct {
	url   string
	hosts []string
}

func (s site) hostList() string {
	return "[" + strings.Join(s.hosts, ", ") + "]"
}

// writeWorkerConfig writes a worker configuration for one lane: its own task
// queue, the lane's simulator's pools as the sites.
func writeWorkerConfig(path, hostPort, taskQueue string, primary, dr site, adapter string) error {
	cfg := fmt.Sprintf(`# written by make chaos
temporal:
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
    password_env: %s
    timeout: 30s
    hosts: %s
  dr:
    url: %s
    username: root
    password_env: %s
    timeout: 30s
    hosts: %s
    adapter: xapisim
adapters:
  xapisim:
    command: %s
    timeout: 30s
`, hostPort, taskQueue, primary.url, workerPassword, primary.hostList(), dr.url, workerPassword, dr.hostList(), adapter)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

// startWorker starts a lifeboat-worker process; wait says whether to wait
// until it polls (at a lane's start) or not (after a kill, where the time it
// takes to start is part of the time to resume).
func startWorker(ctx context.Context, bin, config, logPath string, wait bool) (*proc, error) {
	p, err := startProc("worker", logPath, []string{workerPassword + "=" + demoPassword}, bin, "-config", config, "-stop-timeout", "5s")
	if err != nil {
		return nil, err
	}
	if !wait {
		return p, nil
	}
	if err := devproc.WaitForLog(ctx, "lifeboat-worker", logPath, devproc.WorkerStarted, 60*time.Second, p.Done, func() error { return p.Err }); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// adapterCommand is the worker configuration's command of the simulator's
// storage adapter (built next to the worker), which the demo plan's test
// failovers use for their snapshots.
func adapterCommand(workerBin, controlURL string) string {
	bin, err := filepath.Abs(filepath.Join(filepath.Dir(workerBin), "xapisim-adapter"))
	if err != nil {
		bin = filepath.Join(filepath.Dir(workerBin), "xapisim-adapter")
	}
	return fmt.Sprintf("[%q, -control, %q]", bin, controlURL)
}
