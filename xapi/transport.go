package xapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Client is the transport to one XAPI endpoint: an HTTP client of our own
// (kolo's client serialises calls and has no context), safe for concurrent
// use. It holds no credentials; Login returns a Session.
type Client struct {
	endpoint *url.URL
	hc       *http.Client
	cfg      config
}

type config struct {
	caFile        string
	caPEM         []byte
	insecure      bool
	httpClient    *http.Client
	callTimeout   time.Duration
	asyncTimeout  time.Duration
	eventTimeout  time.Duration
	pollInterval  time.Duration
	syncCalls     int
	cancelTimeout time.Duration
	originator    string
	maxBody       int64
	knownHosts    []string
	onMove        func(MasterMove)
	observer      CallObserver
}

// Option configures a Client.
type Option func(*config)

// WithCAFile trusts the PEM certificates in path (instead of the system
// roots) to verify the pool's TLS certificate.
func WithCAFile(path string) Option { return func(c *config) { c.caFile = path } }

// WithCAPEM trusts the given PEM certificates (instead of the system roots).
func WithCAPEM(pem []byte) Option { return func(c *config) { c.caPEM = pem } }

// WithInsecureSkipVerify disables TLS certificate verification. Explicit
// opt-in only: the default verifies against the system roots.
func WithInsecureSkipVerify() Option { return func(c *config) { c.insecure = true } }

// WithHTTPClient uses hc as is (its transport decides TLS); the TLS options
// above are then ignored.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithCallTimeout bounds each plain XML-RPC call (default 2 minutes). Long
// operations (Async tasks, synchronous long calls) are not bounded by it.
func WithCallTimeout(d time.Duration) Option { return func(c *config) { c.callTimeout = d } }

// WithAsyncCallTimeout bounds the answer to an Async.* call, the task
// reference, and to a synchronous long call, the operation's end (default
// 5 minutes, and never less than the call timeout). It is longer than a
// plain call's because giving up on it may leave the operation running
// unseen: a slow pool is waited for rather than asked twice.
func WithAsyncCallTimeout(d time.Duration) Option { return func(c *config) { c.asyncTimeout = d } }

// WithEventTimeout sets the long-poll timeout passed to event.from while
// waiting for tasks (default 30 s).
func WithEventTimeout(d time.Duration) Option { return func(c *config) { c.eventTimeout = d } }

// WithPollInterval sets the task.get_record polling interval used when
// event.from is unavailable (default 1 s).
func WithPollInterval(d time.Duration) Option { return func(c *config) { c.pollInterval = d } }

// WithCancelTimeout bounds the clean-up after a cancelled context (task.cancel,
// waiting for the task to stop, task.destroy; default 1 minute).
func WithCancelTimeout(d time.Duration) Option { return func(c *config) { c.cancelTimeout = d } }

// WithOriginator sets the originator passed to session.login_with_password
// (default "lifeboat"); xapi shows it in its logs and session records.
func WithOriginator(s string) Option { return func(c *config) { c.originator = s } }

// WithKnownHosts names other hosts of the pool (addresses as in host.address,
// or host:port, or URLs). When the master cannot be reached, a session looks
// for the new one among these and the hosts it has learnt from the pool.
func WithKnownHosts(addrs ...string) Option {
	return func(c *config) { c.knownHosts = append(c.knownHosts, addrs...) }
}

// WithMasterMoved calls fn once for each move of a session to another
// master, and once for each search that found none (To is then "").
func WithMasterMoved(fn func(MasterMove)) Option { return func(c *config) { c.onMove = fn } }

// CallObserver is told of every XML-RPC call a client makes, on every host
// of the pool: the method, how long it took, and its error (nil when xapi
// answered Success). It lets a caller count and time the calls (the worker's
// metrics) without this package knowing how. It must be safe for concurrent
// use and return quickly.
type CallObserver interface {
	ObserveCall(method string, took time.Duration, err error)
}

// WithCallObserver reports each call to o.
func WithCallObserver(o CallObserver) Option { return func(c *config) { c.observer = o } }

// NewClient returns a client for the XAPI endpoint, e.g. "https://10.0.0.1"
// or "http://127.0.0.1:8080". Credentials in the URL are refused.
func NewClient(endpoint string, opts ...Option) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("xapi endpoint: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("xapi endpoint %q: scheme must be http or https", endpoint)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("xapi endpoint %q: no host", endpoint)
	}
	if u.User != nil {
		return nil, errors.New("xapi endpoint: credentials must not be part of the URL")
	}
	if u.Path == "" {
		u.Path = "/"
	}
	cfg := config{
		callTimeout:   2 * time.Minute,
		asyncTimeout:  5 * time.Minute,
		eventTimeout:  30 * time.Second,
		pollInterval:  time.Second,
		cancelTimeout: time.Minute,
		syncCalls:     DefaultSyncCalls,
		originator:    "lifeboat",
		maxBody:       1 << 30,
	}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.asyncTimeout = max(cfg.asyncTimeout, cfg.callTimeout)
	hc := cfg.httpClient
	if hc == nil {
		tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.insecure {
			tlsConf.InsecureSkipVerify = true //nolint:gosec // explicit operator opt-in
		} else if cfg.caFile != "" || cfg.caPEM != nil {
			pem := cfg.caPEM
			if cfg.caFile != "" {
				b, err := os.ReadFile(cfg.caFile)
				if err != nil {
					return nil, fmt.Errorf("xapi CA file: %w", err)
				}
				pem = append(append([]byte{}, pem...), b...)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("xapi CA file %q: no PEM certificate found", cfg.caFile)
			}
			tlsConf.RootCAs = pool
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsConf
		// Hundreds of Async calls and task destroys go out at once while
		// VMs start: with 16 idle connections kept, the others were dialled
		// (over TLS, a handshake each) and closed again call after call.
		// The synchronous long calls hold connections of their own.
		tr.MaxIdleConnsPerHost = 64 + cfg.syncCalls
		tr.MaxIdleConns = max(tr.MaxIdleConns, 4*tr.MaxIdleConnsPerHost)
		hc = &http.Client{Transport: tr}
	}
	return &Client{endpoint: u, hc: hc, cfg: cfg}, nil
}

