package activities

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Error types of the application errors these activities return, besides
// the XAPI codes themselves (VM_REQUIRES_SR, ...), which are used as the type
// when XAPI gave one. NextStep maps each to the operator's next step.
const (
	codeUnknownSite    = "LIFEBOAT_UNKNOWN_SITE"
	codeAuth           = "LIFEBOAT_LOGIN_REJECTED"
	codeTLS            = "LIFEBOAT_TLS"
	codeSecret         = "LIFEBOAT_SECRET"
	codeBadInput       = "LIFEBOAT_BAD_INPUT"
	codeMirror         = "LIFEBOAT_MIRROR_NOT_PROMOTED"
	codeNotFound       = "LIFEBOAT_NOT_FOUND"
	codeOwnMetadata    = "LIFEBOAT_OWN_METADATA"
	codeXAPI           = "LIFEBOAT_XAPI"
	codeUnreachable    = "LIFEBOAT_SITE_UNREACHABLE"
	codeNoMaster       = "LIFEBOAT_NO_MASTER"
	codeNotRecoverable = "LIFEBOAT_NOT_RECOVERABLE"
)

// Advice is the detail of a non-retryable activity error: the next step the
// activity would suggest for this object. The workflow owns the sentence
// the operator reads; NextStep uses Advice only when the code has no next
// step of its own. Retryable errors carry none: their message may become
// the final one after the last attempt.
type Advice struct {
	Next string `json:"next,omitempty"`
}

// nonRetryable is an error a retry cannot fix. The cause is copied as text
// only, so no typed value (that might hold a request) travels with it.
func nonRetryable(code, msg string, cause error) error {
	return temporal.NewNonRetryableApplicationError(msg, code, textOf(cause))
}

// permanent is nonRetryable with the activity's advice kept apart from the
// message (see Advice).
func permanent(code, msg, next string, cause error) error {
	if next == "" {
		return nonRetryable(code, msg, cause)
	}
	return temporal.NewNonRetryableApplicationError(msg, code, textOf(cause), Advice{Next: strings.TrimSuffix(next, ".")})
}

// retryable is an error a later attempt may not meet (site unreachable,
// session lost, object busy); Temporal retries the activity, with the
// workflow's bound and backoff. Its message says what failed and why only.
func retryable(code, msg string, cause error) error {
	return temporal.NewApplicationErrorWithCause(msg, code, textOf(cause))
}

func textOf(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(err.Error())
}

// classify turns an XAPI or transport error into the activity's error: the
// message is "<what>: <reason> (<code>)."; next is the activity's advice
// (see Advice), kept only when the error is final. xapi.Classify decides
// whether a later attempt may succeed. A cancelled activity returns the
// context error.
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
	msg := r.scrub(sentence(what, reason(err), ""))
	cause := errors.New(r.scrub(err.Error()))
	code := errorCode(err)
	if xapi.Retryable(err) {
		return retryable(code, msg, cause)
	}
	return permanent(code, msg, r.scrub(next), cause)
}

// errorCode is the application error type for an XAPI or transport error.
func errorCode(err error) string {
	var nf *xapi.MasterNotFoundError
	switch {
	case errors.As(err, &nf) && xapi.Retryable(err):
		return codeNoMaster
	case xapi.Code(err) != "":
		return xapi.Code(err)
	case isTLS(err):
		return codeTLS
	case xapi.Retryable(err):
		return codeUnreachable
	}
	return codeXAPI
}

// isTLS reports a certificate or TLS handshake problem.
func isTLS(err error) bool {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var hn x509.HostnameError
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &hn) || errors.As(err, &rh) || errors.As(err, &cv)
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
	var nf *xapi.MasterNotFoundError
	if errors.As(err, &nf) && xapi.Retryable(err) {
		last := nf.Last
		if last == nil {
			last = nf.Reason
		}
		return "no host answers as its pool master (asked " + strings.Join(nf.Tried, ", ") + "; last answer: " + reason(last) + ")"
	}
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
	if r := transportReason(err); r != "" {
		return r
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// transportReason says in a few words why the network failed, or "".
func transportReason(err error) string {
	var dns *net.DNSError
	var oe *net.OpError
	switch {
	case errors.As(err, &dns):
		return "the host name " + dns.Name + " could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return "there is no route to the host"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed before the answer"
	case errors.As(err, &oe) && oe.Timeout():
		return "the connection timed out"
	}
	return ""
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

// loginError classifies a failed login to a site: what failed and why, by
// kind (credentials, role, TLS, reachability), each with its own code.
func loginError(siteName, endpoint, user string, err error) error {
	switch {
	case xapi.IsCode(err, xapi.CodeSessionAuthenticationFailed):
		return nonRetryable(codeAuth, fmt.Sprintf(
			"site %s rejected the login of user %q: the user name or password is wrong (%s).", siteName, user, xapi.CodeSessionAuthenticationFailed), nil)
	case xapi.IsCode(err, xapi.CodeRBACPermissionDenied):
		return nonRetryable(xapi.CodeRBACPermissionDenied, fmt.Sprintf(
			"user %q may not log in to site %s: its role is too low for disaster recovery (%s).", user, siteName, xapi.CodeRBACPermissionDenied), nil)
	case isTLS(err):
		return nonRetryable(codeTLS, sentence(fmt.Sprintf("the TLS certificate of site %s (%s) could not be verified", siteName, endpoint), tlsReason(err), ""), err)
	case xapi.Retryable(err):
		return retryable(errorCode(err), sentence(fmt.Sprintf("site %s could not be reached at %s", siteName, endpoint), reason(err), ""), err)
	}
	return nonRetryable(errorCode(err), sentence(fmt.Sprintf("logging in to site %s at %s failed", siteName, endpoint), reason(err), ""), err)
}

// tlsReason is the certificate problem without the call that met it.
func tlsReason(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &ua):
		return "it is signed by an authority the worker does not trust"
	case errors.As(err, &hn):
		return "it was not issued for this host name (" + hn.Error() + ")"
	case errors.As(err, &ci):
		return "it is not valid (" + ci.Error() + ")"
	case errors.As(err, &rh):
		return "the host does not speak TLS on this port"
	}
	return reason(err)
}

