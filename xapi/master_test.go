package xapi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// moves records the WithMasterMoved callbacks.
type moves struct {
	mu  sync.Mutex
	all []xapi.MasterMove
}

func (m *moves) record(mv xapi.MasterMove) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.all = append(m.all, mv)
}

func (m *moves) list() []xapi.MasterMove {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]xapi.MasterMove(nil), m.all...)
}

func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return u.Host
}

// drLogin logs in to the DR pool of the demo world through url.
func drLogin(t *testing.T, rawURL string, opts ...xapi.Option) (*xapi.Session, *moves) {
	t.Helper()
	mv := &moves{}
	c, err := xapi.NewClient(rawURL, append([]xapi.Option{xapi.WithMasterMoved(mv.record)}, opts...)...)
	require.NoError(t, err)
	s, err := c.Login(context.Background(), user, password)
	require.NoError(t, err)
	return s, mv
}

func drWorld(t *testing.T) *sim.World {
	t.Helper()
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{Speed: 0, FreePorts: true, ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// calls counts the journal's calls of method on a host with a result.
func calls(w *sim.World, since int64, host, method, result string) int {
	n := 0
	for _, e := range w.Journal().Entries(since) {
		if e.Host == host && e.Method == method && e.Result == result {
			n++
		}
	}
	return n
}

// The master moves while the session is idle: the next call meets
// HOST_IS_SLAVE once, logs in on the new master and succeeds there; the
// old master is not asked again.
func TestSessionFollowsMasterMovedWhileIdle(t *testing.T) {
	w := drWorld(t)
	urls := w.HostURLs("DR") // dr-01 (master), dr-02
	s, mv := drLogin(t, urls[0])
	assert.ElementsMatch(t, []string{hostIP(t, urls[0]), hostIP(t, urls[1])}, s.KnownHosts(), "learnt from host.get_all_records: bare IPs")

	require.NoError(t, w.Control().MoveMaster("DR", "dr-02"))
	mark := lastSeq(w)
	_, pool, err := s.GetPool(context.Background())
	require.NoError(t, err)
	assert.Equal(t, urls[1], s.Endpoint())
	assert.Equal(t, 1, calls(w, mark, "dr-01", "pool.get_all_records", xapi.CodeHostIsSlave), "the old master is asked once")
	assert.Zero(t, calls(w, mark, "dr-02", "session.login_with_password", "Success"),
		"the session is pool-wide: the new master knows it")
	hosts, err := s.GetAllHostRecords(context.Background())
	require.NoError(t, err)
	assert.Equal(t, hosts[pool.Master].NameLabel, "dr-02")
	require.Len(t, mv.list(), 1, "one move, reported once")
	assert.Equal(t, xapi.MasterMove{From: hostPort(t, urls[0]), To: hostPort(t, urls[1]), Reason: mv.list()[0].Reason}, mv.list()[0])
	assert.True(t, xapi.IsCode(mv.list()[0].Reason, xapi.CodeHostIsSlave))

	// And back, with many callers at once: one search, one login.
	require.NoError(t, w.Control().MoveMaster("DR", "dr-01"))
	mark = lastSeq(w)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.GetPool(context.Background())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	assert.Equal(t, urls[0], s.Endpoint())
	assert.Equal(t, 1, calls(w, mark, "dr-01", "pool.get_all", "Success"), "concurrent callers share one search")
	assert.Len(t, mv.list(), 2)
}

// The master moved before the first login and the configured URL names the
// old one: the login follows HOST_IS_SLAVE.
func TestLoginFindsMasterMovedBeforehand(t *testing.T) {
	w := drWorld(t)
	urls := w.HostURLs("DR")
	require.NoError(t, w.Control().MoveMaster("DR", "dr-02"))
	s, _ := drLogin(t, urls[0])
	assert.Equal(t, urls[1], s.Endpoint())
}

// proxy stands for a master's address that goes away: it forwards to
// target until closed, then refuses connections.
func proxy(t *testing.T, target string) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	return serveLike(t, target, httputil.NewSingleHostReverseProxy(u))
}

// serveLike serves h on another loopback address with the port of the pool's
// hosts, as another host of the pool would be: xapi names hosts by bare IP,
// so a client dials every host on the port it was configured with.
func serveLike(t *testing.T, poolURL string, h http.Handler) *httptest.Server {
	t.Helper()
	port := mustURL(t, poolURL).Port()
	for i := 200; i < 255; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(fmt.Sprintf("127.0.0.%d", i), port))
		if err != nil {
			continue
		}
		srv := httptest.NewUnstartedServer(h)
		srv.Listener = l
		srv.Start()
		t.Cleanup(srv.Close)
		return srv
	}
	t.Fatalf("no loopback address free on port %s", port)
	return nil
}

