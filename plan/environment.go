package plan

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Environment is what the worker that will run a plan offers it: the site
// and secret names of its configuration. A plan checked against one is
// refused before a run, rather than failing after a human has approved
// storage-ready.
type Environment struct {
	File    string   // the configuration's path, for the problems
	Sites   []string // names under sites:
	Secrets []string // names under secrets:
}

func (v *validator) environment(p *Plan, env *Environment) {
	if env == nil {
		return
	}
	sites := slices.Sorted(slices.Values(env.Sites))
	for _, s := range []struct{ field, name string }{{"source", p.Source}, {"target", p.Target}} {
		if s.name != "" && !slices.Contains(sites, s.name) {
			v.errorf(s.field, "site %q is not in the worker configuration %s (its sites: %s); use one of those, or add the site there", s.name, env.File, orNone(sites))
		}
	}
	for _, list := range []struct {
		field   string
		targets []StorageTarget
	}{{"storage", p.Storage}, {"failback_storage", p.FailbackStorage}} {
		for i, st := range list.targets {
			for _, k := range slices.Sorted(maps.Keys(st.DeviceConfig)) {
				if name, ok := secretRef(st.DeviceConfig[k]); ok && !slices.Contains(env.Secrets, name) {
					v.errorf(fmt.Sprintf("%s[%d].device_config.%s", list.field, i, k),
						"the secret %q is not defined in the worker configuration %s; add it under secrets: (env: or file:)", name, env.File)
				}
			}
		}
	}
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// A plan is the input of its run, and Temporal refuses a payload above
// 2 MiB (its default blob size limit, "Blob data size exceeds limit") and
// warns above 512 KiB.
const (
	maxInputBytes  = 2 << 20
	warnInputBytes = 512 << 10
)

// size refuses a plan too large to be a run's input, with the sentence the
// operator needs instead of Temporal's.
func (v *validator) size(p *Plan) {
	b, err := json.Marshal(p)
	if err != nil {
		return
	}
	switch n := len(b); {
	case n > maxInputBytes:
		v.errorf("", "the plan is %s as a run's input, more than the %s Temporal accepts; split it into several plans (by priority group or by vApp), or select with globs and tags instead of listing every VM", kib(n), kib(maxInputBytes))
	case n > warnInputBytes:
		v.warnf("", "the plan is %s as a run's input, near the %s Temporal accepts; select with globs and tags rather than listing every VM", kib(n), kib(maxInputBytes))
	}
}

func kib(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