// nextSteps is the one next step per error code, in the operator's words.
// Codes of transient failures appear too: they reach the operator only once
// every attempt failed.
var nextSteps = map[string]string{
	codeUnknownSite:                      "add the site to the worker configuration or correct the site name in the plan, then start the run again",
	codeAuth:                             "correct the site's username or password in the worker configuration, restart the worker, then start the run again",
	xapi.CodeSessionAuthenticationFailed: "correct the site's username or password in the worker configuration, restart the worker, then start the run again",
	xapi.CodeRBACPermissionDenied:        "give the site's user the pool-operator role or higher, then start the run again",
	xapi.CodeLicenceRestriction:          "license the pool for disaster recovery, then start the run again",
	codeTLS:                              "set the site's ca_file to the CA that signed the pool's certificate (or fix the certificate, or for a lab only set insecure: true) in the worker configuration, restart the worker, then start the run again",
	codeUnreachable:                      "check that the site's pool master is up and reachable from the worker, then start the run again",
	codeNoMaster:                         "check that a host of the site's pool is up and is its master (list the pool's hosts under hosts: in the worker configuration), then start the run again",
	codeSecret:                           "configure the secret in the worker's secrets section, restart the worker, then start the run again",
	codeMirror:                           "split or promote the mirror at the storage array (a test failover can run on a snapshot instead: test_storage in the plan), then start the run again",
	codeNoAdapter:                        "define the adapter under adapters: and name it in the site's adapter: in the worker configuration (or correct the plan's adapter:), restart the worker, then start the run again",
	codeAdapter:                          "check the storage adapter and its array (the worker's log holds the adapter's stderr), then start the run again",
	codeAdapterTimeout:                   "check that the storage adapter's array answers (or raise the adapter's timeout in the worker configuration), then start the run again",
	codeOwnMetadata:                      "point the plan's storage at the mirrored copy of the other site's LUNs, then start the run again",
	xapi.CodeVMRequiresSR:                "make the storage the VM needs visible at the target site (add it to the plan's storage), then start the run again",
	xapi.CodeVMRequiresNetwork:           "create the network the VM needs at the target site, then start the run again",
	xapi.CodeHostNotEnoughFreeMemory:     "free memory at the target site or exclude VMs from the plan, then start the run again",
	xapi.CodeNoHostsAvailable:            "free a host that can run the VM at the target site, then start the run again",
	xapi.CodeVMToImportIsNotNewerVersion: "check which copy of the VM is current at the target site, then start the run again",
	xapi.CodeInternalError:               "look at the pool's log (xensource.log on the master) for the failing call, then start the run again",
	xapi.CodeTooBusy:                     "wait for the pool's load to drop, then start the run again",
	xapi.CodeOtherOperationInProgress:    "wait for the other operation on the object to finish, then start the run again",
}

// NextStep returns the one thing the operator should do after an activity
// failed with err, or fallback (the step's own advice) when neither the
// error's code nor the activity has a better one. Storage driver failures
// (SR_BACKEND_FAILURE_*) share one. The workflow calls it with the error it
// got from the activity (or child workflow), wrapped or not.
func NextStep(err error, fallback string) string {
	if n, ok := nextStepOf(ErrorCode(err)); ok {
		return n
	}
	var ae *temporal.ApplicationError
	var adv Advice
	if errors.As(err, &ae) && ae.HasDetails() && ae.Details(&adv) == nil && adv.Next != "" {
		return adv.Next
	}
	return fallback
}

// NextStepFor is NextStep for an error known only by its code (a child
// workflow's per-VM result carries the code, not the error).
func NextStepFor(code, fallback string) string {
	if n, ok := nextStepOf(code); ok {
		return n
	}
	return fallback
}

func nextStepOf(code string) (string, bool) {
	if n, ok := nextSteps[code]; ok {
		return n, true
	}
	if strings.HasPrefix(code, xapi.CodeSRBackendFailure) {
		return "check the storage target's device_config in the plan and that its LUN is presented to every host of the pool, then start the run again", true
	}
	return "", false
}

// ErrorCode returns the code an activity error carries (the application
// error's type: an XAPI code or one of LIFEBOAT_*), or "".
func ErrorCode(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

// messageOf is an activity error's sentence, without Temporal's wrapping (a
// VM's outcome inside a batch carries it, with ErrorCode's code).
func messageOf(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Message()
	}
	return err.Error()
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
