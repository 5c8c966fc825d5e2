// Package config reads the worker configuration: how to reach Temporal, how
// to log, which sites exist (pool-master URL, user, where the password comes
// from) and where CHAP secrets come from. The file itself never holds a
// secret: passwords and secrets are read from the environment or from files
// by Resolve, and live only in the worker's memory.
package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/lifeboat-dr/lifeboat/notify"
	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/plan/strictyaml"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Defaults, used when the file leaves a key out.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
	DefaultTaskQueue = workflows.TaskQueue
	DefaultLogFormat = "console"
	DefaultLogLevel  = "info"
)

// Problem and Problems are the same line-numbered problems as a plan's.
type (
	Problem  = strictyaml.Problem
	Problems = strictyaml.Problems
)

// Config is the worker configuration file.
type Config struct {
	Temporal  Temporal          `yaml:"temporal"`
	TaskQueue string            `yaml:"task_queue"`
	Log       Log               `yaml:"log"`
	Sites     map[string]Site   `yaml:"sites"`
	Secrets   map[string]Secret `yaml:"secrets"`
	Metrics   Metrics           `yaml:"metrics"`
	Notify    Notify            `yaml:"notify"`
	// Adapters are the storage adapters sites refer to by name
	// (docs/storage-adapters.md); plans name them, never their command.
	Adapters map[string]Adapter `yaml:"adapters"`

	// Warnings are problems that do not stop the worker (an http:// site
	// that is not on this machine, for instance).
	Warnings Problems `yaml:"-"`
}

// Temporal is how to reach the Temporal frontend.
type Temporal struct {
	Address   string `yaml:"address"`
	Namespace string `yaml:"namespace"`
	TLS       TLS    `yaml:"tls"`
}