func hostIP(t *testing.T, rawURL string) string {
	t.Helper()
	return mustURL(t, rawURL).Hostname()
}

// The master cannot be dialled any more: the session asks the hosts it
// learnt from the pool and finds the master among them.
func TestSessionFindsMasterWhenItsAddressIsGone(t *testing.T) {
	w := drWorld(t)
	urls := w.HostURLs("DR")
	p := proxy(t, urls[0])
	s, mv := drLogin(t, p.URL)
	p.Close()

	_, _, err := s.GetPool(context.Background())
	require.NoError(t, err)
	assert.Equal(t, urls[0], s.Endpoint())
	require.Len(t, mv.list(), 1)
	assert.Equal(t, hostPort(t, p.URL), mv.list()[0].From)
}

// A call that changes something is not made again when its connection
// drops (it may have run); a read is, and both fail transiently when every
// host drops them.
func TestDroppedWriteIsNotRepeated(t *testing.T) {
	w := drWorld(t)
	s, _ := drLogin(t, w.PoolURL("DR"))
	poolRef, _, err := s.GetPool(context.Background())
	require.NoError(t, err)
	w.Control().AddFault(sim.Fault{Pool: "DR", DropProbability: 1})

	mark := lastSeq(w)
	_, err = s.Call(context.Background(), "pool.set_name_label", poolRef, "x")
	require.Error(t, err)
	assert.Equal(t, xapi.Transient, xapi.Classify(err), "%v", err)
	assert.Equal(t, 1, calls(w, mark, "dr-01", "(dropped)", "CONNECTION_DROPPED"), "made once")

	mark = lastSeq(w)
	_, _, err = s.GetPool(context.Background())
	require.Error(t, err)
	assert.Equal(t, xapi.Transient, xapi.Classify(err), "%v", err)
	assert.Greater(t, calls(w, mark, "dr-01", "(dropped)", "CONNECTION_DROPPED"), 1, "a read is asked again")
}

// The first login's URL cannot be dialled: the configured hosts are tried.
func TestLoginTriesConfiguredHosts(t *testing.T) {
	w := drWorld(t)
	urls := w.HostURLs("DR")
	p := proxy(t, urls[0])
	p.Close()
	// dr-02 is asked first, is a slave, and names dr-01.
	s, _ := drLogin(t, p.URL, xapi.WithKnownHosts(hostPort(t, urls[1]), hostPort(t, urls[0])))
	assert.Equal(t, urls[0], s.Endpoint())
}

// HOST_IS_SLAVE names a master that cannot be reached (a stale address):
// the session goes on to the other hosts it knows.
func TestSessionTriesKnownHostsAfterStaleSlaveAnswer(t *testing.T) {
	w := drWorld(t)
	urls := w.HostURLs("DR")
	dead := proxy(t, urls[0])
	dead.Close()
	var slave atomic.Bool
	fwd := httputil.NewSingleHostReverseProxy(mustURL(t, urls[0]))
	old := serveLike(t, urls[0], http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if slave.Load() {
			rw.Header().Set("Content-Type", "text/xml")
			_, _ = rw.Write([]byte(`<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>HOST_IS_SLAVE</value><value>` +
				hostPort(t, dead.URL) + `</value></data></array></value></member></struct></value></param></params></methodResponse>`))
			return
		}
		fwd.ServeHTTP(rw, r)
	}))
	s, mv := drLogin(t, old.URL)
	slave.Store(true)

	_, _, err := s.GetPool(context.Background())
	require.NoError(t, err)
	assert.Equal(t, urls[0], s.Endpoint(), "found among the hosts learnt from the pool")
	require.Len(t, mv.list(), 1)
}

