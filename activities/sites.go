package activities

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// site is the connector to one site's pool master: one client and one
// session shared by every concurrent activity. The session logs in on first
// use; re-login on SESSION_INVALID and following the master when it moves
// (HOST_IS_SLAVE, or the master unreachable) are the client's job, so the
// session can be kept for the worker's life.
type site struct {
	name   string
	user   string
	pass   string
	client *xapi.Client
	log    *zap.Logger

	mu   sync.Mutex
	sess *xapi.Session
	// rejected is the last refused login (wrong credentials) and when: xapi
	// answers a refusal only after a delay (5 s for a directory user), each
	// try counts towards the account's lockout, and the credentials cannot
	// change before the worker restarts. Activities meanwhile get the same
	// answer at once instead of queueing behind one login each.
	rejected   error
	rejectedAt time.Time
}

// rejectedHold is how long a refused login is answered from memory. Past
// it a new try is made, as a directory that refused for a moment may accept.
var rejectedHold = time.Minute

func newSite(name string, cfg SiteConfig, log *zap.Logger) (*site, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("site %s has no URL", name)
	}
	log = log.With(zap.String("site", name))
	opts := []xapi.Option{xapi.WithKnownHosts(cfg.Hosts...), xapi.WithMasterMoved(masterMoved(log))}
	if cfg.Insecure {
		opts = append(opts, xapi.WithInsecureSkipVerify())
	} else if cfg.CAFile != "" {
		opts = append(opts, xapi.WithCAFile(cfg.CAFile))
	}
	if cfg.Timeout > 0 {
		opts = append(opts, xapi.WithCallTimeout(cfg.Timeout))
	}
	if cfg.SyncStarts != nil {
		opts = append(opts, xapi.WithSyncCalls(*cfg.SyncStarts))
	}
	if cfg.Observer != nil {
		opts = append(opts, xapi.WithCallObserver(cfg.Observer))
	}
	c, err := xapi.NewClient(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", name, err)
	}
	return &site{name: name, user: cfg.Username, pass: cfg.Password, client: c, log: log}, nil
}

// masterMoved logs each move of the site's session once (the client
// reports each search once, however many activities were waiting on it).
func masterMoved(log *zap.Logger) func(xapi.MasterMove) {
	return func(m xapi.MasterMove) {
		if m.To == "" {
			log.Warn("no pool master found", zap.String("from", m.From), zap.NamedError("reason", m.Reason), zap.Error(m.Err))
			return
		}
		log.Info("pool master moved; following it", zap.String("from", m.From), zap.String("to", m.To), zap.NamedError("reason", m.Reason))
	}
}

// session returns the site's logged-in session, logging in if needed.
// Holding the lock across the login makes concurrent first users share one.
func (s *site) session(ctx context.Context) (*xapi.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != nil {
		return s.sess, nil
	}
	if s.rejected != nil && time.Since(s.rejectedAt) < rejectedHold {
		return nil, s.rejected
	}
	sess, err := s.client.Login(ctx, s.user, s.pass)
	if err != nil {
		err = loginError(s.name, strings.TrimSuffix(s.client.Endpoint(), "/"), s.user, err)
		if ErrorCode(err) == codeAuth {
			s.rejected, s.rejectedAt = err, time.Now()
		}
		return nil, err
	}
	s.rejected = nil
	s.log.Info("logged in", zap.String("master", sess.Endpoint()), zap.String("user", s.user))
	s.sess = sess
	return sess, nil
}

// logout ends the session; the next use logs in again.
func (s *site) logout(ctx context.Context) error {
	s.mu.Lock()
	sess := s.sess
	s.sess = nil
	s.mu.Unlock()
	if sess == nil {
		return nil
	}
	return sess.Logout(ctx)
}

// conn is what an activity works with: the site's name and its session.
type conn struct {
	site string
	s    *xapi.Session
}

// pool reads the site's pool, the first thing most activities need.
func (c *conn) pool(ctx context.Context) (xapi.Ref, xapi.Pool, error) {
	ref, pool, err := c.s.GetPool(ctx)
	if err != nil {
		return "", pool, classify(ctx, err, "reading the pool at site "+c.site+" failed", "")
	}
	return ref, pool, nil
}

// connect returns the session of the named site.
func (a *Activities) connect(ctx context.Context, name string) (*conn, error) {
	st, ok := a.sites[name]
	if !ok {
		return nil, nonRetryable(codeUnknownSite, fmt.Sprintf(
			"site %q is not in the worker configuration (known: %s).", name, knownSites(a.sites)), nil)
	}
	sess, err := st.session(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{site: name, s: sess}, nil
}

func knownSites(m map[string]*site) string {
	names := sortedSiteNames(m)
	if len(names) == 0 {
		return "none"
	}
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
