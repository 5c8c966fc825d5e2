package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// Rows of the table that are not worker kills.
const (
	rowRestart   = "temporal restart"
	rowDrop      = "sim: 5% dropped connections"
	rowSlow      = "sim: slow calls (+250ms)"
	rowSlowStart = "sim: VM.start slower than the 30s call timeout"
	rowExpire    = "sim: sessions expiring"
	rowMaster    = "sim: master moved mid-recover"
	rowStartOnce = "sim: VM.start fails once"
	rowDRDown    = "sim: DR site unreachable 30s"
	rowRerun     = "failed run + re-run"
	rowTwoOps    = "two operators at once"
)

func killRow(mode plan.Mode) string { return "worker kill: " + string(mode) }

// chaosCase is one run of one plan (and its re-run when it does not
// complete) in a world of its own.
type chaosCase struct {
	Row   string
	Name  string // plan name and lane directory
	Mode  plan.Mode
	Seed  int64
	Kills killRun
	// Restarts of the Temporal dev server (the case then has a server of its own).
	Restarts []kill
	// Fault is one of the sim rows; "" = none.
	Fault string
	// Spread runs the plan with start.placement: spread (every other
	// worker-kill case), so that the kills also land in VM.start_on, and
	// with batch_size 2, so that the plan is larger than one start child
	// and its groups start while later ones are recovered (the kills land
	// in the shared recovery slots and the overlapped starts).
	Spread bool
}

// caseResult is what a case found.
type caseResult struct {
	Case           chaosCase
	Completed      bool
	ByRerun        bool
	RecoveredTwice []string
	Lost           []string
	Leftovers      []string
	Order          []string
	Kills          []killResult
	Restarts       []killResult
	Notes          []string
	Err            error
	Took           time.Duration
}

// buildCases is the whole seeded schedule, in a fixed order.
func buildCases(cfg *config) []chaosCase {
	rng := rand.New(rand.NewSource(cfg.seed))
	var cases []chaosCase
	add := func(c chaosCase) {
		c.Seed = rng.Int63()
		c.Name = fmt.Sprintf("c%03d-%s", len(cases)+1, shortName(c))
		cases = append(cases, c)
	}
	for _, m := range modes {
		n := cfg.kills
		if n <= 0 {
			n = defaultKills(m)
		}
		for _, kr := range killSchedule(rng, m, n, cfg.perRun) {
			add(chaosCase{Row: killRow(m), Mode: m, Kills: kr, Spread: len(cases)%2 == 1})
		}
	}
	for i := 0; i < cfg.restartRuns; i++ {
		add(chaosCase{Row: rowRestart, Mode: plan.ModeFailover, Restarts: restartSchedule(rng, 3)})
	}
	for _, f := range []string{rowDrop, rowSlow, rowSlowStart, rowExpire, rowMaster, rowStartOnce, rowDRDown} {
		for i := 0; i < cfg.faultRuns; i++ {
			m := plan.ModeFailover
			if i%2 == 1 && f != rowMaster {
				m = plan.ModeTestFailover
			}
			add(chaosCase{Row: f, Mode: m, Fault: f})
		}
	}
	for i := 0; i < cfg.faultRuns; i++ {
		add(chaosCase{Row: rowRerun, Mode: plan.ModeFailover, Fault: rowRerun})
		add(chaosCase{Row: rowTwoOps, Mode: modes[i%len(modes)], Fault: rowTwoOps})
	}
	// CHAOS_ONLY keeps some rows (after the seeds are drawn, so that a case
	// runs the same alone as in the whole schedule).
	if len(cfg.only) > 0 {
		var kept []chaosCase
		for _, c := range cases {
			for _, o := range cfg.only {
				if strings.Contains(c.Row, o) {
					kept = append(kept, c)
					break
				}
			}
		}
		cases = kept
	}
	// The longest first, so that the parallel lanes end together.
	sort.SliceStable(cases, func(i, j int) bool { return weight(cases[i]) > weight(cases[j]) })
	return cases
}

func shortName(c chaosCase) string {
	switch {
	case len(c.Kills) > 0 && c.Spread:
		return "kill-" + string(c.Mode) + "-spread"
	case len(c.Kills) > 0:
		return "kill-" + string(c.Mode)
	case len(c.Restarts) > 0:
		return "restart"
	}
	r := strings.NewReplacer("sim: ", "", " ", "-", "%", "", "(", "", ")", "", "+", "", ".", "", "/", "")
	s := r.Replace(c.Fault)
	if len(s) > 24 {
		s = s[:24]
	}
	return strings.Trim(strings.ToLower(s), "-")
}

