package version

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestString(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	Version, Commit = "", ""
	assert.Equal(t, "lifeboat dev ("+runtime.Version()+", "+runtime.GOOS+"/"+runtime.GOARCH+")", String("lifeboat"))
	Version, Commit = "v1.2.0", "3f2a1bc"
	assert.Equal(t, "xapisim v1.2.0 (commit 3f2a1bc, "+runtime.Version()+", "+runtime.GOOS+"/"+runtime.GOARCH+")", String("xapisim"))
}

func TestFlag(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	Version, Commit = "v1.2.0", "3f2a1bc"
	for _, tc := range []struct {
		name         string
		args         []string
		done         bool
		code         int
		out, errText string
	}{
		{"no flags: go on", nil, false, 0, "", ""},
		{"version", []string{"-version"}, true, 0, "lifeboat-bench v1.2.0 (commit 3f2a1bc, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n", ""},
		{"double dash", []string{"--version"}, true, 0, "lifeboat-bench v1.2.0", ""},
		{"help", []string{"-h"}, true, 0, "", "lifeboat-bench is configured by its environment: BENCH_*"},
		{"unknown flag", []string{"-sizes", "100"}, true, 2, "", "flag provided but not defined: -sizes"},
		{"argument", []string{"100"}, true, 2, "", `lifeboat-bench: unexpected argument "100"; it is configured by its environment: BENCH_*`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			done, code := Flag("lifeboat-bench", "BENCH_*", tc.args, &out, &errOut)
			assert.Equal(t, tc.done, done)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, out.String(), tc.out)
			assert.Contains(t, errOut.String(), tc.errText)
			if tc.out == "" {
				assert.Empty(t, out.String())
			}
		})
	}
}
