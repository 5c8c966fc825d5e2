# lifeboat — durable DR runbooks for XenServer / XCP-ng.
# `make test` is the one test command (CI runs it through .ci/run).

export GOTOOLCHAIN := local
GO       ?= go
BIN      := $(CURDIR)/bin
TEMPORAL := $(BIN)/temporal
# Linters, pinned in dev/tools/lint/go.mod (their own module, so they cannot
# move the Temporal CLI's dependencies).
WORKFLOWCHECK := $(BIN)/workflowcheck
STATICCHECK   := $(BIN)/staticcheck
# The pinned Temporal CLI (dev server + Web UI); see dev/tools/go.mod. The
# version is stamped in, as its release builds do (else it says 0.0.0-DEV).
TEMPORAL_VERSION := v1.5.1

.PHONY: all build test unit race e2e lint fmt vet fuzz demo run bench chaos temporal clean help

all: build

help:
	@echo "make build    build bin/lifeboat, bin/lifeboat-worker, bin/xapisim, bin/xapisim-adapter"
	@echo "make test     lint + unit, replay, integration and end-to-end tests"
	@echo "make lint     gofmt, go vet, staticcheck, workflowcheck (workflow determinism)"
	@echo "make race     unit and integration tests under the race detector, 3 times"
	@echo "make fuzz     run each fuzz target for FUZZTIME (default 20s)"
	@echo "make demo     whole stack on this machine: Temporal dev server + UI, simulator, worker, a failover"
	@echo "make bench    failover of 100 to 10,000 VMs vs the timing model's lower bound and a sequential baseline"
	@echo "make chaos    seeded worker kills, Temporal restarts and simulator faults; a table (not in make test)"
	@echo "make temporal build the pinned Temporal CLI into bin/ (once)"

# Every binary says what it is with --version: the version is the nearest
# tag (or "dev"), with the commit, stamped in at build time.
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -X github.com/lifeboat-dr/lifeboat/version.Version=$(VERSION) -X github.com/lifeboat-dr/lifeboat/version.Commit=$(COMMIT)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/lifeboat ./starter
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/lifeboat-worker ./worker
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/xapisim ./dev/xapisim
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/xapisim-adapter ./dev/xapisim-adapter

# Built once, then reused: building the CLI takes minutes on a cold cache.
$(TEMPORAL): dev/tools/go.mod dev/tools/go.sum
	@mkdir -p $(BIN)
	cd dev/tools && $(GO) build -ldflags "-X github.com/temporalio/cli/temporalcli.Version=$(TEMPORAL_VERSION:v%=%)" \
		-o $(TEMPORAL) github.com/temporalio/cli/cmd/temporal
	@touch $(TEMPORAL)

temporal: $(TEMPORAL)

$(WORKFLOWCHECK) $(STATICCHECK) &: dev/tools/lint/go.mod dev/tools/lint/go.sum
	@mkdir -p $(BIN)
	cd dev/tools/lint && $(GO) build -o $(WORKFLOWCHECK) go.temporal.io/sdk/contrib/tools/workflowcheck
	cd dev/tools/lint && $(GO) build -o $(STATICCHECK) honnef.co/go/tools/cmd/staticcheck
	@touch $(WORKFLOWCHECK) $(STATICCHECK)

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: $(WORKFLOWCHECK) $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./worker/e2e/...
	$(WORKFLOWCHECK) ./workflows/...

unit:
	$(GO) test -count=1 ./...

# The unit, replay and integration tests under the race detector, three times
# over (races and flakes show under load). Slower than make unit; run it before
# changing concurrent code (the simulator, the client, activities, the CLI).
race:
	$(GO) test -race -count=3 ./...

e2e: $(TEMPORAL) build
	LIFEBOAT_TEMPORAL_BIN=$(TEMPORAL) LIFEBOAT_BIN=$(BIN) $(GO) test -count=1 -tags e2e -timeout 20m ./worker/e2e/...

test: lint unit e2e

# New coverage inputs are minimised for 1s, not Go's default 60s: minimising
# large XML bodies otherwise stalls the decoder's fuzzer for a minute at a time.
FUZZTIME ?= 20s
fuzz:
	@for t in $$($(GO) test -list '^Fuzz' ./xapi/ | grep '^Fuzz'); do \
		echo "== $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./xapi/ || exit 1; done

# DEMO_EXIT=1 exits after the report; DEMO_SPEED=0.5 runs the simulated world twice as fast.
demo run: $(TEMPORAL) build
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/lifeboat-demo ./dev/demo
	$(BIN)/lifeboat-demo

# Never part of make test: it takes up to 25 minutes. BENCH_SIZES=100,1000 selects sizes,
# BENCH_OUT=file.json writes the rows, BENCH_SPEED=0.05 is the simulator's time factor.
bench: $(TEMPORAL) build
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/lifeboat-bench ./dev/bench
	$(BIN)/lifeboat-bench

# Not part of make test: minutes of seeded worker kills, Temporal restarts and
# simulator faults on the demo world, then a table (also JSON in CHAOS_OUT).
# CHAOS_KILLS=N kills per mode (a short run), CHAOS_SEED=N replays a schedule.
chaos: $(TEMPORAL) build
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/lifeboat-chaos ./dev/chaos
	LIFEBOAT_TEMPORAL_BIN=$(TEMPORAL) LIFEBOAT_BIN=$(BIN) $(BIN)/lifeboat-chaos

clean:
	rm -rf $(BIN) dev/state
