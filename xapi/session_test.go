package xapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoginParamsAndLogout(t *testing.T) {
	f := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": loginOK("OpaqueRef:s1"),
		"session.logout":              func(rpcCall) string { return golden(t, "void_success.xml") },
	})
	s := login(t, f)
	assert.Equal(t, Ref("OpaqueRef:s1"), s.Ref())
	l := f.callsTo("session.login_with_password")[0]
	assert.Equal(t, []any{"root", "s3cret-pw", LoginVersion, "lifeboat"}, l.Params)
	require.NoError(t, s.Logout(context.Background()))
	require.NoError(t, s.Logout(context.Background()), "idempotent")
	assert.Len(t, f.callsTo("session.logout"), 1)
	assert.Equal(t, "OpaqueRef:s1", f.callsTo("session.logout")[0].str(0))
}

func TestLoginFollowsHostIsSlave(t *testing.T) {
	master := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": loginOK("OpaqueRef:master-session"),
	})
	mu, _ := url.Parse(master.srv.URL)
	slave := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": func(rpcCall) string { return failure(CodeHostIsSlave, mu.Host) },
	})
	s, err := newTestClient(t, slave.srv.URL).Login(context.Background(), "root", "pw")
	require.NoError(t, err)
	assert.Equal(t, Ref("OpaqueRef:master-session"), s.Ref())
	assert.Equal(t, master.srv.URL+"/", s.Endpoint())
}

// A bare master address keeps the scheme and port of the original URL. One
// listener plays both hosts, told apart by the Host header.
func TestLoginFollowsHostIsSlaveBareAddress(t *testing.T) {
	var hosts []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		if strings.HasPrefix(r.Host, "localhost:") {
			w.Write([]byte(failure(CodeHostIsSlave, "127.0.0.1")))
			return
		}
		w.Write([]byte(success(xv("OpaqueRef:m"))))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	s, err := newTestClient(t, "http://localhost:"+u.Port()).Login(context.Background(), "root", "pw")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:"+u.Port()+"/", s.Endpoint())
	assert.Equal(t, []string{"localhost:" + u.Port(), "127.0.0.1:" + u.Port()}, hosts[:2], "the login went to the slave, then to the master")
}

// A slave is never asked twice: one naming itself ends the search.
func TestLoginRedirectLoopIsBounded(t *testing.T) {
	var f *fakeXAPI
	f = newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": func(rpcCall) string {
			u, _ := url.Parse(f.srv.URL)
			return failure(CodeHostIsSlave, u.Host)
		},
	})
	_, err := newTestClient(t, f.srv.URL).Login(context.Background(), "root", "pw")
	assert.True(t, IsCode(err, CodeHostIsSlave), "%v", err)
	assert.Len(t, f.callsTo("session.login_with_password"), 1)
}

func TestWithHostRebuildsURL(t *testing.T) {
	c := newTestClient(t, "https://pool.example:8443/")
	for addr, want := range map[string]string{
		"10.0.0.2":            "https://10.0.0.2:8443/",
		"10.0.0.2:443":        "https://10.0.0.2:443/",
		"fe80::1":             "https://[fe80::1]:8443/",
		"[fe80::1]:9000":      "https://[fe80::1]:9000/",
		"master.example":      "https://master.example:8443/",
		"https://other:1234/": "https://other:1234/",
	} {
		n, err := c.withHost(addr)
		require.NoError(t, err, addr)
		assert.Equal(t, want, n.Endpoint(), addr)
	}
	c2 := newTestClient(t, "https://pool.example")
	n, err := c2.withHost("fe80::1")
	require.NoError(t, err)
	assert.Equal(t, "https://[fe80::1]/", n.Endpoint())
	n, err = c2.withHost("10.1.1.1")
	require.NoError(t, err)
	assert.Equal(t, "https://10.1.1.1/", n.Endpoint())
	_, err = c2.withHost("")
	assert.Error(t, err)
}