func weight(c chaosCase) int {
	w := len(c.Kills)*2 + len(c.Restarts)*2
	if c.Mode == plan.ModeFailback {
		w += 2
	}
	if c.Fault == rowDRDown || c.Fault == rowSlowStart {
		w += 4
	}
	return w
}

// runCases runs the cases on cfg.parallel lanes at a time.
func runCases(ctx context.Context, cfg *config, shared *server, cases []chaosCase) []caseResult {
	results := make([]caseResult, len(cases))
	next := make(chan int)
	var wg sync.WaitGroup
	var printMu sync.Mutex
	for w := 0; w < cfg.parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res := runCase(ctx, cfg, shared, cases[i])
				results[i] = res
				printMu.Lock()
				fmt.Println(res.line())
				printMu.Unlock()
			}
		}()
	}
	for i := range cases {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return results
}

func (r caseResult) line() string {
	st := "completed"
	switch {
	case r.Err != nil:
		st = "error: " + r.Err.Error()
	case r.ByRerun:
		st = "completed by a re-run"
	case !r.Completed:
		st = "NOT completed"
	}
	var ks []string
	for _, k := range append(append([]killResult(nil), r.Kills...), r.Restarts...) {
		s := fmt.Sprintf("%s %.1fs", k.Phase, k.Resume.Seconds())
		if k.Stalled {
			s += " (stalled)"
		}
		ks = append(ks, s)
	}
	extra := ""
	if len(ks) > 0 {
		extra = "; resumes: " + strings.Join(ks, ", ")
	}
	for _, list := range []struct {
		what string
		l    []string
	}{{"recovered twice", r.RecoveredTwice}, {"lost", r.Lost}, {"leftovers", r.Leftovers}, {"order", r.Order}, {"notes", r.Notes}} {
		if len(list.l) > 0 {
			extra += fmt.Sprintf("; %s: %s", list.what, strings.Join(firstN(list.l, 4), ", "))
		}
	}
	return fmt.Sprintf("chaos: %-10s %-44s %s in %s%s", r.Case.Name, r.Case.Row+" ("+string(r.Case.Mode)+")", st, r.Took.Round(time.Second), extra)
}

func firstN(l []string, n int) []string {
	if len(l) <= n {
		return l
	}
	return append(append([]string(nil), l[:n]...), fmt.Sprintf("… %d more", len(l)-n))
}

