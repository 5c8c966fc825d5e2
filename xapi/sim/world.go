package sim

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Options tune a simulated world.
type Options struct {
	// Speed scales every simulated duration: 0 = instant (unit tests; start_delay is not
	// slept), 1 = real time, 0.01 = 100 times faster.
	Speed float64
	// FreePorts ignores the scenario's host addresses: every host gets its own loopback
	// address (127.0.0.1, 127.0.0.2, ...) on one free port shared by all, as a real pool's
	// hosts share port 80 (see listen.go). Hosts without an address get the same.
	FreePorts bool
	// TLS also serves HTTPS on each host's address, with certificates signed by a CA the
	// world generates (CAFile, CAPEM): on a second shared free port with FreePorts, else on
	// the HTTP port + 363 (as 80 and 443).
	TLS bool
	// CAFile is where the CA certificate (PEM) is written with TLS ("" = a file in a
	// temporary directory removed at Close; World.CAFile says where).
	CAFile string
	// ControlAddr overrides the scenario's control API address ("" = scenario's, or a free
	// port with FreePorts; "-" = no control listener).
	ControlAddr string
	// JournalPath, when set, appends every journal entry as a JSON line to that file.
	JournalPath string
	// Seed overrides the scenario's seed (refs, generated UUIDs, fault dice).
	Seed int64
	// Logger receives lifecycle messages; nil = no logging.
	Logger *zap.Logger
	// PlugWithoutScan makes the master's PBD.plug handle only the metadata VDIs the pool
	// already has records of, without scanning the SR first, as xapi does since CA-379112
	// (2023); by default the plug scans first, as xapi did before (see README).
	PlugWithoutScan bool
}

// World is a running set of simulated sites, pools and storage.
type World struct {
	mu sync.Mutex
	// taskCancels holds the cancel function of each running task, by ref:
	// the world's own, since worlds of one seed draw the same refs (tests
	// run several at once, and one's task.cancel stopped another's task).
	taskCancels sync.Map
	opts        Options
	sc          *Scenario
	speed       float64
	timing      Timing
	rng         *rand.Rand
	log         *zap.Logger
	sites       []*Site
	pools       []*Pool
	fabric      *Fabric
	faults      *Faults
	journal     *Journal
	control     *Control
	ctlSrv      *http.Server
	ctlURL      string
	ca          *authority // with Options.TLS
	tasks       sync.WaitGroup
	ctx         context.Context
	cancel      context.CancelFunc
	closed      bool
}

// Site is a physical site: pools and storage arrays that go down together.
type Site struct {
	Name  string
	Up    bool
	Pools []*Pool
}

// Pool is one simulated resource pool with its own database.
type Pool struct {
	w        *World
	Name     string
	Site     *Site
	db       *DB
	ref      string
	uuid     string
	hosts    []*Host
	master   *Host
	users    map[string]User
	sessions map[string]*Session
	// redoLogs are the metadata VDIs this pool replicates its database to (by VDI ref).
	redoLogs map[string]bool
	// memUsed caches each host's used memory (freeMemory).
	memUsed map[string]memUse
	// metaDirty is set by every database change; flushMetadata writes the database to the
	// redo-log LUN images when someone next looks at storage.
	metaDirty bool
	// metaCache is xapi's cache of foreign metadata VDIs: VDI ref → generation and pool.
	metaCache  map[string]metaInfo
	sem        chan struct{}
	dbLock     slots // xapi's database lock on the master: recover's writes
	openDB     slots // VDI.open_database is serialised (database_open_mutex)
	sessionTTL time.Duration
}

type metaInfo struct {
	gen      int64
	poolRef  string
	poolUUID string
}

// Host is one simulated host with its own listener.
type Host struct {
	pool     *Pool
	Name     string
	ref      string
	dom0     string
	addr     string // configured address ("" = one given by listen.go)
	bound    string // actual HTTP listening address (ip:port)
	tlsBound string // actual HTTPS listening address ("" without TLS)
	memory   int64
	vmOps    slots // xenopsd's worker pool: VM operations running on this host
	srvs     []*http.Server
}

// Address is the host's address as xapi reports it (host.address, HOST_IS_SLAVE): the bare
// IP, as in a real pool whose hosts all listen on one port. A scenario that gives a pool's
// hosts different ports on one IP gets ip:port instead, or clients could not find them.
func (h *Host) Address() string {
	ip, port, _ := net.SplitHostPort(h.bound)
	for _, o := range h.pool.hosts {
		oip, oport, _ := net.SplitHostPort(o.bound)
		if o != h && (oport != port || oip == ip) {
			return h.bound
		}
	}
	return ip
}

// URL is the host's XML-RPC endpoint over HTTP.
func (h *Host) URL() string { return "http://" + h.bound + "/" }

// TLSURL is the host's XML-RPC endpoint over HTTPS ("" without TLS).
func (h *Host) TLSURL() string {
	if h.tlsBound == "" {
		return ""
	}
	return "https://" + h.tlsBound + "/"
}

// User is a local account of a pool.
type User struct {
	Name, Password, Role string
}

// Session is a logged-in session (real, or foreign when bound to a metadata database).
type Session struct {
	Ref     string
	User    string
	Role    string
	db      *DB
	created time.Time
	ttl     time.Duration
}

func (s *Session) kind() string {
	if s.db != nil {
		return "foreign"
	}
	return "real"
}

