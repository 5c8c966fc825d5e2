package xapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// LoginVersion is the API version string sent to session.login_with_password
// (the datamodel default, reference §2.1).
const LoginVersion = "1.1"

// Session is a logged-in session on a pool master. It is safe for
// concurrent use. It keeps the password in memory so that it can log in
// again once when xapi answers SESSION_INVALID (session expired or xapi
// restarted); the password never appears in errors.
type Session struct {
	c        *Client
	user     string
	password string

	mu       sync.RWMutex
	ref      Ref
	loggedIn bool
	reloginN int
}

// Login logs in to the pool. If the endpoint is a pool member it follows
// HOST_IS_SLAVE to the master, so the returned session's Client points at
// the master.
func (c *Client) Login(ctx context.Context, user, password string) (*Session, error) {
	cl := c
	for hop := 0; ; hop++ {
		ref, err := cl.login(ctx, user, password)
		if err == nil {
			return &Session{c: cl, user: user, password: password, ref: ref, loggedIn: true}, nil
		}
		if xe, ok := AsError(err); ok && xe.Code == CodeHostIsSlave && hop < cl.cfg.maxRedirects {
			next, rerr := cl.withHost(xe.Param(0))
			if rerr != nil {
				return nil, fmt.Errorf("log in to %s as %s: host is not the master and %w", cl.endpoint.Host, user, rerr)
			}
			cl = next
			continue
		}
		return nil, fmt.Errorf("log in to %s as %s: %w", cl.endpoint.Host, user, err)
	}
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

// Client returns the client bound to the pool master.
func (s *Session) Client() *Client { return s.c }

// Endpoint returns the master URL the session talks to.
func (s *Session) Endpoint() string { return s.c.Endpoint() }

// User returns the user name the session logged in as.
func (s *Session) User() string { return s.user }

// Call calls method with the session reference prepended to params and
// returns the decoded Value. On SESSION_INVALID it logs in again once and
// retries the call once (the call was not executed: xapi checks the session
// first).
func (s *Session) Call(ctx context.Context, method string, params ...any) (any, error) {
	return s.callTimeout(ctx, s.c.cfg.callTimeout, method, params...)
}

func (s *Session) callTimeout(ctx context.Context, timeout time.Duration, method string, params ...any) (any, error) {
	ref := s.Ref()
	v, err := s.c.call(ctx, timeout, method, append([]any{ref}, params...))
	if !IsCode(err, CodeSessionInvalid) {
		return v, err
	}
	newRef, rerr := s.relogin(ctx, ref)
	if rerr != nil {
		return nil, fmt.Errorf("%w (log in again: %v)", err, rerr)
	}
	return s.c.call(ctx, timeout, method, append([]any{newRef}, params...))
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
	ref := s.ref
	s.mu.Unlock()
	_, err := s.c.call(ctx, s.c.cfg.callTimeout, "session.logout", []any{ref})
	if err != nil && !IsCode(err, CodeSessionInvalid) {
		return fmt.Errorf("log out of %s: %w", s.c.endpoint.Host, err)
	}
	return nil
}

func (s *Session) call(ctx context.Context, method string, params ...any) (any, error) {
	return s.callTimeout(ctx, s.c.cfg.callTimeout, method, params...)
}