// Endpoint returns the URL calls are sent to.
func (c *Client) Endpoint() string { return c.endpoint.String() }

// withHost returns a client for another host of the same pool (after
// HOST_IS_SLAVE), sharing the HTTP client and options.
func (c *Client) withHost(addr string) (*Client, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return nil, errors.New("empty master address")
	}
	u := *c.endpoint
	if strings.Contains(addr, "://") {
		p, err := url.Parse(addr)
		if err != nil || p.Host == "" {
			return nil, fmt.Errorf("master address %q is not usable", addr)
		}
		u.Host = p.Host
	} else if _, _, err := net.SplitHostPort(addr); err == nil {
		u.Host = addr // host:port: keep it
	} else {
		host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
		if port := c.endpoint.Port(); port != "" {
			u.Host = net.JoinHostPort(host, port)
		} else if strings.Contains(host, ":") {
			u.Host = "[" + host + "]" // bare IPv6
		} else {
			u.Host = host
		}
	}
	return &Client{endpoint: &u, hc: c.hc, cfg: c.cfg}, nil
}

// Call makes one XML-RPC call without a session (params as given) and
// returns the decoded Value. API failures are *Error.
func (c *Client) Call(ctx context.Context, method string, params ...any) (any, error) {
	return c.call(ctx, c.cfg.callTimeout, method, params)
}

func (c *Client) call(ctx context.Context, timeout time.Duration, method string, params []any) (any, error) {
	if c.cfg.observer == nil {
		return c.roundTrip(ctx, timeout, method, params)
	}
	began := time.Now()
	v, err := c.roundTrip(ctx, timeout, method, params)
	c.cfg.observer.ObserveCall(method, time.Since(began), err)
	return v, err
}

// roundTrip is one XML-RPC request and its decoded answer.
func (c *Client) roundTrip(ctx context.Context, timeout time.Duration, method string, params []any) (any, error) {
	body, err := EncodeCall(method, params...)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "lifeboat-xapi/1")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", method, c.endpoint.Host, notTLS(unwrapURLError(err)))
	}
	defer resp.Body.Close()
	data, err := readBody(resp, c.cfg.maxBody)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: reading response: %w", method, c.endpoint.Host, err)
	}
	if int64(len(data)) > c.cfg.maxBody {
		return nil, fmt.Errorf("%s on %s: %w", method, c.endpoint.Host, &ProtocolError{Reason: "response too large"})
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s on %s: %w", method, c.endpoint.Host,
			&HTTPError{StatusCode: resp.StatusCode, Status: resp.Status, Excerpt: bodyExcerpt(data)})
	}
	v, err := decodeResponse(data, projectionFrom(ctx))
	if err != nil {
		var xe *Error
		if errors.As(err, &xe) {
			return nil, err
		}
		return nil, fmt.Errorf("%s on %s (HTTP %d): %w", method, c.endpoint.Host, resp.StatusCode, err)
	}
	return v, nil
}

// readBody reads a response body of at most max bytes (one more says it is
// too large). With a Content-Length, as xapi sends, the buffer is allocated
// once at its size: io.ReadAll grows it by copying, and clearing those
// copies was a tenth of a worker's CPU while it read 10,000 VM records
// (make bench).
func readBody(resp *http.Response, max int64) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= max {
		// net/http ends the body at Content-Length: short is an error.
		buf := make([]byte, n)
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	return io.ReadAll(io.LimitReader(resp.Body, max+1))
}

// unwrapURLError drops url.Error's "Post \"https://…\":" prefix, which
// repeats the endpoint; the chain (net, tls, context) is kept.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// notTLSError is net/http's answer when an https:// endpoint answers in
// plain HTTP. net/http turns the TLS record error into a bare string; the
// record error is given back so errors.As (and Classify) see a TLS problem.
type notTLSError struct{ err error }

func (e notTLSError) Error() string { return e.err.Error() }

func (e notTLSError) Unwrap() []error {
	return []error{e.err, tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}
}

func notTLS(err error) error {
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return notTLSError{err}
	}
	return err
}

// bodyExcerpt gives the operator a readable start of an unexpected body
// (HTML error pages included) without dumping it all.
func bodyExcerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	return excerpt(s, 200)
}
