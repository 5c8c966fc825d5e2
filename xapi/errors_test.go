package xapi

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestClassify is the retry policy by meaning, one row per kind of failure.
func TestClassify(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want Class
	}{
		// Transient: the moment, not the request.
		{"internal error (e.g. from VM.start)", &Error{Code: CodeInternalError, Params: []string{"xenopsd timeout"}}, Transient},
		{"busy object", &Error{Code: CodeOtherOperationInProgress}, Transient},
		{"too busy", &Error{Code: CodeTooBusy}, Transient},
		{"session expired", &Error{Code: CodeSessionInvalid}, Transient},
		{"slave, no master found", &MasterNotFoundError{Tried: []string{"a", "b"}, Reason: &Error{Code: CodeHostIsSlave, Params: []string{"b"}}, Last: dial}, Transient},
		{"host booting", &Error{Code: CodeHostStillBooting}, Transient},
		{"host offline", &Error{Code: CodeHostOffline}, Transient},
		{"emergency mode", &Error{Code: CodeHostInEmergencyMode}, Transient},
		{"cannot contact host", &Error{Code: CodeCannotContactHost}, Transient},
		{"device attach timeout", &Error{Code: CodeDeviceAttachTimeout}, Transient},
		{"events lost", &Error{Code: CodeEventsLost}, Transient},
		{"connection refused", fmt.Errorf("pool.get_all on h: %w", dial), Transient},
		{"connection dropped", fmt.Errorf("x: %w", io.EOF), Transient},
		{"kept-alive connection closed by the host", fmt.Errorf("pool.get_all_records on h: %w", errors.New("http: server closed idle connection")), Transient},
		{"connection reset", fmt.Errorf("x: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET}), Transient},
		{"call timeout", fmt.Errorf("x: %w", context.DeadlineExceeded), Transient},
		{"proxy 503", &HTTPError{StatusCode: 503}, Transient},
		{"dns timeout", &net.DNSError{Err: "timeout", IsTimeout: true}, Transient},
		// Permanent: the same call would get the same answer.
		{"requires SR", &Error{Code: CodeVMRequiresSR}, Permanent},
		{"requires network", &Error{Code: CodeVMRequiresNetwork}, Permanent},
		{"rbac", &Error{Code: CodeRBACPermissionDenied}, Permanent},
		{"licence", &Error{Code: CodeLicenceRestriction, Params: []string{"DR"}}, Permanent},
		{"bad password", &Error{Code: CodeSessionAuthenticationFailed}, Permanent},
		{"bad password while looking for the master", &MasterNotFoundError{Reason: dial, Last: &Error{Code: CodeSessionAuthenticationFailed}}, Permanent},
		{"handle invalid", &Error{Code: CodeHandleInvalid}, Permanent},
		{"not newer", &Error{Code: CodeVMToImportIsNotNewerVersion}, Permanent},
		{"no memory", &Error{Code: CodeHostNotEnoughFreeMemory}, Permanent},
		{"backend failure", &Error{Code: CodeSRBackendFailure68}, Permanent},
		{"unknown code", &Error{Code: "SOMETHING_NEW"}, Permanent},
		{"HTTP 500", &HTTPError{StatusCode: 500}, Permanent},
		{"not XAPI", &ProtocolError{Reason: "not XML"}, Permanent},
		{"unknown CA", fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), Permanent},
		{"no such host", &net.DNSError{Err: "no such host", IsNotFound: true}, Permanent},
		{"other", errors.New("something"), Permanent},
		{"nil", nil, Permanent},
		// The caller gave up.
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), Canceled},
	} {
		assert.Equal(t, tc.want, Classify(tc.err), "%s: %v", tc.name, tc.err)
		assert.Equal(t, tc.want == Transient, Retryable(tc.err), tc.name)
	}
}

// TestMasterGone: which failures move a call to another host.
func TestMasterGone(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		method string
		err    error
		want   bool
	}{
		{"VM.get_record", &Error{Code: CodeHostIsSlave, Params: []string{"10.0.0.2"}}, true},
		{"Async.VM.start", &Error{Code: CodeHostIsSlave, Params: []string{"10.0.0.2"}}, true},
		{"Async.VM.start", dial, true},
		{"Async.VM.start", io.EOF, false},
		{"VM.get_record", io.EOF, true},
		{"event.from", io.ErrUnexpectedEOF, true},
		{"VM.get_record", context.DeadlineExceeded, false},
		{"VM.get_record", &Error{Code: CodeSessionInvalid}, false},
		{"VM.destroy", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, false},
	} {
		assert.Equal(t, tc.want, masterGone(tc.method, tc.err), "%s %v", tc.method, tc.err)
	}
}