// runCase runs one case in a fresh world and checks what it left.
func runCase(ctx context.Context, cfg *config, shared *server, c chaosCase) (res caseResult) {
	began := time.Now()
	res.Case = c
	defer func() { res.Took = time.Since(began) }()
	srv := shared
	if len(c.Restarts) > 0 {
		// Restarting the shared server would stall every other lane.
		own, err := newServer(cfg.temporalBin, cfg.stateDir+"/"+c.Name+"-temporal")
		if err != nil {
			res.Err = err
			return res
		}
		if err := own.start(ctx); err != nil {
			res.Err = err
			return res
		}
		defer own.close()
		srv = own
	}
	l, err := newLane(ctx, cfg, c.Name, srv, c.Seed)
	if err != nil {
		res.Err = err
		return res
	}
	defer l.close()
	rng := rand.New(rand.NewSource(c.Seed))
	p, err := demoPlan(strings.ReplaceAll(c.Name, "_", "-"))
	if err != nil {
		res.Err = err
		return res
	}
	if c.Spread {
		p.Start.Placement = plan.PlacementSpread
		p.Concurrency.BatchSize = 2
	}

	source := l.pool(poolPrimary)
	selected := map[string]string{}
	for _, vm := range source.VMs {
		if !slices.Contains(p.Selection.Exclude, vm.Name) {
			selected[vm.Name] = vm.UUID
		}
	}
	names := make([]string, 0, len(selected))
	for n := range selected {
		names = append(names, n)
	}
	sort.Strings(names)

	target, power := poolDR, "Running"
	switch c.Mode {
	case plan.ModeFailover:
		err = l.primaryDown()
	case plan.ModeTestFailover:
		err, power = l.splitMirrors(), "Paused"
	case plan.ModeFailback:
		target = poolPrimary
		// The way back needs a failover first: a clean one.
		if err = l.primaryDown(); err == nil {
			var o *outcome
			if o, err = l.drive(ctx, p, plan.ModeFailover, driveOpts{}); err == nil && !o.succeeded() {
				err = fmt.Errorf("the failover before the failback did not succeed: %s", o.Message)
			}
		}
		if err == nil {
			err = l.toFailback(ctx, names)
		}
	}
	if err != nil {
		res.Err = err
		return res
	}
	before := l.pool(target)
	order := startOrder(p, source.VMs, l.orders())
	for n := range order {
		if _, ok := selected[n]; !ok {
			delete(order, n)
		}
	}

	// One attempt: the run, with the case's faults. held is the target pool
	// at the cleanup gate of a test failover, and the names of its VMs.
	type attempt struct {
		from, to int64
		o        *outcome
		held     *sim.PoolState
		names    map[string]string
	}
	twoOpsBad := false // both operators' runs started, or neither was refused
	runOnce := func(faulty bool) (*attempt, error) {
		a := &attempt{from: l.lastSeq()}
		opts := driveOpts{}
		var stop func()
		if faulty {
			opts.kills, opts.restarts = c.Kills, c.Restarts
			for _, k := range append(append([]kill(nil), c.Kills...), c.Restarts...) {
				if m, ok := stretch[k.Phase]; ok {
					l.world.Control().AddFault(sim.Fault{Pool: target, Method: m, Delay: sim.Duration(stretchDelay)})
				}
			}
			var err error
			if stop, err = l.injectFault(ctx, c, rng, &opts); err != nil {
				return nil, err
			}
		}
		if c.Mode == plan.ModeTestFailover {
			opts.onHold = func() {
				st := l.pool(target)
				a.held, a.names = &st, l.vmNames(ctx, target)
			}
		}
		if faulty && c.Fault == rowTwoOps {
			we, note, err := l.twoOperators(ctx, p, c.Mode)
			if err != nil {
				return nil, err
			}
			if note != "" {
				res.Notes = append(res.Notes, note)
				twoOpsBad = true
			}
			opts.started = we
		}
		o, err := l.drive(ctx, p, c.Mode, opts)
		if stop != nil {
			stop()
		}
		if err != nil {
			return nil, err
		}
		a.o, a.to = o, l.lastSeq()
		if a.names == nil {
			a.names = l.vmNames(ctx, target)
		}
		return a, nil
	}

	first, err := runOnce(true)
	if err != nil {
		res.Err = err
		return res
	}
	res.Kills, res.Restarts = first.o.Kills, first.o.Restarts
	attempts := []*attempt{first}
	if !first.o.succeeded() {
		res.Notes = append(res.Notes, "first run: "+oneLine(first.o.Message))
		l.clearFaults()
		if l.worker == nil || l.worker.Exited() {
			_ = l.startWorker(ctx, true)
		}
		second, err := runOnce(false)
		if err != nil {
			res.Err = err
			return res
		}
		attempts = append(attempts, second)
		if second.o.succeeded() {
			res.ByRerun = true
		} else {
			res.Notes = append(res.Notes, "re-run: "+oneLine(second.o.Message))
		}
	}
	last := attempts[len(attempts)-1]
	res.Completed = last.o.succeeded() && !twoOpsBad

	// Checks. A test failover's copies are removed by its cleanup, so each
	// attempt recovers afresh: recovered twice is judged per attempt there,
	// over both attempts otherwise (a re-run must adopt, not recover again).
	journal := l.world.Journal()
	if c.Mode == plan.ModeTestFailover {
		for _, a := range attempts {
			res.RecoveredTwice = append(res.RecoveredTwice, recoveredTwice(window(journal, a.from, a.to), target)...)
		}
	} else {
		res.RecoveredTwice = recoveredTwice(window(journal, first.from, last.to), target)
	}
	after := l.pool(target)
	res.RecoveredTwice = append(res.RecoveredTwice, duplicateVMs(after)...)
	for _, a := range attempts {
		res.Order = append(res.Order, orderViolations(startSpans(window(journal, a.from, a.to), target, a.names), order)...)
	}
	if res.Completed {
		if c.Mode == plan.ModeTestFailover {
			if last.held == nil {
				res.Lost = append(res.Lost, "the cleanup gate was never seen")
			} else {
				res.Lost = lostVMs(selected, *last.held, power)
				res.RecoveredTwice = append(res.RecoveredTwice, duplicateVMs(*last.held)...)
			}
		} else {
			res.Lost = lostVMs(selected, after, power)
		}
	}
	if c.Mode == plan.ModeTestFailover {
		res.Leftovers = leftovers(inventory(before), inventory(after))
	} else {
		for _, t := range after.DRTasks {
			res.Leftovers = append(res.Leftovers, "DR task "+t.UUID)
		}
	}
	return res
}

