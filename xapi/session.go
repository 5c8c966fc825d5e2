package xapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// LoginVersion is the API version string sent to session.login_with_password
// (the datamodel default; docs/xapi-dr.md, "Sessions").
const LoginVersion = "1.1"

// maxMovesPerCall bounds how often one call follows the master elsewhere
// (a pool whose master keeps moving answers an error, not a loop).
const maxMovesPerCall = 2

// Session is a logged-in session on a pool master. It is safe for
// concurrent use. It keeps the password in memory so that it can log in
// again once when xapi answers SESSION_INVALID (session expired or xapi
// restarted); the password never appears in errors.
//
// A session follows the pool: when the host it talks to answers
// HOST_IS_SLAVE, or cannot be dialled, it looks for the master among the
// address in the error and the pool's other known hosts, logs in there and
// makes the call again (master.go). Both answers mean the call was not
// executed, so repeating it elsewhere is safe.
type Session struct {
	user     string
	password string
	cfg      config // the same for every host of the pool

	mu       sync.RWMutex
	c        *Client // the current master
	ref      Ref
	loggedIn bool
	reloginN int
	hosts    []string // known host addresses, configured then learnt
	moves    int      // searches for the master so far (moved or not)
	moveErr  error    // outcome of the last search that found no master

	moveMu sync.Mutex // one search for the master at a time

	tasks taskWatch // one event.from for every task waited on (taskwatch.go)

	syncOnce  sync.Once
	syncSlots chan struct{} // synchronous long calls in flight (synccall.go)
}

// Login logs in to the pool. If the endpoint is a pool member it follows
// HOST_IS_SLAVE to the master; if it cannot be dialled, it tries the hosts
// given with WithKnownHosts. The returned session's Client points at the
// master.
func (c *Client) Login(ctx context.Context, user, password string) (*Session, error) {
	s := &Session{user: user, password: password, cfg: c.cfg}
	s.addHosts(c.cfg.knownHosts...)
	login := func(cl *Client) (Ref, error) { return cl.login(ctx, user, password) }
	tried := &asked{}
	cl, ref, err := s.locate(ctx, c, []*Client{c}, tried, login)
	if err != nil {
		if len(tried.order) > 1 && Classify(err) == Transient {
			err = &MasterNotFoundError{Tried: tried.order, Last: err}
		}
		return nil, fmt.Errorf("log in to %s as %s: %w", c.endpoint.Host, user, err)
	}
	s.c, s.ref, s.loggedIn = cl, ref, true
	s.learnHosts(ctx, cl, ref)
	return s, nil
}

func (c *Client) login(ctx context.Context, user, password string) (Ref, error) {
	v, err := c.call(ctx, c.cfg.callTimeout, "session.login_with_password",
		[]any{user, password, LoginVersion, c.cfg.originator})
	if err != nil {
		return "", err
	}
	s, err := asString(v)
	if err != nil || s == "" {
		return "", &ProtocolError{Reason: "login returned no session reference"}
	}
	return Ref(s), nil
}

// Ref returns the current session reference (it changes after a re-login).
func (s *Session) Ref() Ref {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ref
}

// current returns the master's client and the session reference together,
// and the number of searches for the master made so far.
func (s *Session) current() (*Client, Ref, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.c, s.ref, s.moves
}

// Client returns the client bound to the current pool master.
func (s *Session) Client() *Client {
	c, _, _ := s.current()
	return c
}

// Endpoint returns the master URL the session talks to now.
func (s *Session) Endpoint() string { return s.Client().Endpoint() }

// User returns the user name the session logged in as.
func (s *Session) User() string { return s.user }

// Call calls method with the session reference prepended to params and
// returns the decoded Value. On SESSION_INVALID it logs in again once and
// retries the call once (the call was not executed: xapi checks the session
// first); when the master moved, it follows it (see Session).
func (s *Session) Call(ctx context.Context, method string, params ...any) (any, error) {
	return s.callTimeout(ctx, s.cfg.callTimeout, method, params...)
}

func (s *Session) callTimeout(ctx context.Context, timeout time.Duration, method string, params ...any) (any, error) {
	relogged := false
	for moves := 0; ; {
		c, ref, gen := s.current()
		v, err := c.call(ctx, timeout, method, append([]any{ref}, params...))
		if err == nil {
			return v, nil
		}
		if IsCode(err, CodeSessionInvalid) && !relogged {
			relogged = true
			_, rerr := s.relogin(ctx, ref)
			if rerr == nil {
				continue
			}
			if IsCode(rerr, CodeSessionAuthenticationFailed, CodeRBACPermissionDenied) {
				// The credentials no longer work: that is the error, and it is
				// permanent (a retry would wait for xapi's refusal again).
				return nil, fmt.Errorf("log in again after %v: %w", err, rerr)
			}
			if !masterGone("session.login_with_password", rerr) || moves >= maxMovesPerCall {
				return nil, fmt.Errorf("%w (log in again: %v)", err, rerr)
			}
			err = rerr // the master went away meanwhile: look for it
		}
		if !masterGone(method, err) || moves >= maxMovesPerCall || ctx.Err() != nil {
			return nil, err
		}
		moves++
		if derr := s.rediscover(ctx, c, gen, err); derr != nil {
			return nil, derr
		}
	}
}

// relogin replaces the session reference stale with a fresh one, once:
// concurrent callers that saw the same stale reference share one login.
func (s *Session) relogin(ctx context.Context, stale Ref) (Ref, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loggedIn {
		return "", errors.New("session was logged out")
	}
	if s.ref != stale {
		return s.ref, nil
	}
	ref, err := s.c.login(ctx, s.user, s.password)
	if err != nil {
		return "", err
	}
	s.ref = ref
	s.reloginN++
	return ref, nil
}

// Logout ends the session (session.logout). It is idempotent; an already
// invalid session counts as logged out.
func (s *Session) Logout(ctx context.Context) error {
	s.mu.Lock()
	if !s.loggedIn {
		s.mu.Unlock()
		return nil
	}
	s.loggedIn = false
	c, ref := s.c, s.ref
	s.mu.Unlock()
	_, err := c.call(ctx, s.cfg.callTimeout, "session.logout", []any{ref})
	if err != nil && !IsCode(err, CodeSessionInvalid) {
		return fmt.Errorf("log out of %s: %w", c.endpoint.Host, err)
	}
	return nil
}

func (s *Session) call(ctx context.Context, method string, params ...any) (any, error) {
	return s.callTimeout(ctx, s.cfg.callTimeout, method, params...)
}
