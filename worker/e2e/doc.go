// Package e2e holds lifeboat's end-to-end tests, built only with the e2e build
// tag: a real Temporal dev server (one per test binary), the XAPI simulator
// in-process (one world per test), and the real lifeboat-worker binary as a
// child process, driven through the Temporal Go client and the lifeboat CLI.
//
//	make e2e
//	LIFEBOAT_TEMPORAL_BIN=bin/temporal LIFEBOAT_BIN=bin go test -tags e2e ./worker/e2e/...
//
// The harness is split by what it holds: temporal_test.go (TestMain, dev
// server), simulator_test.go (world, disasters, journal counts),
// inventory_test.go (pool inventories and operator actions over XAPI),
// worker_test.go (the worker process), runs_test.go (starting runs, gates,
// results, timings), observer_test.go (XAPI event watcher for start order),
// secrets_test.go (CHAP and pool password never leave the worker),
// cli_test.go (the lifeboat binary) and util_test.go (ports, bounded polling).
package e2e