func window(j *sim.Journal, from, to int64) []sim.JournalEntry {
	var out []sim.JournalEntry
	for _, e := range j.Entries(from) {
		if e.Seq <= to {
			out = append(out, e)
		}
	}
	return out
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// clearFaults ends every fault of the first run before a re-run: rules
// removed, the DR site up.
func (l *lane) clearFaults() {
	ct := l.world.Control()
	ct.ClearFaults()
	_ = ct.SiteUp("dr", true)
}

// injectFault installs the case's simulator fault (or arranges it for a
// phase); the returned func ends what runs in the background.
func (l *lane) injectFault(ctx context.Context, c chaosCase, rng *rand.Rand, o *driveOpts) (func(), error) {
	ct := l.world.Control()
	var wg sync.WaitGroup
	stopCh := make(chan struct{})
	stop := func() { close(stopCh); wg.Wait() }
	after := func(d time.Duration, f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(d):
				f()
			case <-stopCh:
			}
		}()
	}
	switch c.Fault {
	case rowDrop:
		ct.AddFault(sim.Fault{Pool: poolDR, DropProbability: 0.05})
	case rowSlow:
		ct.AddFault(sim.Fault{Pool: poolDR, Delay: sim.Duration(250 * time.Millisecond)})
	case rowSlowStart:
		// The starts issued in the first second of the start phase take 35s
		// to answer: longer than the worker's 30s call timeout.
		done := false
		o.onPhase = func(ph string) {
			if ph != workflows.PhaseStart || done {
				return
			}
			done = true
			id := ct.AddFault(sim.Fault{Pool: poolDR, Method: "*VM.start", Delay: sim.Duration(35 * time.Second)})
			after(time.Second, func() { _ = ct.RemoveFault(id) })
		}
	case rowExpire:
		// The worker's sessions expire every 1 to 3 s.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-time.After(time.Second + time.Duration(rng.Int63n(int64(2*time.Second)))):
					_, _ = ct.ExpireSessions(poolDR, "root")
				case <-stopCh:
					return
				}
			}
		}()
	case rowMaster:
		done := false
		o.onPhase = func(ph string) {
			if ph == workflows.PhaseRecover && !done {
				done = true
				if err := ct.MoveMaster(poolDR, "dr-02"); err != nil {
					l.logf("move master: %v", err)
				}
				l.logf("pool DR master moved to dr-02")
			}
		}
	case rowStartOnce:
		n := 1 + rng.Intn(6)
		ct.AddFault(sim.Fault{Pool: poolDR, Method: "VM.start", Nth: n, Error: []string{"INTERNAL_ERROR", "xenopsd internal error: domain build failed"}})
		l.logf("VM.start call %d fails with INTERNAL_ERROR", n)
	case rowDRDown:
		phases := []string{workflows.PhaseScan, workflows.PhasePrecheck, workflows.PhaseRecover, workflows.PhaseStart}
		at := phases[rng.Intn(len(phases))]
		done := false
		o.onPhase = func(ph string) {
			if ph != at || done {
				return
			}
			done = true
			_ = ct.SiteDown("dr")
			l.logf("DR site down in phase %s for 30s", ph)
			after(30*time.Second, func() { _ = ct.SiteUp("dr", true); l.logf("DR site up again") })
		}
	case rowRerun:
		// Every VM.start fails for want of a host: the first run fails
		// after recovering everything; its re-run must finish the job.
		ct.AddFault(sim.Fault{Pool: poolDR, Method: "VM.start", Error: []string{"NO_HOSTS_AVAILABLE"}})
	}
	return stop, nil
}

// twoOperators starts the same plan and mode from two clients at the same
// moment, as two operators would from their CLIs: exactly one run must start
// and the other be refused.
func (l *lane) twoOperators(ctx context.Context, p *plan.Plan, mode plan.Mode) (client.WorkflowRun, string, error) {
	type res struct {
		we  client.WorkflowRun
		err error
	}
	ch := make(chan res, 2)
	gate := make(chan struct{})
	for _, who := range []string{"alice", "bob"} {
		go func(who string) {
			<-gate
			we, err := l.srv.client.ExecuteWorkflow(ctx, startOptions(p, mode, l.taskQueue), modeWorkflow[mode],
				&workflows.RunInput{Plan: *p, RequestedBy: who})
			ch <- res{we, err}
		}(who)
	}
	close(gate)
	var runs []client.WorkflowRun
	refused := 0
	var other error
	for i := 0; i < 2; i++ {
		r := <-ch
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		switch {
		case r.err == nil:
			runs = append(runs, r.we)
		case errors.As(r.err, &already):
			refused++
		default:
			other = r.err
		}
	}
	if len(runs) == 0 {
		return nil, "", fmt.Errorf("neither operator could start the run: %v", other)
	}
	note := ""
	if len(runs) != 1 || refused != 1 {
		note = fmt.Sprintf("two operators: %d runs started, %d refused", len(runs), refused)
	}
	return runs[0], note, nil
}
