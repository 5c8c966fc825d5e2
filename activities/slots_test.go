package activities

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// slotsOf is the start slots of site "dr" with hosts hosts, known now.
func slotsOf(hosts int) (*Activities, *slotPool, *conn) {
	a := &Activities{}
	p := &slotPool{hosts: hostRefs(hosts), hostsAt: time.Now()}
	a.starts.Store("dr", p)
	return a, p, &conn{site: "dr"}
}

// waitersAre waits until n callers wait for a slot of p.
func waitersAre(t *testing.T, p *slotPool, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.waiting) == n
	}, 10*time.Second, time.Millisecond)
}

func hostRefs(n int) []xapi.Ref {
	refs := make([]xapi.Ref, n)
	for i := range refs {
		refs[i] = xapi.Ref(fmt.Sprintf("OpaqueRef:host-%d", i+1))
	}
	return refs
}

// A freed start slot goes to whichever start waits, whatever child or run it
// belongs to, and never more than the cap are in flight.
func TestStartSlotsAreSharedAndCapped(t *testing.T) {
	a, p, c := slotsOf(4)
	ctx := context.Background()

	var mu sync.Mutex
	inFlight, most := 0, 0
	var releases []func()
	var wg sync.WaitGroup
	acquired := make(chan struct{}, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			relSlot, err := a.startSlot(ctx, c, 3, 0, false)
			rel := relSlot.release
			require.NoError(t, err)
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			releases = append(releases, func() {
				mu.Lock()
				inFlight--
				mu.Unlock()
				rel()
			})
			mu.Unlock()
			acquired <- struct{}{}
		}()
	}
	// Release one slot each time one is taken, until all ten ran.
	for range 10 {
		<-acquired
		mu.Lock()
		rel := releases[0]
		releases = releases[1:]
		mu.Unlock()
		rel()
	}
	wg.Wait()
	for _, rel := range releases {
		rel()
	}
	assert.LessOrEqual(t, most, 3, "the plan's cap holds")
	assert.Equal(t, 0, p.used)
}

