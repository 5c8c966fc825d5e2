// Package exitcode holds the exit codes of the lifeboat CLI, the same for
// every command, and the table `lifeboat --help` prints. It is a package of
// its own so the end-to-end tests, which run the CLI as a process, check the
// codes by name rather than by number.
package exitcode

import (
	"fmt"
	"strings"
)

// The exit codes.
const (
	OK          = 0 // the command did what was asked; a waited-for run succeeded
	RunFailed   = 1 // the run failed (or was terminated), or the command failed
	Usage       = 2 // bad flags or arguments
	Invalid     = 3 // the plan or the configuration is invalid
	Rejected    = 4 // the run was rejected at a gate
	Aborted     = 5 // the run was aborted
	NotFound    = 6 // no such run or schedule
	Unreachable = 7 // Temporal cannot be reached
	Running     = 8 // the run is still running (status/report without --watch, or a start refused because one runs)
)

// meanings is what the table says of each code, in order.
var meanings = []struct {
	code    int
	meaning string
}{
	{OK, "success: the command did what was asked; a run waited for (--wait, --watch) succeeded"},
	{RunFailed, "the run failed, was terminated or timed out, or the command failed"},
	{Usage, "usage error: bad flags or arguments"},
	{Invalid, "invalid plan or configuration"},
	{Rejected, "the run was rejected at a gate"},
	{Aborted, "the run was aborted"},
	{NotFound, "not found: no such run or schedule"},
	{Unreachable, "Temporal is unreachable"},
	{Running, "the run is still running (status or report of a running run without --watch;\n     a start refused because the same plan and mode are already running)"},
}

// Table is the exit codes as `lifeboat --help` prints them.
var Table = table()

func table() string {
	var b strings.Builder
	b.WriteString("Exit codes:")
	for _, m := range meanings {
		fmt.Fprintf(&b, "\n  %d  %s", m.code, m.meaning)
	}
	return b.String()
}
