//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// freeAddr returns a free 127.0.0.1 host:port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("no free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func mustFreePort() string {
	a, err := freeAddr()
	if err != nil {
		panic(err)
	}
	_, p, _ := net.SplitHostPort(a)
	return p
}

// tail returns the last n lines of a file (for failure messages).
func tail(path string, n int) string { return tailWithout(path, n) }

// tailWithout is tail without the lines that contain any of skip (debug
// chatter, shutdown noise), so that what is shown can explain a failure.
func tailWithout(path string, n int, skip ...string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	var lines [][]byte
	for _, l := range bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")) {
		if !containsAny(l, skip) {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.ReplaceAll(string(bytes.Join(lines, []byte("\n"))), "\n", "\n  ")
}

func containsAny(line []byte, subs []string) bool {
	for _, s := range subs {
		if bytes.Contains(line, []byte(s)) {
			return true
		}
	}
	return false
}

// failedTests names the tests that failed, for the recap TestMain prints
// last, where a CI log's tail shows it.
var failedTests struct {
	sync.Mutex
	names []string
}

func noteFailed(t *testing.T) {
	failedTests.Lock()
	defer failedTests.Unlock()
	failedTests.names = append(failedTests.names, t.Name())
}

// pollInterval paces every wait for a condition; waits are bounded by a deadline.
const pollInterval = 100 * time.Millisecond

// eventually polls cond until it returns true or the deadline passes; what
// describes the condition for the failure message, and last (when not nil)
// explains the last state seen.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool, last func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if last != nil {
				msg = "; last seen: " + last()
			}
			t.Fatalf("%s: not reached within %s%s", what, within, msg)
		}
		time.Sleep(pollInterval)
	}
}
