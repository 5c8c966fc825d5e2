package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// The demo world, as the harness uses it.
const (
	poolPrimary  = "Primary"
	poolDR       = "DR"
	demoPassword = "lifeboat"
	scenarioFile = "dev/scenarios/demo.yaml"
	planFile     = "dev/plans/demo.yaml"
)

var demoMirrors = []string{"gold-01", "gold-02", "fc-silver-01"}

// config is the harness's settings (environment, see main).
type config struct {
	seed        int64
	kills       int // per mode; 0 = defaultKills
	perRun      int
	faultRuns   int
	restartRuns int
	parallel    int
	speed       float64
	resumeLimit time.Duration
	runTimeout  time.Duration
	out         string
	temporalBin string
	workerBin   string
	stateDir    string
	verbose     bool
	only        []string // CHAOS_ONLY: substrings of the rows to run
}

// lane is one case's world: its own simulator (in-process, free ports), its
// own worker process on its own task queue, on a shared or own Temporal
// server. Kills and faults in one lane touch nothing of another.
type lane struct {
	name      string
	cfg       *config
	dir       string
	srv       *server
	world     *sim.World
	sc        *sim.Scenario
	taskQueue string
	wcfg      string
	worker    *proc
	nWorkers  int

	logMu sync.Mutex
	log   *os.File
}

func newLane(ctx context.Context, cfg *config, name string, srv *server, seed int64) (*lane, error) {
	dir := filepath.Join(cfg.stateDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lf, err := os.Create(filepath.Join(dir, "chaos.log"))
	if err != nil {
		return nil, err
	}
	sc, err := sim.LoadScenario(scenarioFile)
	if err != nil {
		return nil, err
	}
	w, err := sim.Start(ctx, sc, sim.Options{Speed: cfg.speed, FreePorts: true, Seed: seed,
		JournalPath: filepath.Join(dir, "journal.jsonl")})
	if err != nil {
		return nil, fmt.Errorf("start the simulator: %w", err)
	}
	l := &lane{name: name, cfg: cfg, dir: dir, srv: srv, world: w, sc: sc, taskQueue: "chaos-" + name,
		wcfg: filepath.Join(dir, "worker.yaml"), log: lf}
	if err := writeWorkerConfig(l.wcfg, srv.hostPort, l.taskQueue, l.site(poolPrimary), l.site(poolDR), adapterCommand(cfg.workerBin, w.ControlURL())); err != nil {
		l.close()
		return nil, err
	}
	if err := l.startWorker(ctx, true); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// site is a pool of the lane's world for the worker configuration.
func (l *lane) site(pool string) site {
	s := site{url: l.world.PoolURL(pool)}
	for _, u := range l.world.HostURLs(pool) {
		if u != s.url {
			s.hosts = append(s.hosts, u)
		}
	}
	return s
}

func (l *lane) startWorker(ctx context.Context, wait bool) error {
	l.nWorkers++
	p, err := startWorker(ctx, l.cfg.workerBin, l.wcfg, filepath.Join(l.dir, fmt.Sprintf("worker-%d.log", l.nWorkers)), wait)
	if err != nil {
		return err
	}
	l.worker = p
	return nil
}

func (l *lane) close() {
	if l.worker != nil {
		l.worker.Stop(syscall.SIGTERM, 10*time.Second)
	}
	if l.world != nil {
		_ = l.world.Close()
	}
	if l.log != nil {
		_ = l.log.Close()
	}
}

func (l *lane) logf(format string, args ...any) {
	l.logMu.Lock()
	defer l.logMu.Unlock()
	line := time.Now().Format("15:04:05.000") + " " + fmt.Sprintf(format, args...)
	fmt.Fprintln(l.log, line)
	if l.cfg.verbose {
		fmt.Printf("[%s] %s\n", l.name, line)
	}
}

// pool is one pool of the lane's world, as the state dump has it.
func (l *lane) pool(name string) sim.PoolState {
	for _, p := range l.world.Control().State().Pools {
		if strings.EqualFold(p.Name, name) {
			return p
		}
	}
	return sim.PoolState{}
}

// primaryDown is the disaster: the primary site is lost and every mirror split.
func (l *lane) primaryDown() error {
	ct := l.world.Control()
	if err := ct.SiteDown("primary"); err != nil {
		return err
	}
	return l.splitMirrors()
}

func (l *lane) splitMirrors() error {
	for _, m := range demoMirrors {
		if err := l.world.Control().SplitMirror(m); err != nil {
			return err
		}
	}
	return nil
}

// toFailback prepares the way back after a failover: the recovered copies
// shut down at DR, the primary site back (its VMs halted, as after a power
// loss) and the mirrors reversed (DR's content copied back), then split so
// the primary's LUNs are writable, as re-plugging its SRs needs.
func (l *lane) toFailback(ctx context.Context, names []string) error {
	s, err := l.login(ctx, poolDR, "operator")
	if err != nil {
		return err
	}
	defer func() { _ = s.Logout(context.Background()) }()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, vm := range l.pool(poolDR).VMs {
		if !want[vm.Name] || vm.PowerState == xapi.PowerHalted {
			continue
		}
		ref, err := s.GetVMByUUID(ctx, vm.UUID)
		if err != nil {
			return err
		}
		if err := s.CleanShutdownVM(ctx, ref); err != nil {
			return fmt.Errorf("shut down %s at DR: %w", vm.Name, err)
		}
	}
	ct := l.world.Control()
	if err := ct.SiteUp("primary", false); err != nil {
		return err
	}
	for _, m := range demoMirrors {
		if err := ct.ReverseMirror(m); err != nil {
			return err
		}
		if err := ct.SplitMirror(m); err != nil {
			return err
		}
	}
	return nil
}

func (l *lane) login(ctx context.Context, pool, user string) (*xapi.Session, error) {
	c, err := xapi.NewClient(l.world.PoolURL(pool), xapi.WithCallTimeout(20*time.Second))
	if err != nil {
		return nil, err
	}
	return c.Login(ctx, user, demoPassword)
}

// vmNames maps a pool's VM references to names, read through XAPI as a
// read-only user (the journal names VMs by reference).
func (l *lane) vmNames(ctx context.Context, pool string) map[string]string {
	out := map[string]string{}
	s, err := l.login(ctx, pool, "auditor")
	if err != nil {
		l.logf("vm names of %s: %v", pool, err)
		return out
	}
	defer func() { _ = s.Logout(context.Background()) }()
	recs, err := s.GetAllVMRecords(ctx)
	if err != nil {
		l.logf("vm names of %s: %v", pool, err)
		return out
	}
	for ref, vm := range recs {
		out[string(ref)] = vm.NameLabel
	}
	return out
}

// orders is each VM's order inside its vApp, from the scenario.
func (l *lane) orders() map[string]int64 {
	out := map[string]int64{}
	for _, site := range l.sc.Sites {
		for _, p := range site.Pools {
			for _, vm := range p.VMs {
				out[vm.Name] = vm.Order
			}
		}
	}
	return out
}

// lastSeq is the journal position now: entries after it belong to what follows.
func (l *lane) lastSeq() int64 {
	e := l.world.Journal().Entries(0)
	if len(e) == 0 {
		return 0
	}
	return e[len(e)-1].Seq
}

// demoPlan loads the demo plan under another name, so that each case has its
// own workflow IDs.
func demoPlan(name string) (*plan.Plan, error) {
	p, _, err := plan.LoadChecked(planFile)
	if err != nil {
		return nil, err
	}
	p.Name = name
	return p, nil
}
