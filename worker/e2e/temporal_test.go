//go:build e2e

package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Environment the tests need: the pinned Temporal CLI and the built binaries.
const (
	envTemporalBin = "LIFEBOAT_TEMPORAL_BIN" // path of the temporal executable
	envBinDir      = "LIFEBOAT_BIN"          // directory holding lifeboat and lifeboat-worker
)

// srv is the one Temporal dev server of this test binary, started by TestMain.
var srv struct {
	hostPort string
	client   client.Client
	binDir   string
	logPath  string
}

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests wait on simulated time and Temporal far more than they
	// compute: run them all side by side unless -parallel says otherwise.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "8")
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	temporalBin, binDir := os.Getenv(envTemporalBin), os.Getenv(envBinDir)
	if temporalBin == "" || binDir == "" {
		fmt.Fprintf(os.Stderr, "e2e: set %s (the temporal CLI) and %s (the directory of lifeboat and lifeboat-worker); 'make e2e' does both\n",
			envTemporalBin, envBinDir)
		return 2
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	// Relative paths are the repository's (make e2e passes bin/temporal and bin).
	temporalBin, binDir = fromRoot(root, temporalBin), fromRoot(root, binDir)
	for _, p := range []string{temporalBin, filepath.Join(binDir, "lifeboat"), filepath.Join(binDir, "lifeboat-worker"), filepath.Join(binDir, "xapisim-adapter")} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v; run 'make build temporal' first\n", err)
			return 2
		}
	}
	srv.binDir = binDir

	dir, err := os.MkdirTemp("", "lifeboat-e2e-temporal-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	srv.logPath = filepath.Join(dir, "temporal.log")
	logFile, err := os.Create(srv.logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	defer logFile.Close()

	hostPort, err := freeAddr()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	dev, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  temporalBin,
		ClientOptions: &client.Options{HostPort: hostPort, Namespace: "default"},
		DBFilename:    filepath.Join(dir, "temporal.db"),
		LogLevel:      "warn",
		Stdout:        logFile,
		Stderr:        logFile,
		ExtraArgs: []string{
			"--search-attribute", workflows.SearchAttrPlan + "=Keyword",
			"--search-attribute", workflows.SearchAttrMode + "=Keyword",
			"--search-attribute", workflows.SearchAttrPhase + "=Keyword",
			"--http-port", mustFreePort(), "--metrics-port", mustFreePort(),
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the Temporal dev server did not start: %v\n%s\n", err, tail(srv.logPath, 40))
		return 1
	}
	fmt.Printf("e2e: Temporal dev server on %s ready in %s\n", dev.FrontendHostPort(), time.Since(began).Round(time.Millisecond))
	srv.hostPort = dev.FrontendHostPort()
	srv.client = dev.Client()
	code := m.Run()
	// Read before the server stops: its shutdown only adds noise.
	serverTail := tailWithout(srv.logPath, 15, "Failed to poll for task", "network dial error")
	if err := dev.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the dev server:", err)
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: last lines of the Temporal dev server log:\n%s\n", serverTail)
		failedTests.Lock()
		if len(failedTests.names) > 0 {
			fmt.Fprintf(os.Stderr, "e2e: failed: %s (each one's messages are under its --- FAIL line above)\n",
				strings.Join(failedTests.names, ", "))
		}
		failedTests.Unlock()
	}
	return code
}

// moduleRoot is the directory of go.mod above the test's directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

func fromRoot(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}