// No host answers as master (the whole site is down): the call fails with a
// transient error naming what was asked, the failure is reported once, and
// the session works again once the site is back.
func TestSessionNoMasterFound(t *testing.T) {
	w := drWorld(t)
	urls := w.HostURLs("DR")
	s, mv := drLogin(t, urls[0])
	require.NoError(t, w.Control().SiteDown("dr"))

	_, _, err := s.GetPool(context.Background())
	require.Error(t, err)
	var nf *xapi.MasterNotFoundError
	require.True(t, errors.As(err, &nf), "%v", err)
	assert.Equal(t, []string{hostPort(t, urls[0]), hostPort(t, urls[1])}, nf.Tried)
	assert.Equal(t, xapi.Transient, xapi.Classify(err))
	require.Len(t, mv.list(), 1)
	assert.Empty(t, mv.list()[0].To)

	require.NoError(t, w.Control().SiteUp("dr", true))
	_, _, err = s.GetPool(context.Background())
	require.NoError(t, err)
	assert.Equal(t, urls[0], s.Endpoint())
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// VM.start answering later than the plain call timeout (an overloaded
// master), Async or not, is waited for: the VM starts, and was asked to
// once.
func TestSlowStartIsWaitedFor(t *testing.T) {
	for _, sync := range []int{0, 1} {
		method := map[int]string{0: "Async.VM.start", 1: "VM.start"}[sync]
		t.Run(method, func(t *testing.T) {
			w := drWorld(t)
			c, err := xapi.NewClient(w.PoolURL("primary"), xapi.WithCallTimeout(50*time.Millisecond), xapi.WithSyncCalls(sync))
			require.NoError(t, err)
			s, err := c.Login(context.Background(), user, password)
			require.NoError(t, err)
			ref, err := s.GetVMByUUID(context.Background(), vmUUIDByName(t, poolState(t, w, "Primary"), "dns-01"))
			require.NoError(t, err)
			require.NoError(t, s.HardShutdownVM(context.Background(), ref))
			w.Control().AddFault(sim.Fault{Pool: "Primary", Method: method, Delay: sim.Duration(300 * time.Millisecond)})

			require.NoError(t, s.StartVM(context.Background(), ref, false, false))
			vm, err := s.GetVMRecord(context.Background(), ref)
			require.NoError(t, err)
			assert.Equal(t, xapi.PowerRunning, vm.PowerState)
			assert.Equal(t, 1, w.Journal().Count(method, ""))
		})
	}
}

// The configured URL is a slave and the master it names is down: the login
// says no master was found, having asked both.
func TestLoginSlaveNamesDeadMaster(t *testing.T) {
	var f *httptest.Server
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	f = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/xml")
		_, _ = rw.Write([]byte(`<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>HOST_IS_SLAVE</value><value>` +
			hostPort(t, dead.URL) + `</value></data></array></value></member></struct></value></param></params></methodResponse>`))
	}))
	t.Cleanup(f.Close)
	c, err := xapi.NewClient(f.URL)
	require.NoError(t, err)
	_, err = c.Login(context.Background(), user, password)
	var nf *xapi.MasterNotFoundError
	require.True(t, errors.As(err, &nf), "%v", err)
	assert.Equal(t, []string{hostPort(t, f.URL), hostPort(t, dead.URL)}, nf.Tried)
	assert.Equal(t, xapi.Transient, xapi.Classify(err))
}

// The session expired and the master moved meanwhile: the old master, a
// pool member now, answers SESSION_INVALID first (it checks the session
// before saying it is a slave); the login again there meets HOST_IS_SLAVE
// with a bare address, and the session goes on at the new master.
func TestExpiredSessionAfterMasterMoved(t *testing.T) {
	w := drWorld(t)
	urls := w.HostURLs("DR")
	s, mv := drLogin(t, urls[0])
	_, err := w.Control().ExpireSessions("DR", "")
	require.NoError(t, err)
	require.NoError(t, w.Control().MoveMaster("DR", "dr-02"))
	mark := lastSeq(w)

	_, _, err = s.GetPool(context.Background())
	require.NoError(t, err)
	assert.Equal(t, urls[1], s.Endpoint())
	assert.Equal(t, 1, calls(w, mark, "dr-01", "pool.get_all_records", xapi.CodeSessionInvalid))
	assert.Equal(t, 1, calls(w, mark, "dr-01", "session.login_with_password", xapi.CodeHostIsSlave))
	assert.Equal(t, 1, calls(w, mark, "dr-02", "session.login_with_password", "Success"))
	require.Len(t, mv.list(), 1)
}
