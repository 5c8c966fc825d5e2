package main

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Exit codes, the same for every command; `lifeboat --help` prints this table.
const (
	exitOK          = 0 // the command did what was asked; a waited-for run succeeded
	exitRunFailed   = 1 // the run failed (or was terminated), or the command failed
	exitUsage       = 2 // bad flags or arguments
	exitInvalid     = 3 // the plan or the configuration is invalid
	exitRejected    = 4 // the run was rejected at a gate
	exitAborted     = 5 // the run was aborted
	exitNotFound    = 6 // no such run or schedule
	exitUnreachable = 7 // Temporal cannot be reached
	exitRunning     = 8 // the run is still running (status/report without --watch, or a start refused because one runs)
)

const exitCodeTable = `Exit codes:
  0  success: the command did what was asked; a run waited for (--wait, --watch) succeeded
  1  the run failed, was terminated or timed out, or the command failed
  2  usage error: bad flags or arguments
  3  invalid plan or configuration
  4  the run was rejected at a gate
  5  the run was aborted
  6  not found: no such run or schedule
  7  Temporal is unreachable
  8  the run is still running (status or report of a running run without --watch;
     a start refused because the same plan and mode are already running)`

// exitError is an error with the exit code it ends the command with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

func usageErr(format string, args ...any) error { return fail(exitUsage, format, args...) }

// outcomeCode maps a run's outcome to the exit code.
func outcomeCode(outcome string) int {
	switch outcome {
	case workflows.OutcomeSucceeded:
		return exitOK
	case workflows.OutcomeRejected:
		return exitRejected
	case workflows.OutcomeAborted:
		return exitAborted
	case "":
		return exitRunning
	}
	return exitRunFailed
}

// isUnreachable says whether an RPC error means Temporal could not be reached
// (as opposed to Temporal answering no).
func isUnreachable(err error) bool {
	if err == nil {
		return false
	}
	var unavailable *serviceerror.Unavailable
	if errors.As(err, &unavailable) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if s, ok := status.FromError(err); ok && (s.Code() == codes.Unavailable || s.Code() == codes.DeadlineExceeded) {
		return true
	}
	return false
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
