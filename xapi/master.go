package xapi

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"syscall"
)

// This file is how a session follows its pool's master. xapi answers
// HOST_IS_SLAVE [master address] to any call a pool member receives, and a
// master that is gone cannot be dialled; in both cases the call was not
// executed. The session then asks the hosts it knows, in order: the address
// the error named, then every other host of the pool it was configured with
// or has seen in host.get_all_records. Each is asked once (a slave is never
// asked twice, so two hosts naming each other cannot loop); the one that
// accepts the login is the master.

// MasterMove tells a WithMasterMoved callback that a session now talks to
// another master (To), or that it found none (To == "", Err says why).
type MasterMove struct {
	From   string // host:port the session used
	To     string // host:port of the new master; "" when none was found
	Reason error  // what made the session look (HOST_IS_SLAVE, a dial error)
	Err    error  // why no master was found
}

// MasterNotFoundError means no known host of the pool accepted a login as
// its master. It unwraps to the reason the search started and the last
// answer, so Classify and IsCode see both.
type MasterNotFoundError struct {
	Tried  []string // host:port, in the order asked
	Reason error
	Last   error
}

func (e *MasterNotFoundError) Error() string {
	s := "no pool master found (asked " + strings.Join(e.Tried, ", ") + ")"
	if e.Last != nil {
		s += ": " + e.Last.Error()
	} else if e.Reason != nil {
		s += ": " + e.Reason.Error()
	}
	return s
}

func (e *MasterNotFoundError) Unwrap() []error {
	var out []error
	if e.Last != nil {
		out = append(out, e.Last)
	}
	if e.Reason != nil {
		out = append(out, e.Reason)
	}
	return out
}

// masterGone reports whether the failure of method with err means the
// call did not reach a working master and may be made again elsewhere: the
// host is a pool member now, or it could not be dialled, or (for a call
// that only reads) the connection dropped. A call that changes something
// and lost its connection is not repeated: it may have run.
func masterGone(method string, err error) bool {
	return IsCode(err, CodeHostIsSlave) || notDelivered(err) || (readOnly(method) && dropped(err))
}

// readOnly reports whether method only reads, so repeating it is harmless.
func readOnly(method string) bool {
	if strings.HasPrefix(method, "Async.") {
		return false
	}
	_, msg, _ := strings.Cut(method, ".")
	return strings.HasPrefix(msg, "get_") || method == "event.from"
}

// dropped reports a connection that broke under a call (not a timeout).
func dropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// rediscover moves the session off stale, the client whose call failed
// with reason. Callers that raced on the same failure share one search:
// whoever comes second finds the session already moved (or the search
// already failed, since gen) and uses that outcome.
func (s *Session) rediscover(ctx context.Context, stale *Client, gen int, reason error) error {
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	s.mu.RLock()
	cur, ref, moves, lastErr, loggedIn := s.c, s.ref, s.moves, s.moveErr, s.loggedIn
	s.mu.RUnlock()
	switch {
	case !loggedIn:
		return reason
	case cur != stale:
		return nil
	case moves != gen:
		return lastErr
	}
	// Where to look first: the master a slave named; the same host again
	// when only a connection dropped (most often a blip); never a host that
	// said it is a slave or could not be dialled.
	tried := &asked{}
	var first []*Client
	switch xe, ok := AsError(reason); {
	case ok && xe.Code == CodeHostIsSlave:
		tried.add(stale.endpoint.Host)
		if c, err := stale.withHost(xe.Param(0)); err == nil {
			first = append(first, c)
		}
	case notDelivered(reason):
		tried.add(stale.endpoint.Host)
	default:
		first = append(first, stale)
	}
	// The session is pool-wide: the new master knows it after a clean
	// change, so it is tried as it is before logging in again.
	probe := func(c *Client) (Ref, error) {
		_, err := c.call(ctx, s.cfg.callTimeout, "pool.get_all", []any{ref})
		if IsCode(err, CodeSessionInvalid) {
			return c.login(ctx, s.user, s.password)
		}
		return ref, err
	}
	cl, newRef, err := s.locate(ctx, stale, first, tried, probe)
	moved := err == nil && cl.endpoint.Host != stale.endpoint.Host
	s.mu.Lock()
	s.moves++
	if err == nil {
		// A replaced reference is left alone: it may own tasks a caller
		// still waits on, and xapi expires idle sessions itself.
		if moved {
			s.c = cl
		}
		s.ref, s.moveErr = newRef, nil
	} else {
		s.moveErr = &MasterNotFoundError{Tried: tried.order, Reason: reason, Last: err}
		err = s.moveErr
	}
	s.mu.Unlock()
	if s.cfg.onMove != nil && (moved || err != nil) {
		m := MasterMove{From: stale.endpoint.Host, Reason: reason, Err: err}
		if moved {
			m.To = cl.endpoint.Host
		}
		s.cfg.onMove(m)
	}
	if moved {
		s.learnHosts(ctx, cl, newRef)
	}
	return err
}

