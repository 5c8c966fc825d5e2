// Package activities holds the runbook's Temporal activities: one method per
// step on one Activities struct that holds the site connectors. Every method
// is idempotent (it checks by UUID before acting) and names sites, never
// credentials.
package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/activities/adapter"
	"github.com/lifeboat-dr/lifeboat/xapi"
)

// SiteConfig is how the worker reaches one site's pool master. The password
// is resolved by the worker (environment or file) and lives only in memory.
type SiteConfig struct {
	URL      string
	Username string
	Password string
	CAFile   string
	Insecure bool // skip TLS verification: an explicit opt-in
	Timeout  time.Duration
	// SyncStarts, when set, bounds the VM starts made as synchronous calls
	// at once (xapi.WithSyncCalls; 0: all Async).
	SyncStarts *int
	// Hosts are the pool's other hosts, where the session looks for the
	// master when URL stops answering as one (besides those it reads from
	// the pool after logging in).
	Hosts []string
	// Observer, when set, is told of every XAPI call to the site (the
	// worker's metrics).
	Observer xapi.CallObserver
	// Adapter is the storage adapter of the site's arrays (Name "" if none).
	Adapter adapter.Config
}

// Secrets resolves "${secret:NAME}" references in plan device_config values.
type Secrets interface {
	Secret(name string) (string, error)
}

// limits bound what one activity does at once or waits for.
type limits struct {
	// sourceCheckTimeout bounds the precheck's look at the source site: an
	// unreachable source must not hold the precheck for long.
	sourceCheckTimeout time.Duration
	// heartbeatEvery is the keep-alive interval of long calls when the
	// activity has no heartbeat timeout to derive it from.
	heartbeatEvery time.Duration
	// cleanupTimeout bounds the best-effort clean-up calls made after the
	// activity's own context ended (foreign session logout, task destroy).
	cleanupTimeout time.Duration
}

var defaultLimits = limits{
	sourceCheckTimeout: 30 * time.Second,
	heartbeatEvery:     10 * time.Second,
	cleanupTimeout:     30 * time.Second,
}

// New returns the activities for the given sites. Nothing is dialled here:
// each site logs in on first use, so a site that is down does not stop the
// worker from starting.
func New(sites map[string]SiteConfig, secrets Secrets, logger *zap.Logger) (*Activities, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	a := &Activities{sites: map[string]*site{}, secrets: secrets, log: logger, lim: defaultLimits,
		foreign: newForeignDBs(logger, defaultLimits.cleanupTimeout), views: map[string]*vmView{}, adapters: storageAdapters(sites)}
	names := make([]string, 0, len(sites))
	for name := range sites {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		s, err := newSite(name, sites[name], logger)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.sites[name] = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// Activities is registered with the worker filled in, and referenced by the
// workflows through a nil *Activities (method values name the activities).
type Activities struct {
	sites   map[string]*site
	secrets Secrets
	log     *zap.Logger
	lim     limits
	// starts holds each site's VM start slots, recoveries its recovery
	// slots (slots.go).
	starts     sync.Map
	recoveries sync.Map
	// foreign is the worker's open metadata databases (foreign.go).
	foreign *foreignDBs
	// views is each site's VMs and vApps as of the last event.from (vmview.go).
	viewMu sync.Mutex
	views  map[string]*vmView
	// scans keeps a paged scan's full result for its later pages.
	scans scanCache
	// adapters is each site's storage adapter (storageadapter.go).
	adapters map[string]adapter.Config
}

// Close logs every site session out; the worker calls it when it stops. It
// is a function, not a method, because the worker registers every exported
// method of Activities as an activity. Sites log in again if used afterwards.
func Close(ctx context.Context, a *Activities) error {
	if a == nil {
		return nil
	}
	a.foreign.closeAll(ctx)
	var errs []error
	for _, name := range sortedSiteNames(a.sites) {
		if err := a.sites[name].logout(ctx); err != nil {
			errs = append(errs, fmt.Errorf("site %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func sortedSiteNames(m map[string]*site) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