func TestAuthFailureMessageHasNoPassword(t *testing.T) {
	f := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": func(rpcCall) string {
			return failure(CodeSessionAuthenticationFailed, "root", "Authentication failure")
		},
	})
	_, err := newTestClient(t, f.srv.URL).Login(context.Background(), "root", "s3cret-pw")
	require.Error(t, err)
	assert.True(t, IsCode(err, CodeSessionAuthenticationFailed))
	assert.False(t, Retryable(err))
	assert.Contains(t, err.Error(), "as root")
	assert.Contains(t, err.Error(), "user name or password was rejected")
	assert.NotContains(t, err.Error(), "s3cret-pw")
}

func TestSessionInvalidReloginOnceThenRetry(t *testing.T) {
	var logins atomic.Int32
	var mode atomic.Int32 // 0: first call invalid then ok; 1: always invalid
	f := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": func(rpcCall) string {
			return success(xv(fmt.Sprintf("OpaqueRef:s%d", logins.Add(1))))
		},
		"VM.get_by_uuid": func(c rpcCall) string {
			if mode.Load() == 1 || c.str(0) == "OpaqueRef:s1" {
				return failure(CodeSessionInvalid, c.str(0))
			}
			return success(xv("OpaqueRef:vm"))
		},
	})
	s := login(t, f)
	ref, err := s.GetVMByUUID(context.Background(), "u")
	require.NoError(t, err)
	assert.Equal(t, Ref("OpaqueRef:vm"), ref)
	assert.Equal(t, int32(2), logins.Load())
	assert.Equal(t, Ref("OpaqueRef:s2"), s.Ref())

	mode.Store(1)
	_, err = s.GetVMByUUID(context.Background(), "u")
	assert.True(t, IsCode(err, CodeSessionInvalid), "%v", err)
	assert.Equal(t, int32(3), logins.Load(), "one re-login per failed call, no loop")
	assert.Len(t, f.callsTo("VM.get_by_uuid"), 4)
}

func TestConcurrentCallsShareOneRelogin(t *testing.T) {
	var logins atomic.Int32
	f := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": func(rpcCall) string {
			return success(xv(fmt.Sprintf("OpaqueRef:s%d", logins.Add(1))))
		},
		"VM.get_record": func(c rpcCall) string {
			if c.str(0) == "OpaqueRef:s1" {
				return failure(CodeSessionInvalid, c.str(0))
			}
			return golden(t, "vm_record.xml")
		},
	})
	s := login(t, f)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vm, err := s.GetVMRecord(context.Background(), Ref(fmt.Sprintf("OpaqueRef:vm-%d", i)))
			if err == nil && vm.NameLabel != "  web 1 " {
				err = errors.New("wrong record")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int32(2), logins.Load(), "the stale session is replaced once")
}

func TestContextCancelsHangingCall(t *testing.T) {
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // the server notices the client hanging up only once the body is read
		close(arrived)
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	_, err := c.Call(ctx, "pool.get_all")
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.False(t, Retryable(err))
}

func TestHTTP500AndNonXML(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.RawQuery, "ok") {
			w.Write([]byte("this is not xml"))
			return
		}
		w.WriteHeader(500)
		w.Write([]byte(golden(t, "http500.html")))
	}))
	defer srv.Close()
	_, err := newTestClient(t, srv.URL).Call(context.Background(), "pool.get_all")
	var he *HTTPError
	require.True(t, errors.As(err, &he), "%v", err)
	assert.Equal(t, 500, he.StatusCode)
	assert.Contains(t, err.Error(), "500")
	assert.Contains(t, err.Error(), "Internal Error")
	assert.Contains(t, err.Error(), "pool.get_all")

	_, err = newTestClient(t, srv.URL+"/?ok").Call(context.Background(), "pool.get_all")
	var pe *ProtocolError
	require.True(t, errors.As(err, &pe), "%v", err)
	assert.Contains(t, err.Error(), "this is not xml")
}

func TestNewClientValidation(t *testing.T) {
	for _, u := range []string{"ftp://x", "no-scheme", "https://user:pw@host/", "http://"} {
		_, err := NewClient(u)
		assert.Error(t, err, u)
		if err != nil {
			assert.NotContains(t, err.Error(), ":pw@", u)
		}
	}
	_, err := NewClient("https://h", WithCAFile("/does/not/exist"))
	assert.Error(t, err)
}
