package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Error types of the application errors these activities return, besides
// the XAPI codes themselves (VM_REQUIRES_SR, ...), which are used as the type
// when XAPI gave one.
const (
	codeUnknownSite    = "LIFEBOAT_UNKNOWN_SITE"
	codeAuth           = "LIFEBOAT_LOGIN_REJECTED"
	codeSecret         = "LIFEBOAT_SECRET"
	codeBadInput       = "LIFEBOAT_BAD_INPUT"
	codeMirror         = "LIFEBOAT_MIRROR_NOT_PROMOTED"
	codeNotFound       = "LIFEBOAT_NOT_FOUND"
	codeOwnMetadata    = "LIFEBOAT_OWN_METADATA"
	codeXAPI           = "LIFEBOAT_XAPI"
	codeUnreachable    = "LIFEBOAT_SITE_UNREACHABLE"
	codeNotRecoverable = "LIFEBOAT_NOT_RECOVERABLE"
)

// nonRetryable is an error a retry cannot fix. The cause is copied as text
// only, so no typed value (that might hold a request) travels with it.
func nonRetryable(code, msg string, cause error) error {
	var c error
	if cause != nil {
		c = errors.New(cause.Error())
	}
	return temporal.NewNonRetryableApplicationError(msg, code, c)
}

// retryable is an error a later attempt may not meet (site unreachable,
// session lost, object busy); Temporal retries the activity.
func retryable(code, msg string, cause error) error {
	var c error
	if cause != nil {
		c = errors.New(cause.Error())
	}
	return temporal.NewApplicationErrorWithCause(msg, code, c)
}

// classify turns an XAPI or transport error into the activity's error:
// "<what>: <reason>; <next>". Non-retryable unless xapi.Retryable says a
// later attempt may succeed. A cancelled activity returns the context error.
func classify(ctx context.Context, err error, what, next string) error {
	return classifyScrubbed(ctx, err, what, next, nil)
}

// classifyScrubbed is classify for calls that carried secrets: their values
// are removed from the message and the cause, whatever XAPI echoed.
func classifyScrubbed(ctx context.Context, err error, what, next string, r *resolved) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return ctx.Err()
	}
	msg := r.scrub(sentence(what, reason(err), next))
	cause := errors.New(r.scrub(err.Error()))
	code := xapi.Code(err)
	if xapi.Retryable(err) {
		if code == "" {
			code = codeUnreachable
		}
		return retryable(code, msg, cause)
	}
	if code == "" {
		code = codeXAPI
	}
	return nonRetryable(code, msg, cause)
}

// isTransient reports whether err is an infrastructure failure (site
// unreachable, session lost, busy) rather than a verdict on one object: a
// batch stops on it and is retried, instead of recording it per object.
func isTransient(ctx context.Context, err error) bool {
	return ctx.Err() != nil || xapi.Retryable(err)
}

// reason is the human part of err: XAPI's sentence for its code with the
// parameters that help the operator, or the transport failure.
func reason(err error) string {
	if xe, ok := xapi.AsError(err); ok {
		msg := xe.Message()
		switch {
		case strings.HasPrefix(xe.Code, xapi.CodeSRBackendFailure):
			if r := strings.TrimSpace(xe.Param(1)); r != "" && !strings.Contains(msg, r) {
				msg += ": " + r
			}
		case xe.Code == xapi.CodeOperationNotAllowed || xe.Code == xapi.CodeInternalError ||
			xe.Code == xapi.CodeCouldNotImportDatabase || xe.Code == xapi.CodeCannotEnableRedoLog:
			if r := strings.TrimSpace(xe.Param(0)); r != "" {
				msg += ": " + r
			}
		case xe.Code == xapi.CodeVMBadPowerState:
			if xe.Param(1) != "" {
				msg += fmt.Sprintf(" (needed %s, was %s)", xe.Param(1), xe.Param(2))
			}
		case xe.Code == xapi.CodeHostNotEnoughFreeMemory:
			if xe.Param(0) != "" {
				msg += fmt.Sprintf(" (needs %s bytes, %s free)", xe.Param(0), xe.Param(1))
			}
		}
		return msg + " (" + xe.Code + ")"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the pool master did not answer in time"
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// sentence joins the parts of an operator message into one sentence.
func sentence(what, why, next string) string {
	s := what
	if why != "" {
		s += ": " + strings.TrimSuffix(why, ".")
	}
	if next != "" {
		s += "; " + strings.TrimSuffix(next, ".")
	}
	return s + "."
}

// loginError classifies a failed login to a site.
func loginError(siteName, user string, err error) error {
	switch {
	case xapi.IsCode(err, xapi.CodeSessionAuthenticationFailed):
		return nonRetryable(codeAuth, fmt.Sprintf(
			"site %s rejected the login of user %q: check the user name and password of site %s in the worker configuration, then restart the worker and re-run",
			siteName, user, siteName), nil)
	case xapi.IsCode(err, xapi.CodeRBACPermissionDenied):
		return nonRetryable(codeAuth, fmt.Sprintf(
			"user %q may not log in to site %s: give it the pool-operator role or higher, then re-run", user, siteName), nil)
	case xapi.Retryable(err):
		return retryable(codeUnreachable, sentence("site "+siteName+" could not be reached", reason(err),
			"check the pool master is up and reachable from the worker; the step is retried"), err)
	}
	return nonRetryable(codeXAPI, sentence("logging in to site "+siteName+" failed", reason(err),
		"check the site's URL and TLS settings in the worker configuration"), err)
}

// causeText is what went wrong without our advice on what to do next, for
// a sentence that gives its own advice (a precheck warning, say).
func causeText(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		if c := ae.Unwrap(); c != nil {
			return c.Error()
		}
		return ae.Message()
	}
	return err.Error()
}

// gone reports whether err says the object no longer exists.
func gone(err error) bool {
	return xapi.IsCode(err, xapi.CodeHandleInvalid, xapi.CodeUUIDInvalid)
}

// q quotes an object name for messages; empty names become their UUID.
func q(name, uuid string) string {
	if name == "" {
		return uuid
	}
	return "'" + name + "'"
}