func (s *Session) expired(w *World) bool {
	return s.ttl > 0 && time.Since(s.created) > s.ttl
}

func (p *Pool) dropSession(s *Session) { delete(p.sessions, s.Ref) }

// Start builds the world of a scenario and starts its listeners.
func Start(ctx context.Context, sc *Scenario, opts Options) (*World, error) {
	if sc == nil {
		return nil, errors.New("xapisim: nil scenario")
	}
	seed := sc.Seed
	if opts.Seed != 0 {
		seed = opts.Seed
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	cctx, cancel := context.WithCancel(context.Background())
	w := &World{opts: opts, sc: sc, speed: opts.Speed, timing: sc.Timing.resolved(), rng: rand.New(rand.NewSource(seed)),
		log: log, fabric: newFabric(), faults: newFaults(seed), ctx: cctx, cancel: cancel}
	j, err := newJournal(opts.JournalPath)
	if err != nil {
		cancel()
		return nil, err
	}
	w.journal = j
	w.control = &Control{w: w}
	w.mu.Lock()
	err = w.build(sc)
	w.mu.Unlock()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("build world from scenario %q: %w", sc.Name, err)
	}
	if opts.TLS {
		if w.ca, err = newAuthority(opts.CAFile); err != nil {
			w.Close()
			return nil, err
		}
	}
	if err := w.listenAll(); err != nil {
		w.Close()
		return nil, err
	}
	w.mu.Lock()
	for _, p := range w.pools {
		for _, h := range p.hosts {
			p.db.Set("host", h.ref, "address", h.Address())
		}
	}
	// The mirrors were established long ago: the DR copies start identical.
	w.flushMetadata()
	for _, m := range w.fabric.mirrors {
		w.copyMirror(m)
	}
	w.mu.Unlock()
	if err := w.startControl(); err != nil {
		w.Close()
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			w.Close()
		case <-cctx.Done():
		}
	}()
	return w, nil
}

// Close stops every listener and waits for running tasks.
func (w *World) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.cancel()
	for _, p := range w.pools {
		for _, h := range p.hosts {
			h.stop()
		}
	}
	if w.ctlSrv != nil {
		_ = w.ctlSrv.Close()
	}
	w.mu.Unlock()
	w.tasks.Wait()
	w.ca.close()
	return w.journal.close()
}

// pool finds a pool by name or by site name, case-insensitively.
func (w *World) pool(name string) *Pool {
	for _, p := range w.pools {
		if strings.EqualFold(p.Name, name) {
			return p
		}
	}
	for _, s := range w.sites {
		if strings.EqualFold(s.Name, name) && len(s.Pools) > 0 {
			return s.Pools[0]
		}
	}
	return nil
}

// PoolURL is the XML-RPC URL over HTTP of a pool's current master (by pool or site name).
func (w *World) PoolURL(name string) string { return first(w.hostURLs(name, (*Host).URL)) }

// PoolTLSURL is PoolURL over HTTPS ("" without Options.TLS).
func (w *World) PoolTLSURL(name string) string { return first(w.hostURLs(name, (*Host).TLSURL)) }

// HostURLs lists the HTTP URLs of every host of a pool, master first.
func (w *World) HostURLs(name string) []string { return w.hostURLs(name, (*Host).URL) }

// HostTLSURLs lists the HTTPS URLs of every host of a pool, master first.
func (w *World) HostTLSURLs(name string) []string { return w.hostURLs(name, (*Host).TLSURL) }

func (w *World) hostURLs(name string, url func(*Host) string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pool(name)
	if p == nil {
		return nil
	}
	out := []string{url(p.master)}
	for _, h := range p.hosts {
		if h != p.master {
			out = append(out, url(h))
		}
	}
	return out
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// Pools lists the pool names.
func (w *World) Pools() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, p := range w.pools {
		out = append(out, p.Name)
	}
	return out
}

// Control returns the control interface (disasters, faults, state).
func (w *World) Control() *Control { return w.control }

// ControlURL is the base URL of the JSON control API ("" when disabled).
func (w *World) ControlURL() string { return w.ctlURL }

// Journal returns the call journal.
func (w *World) Journal() *Journal { return w.journal }

// scaled converts a simulated duration to wall time.
func (w *World) scaled(d time.Duration) time.Duration {
	if w.speed <= 0 || d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * w.speed)
}

// newUUID draws a UUID from the world's seeded generator (deterministic for one run order).
func (w *World) newUUID() string {
	var b [16]byte
	w.rng.Read(b[:])
	return formatUUID(b[:])
}

func (w *World) newRef() string { return "OpaqueRef:" + w.newUUID() }

func formatUUID(b []byte) string {
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// stableUUID derives a UUID from the seed and a name, so scenario objects keep their UUIDs
// whatever the order they are built in.
func stableUUID(seed int64, parts ...string) string {
	h := sha256.Sum256([]byte(fmt.Sprint(seed) + "\x00" + strings.Join(parts, "\x00")))
	return formatUUID(h[:16])
}

func (w *World) startControl() error {
	addr := w.opts.ControlAddr
	if addr == "-" {
		return nil
	}
	if addr == "" {
		addr = w.sc.Control
		if w.opts.FreePorts || addr == "" {
			addr = "127.0.0.1:0"
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("control API: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: w.control.handler(), ReadHeaderTimeout: 10 * time.Second}
	w.ctlSrv = srv
	w.ctlURL = "http://" + l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	return nil
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

var _ = os.Getenv
