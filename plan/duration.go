package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String writes the duration the way an operator would: "90m" comes back as
// "1h30m", "168h" as "168h", never with trailing zero units.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2] // "1h30m0s" → "1h30m"
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2] // "4h0m" → "4h"
	}
	return s
}

// ParseDuration reads "90m", "4h" or "168h"; a bare number or a day unit gets
// an error saying how to write it.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err == nil {
		return Duration(d), nil
	}
	if strings.HasSuffix(s, "d") {
		var days int
		if _, e := fmt.Sscanf(s, "%dd", &days); e == nil {
			return 0, fmt.Errorf("%q is not a duration; days are not a unit, write %dh for %d days", s, days*24, days)
		}
	}
	return 0, fmt.Errorf("%q is not a duration; write a number with a unit, such as 90m, 4h or 168h", s)
}

// MarshalYAML writes the duration as a string such as "4h".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string such as "90m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as 90m or 4h, found a %s", map[yaml.Kind]string{yaml.MappingNode: "mapping", yaml.SequenceNode: "list"}[n.Kind])
	}
	if n.Tag == "!!int" && n.Value != "0" {
		return fmt.Errorf("%s has no unit; write %ss for seconds, %sm for minutes or %sh for hours", n.Value, n.Value, n.Value, n.Value)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes the duration as the same string as in YAML.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string, or a number of nanoseconds, which is
// how time.Duration is written in JSON by other tools.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("%s is not a duration; write a string such as \"4h\" or a number of nanoseconds", b)
	}
	ns, err := n.Int64()
	if err != nil {
		return fmt.Errorf("%s is not a whole number of nanoseconds; write a string such as \"4h\"", b)
	}
	*d = Duration(ns)
	return nil
}
