package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/adapter"
	"github.com/lifeboat-dr/lifeboat/notify"
)

// Resolve reads every site password and every secret from the environment or
// from files, and returns the sites as the activities want them plus the
// secrets. Every problem is reported (not just the first), each naming the
// site or secret and the variable or file, never a value.
func (c *Config) Resolve() (map[string]activities.SiteConfig, activities.Secrets, error) {
	return c.ResolveWith(os.LookupEnv)
}

// ResolveWith is Resolve reading the environment through lookupEnv (tests
// pass a map so the real environment cannot change their outcome).
func (c *Config) ResolveWith(lookupEnv func(string) (string, bool)) (map[string]activities.SiteConfig, activities.Secrets, error) {
	var errs []error
	sites := make(map[string]activities.SiteConfig, len(c.Sites))
	for _, name := range c.SiteNames() {
		s := c.Sites[name]
		pw, err := readSecret(lookupEnv, s.PasswordEnv, s.PasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("site %s: the password %w", name, err))
			continue
		}
		sites[name] = activities.SiteConfig{
			URL:      s.URL,
			Username: s.Username,
			Password: pw,
			CAFile:   s.CAFile,
			Insecure: s.Insecure,
			Timeout:  time.Duration(s.Timeout),
			Hosts:    append([]string(nil), s.Hosts...),
		}
		if s.SyncStarts != nil {
			sc := sites[name]
			sc.SyncStarts = s.SyncStarts
			sites[name] = sc
		}
		if a, ok := c.Adapters[s.Adapter]; ok && s.Adapter != "" {
			sc := sites[name]
			sc.Adapter = adapter.Config{Name: s.Adapter, Command: append([]string(nil), a.Command...), Timeout: time.Duration(a.Timeout)}
			sites[name] = sc
		}
	}
	store := &secretStore{values: map[string]string{}}
	names := make([]string, 0, len(c.Secrets))
	for n := range c.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := c.Secrets[name]
		v, err := readSecret(lookupEnv, s.Env, s.File)
		if err != nil {
			errs = append(errs, fmt.Errorf("secret %s: the value %w", name, err))
			continue
		}
		store.values[name] = v
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return sites, store, nil
}

// ResolveWebhooks reads the webhooks' URLs from the environment or files;
// every problem is reported, naming the webhook and the variable or file,
// never a URL.
func (c *Config) ResolveWebhooks(lookupEnv func(string) (string, bool)) ([]notify.Webhook, error) {
	var errs []error
	var out []notify.Webhook
	for _, name := range c.WebhookNames() {
		w := c.Notify.Webhooks[name]
		u := w.URL
		if u == "" {
			var err error
			if u, err = readSecret(lookupEnv, w.URLEnv, w.URLFile); err != nil {
				errs = append(errs, fmt.Errorf("webhook %s: the URL %w", name, err))
				continue
			}
			if problem := webhookURLProblem(u); problem != "" {
				errs = append(errs, fmt.Errorf("webhook %s: the URL read from %s %s; write an http:// or https:// URL there", name, firstOf(w.URLEnv, w.URLFile), problem))
				continue
			}
		}
		out = append(out, notify.Webhook{Name: name, URL: u, Format: w.Format, Events: append([]string(nil), w.Events...)})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// readSecret reads a value from an environment variable or a file; its errors
// complete a sentence starting with "the password" or "the value".
func readSecret(lookupEnv func(string) (string, bool), env, file string) (string, error) {
	if env != "" {
		v, ok := lookupEnv(env)
		if !ok {
			return "", fmt.Errorf("comes from environment variable %s, which is not set; export it before starting the worker", env)
		}
		if v == "" {
			return "", fmt.Errorf("comes from environment variable %s, which is empty; set it to the value", env)
		}
		return v, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			err = pe.Err
		}
		return "", fmt.Errorf("comes from file %s, which cannot be read (%v); check the path and that the worker's user may read it", file, err)
	}
	v := trimNewline(string(data))
	if v == "" {
		return "", fmt.Errorf("comes from file %s, which is empty; write the value in it", file)
	}
	if strings.Contains(v, "\n") {
		return "", fmt.Errorf("comes from file %s, which holds more than one line; keep only the value in it", file)
	}
	return v, nil
}

// secretStore resolves "${secret:NAME}" references. It prints as its names
// only, so logging it by mistake cannot leak a value.
type secretStore struct {
	values map[string]string
}

// Secret returns the value of a configured secret.
func (s *secretStore) Secret(name string) (string, error) {
	v, ok := s.values[name]
	if !ok {
		return "", fmt.Errorf("secret %q is not configured in the worker; add it to the secrets section with an env or file entry", name)
	}
	return v, nil
}

// Names lists the configured secrets (for checking a plan's SecretRefs).
func (s *secretStore) Names() []string {
	names := make([]string, 0, len(s.values))
	for n := range s.values {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *secretStore) String() string {
	return "secrets(" + strings.Join(s.Names(), ", ") + ")"
}

// GoString keeps %#v from printing the values.
func (s *secretStore) GoString() string { return s.String() }
