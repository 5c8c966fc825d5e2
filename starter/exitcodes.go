package main

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

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

func usageErr(format string, args ...any) error { return fail(exitcode.Usage, format, args...) }

// outcomeCode maps a run's outcome to the exit code.
func outcomeCode(outcome string) int {
	switch outcome {
	case workflows.OutcomeSucceeded:
		return exitcode.OK
	case workflows.OutcomeRejected:
		return exitcode.Rejected
	case workflows.OutcomeAborted:
		return exitcode.Aborted
	case "":
		return exitcode.Running
	}
	return exitcode.RunFailed
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
