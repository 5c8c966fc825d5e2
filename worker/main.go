// Command lifeboat-worker runs lifeboat's workflows and activities: it reads
// its configuration (Temporal, sites, secrets), registers the search
// attributes if they are missing, and polls the lifeboat task queue until
// SIGTERM or SIGINT, letting running activities finish.
//
//	LIFEBOAT_DEMO_PASSWORD=lifeboat lifeboat-worker -config dev/worker.yaml
//
// Exit codes: 0 clean stop, 2 bad flags or configuration, 1 anything else.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// sets one: decoding a pool's records at 10,000 VMs leaves tens of MB of
// garbage per read, and with the default GC pacing the heap grew to twice
// what the worker really holds (920 MiB peak RSS in make bench). The limit
// only makes the collector run sooner; it never fails an allocation.
const defaultMemoryLimit = 448 << 20

func main() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stderr)
	stop()
	os.Exit(code)
}
