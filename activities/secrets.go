package activities

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// secretRef matches "${secret:NAME}" inside a device_config value.
var secretRef = regexp.MustCompile(`\$\{secret:([^}]*)\}`)

// resolved is a storage target's device_config with its secrets filled in,
// and the secret values, so they can be scrubbed from any text XAPI echoes.
type resolved struct {
	config  map[string]string
	secrets []string
}

// resolveDeviceConfig fills in the secret references of st's device_config.
// The result is only ever passed to XAPI; results never carry device_config.
func (a *Activities) resolveDeviceConfig(st plan.StorageTarget, i int) (*resolved, error) {
	out := &resolved{config: make(map[string]string, len(st.DeviceConfig))}
	keys := make([]string, 0, len(st.DeviceConfig))
	for k := range st.DeviceConfig {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := st.DeviceConfig[k]
		var missing error
		v = secretRef.ReplaceAllStringFunc(v, func(m string) string {
			name := strings.TrimSpace(secretRef.FindStringSubmatch(m)[1])
			if missing != nil {
				return ""
			}
			if a.secrets == nil || name == "" {
				missing = fmt.Errorf("no secrets are configured")
				if name == "" {
					missing = fmt.Errorf("the reference has no name")
				}
				return ""
			}
			val, err := a.secrets.Secret(name)
			if err != nil {
				missing = err
				return ""
			}
			if val != "" {
				out.secrets = append(out.secrets, val)
			}
			return val
		})
		if missing != nil {
			name := secretRef.FindStringSubmatch(st.DeviceConfig[k])[1]
			// The secrets resolver's error is not quoted: it might echo a value.
			return nil, nonRetryable(codeSecret, fmt.Sprintf(
				"secret %q used by device_config key %s of storage %s is not configured in the worker.",
				name, k, storageLabel(st, i)), nil)
		}
		out.config[k] = v
	}
	return out, nil
}

// scrub replaces every resolved secret value in s.
func (r *resolved) scrub(s string) string {
	if r == nil {
		return s
	}
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, "[secret]")
	}
	return s
}

// storageLabel names a storage target for messages.
func storageLabel(st plan.StorageTarget, i int) string {
	switch {
	case st.Name != "":
		return fmt.Sprintf("%q", st.Name)
	case st.DeviceConfig["SCSIid"] != "":
		return fmt.Sprintf("%q", st.DeviceConfig["SCSIid"])
	}
	return fmt.Sprintf("#%d", i+1)
}
