// Package devproc holds what the demo, the benchmark and the chaos run need
// to run the stack as processes: starting and stopping them, free loopback
// addresses, and waiting for a process to say in its log that it is up.
package devproc

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// FreeAddr returns a free 127.0.0.1 address (host:port).
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// LogContains reports whether the file at path holds s.
func LogContains(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), s)
}

// WorkerStarted is the line lifeboat-worker logs once it polls.
const WorkerStarted = "lifeboat worker started"

// WaitForLog waits until the log at path holds line, the process ends (done
// closes; exitErr then tells why), ctx ends, or timeout passes. name names
// the process in errors.
func WaitForLog(ctx context.Context, name, path, line string, timeout time.Duration, done <-chan struct{}, exitErr func() error) error {
	deadline := time.Now().Add(timeout)
	for !LogContains(path, line) {
		select {
		case <-done:
			return fmt.Errorf("%s exited while starting (%v); see %s", name, exitErr(), path)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not start within %s; see %s", name, timeout, path)
		}
	}
	return nil
}