// TLS configures TLS and mTLS to Temporal. TLS is on when Enabled or any
// other field is set.
type TLS struct {
	// Enabled turns TLS on with the system's CAs when no file is given.
	Enabled  bool   `yaml:"enabled"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate: an explicit opt-in.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Log says how the worker logs.
type Log struct {
	// Format is console (for people) or json (for log collectors).
	Format string `yaml:"format"`
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
}

// Site is one pool master.
type Site struct {
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	// Exactly one of PasswordEnv (an environment variable's name) and
	// PasswordFile (a file holding only the password) says where the password is.
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// CAFile verifies the pool master's certificate (default: system CAs).
	CAFile string `yaml:"ca_file"`
	// Insecure skips TLS verification: an explicit opt-in for lab pools with
	// self-signed certificates.
	Insecure bool `yaml:"insecure"`
	// Timeout of one XAPI call (0: the activities' default).
	Timeout plan.Duration `yaml:"timeout"`
	// SyncStarts bounds the VM starts made as synchronous calls at once
	// (unset: xapi.DefaultSyncCalls, 256; 0: every start an Async call,
	// for a master behind a proxy that cuts long requests). A synchronous
	// start holds one of the master's connections through its boot.
	SyncStarts *int `yaml:"sync_starts"`
	// Hosts are the pool's other hosts (host.address, host:port or a URL).
	// When url stops answering as the master, the worker looks for the new
	// master among them as well as among the hosts it read from the pool;
	// listing them matters most for a worker that starts while url is down.
	Hosts []string `yaml:"hosts"`
	// Adapter names the entry of adapters that manages this site's arrays.
	Adapter string `yaml:"adapter"`
}

// Adapter is one storage adapter: an executable lifeboat runs per request.
type Adapter struct {
	// Command is the executable and its arguments; a relative path with a
	// '/' is taken relative to this file's directory.
	Command []string `yaml:"command"`
	// Timeout of one call (0: the default, 2m); the adapter is killed after it.
	Timeout plan.Duration `yaml:"timeout"`
}

// Secret says where one "${secret:NAME}" of the plans comes from.
type Secret struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// Metrics configures the worker's HTTP endpoint: /metrics (Prometheus),
// /healthz and /readyz. Off unless Listen is set.
type Metrics struct {
	// Listen is the host:port to serve on, such as 127.0.0.1:9464.
	Listen string `yaml:"listen"`
	// Pprof also serves Go's profiler under /debug/pprof/ (for a benchmark
	// or a support case; off by default).
	Pprof bool `yaml:"pprof"`
}

// Notify configures the run notifications.
type Notify struct {
	// UIURL is the Temporal Web UI's base URL, for the links to the run.
	UIURL string `yaml:"ui_url"`
	// Webhooks by name (the name is what logs and warnings show; the URL,
	// often a secret, never is).
	Webhooks map[string]Webhook `yaml:"webhooks"`
}

// DefaultUIURL is the Web UI of the Temporal dev server.
const DefaultUIURL = "http://127.0.0.1:8233"

// Webhook is one receiver of notifications. Exactly one of URL, URLEnv (an
// environment variable's name) and URLFile (a file holding the URL) gives
// its URL: a Slack webhook URL holds a token and belongs in the environment
// or a file, not here.
type Webhook struct {
	URL     string `yaml:"url"`
	URLEnv  string `yaml:"url_env"`
	URLFile string `yaml:"url_file"`
	// Format is json (default: every fact as a field) or slack ({"text"}).
	Format string `yaml:"format"`
	// Events is what it is sent: gate-waiting, run-ended (default both).
	Events []string `yaml:"events"`
}

// Load reads and checks a worker configuration file. Relative file paths in it
// (ca_file, password_file, ...) are taken relative to the file's directory,
// so a configuration works whatever directory the worker starts in.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			err = pe.Err
		}
		return nil, Problems{{File: path, Message: fmt.Sprintf("cannot read the worker configuration: %v; check the path given with -config or LIFEBOAT_CONFIG", err)}}
	}
	c, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	c.resolvePaths(filepath.Dir(path))
	return c, nil
}

// Parse decodes and checks a worker configuration. filename is used in
// problems only; file paths inside are left as written.
func Parse(data []byte, filename string) (*Config, error) {
	var c Config
	pos, probs := strictyaml.Decode(data, filename, &c)
	if len(probs) > 0 {
		return nil, probs
	}
	c.setDefaults()
	v := checker{file: filename, pos: pos}
	v.config(&c)
	v.probs.Sort()
	v.warns.Sort()
	c.Warnings = v.warns
	if err := v.probs.Err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Default is the configuration used when there is no file: a local Temporal
// and no site (the CLI uses it; a worker needs sites).
func Default() *Config {
	c := &Config{}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Temporal.Address == "" {
		c.Temporal.Address = DefaultAddress
	}
	if c.Temporal.Namespace == "" {
		c.Temporal.Namespace = DefaultNamespace
	}
	if c.TaskQueue == "" {
		c.TaskQueue = DefaultTaskQueue
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Notify.UIURL == "" {
		c.Notify.UIURL = DefaultUIURL
	}
	for name, w := range c.Notify.Webhooks {
		if w.Format == "" {
			w.Format = notify.FormatJSON
			c.Notify.Webhooks[name] = w
		}
	}
}

// WebhookNames returns the configured webhook names, sorted.
func (c *Config) WebhookNames() []string {
	return slices.Sorted(maps.Keys(c.Notify.Webhooks))
}

func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Temporal.TLS.CAFile)
	abs(&c.Temporal.TLS.CertFile)
	abs(&c.Temporal.TLS.KeyFile)
	for name, s := range c.Sites {
		abs(&s.PasswordFile)
		abs(&s.CAFile)
		c.Sites[name] = s
	}
	for name, s := range c.Secrets {
		abs(&s.File)
		c.Secrets[name] = s
	}
	for name, w := range c.Notify.Webhooks {
		abs(&w.URLFile)
		c.Notify.Webhooks[name] = w
	}
	for name, a := range c.Adapters {
		if len(a.Command) > 0 && strings.Contains(a.Command[0], "/") {
			a.Command = append([]string(nil), a.Command...)
			abs(&a.Command[0])
		}
		c.Adapters[name] = a
	}
}

// SiteNames returns the configured site names, sorted.
func (c *Config) SiteNames() []string {
	names := make([]string, 0, len(c.Sites))
	for n := range c.Sites {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type checker struct {
	file         string
	pos          strictyaml.Positions
	probs, warns Problems
}

func (v *checker) errorf(field, format string, args ...any) {
	v.probs = append(v.probs, v.pos.At(v.file, field, format, args...))
}

func (v *checker) warnf(field, format string, args ...any) {
	v.warns = append(v.warns, v.pos.At(v.file, field, format, args...))
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	envVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (v *checker) config(c *Config) {
	if _, port, err := net.SplitHostPort(c.Temporal.Address); err != nil || port == "" {
		v.errorf("temporal.address", "%q is not host:port; write the Temporal frontend's address such as 127.0.0.1:7233", c.Temporal.Address)
	}
	t := c.Temporal.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.errorf("temporal.tls", "mTLS needs both cert_file and key_file; add the missing one or remove both")
	}
	if t.InsecureSkipVerify && t.CAFile != "" {
		v.warnf("temporal.tls.insecure_skip_verify", "insecure_skip_verify makes ca_file pointless: no certificate is checked; remove one of them")
	}
	if !nameRE.MatchString(c.TaskQueue) {
		v.errorf("task_queue", "%q is not a task queue name; use letters, digits, '-', '_' and '.'", c.TaskQueue)
	}
	if !slices.Contains([]string{"console", "json"}, c.Log.Format) {
		v.errorf("log.format", "%q is not a log format; use console (for people) or json (for log collectors)", c.Log.Format)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		v.errorf("log.level", "%q is not a log level; use debug, info, warn or error", c.Log.Level)
	}
	for _, name := range c.SiteNames() {
		v.site(name, c.Sites[name])
	}
	v.metrics(c.Metrics)
	v.notify(c)
	v.adapters(c)
	names := make([]string, 0, len(c.Secrets))
	for n := range c.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := c.Secrets[name]
		f := "secrets." + name
		if !nameRE.MatchString(name) {
			v.errorf(f, "%q cannot be written as ${secret:%s} in a plan; use letters, digits, '-', '_' and '.'", name, name)
		}
		switch {
		case s.Env == "" && s.File == "":
			v.errorf(f, "secret %s has no source; add env: (an environment variable's name) or file: (a file holding the value)", name)
		case s.Env != "" && s.File != "":
			v.errorf(f, "secret %s has both env and file; keep exactly one", name)
		case s.Env != "" && !envVarRE.MatchString(s.Env):
			v.errorf(f+".env", "this is not an environment variable name; write the variable's name (such as LYON_CHAP), never the secret itself")
		}
	}
}

func (v *checker) site(name string, s Site) {
	f := "sites." + name
	if !nameRE.MatchString(name) {
		v.errorf(f, "site name %q is used in plans and logs; use letters, digits, '-', '_' and '.'", name)
	}
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		v.errorf(f, "site %s has no url; add url: with its pool master's address, such as https://xen-master.example.com", name)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.errorf(f+".url", "%q is not an http:// or https:// URL of a pool master; write it like https://xen-master.example.com", s.URL)
	case u.User != nil:
		v.errorf(f+".url", "the URL of site %s holds credentials; remove them and use username with password_env or password_file", name)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		v.warnf(f+".url", "site %s is reached over plain http, so its password crosses the network in clear; use https", name)
	}
	if s.Insecure && u != nil && u.Scheme == "http" {
		v.warnf(f+".insecure", "insecure has no effect on an http:// URL; remove it")
	}
	if s.Username == "" {
		v.errorf(f, "site %s has no username; add username: (a pool-operator or pool-admin account)", name)
	}
	switch {
	case s.PasswordEnv == "" && s.PasswordFile == "":
		v.errorf(f, "site %s has no password source; add password_env: (an environment variable's name) or password_file:", name)
	case s.PasswordEnv != "" && s.PasswordFile != "":
		v.errorf(f, "site %s has both password_env and password_file; keep exactly one", name)
	case s.PasswordEnv != "" && !envVarRE.MatchString(s.PasswordEnv):
		v.errorf(f+".password_env", "this is not an environment variable name; write the variable's name (such as XAPI_PASSWORD), never the password itself")
	}
	if s.Timeout < 0 {
		v.errorf(f+".timeout", "the timeout is negative; write 0 for the default or a duration such as 60s")
	}
	if s.SyncStarts != nil && *s.SyncStarts < 0 {
		v.errorf(f+".sync_starts", "sync_starts is negative; write 0 for Async starts only, or leave it out for the default (256)")
	}
	for i, h := range s.Hosts {
		if problem := hostProblem(h); problem != "" {
			v.errorf(f+".hosts", "entry %d %s; write a host's address such as 10.0.0.12, xen-02.example.com:443 or https://xen-02.example.com", i+1, problem)
		}
	}
}

// hostProblem says what is wrong with one entry of a site's hosts, if
// anything; the entry itself is not echoed (it might hold credentials).
func hostProblem(h string) string {
	switch {
	case strings.TrimSpace(h) == "":
		return "is empty"
	case strings.Contains(h, "://"):
		u, err := url.Parse(h)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return "is not an http:// or https:// URL"
		case u.User != nil:
			return "holds credentials"
		}
	case strings.ContainsAny(h, " /@"):
		return "is not a host address"
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// trimNewline drops the line ending a password file usually ends with, and
// nothing else: leading or inner spaces may be part of a password.
func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

func (v *checker) metrics(m Metrics) {
	if m.Listen == "" {
		return
	}
	if _, port, err := net.SplitHostPort(m.Listen); err != nil || port == "" {
		v.errorf("metrics.listen", "%q is not host:port; write the address to serve /metrics on, such as 127.0.0.1:9464", m.Listen)
	}
}

func (v *checker) notify(c *Config) {
	if u, err := url.Parse(c.Notify.UIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errorf("notify.ui_url", "%q is not an http:// or https:// URL; write the Temporal Web UI's address, such as https://temporal.example.com", c.Notify.UIURL)
	}
	for _, name := range c.WebhookNames() {
		w := c.Notify.Webhooks[name]
		f := "notify.webhooks." + name
		if !nameRE.MatchString(name) {
			v.errorf(f, "webhook name %q is shown in logs and reports; use letters, digits, '-', '_' and '.'", name)
		}
		n := 0
		for _, s := range []string{w.URL, w.URLEnv, w.URLFile} {
			if s != "" {
				n++
			}
		}
		switch {
		case n == 0:
			v.errorf(f, "webhook %s has no URL; add url_env: (an environment variable's name), url_file: or url:", name)
		case n > 1:
			v.errorf(f, "webhook %s has more than one of url, url_env and url_file; keep exactly one", name)
		case w.URLEnv != "" && !envVarRE.MatchString(w.URLEnv):
			v.errorf(f+".url_env", "this is not an environment variable name; write the variable's name (such as LIFEBOAT_SLACK_WEBHOOK), never the URL itself")
		case w.URL != "":
			if problem := webhookURLProblem(w.URL); problem != "" {
				v.errorf(f+".url", "the URL %s; write it like https://hooks.example.com/lifeboat", problem)
			} else if w.Format == notify.FormatSlack {
				v.warnf(f+".url", "a Slack webhook URL holds a token: give it with url_env or url_file rather than in this file")
			}
		}
		if !slices.Contains(notify.Formats, w.Format) {
			v.errorf(f+".format", "%q is not a webhook format; use json (every fact as a field) or slack", w.Format)
		}
		for _, e := range w.Events {
			if !slices.Contains(notify.Events, e) {
				v.errorf(f+".events", "%q is not an event; use %s", e, strings.Join(notify.Events, " or "))
			}
		}
	}
}

// webhookURLProblem says what is wrong with a webhook URL, without echoing
// it (it may hold a token).
func webhookURLProblem(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "is not an http:// or https:// URL"
	case u.User != nil:
		return "holds credentials"
	}
	return ""
}

// adapters checks the storage adapters and the sites' references to them.
func (v *checker) adapters(c *Config) {
	used := map[string]bool{}
	for _, site := range c.SiteNames() {
		name := c.Sites[site].Adapter
		if name == "" {
			continue
		}
		used[name] = true
		if _, ok := c.Adapters[name]; !ok {
			v.errorf("sites."+site+".adapter", "no adapter is named %s; define it under adapters: (command and timeout) or remove adapter from site %s", name, site)
		}
	}
	names := make([]string, 0, len(c.Adapters))
	for n := range c.Adapters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		a, f := c.Adapters[name], "adapters."+name
		if !nameRE.MatchString(name) {
			v.errorf(f, "adapter name %q is used in plans; use letters, digits, '-', '_' and '.'", name)
		}
		if len(a.Command) == 0 || strings.TrimSpace(a.Command[0]) == "" {
			v.errorf(f, "adapter %s has no command; add command: [path/to/adapter, its arguments...]", name)
		}
		if a.Timeout < 0 {
			v.errorf(f+".timeout", "the timeout is negative; write 0 for the default (2m) or a duration such as 30s")
		}
		if !used[name] {
			v.warnf(f, "no site uses adapter %s; add adapter: %s to the site whose arrays it manages, or remove it", name, name)
		}
	}
}
