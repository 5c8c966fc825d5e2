// Package version holds the version every lifeboat binary reports with
// --version. The Makefile stamps it at build time:
//
//	go build -ldflags "-X github.com/lifeboat-dr/lifeboat/version.Version=v1.2.0 -X github.com/lifeboat-dr/lifeboat/version.Commit=3f2a1bc"
//
// A binary built without the Makefile (go build, go run) says "dev", or the
// module version when it was installed with go install.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Stamped by the Makefile's ldflags.
var (
	Version = ""
	Commit  = ""
)

// String is what binary prints for --version:
// "lifeboat v1.2.0 (commit 3f2a1bc, go1.26.0, linux/amd64)".
func String(binary string) string {
	v, commit := Version, Commit
	if v == "" {
		v = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	detail := fmt.Sprintf("%s, %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if commit != "" {
		detail = "commit " + commit + ", " + detail
	}
	return fmt.Sprintf("%s %s (%s)", binary, v, detail)
}