// Without a cap, a site has StartsPerHost slots per host; a waiting start
// gives up when its activity is cancelled.
func TestStartSlotsFollowThePoolAndCancel(t *testing.T) {
	a, _, c := slotsOf(2)
	var rels []func()
	for range 2 * StartsPerHost {
		relSlot, err := a.startSlot(context.Background(), c, 0, 0, false)
		rel := relSlot.release
		require.NoError(t, err)
		rels = append(rels, rel)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := a.startSlot(ctx, c, 0, 0, false)
	assert.ErrorIs(t, err, context.Canceled, "all %d slots are taken", 2*StartsPerHost)
	rels[0]()
	rels[0]() // a release runs once
	relSlot, err := a.startSlot(context.Background(), c, 0, 0, false)
	rel := relSlot.release
	require.NoError(t, err)
	rel()
}

// Waiting starts get freed slots in the order they came, one each, and a
// start that gives up while waiting takes no slot with it.
func TestStartSlotsGoFirstComeFirstServed(t *testing.T) {
	a, p, c := slotsOf(1)
	firstSlot, err := a.startSlot(context.Background(), c, 1, 0, false)
	first := firstSlot.release
	require.NoError(t, err)

	gaveUp, cancel := context.WithCancel(context.Background())
	order := make(chan int, 3)
	rels := make(chan func(), 3)
	wait := func(ctx context.Context, i int) {
		relSlot, err := a.startSlot(ctx, c, 1, 0, false)
		rel := relSlot.release
		if err != nil {
			order <- -i
			return
		}
		order <- i
		rels <- rel
	}
	// Each waiter is queued before the next one starts waiting.
	queued := func(n int) { waitersAre(t, p, n) }
	go wait(context.Background(), 1)
	queued(1)
	go wait(gaveUp, 2)
	queued(2)
	go wait(context.Background(), 3)
	queued(3)
	cancel()
	assert.Equal(t, -2, <-order, "the cancelled start gives up")
	first()
	assert.Equal(t, 1, <-order)
	(<-rels)()
	assert.Equal(t, 3, <-order, "the slot the cancelled start did not take goes to the next")
	(<-rels)()
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Equal(t, 0, p.used)
	assert.Empty(t, p.waiting)
}

// A start that later orders wait for goes before those nothing waits for,
// whenever it came; equals keep their order.
func TestStartSlotsGoFirstToWhatOthersWaitFor(t *testing.T) {
	a, p, c := slotsOf(1)
	firstSlot, err := a.startSlot(context.Background(), c, 1, 0, false)
	first := firstSlot.release
	require.NoError(t, err)
	order := make(chan string, 4)
	rels := make(chan func(), 4)
	wait := func(name string, later int) {
		relSlot, err := a.startSlot(context.Background(), c, 1, later, false)
		rel := relSlot.release
		require.NoError(t, err)
		order <- name
		rels <- rel
	}
	for i, w := range []struct {
		name  string
		later int
	}{{"standalone-1", 0}, {"vapp-order-1", 2}, {"standalone-2", 0}, {"vapp-order-2", 1}} {
		go wait(w.name, w.later)
		waitersAre(t, p, i+1)
	}
	first()
	var got []string
	for range 4 {
		got = append(got, <-order)
		(<-rels)()
	}
	assert.Equal(t, []string{"vapp-order-1", "vapp-order-2", "standalone-1", "standalone-2"}, got)
}

// A freed recovery slot goes to the earliest priority group waiting, then in
// the order the units were queued, whatever child asked; never more than the
// size are held.
func TestRecoverSlotsGoToTheEarliestGroup(t *testing.T) {
	a, c := &Activities{}, &conn{site: "dr"}
	ctx := context.Background()
	hold, err := a.queueRecoveries(ctx, c, "p/failover", 0, 0, 1, 1)
	require.NoError(t, err)
	first, err := hold.wait(ctx, 0)
	require.NoError(t, err)
	v, _ := a.recoveries.Load("dr")
	p := v.(*slotPool)
	g3, err := a.queueRecoveries(ctx, c, "p/failover", 3, 0, 1, 2)
	require.NoError(t, err)
	g1, err := a.queueRecoveries(ctx, c, "p/failover", 1, 0, 1, 2)
	require.NoError(t, err)
	waitersAre(t, p, 4)
	order := make(chan string, 4)
	rels := make(chan func(), 4)
	for _, w := range []struct {
		name string
		q    recoverQueue
		i    int
	}{{"group-3-a", g3, 0}, {"group-1-a", g1, 0}, {"group-3-b", g3, 1}, {"group-1-b", g1, 1}} {
		go func() {
			rel, err := w.q.wait(ctx, w.i)
			assert.NoError(t, err)
			order <- w.name
			rels <- rel
		}()
	}
	first()
	first() // a release counts once
	var got []string
	for range 4 {
		got = append(got, <-order)
		p.mu.Lock()
		assert.Equal(t, 1, p.used, "one slot held")
		p.mu.Unlock()
		(<-rels)()
	}
	assert.Equal(t, []string{"group-1-a", "group-1-b", "group-3-a", "group-3-b"}, got)
	// A waiter whose context ends leaves the queue; units never waited for
	// are dropped, a granted one giving its slot back.
	held, err := a.queueRecoveries(ctx, c, "p/failover", 0, 0, 1, 1)
	require.NoError(t, err)
	rel, err := held.wait(ctx, 0)
	require.NoError(t, err)
	q, err := a.queueRecoveries(ctx, c, "p/failover", 0, 0, 1, 3)
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = q.wait(cctx, 0)
	assert.ErrorIs(t, err, context.Canceled)
	rel() // unit 1 is granted the slot, unit 2 waits
	q.dropRest()
	p.mu.Lock()
	assert.Empty(t, p.waiting)
	assert.Zero(t, p.used)
	p.mu.Unlock()
}

// The children of a run start together: a later group's recovery queues
// only once the run's first group has, so the first group's units take the
// free slots whichever child came first; without that first group (another
// worker has it, or it is done) the later one goes on after
// recoverLeadWait.
func TestLaterGroupsQueueAfterTheFirst(t *testing.T) {
	a, c := &Activities{}, &conn{site: "dr"}
	ctx := context.Background()
	later := make(chan recoverQueue, 1)
	go func() {
		q, err := a.queueRecoveries(ctx, c, "p/failover", 2, 0, 2, 2)
		assert.NoError(t, err)
		later <- q
	}()
	require.Eventually(t, func() bool { // the later group waits
		v, ok := a.recoveries.Load("dr")
		if !ok {
			return false
		}
		p := v.(*slotPool)
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.queuedCh != nil
	}, 10*time.Second, time.Millisecond)
	first, err := a.queueRecoveries(ctx, c, "p/failover", 0, 0, 2, 3)
	require.NoError(t, err)
	q2 := <-later
	// Both free slots went to the first group.
	for i := range 2 {
		select {
		case <-first.ws[i].ready:
		default:
			t.Fatalf("first group's unit %d has no slot", i)
		}
	}
	for _, w := range q2.ws {
		assert.False(t, w.granted, "a later group's unit took a slot before the first group's")
	}
	first.dropRest()
	q2.dropRest()

	// Another run's first group never queues here: its later group goes on.
	q, err := a.queueRecoveries(ctx, c, "q/failover", 1, 0, 2, 1)
	require.NoError(t, err)
	rel, err := q.wait(ctx, 0)
	require.NoError(t, err)
	rel()
}

// Spread boots go to the host with the fewest of them in flight, then the
// one placed on least; a host that refused a VM is left out for a while,
// and with every host left out the pool places the VM.
func TestStartSlotsSpreadTheBoots(t *testing.T) {
	a, p, c := slotsOf(3)
	h := hostRefs(3)
	var all []startSlot
	take := func(spread bool) startSlot {
		s, err := a.startSlot(context.Background(), c, 0, 0, spread)
		require.NoError(t, err)
		all = append(all, s)
		return s
	}
	s1, s2, s3 := take(true), take(true), take(true)
	assert.Equal(t, []xapi.Ref{h[0], h[1], h[2]}, []xapi.Ref{s1.host, s2.host, s3.host}, "one each, in the pool's order")
	s4 := take(true)
	assert.Equal(t, h[0], s4.host, "all as busy and as used: the first")
	s2.release()
	s5 := take(true)
	assert.Equal(t, h[1], s5.host, "the host whose boot ended")
	s6 := take(true)
	assert.Equal(t, h[2], s6.host, "among the least busy (hosts 2 and 3), the one placed on least")
	assert.Empty(t, take(false).host, "a start that does not spread is placed by the pool")

	s1.refused()
	s5.release()
	s6.release()
	s7 := take(true)
	assert.Equal(t, h[1], s7.host, "host 1, the least busy, refused a VM: left out")
	s7.refused()
	s3.refused()
	assert.Empty(t, take(true).host, "every host refused a VM: the pool places it")

	for _, s := range all {
		s.release() // once each, whatever ran before
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Equal(t, 0, p.used)
	for _, ref := range h {
		assert.Zero(t, p.busy[ref], "no boot in flight on %s", ref)
	}
}

func TestScanPages(t *testing.T) {
	vapp := func(n int) VAppInfo { return VAppInfo{UUID: "a", VMs: make([]VMInfo, n)} }
	vapps := []VAppInfo{vapp(3), vapp(3), vapp(5)}
	vms := make([]VMInfo, 4)
	for i := range vms {
		vms[i].UUID = string(rune('w' + i))
	}
	tests := []struct {
		offset, limit      int
		wantVApps, wantVMs int
		next               int
	}{
		{0, 6, 2, 0, 2}, // two vApps of 3
		{2, 6, 1, 1, 4}, // the 5-VM vApp, then one VM
		{2, 4, 1, 0, 3}, // a vApp larger than the page still comes whole
		{3, 6, 0, 4, 0}, // the last VMs, end
		{0, 100, 3, 4, 0},
	}
	for _, tt := range tests {
		a, v, next := pageUnits(vapps, vms, tt.offset, tt.limit)
		assert.Len(t, a, tt.wantVApps, "offset %d limit %d", tt.offset, tt.limit)
		assert.Len(t, v, tt.wantVMs, "offset %d limit %d", tt.offset, tt.limit)
		assert.Equal(t, tt.next, next, "offset %d limit %d", tt.offset, tt.limit)
	}
}

// Starts that begin together read the pool's hosts once, and only their
// references.
func TestStartSlotsReadTheHostsOnce(t *testing.T) {
	f, _, _ := prepared(t)
	ctx := context.Background()
	c, err := f.a.connect(ctx, "dr")
	require.NoError(t, err)
	before := f.w.Journal().Count("host.get_all", "")
	records := f.w.Journal().Count("host.get_all_records", "")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			relSlot, err := f.a.startSlot(ctx, c, 0, 0, false)
			rel := relSlot.release
			if assert.NoError(t, err) {
				rel()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, f.w.Journal().Count("host.get_all", "")-before, "one read for every start")
	assert.Equal(t, records, f.w.Journal().Count("host.get_all_records", ""), "the count needs no records")
}

// While an earlier group's import runs, the later groups hold at most half
// the slots (recoverLaterShare); once it ends they take them all.
func TestLaterGroupsShareTheSlotsWhileTheFirstRecovers(t *testing.T) {
	a, c := &Activities{}, &conn{site: "dr"}
	ctx := context.Background()
	first, err := a.queueRecoveries(ctx, c, "p/failover", 0, 0, 4, 1)
	require.NoError(t, err)
	rel, err := first.wait(ctx, 0)
	require.NoError(t, err)
	later, err := a.queueRecoveries(ctx, c, "p/failover", 1, 0, 4, 4)
	require.NoError(t, err)
	granted := func() int {
		n := 0
		for _, w := range later.ws {
			select {
			case <-w.ready:
				n++
			default:
			}
		}
		return n
	}
	assert.Equal(t, 2, granted(), "half of the 4 slots")
	rel()
	assert.Equal(t, 4, granted(), "every slot once the first group is done")
	later.dropRest()
	v, _ := a.recoveries.Load("dr")
	p := v.(*slotPool)
	p.mu.Lock()
	assert.Zero(t, p.used)
	p.mu.Unlock()
}

// Starts that come together are served by rank, whatever order they came
// in (gathered), and a spread boot beyond a host's hostVMOps in flight
// goes out startOverflowDelay after the others.
func TestABurstOfStartsGoesByRank(t *testing.T) {
	a, p, c := slotsOf(1)
	ctx := context.Background()
	// A burst being gathered: the pass runs when the test says.
	p.mu.Lock()
	p.gathering = true
	p.mu.Unlock()
	names := map[*slotWaiter]string{}
	slots := make(chan startSlot, hostVMOps+1)
	for i, w := range []struct {
		name  string
		later int
	}{{"standalone-1", 0}, {"vapp-a-order-1", 2}, {"standalone-2", 0}, {"vapp-b-order-1", 1}, {"vapp-c-order-1", 2}} {
		go func() {
			s, err := a.startSlot(ctx, c, 0, w.later, true)
			assert.NoError(t, err)
			slots <- s
		}()
		waitersAre(t, p, i+1)
		p.mu.Lock()
		for _, x := range p.waiting {
			if _, ok := names[x]; !ok {
				names[x] = w.name
			}
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	queue := slices.Clone(p.waiting)
	p.gathering = false
	p.grant()
	p.mu.Unlock()
	var order []string
	for _, w := range queue {
		order = append(order, names[w])
	}
	assert.Equal(t, []string{"vapp-a-order-1", "vapp-c-order-1", "vapp-b-order-1", "standalone-1", "standalone-2"}, order)
	for i, w := range queue {
		want := time.Duration(0)
		if i == hostVMOps {
			want = startOverflowDelay // the fifth boot on the one host
		}
		assert.Equal(t, want, w.delay, names[w])
	}
	for range hostVMOps + 1 {
		s := <-slots
		assert.NotEmpty(t, s.host)
		s.release()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Zero(t, p.used)
}