// locate asks candidates, then the known hosts, which one is the master
// (probe succeeds there): a host answering HOST_IS_SLAVE puts the master it
// names next in line. Hosts in tried (host:port) are skipped, and every host
// asked is added to it. A rejected login (credentials, role) ends the search
// at once: every host of a pool would answer the same.
func (s *Session) locate(ctx context.Context, base *Client, candidates []*Client, tried *asked, probe func(*Client) (Ref, error)) (*Client, Ref, error) {
	queue := append([]*Client(nil), candidates...)
	for _, h := range s.KnownHosts() {
		if c, err := base.withHost(h); err == nil {
			queue = append(queue, c)
		}
	}
	var last, slave error
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if tried.has(c.endpoint.Host) {
			continue
		}
		tried.add(c.endpoint.Host)
		ref, err := probe(c)
		if err == nil {
			return c, ref, nil
		}
		if ctx.Err() != nil || IsCode(err, CodeSessionAuthenticationFailed, CodeRBACPermissionDenied) {
			return nil, "", err
		}
		if xe, ok := AsError(err); ok && xe.Code == CodeHostIsSlave {
			slave = err
			if next, nerr := c.withHost(xe.Param(0)); nerr == nil {
				queue = append([]*Client{next}, queue...)
			}
			continue
		}
		last = err
	}
	// An unreachable master says more than the slaves that point at it.
	if last != nil {
		return nil, "", last
	}
	if slave != nil {
		return nil, "", slave
	}
	return nil, "", errors.New("no host to ask")
}

// learnHosts records the addresses of the pool's hosts, best effort: the
// session works without them, it just has fewer places to look later.
func (s *Session) learnHosts(ctx context.Context, c *Client, ref Ref) {
	v, err := c.call(ctx, s.cfg.callTimeout, "host.get_all_records", []any{ref})
	if err != nil {
		return
	}
	var hosts map[Ref]Host
	if decodeInto(v, &hosts) != nil {
		return
	}
	addrs := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if h.Address != "" {
			addrs = append(addrs, h.Address)
		}
	}
	slices.Sort(addrs) // the same search order every time
	s.addHosts(addrs...)
}

// addHosts adds addresses to the known hosts, keeping the first seen order.
func (s *Session) addHosts(addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if a == "" || slices.Contains(s.hosts, a) {
			continue
		}
		s.hosts = append(s.hosts, a)
	}
}

// KnownHosts returns the host addresses the session would ask for the
// master: the configured ones, then those learnt from the pool.
func (s *Session) KnownHosts() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.hosts...)
}

// asked is the hosts (host:port) asked so far, in order.
type asked struct{ order []string }

func (a *asked) has(h string) bool { return slices.Contains(a.order, h) }
func (a *asked) add(h string)      { a.order = append(a.order, h) }
