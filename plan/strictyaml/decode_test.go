package strictyaml

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

type inner struct {
	Port int               `yaml:"port"`
	Tags map[string]string `yaml:"tags"`
}

type outer struct {
	Name  string  `yaml:"name"`
	On    bool    `yaml:"on_call"`
	Items []inner `yaml:"items"`
	Ptr   *inner  `yaml:"ptr"`
}

func decodeStrings(t *testing.T, src string) ([]string, outer, Positions) {
	t.Helper()
	var o outer
	pos, probs := Decode([]byte(src), "f.yaml", &o)
	var got []string
	for _, p := range probs {
		got = append(got, p.String())
	}
	return got, o, pos
}

func TestDecodeProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"duplicate key", "name: a\nname: b\n", []string{`f.yaml:2:1: name: "name" is set twice (first on line 1); keep one`}},
		{"unknown key lists keys", "colour: red\n", []string{`f.yaml:1:1: colour: unknown key "colour"; the keys allowed here are items, name, on_call, ptr`}},
		{"case typo", "Name: x\n", []string{`f.yaml:1:1: Name: unknown key "Name"; did you mean name?`}},
		{"nested", "items:\n  - port: x\n    tags: [a]\n", []string{
			`f.yaml:2:11: items[0].port: "x" is not a whole number`,
			`f.yaml:3:11: items[0].tags: expected a mapping of keys to values, found a list`,
		}},
		{"pointer", "ptr: {prot: 1}\n", []string{`f.yaml:1:7: ptr.prot: unknown key "prot"; did you mean port?`}},
		{"bool", "on_call: maybe\n", []string{`f.yaml:1:10: on_call: "maybe" is not true or false`}},
		{"string from list", "name: [a]\n", []string{`f.yaml:1:7: name: expected a text value, found a list`}},
		{"two documents", "name: a\n---\nname: b\n", []string{`f.yaml:2:1: the file holds a second YAML document after '---'; keep one document per file`}},
		{"syntax", "name: a\n  b: c\n", []string{`f.yaml:2: YAML syntax error: mapping values are not allowed in this context; check the indentation and quoting`}},
		{"empty", "", []string{`f.yaml:1:1: the file is empty; write the settings as YAML`}},
		{"not a mapping", "- a\n", []string{`f.yaml:1:1: expected a mapping of keys to values, found a list`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, _ := decodeStrings(t, tc.src)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDecodeAnchorsAndPositions(t *testing.T) {
	src := "name: a\nitems:\n  - &base\n    port: 1\n    tags: {x: \"1\"}\n  - <<: *base\n    port: 2\nptr: *base\n"
	got, o, pos := decodeStrings(t, src)
	assert.Empty(t, got)
	assert.Equal(t, 2, o.Items[1].Port)
	assert.Equal(t, "1", o.Items[1].Tags["x"])
	assert.Equal(t, 1, o.Ptr.Port)
	assert.Equal(t, Pos{Line: 4, Column: 11}, pos["items[0].port"])
	assert.Equal(t, Pos{Line: 5, Column: 5}, pos["items[0].tags"])
	assert.Equal(t, Pos{Line: 3, Column: 5}, pos.Of("items[0].missing"))
	assert.Equal(t, Pos{Line: 1, Column: 1}, pos.Of("nothing"))
}
