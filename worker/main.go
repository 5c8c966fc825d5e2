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
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stderr)
	stop()
	os.Exit(code)
}
