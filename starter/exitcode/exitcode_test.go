package exitcode

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The table lists every code once, in order, and scripts rely on the numbers.
func TestTable(t *testing.T) {
	assert.Equal(t, `Exit codes:
  0  success: the command did what was asked; a run waited for (--wait, --watch) succeeded
  1  the run failed, was terminated or timed out, or the command failed
  2  usage error: bad flags or arguments
  3  invalid plan or configuration
  4  the run was rejected at a gate
  5  the run was aborted
  6  not found: no such run or schedule
  7  Temporal is unreachable
  8  the run is still running (status or report of a running run without --watch;
     a start refused because the same plan and mode are already running)`, Table)
}
