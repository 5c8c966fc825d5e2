package version

import (
	"runtime"
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
