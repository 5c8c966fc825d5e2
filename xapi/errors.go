package xapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// Error is an API error reported by xapi: ErrorDescription of a Failure
// response, or error_info of a failed task. Code is ErrorDescription[0].
type Error struct {
	Code   string
	Params []string
}

// Error codes the runbook branches on (wire spelling; docs/xapi-dr.md, "Error codes").
const (
	CodeSessionAuthenticationFailed   = "SESSION_AUTHENTICATION_FAILED"
	CodeHostIsSlave                   = "HOST_IS_SLAVE"
	CodeSessionInvalid                = "SESSION_INVALID"
	CodeHandleInvalid                 = "HANDLE_INVALID"
	CodeUUIDInvalid                   = "UUID_INVALID"
	CodeMessageMethodUnknown          = "MESSAGE_METHOD_UNKNOWN"
	CodeMessageParameterCountMismatch = "MESSAGE_PARAMETER_COUNT_MISMATCH"
	CodeRBACPermissionDenied          = "RBAC_PERMISSION_DENIED"
	CodeLicenceRestriction            = "LICENCE_RESTRICTION"
	CodeOperationNotAllowed           = "OPERATION_NOT_ALLOWED"
	CodeInternalError                 = "INTERNAL_ERROR"
	CodeSRBackendFailure              = "SR_BACKEND_FAILURE"
	CodeSRBackendFailure68            = "SR_BACKEND_FAILURE_68"
	CodeSRBackendFailure83            = "SR_BACKEND_FAILURE_83"
	CodeSRBackendFailure87            = "SR_BACKEND_FAILURE_87"
	CodeSRBackendFailure90            = "SR_BACKEND_FAILURE_90"
	CodeSRBackendFailure96            = "SR_BACKEND_FAILURE_96"
	CodeSRBackendFailure107           = "SR_BACKEND_FAILURE_107"
	CodeSRBackendFailure140           = "SR_BACKEND_FAILURE_140"
	CodeSROperationNotSupported       = "SR_OPERATION_NOT_SUPPORTED"
	CodeSRHasNoPBDs                   = "SR_HAS_NO_PBDS"
	CodeSRHasPBD                      = "SR_HAS_PBD"
	CodeSRNotAttached                 = "SR_NOT_ATTACHED"
	CodeSRUUIDExists                  = "SR_UUID_EXISTS"
	CodeNoMoreRedoLogsAllowed         = "NO_MORE_REDO_LOGS_ALLOWED"
	CodeCannotEnableRedoLog           = "CANNOT_ENABLE_REDO_LOG"
	CodeRedoLogIsEnabled              = "REDO_LOG_IS_ENABLED"
	CodeVDIIncompatibleType           = "VDI_INCOMPATIBLE_TYPE"
	CodeCouldNotImportDatabase        = "COULD_NOT_IMPORT_DATABASE"
	CodeVDIContainsMetadataOfThisPool = "VDI_CONTAINS_METADATA_OF_THIS_POOL"
	CodeVMRequiresSR                  = "VM_REQUIRES_SR"
	CodeVMIsPartOfAnAppliance         = "VM_IS_PART_OF_AN_APPLIANCE"
	CodeVMToImportIsNotNewerVersion   = "VM_TO_IMPORT_IS_NOT_NEWER_VERSION"
	CodeVMBadPowerState               = "VM_BAD_POWER_STATE"
	CodeVDILocationMissing            = "VDI_LOCATION_MISSING"
	CodeVDIContentIDMissing           = "VDI_CONTENT_ID_MISSING"
	CodeVDIInUse                      = "VDI_IN_USE"
	CodeOperationPartiallyFailed      = "OPERATION_PARTIALLY_FAILED"
	CodeOtherOperationInProgress      = "OTHER_OPERATION_IN_PROGRESS"
	CodeVMRequiresNetwork             = "VM_REQUIRES_NETWORK"
	CodeHostNotEnoughFreeMemory       = "HOST_NOT_ENOUGH_FREE_MEMORY"
	CodeNoHostsAvailable              = "NO_HOSTS_AVAILABLE"
	CodeVMIsTemplate                  = "VM_IS_TEMPLATE"
	CodeTaskCancelled                 = "TASK_CANCELLED"
	CodeEventsLost                    = "EVENTS_LOST"
	CodeSessionNotRegistered          = "SESSION_NOT_REGISTERED"
	CodeHostStillBooting              = "HOST_STILL_BOOTING"
	CodeHostOffline                   = "HOST_OFFLINE"
	CodeTooBusy                       = "TOO_BUSY"
	CodeHostNotLive                   = "HOST_NOT_LIVE"
	CodeHostInEmergencyMode           = "HOST_IN_EMERGENCY_MODE"
	CodeCannotContactHost             = "CANNOT_CONTACT_HOST"
	CodeDeviceAttachTimeout           = "DEVICE_ATTACH_TIMEOUT"
	CodeDeviceDetachTimeout           = "DEVICE_DETACH_TIMEOUT"
	CodeSMPluginCommFailure           = "SM_PLUGIN_COMMUNICATION_FAILURE"
	CodeHostDisabled                  = "HOST_DISABLED"
)

// hostRefusals are the errors of VM.start_on that say the host asked for
// cannot run the VM now (xapi's Xapi_vm_helpers.assert_can_boot_here and
// the host checks before it), where another host of the pool may.
var hostRefusals = []string{
	CodeHostNotEnoughFreeMemory, CodeHostDisabled, CodeHostOffline, CodeHostNotLive,
	CodeHostStillBooting, CodeHostInEmergencyMode, CodeCannotContactHost,
	CodeVMRequiresSR, CodeVMRequiresNetwork, "HOST_CANNOT_ATTACH_NETWORK",
	"VM_REQUIRES_GPU", "VM_REQUIRES_VGPU", "VM_REQUIRES_IOMMU", "VM_REQUIRES_NETSRIOV",
	"VM_HOST_INCOMPATIBLE_VERSION", "VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION",
	"VM_INCOMPATIBLE_WITH_THIS_HOST",
}

// RefusedByHost reports whether err says the host a VM was asked to boot on
// cannot run it, so that the pool's own placement may find another.
func RefusedByHost(err error) bool { return IsCode(err, hostRefusals...) }

// messages holds one operator-facing sentence per known code.
var messages = map[string]string{
	CodeSessionAuthenticationFailed:   "the user name or password was rejected by the pool",
	CodeHostIsSlave:                   "this host is not the pool master",
	CodeSessionInvalid:                "the session has expired or was logged out",
	CodeHandleInvalid:                 "the object does not exist (any more) in the database this session reads",
	CodeUUIDInvalid:                   "no object with this UUID exists in the pool",
	CodeMessageMethodUnknown:          "the pool does not know this API call",
	CodeMessageParameterCountMismatch: "the API call was made with the wrong number of parameters",
	CodeRBACPermissionDenied:          "the account lacks the permission for this operation (disaster recovery needs pool-operator or higher)",
	CodeLicenceRestriction:            "the pool's licence does not allow this feature",
	CodeOperationNotAllowed:           "the operation is not allowed in the object's current state",
	CodeInternalError:                 "the pool reported an internal error",
	CodeSRBackendFailure:              "the storage driver failed",
	CodeSRBackendFailure68:            "logging in to the iSCSI target failed (wrong address or CHAP credentials)",
	CodeSRBackendFailure83:            "iSCSI discovery failed on the target",
	CodeSRBackendFailure87:            "the LUN is missing from the storage configuration",
	CodeSRBackendFailure90:            "the device is missing from the storage configuration",
	CodeSRBackendFailure96:            "the target IQN is missing from the storage configuration",
	CodeSRBackendFailure107:           "the SCSI id is missing or does not match a device",
	CodeSRBackendFailure140:           "the storage target's host name could not be resolved",
	CodeSROperationNotSupported:       "the storage repository does not support this operation",
	CodeSRHasNoPBDs:                   "the storage repository is not plugged into every host of the pool",
	CodeSRHasPBD:                      "the storage repository is still attached to a host",
	CodeSRNotAttached:                 "the storage repository is not attached",
	CodeSRUUIDExists:                  "a storage repository with this UUID is already known to the pool",
	CodeNoMoreRedoLogsAllowed:         "the pool already replicates its metadata to the maximum number of storage repositories (8)",
	CodeCannotEnableRedoLog:           "metadata replication could not be enabled on the storage repository",
	CodeRedoLogIsEnabled:              "the operation is not possible while metadata replication is enabled",
	CodeVDIIncompatibleType:           "the disk is not a metadata disk",
	CodeCouldNotImportDatabase:        "the pool metadata could not be read from the metadata disk",
	CodeVDIContainsMetadataOfThisPool: "the metadata disk holds this pool's own metadata",
	CodeVMRequiresSR:                  "the VM needs a storage repository that is not attached to the pool",
	CodeVMIsPartOfAnAppliance:         "the VM belongs to a vApp and must be recovered with its vApp",
	CodeVMToImportIsNotNewerVersion:   "the pool already holds the same or a newer version of this VM",
	CodeVMBadPowerState:               "the VM is not in the power state this operation needs",
	CodeVDILocationMissing:            "a disk of the VM was not found on its storage repository",
	CodeVDIContentIDMissing:           "a disk of the VM was not found by its content id",
	CodeVDIInUse:                      "a disk on it is in use by a running VM",
	CodeOperationPartiallyFailed:      "the operation failed for some of the VMs",
	CodeOtherOperationInProgress:      "another operation is in progress on the object",
	CodeVMRequiresNetwork:             "the VM needs a network that is not available",
	CodeHostNotEnoughFreeMemory:       "the host does not have enough free memory to start the VM",
	CodeNoHostsAvailable:              "no host can run the VM",
	CodeVMIsTemplate:                  "the operation is not allowed on a template",
	CodeTaskCancelled:                 "the task was cancelled",
	CodeEventsLost:                    "events were lost; the event subscription must restart",
	CodeSessionNotRegistered:          "the session is not registered for events",
	CodeHostStillBooting:              "the host is still booting",
	CodeHostOffline:                   "the host is offline",
	CodeTooBusy:                       "the pool is too busy",
	CodeHostNotLive:                   "the host is not live",
	CodeHostInEmergencyMode:           "the host has lost its pool master and is in emergency mode",
	CodeCannotContactHost:             "the pool master could not contact another host of the pool",
	CodeDeviceAttachTimeout:           "attaching a device timed out",
	CodeDeviceDetachTimeout:           "detaching a device timed out",
	CodeSMPluginCommFailure:           "the storage plugin did not answer",
}

// Message returns a human sentence for the error's code.
func (e *Error) Message() string {
	if m, ok := messages[e.Code]; ok {
		return m
	}
	if strings.HasPrefix(e.Code, CodeSRBackendFailure+"_") {
		if len(e.Params) > 1 && strings.TrimSpace(e.Params[1]) != "" {
			return "the storage driver failed: " + strings.TrimSpace(e.Params[1])
		}
		return messages[CodeSRBackendFailure]
	}
	return "the pool reported an error"
}

// maxParamInError bounds each parameter in Error(); SM errors carry whole
// XML documents (stderr) that would drown the message. Params keeps them.
const maxParamInError = 160

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("XAPI error ")
	if e.Code == "" {
		b.WriteString("(no code)")
	} else {
		b.WriteString(e.Code)
	}
	if len(e.Params) > 0 {
		b.WriteString(" [")
		for i, p := range e.Params {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(excerpt(p, maxParamInError))
		}
		b.WriteString("]")
	}
	b.WriteString(": ")
	b.WriteString(e.Message())
	return b.String()
}

// Is lets errors.Is(err, &xapi.Error{Code: X}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Params == nil && t.Code == e.Code
}

// Param returns Params[i], or "" when absent.
func (e *Error) Param(i int) string {
	if i < 0 || i >= len(e.Params) {
		return ""
	}
	return e.Params[i]
}

// Code returns the XAPI error code of err, or "" if err is not an *Error.
func Code(err error) string {
	var xe *Error
	if errors.As(err, &xe) {
		return xe.Code
	}
	return ""
}

// IsCode reports whether err is an *Error with one of the given codes.
func IsCode(err error, codes ...string) bool {
	c := Code(err)
	if c == "" {
		return false
	}
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// AsError returns err as *Error when it is (or wraps) one.
func AsError(err error) (*Error, bool) {
	var xe *Error
	ok := errors.As(err, &xe)
	return xe, ok
}

// HTTPError is a non-200 HTTP answer (xapi answers 500 with an HTML page
// for malformed requests; proxies answer 502/503/504).
type HTTPError struct {
	StatusCode int
	Status     string
	Excerpt    string // start of the body, for the operator
}

func (e *HTTPError) Error() string {
	s := "HTTP " + e.Status
	if e.Excerpt != "" {
		s += ": " + e.Excerpt
	}
	return s
}

// ProtocolError means the answer was not a well-formed XAPI XML-RPC
// response (not XML, no Status, unexpected value type...).
type ProtocolError struct {
	Reason  string
	Excerpt string
}

func (e *ProtocolError) Error() string {
	if e.Excerpt == "" {
		return "invalid XAPI response: " + e.Reason
	}
	return fmt.Sprintf("invalid XAPI response: %s (body starts %q)", e.Reason, e.Excerpt)
}

// Class is what a failure means to a caller deciding whether to try again.
type Class int

const (
	// Permanent: the request, the credentials, the licence or the inventory
	// is wrong; the same call would get the same answer.
	Permanent Class = iota
	// Transient: the pool or the network failed for now; a later attempt,
	// after a backoff and a bounded number of times, may succeed.
	Transient
	// Canceled: the caller gave up; nobody should retry on its behalf.
	Canceled
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Canceled:
		return "canceled"
	}
	return "permanent"
}

// transientCodes are the xapi codes that describe a moment, not the request
// (wire spelling, ocaml/xapi-consts/api_errors.ml). Any other code is
// permanent: VM_REQUIRES_SR, HANDLE_INVALID, RBAC_PERMISSION_DENIED,
// LICENCE_RESTRICTION, SESSION_AUTHENTICATION_FAILED...
var transientCodes = map[string]bool{
	CodeSessionInvalid:           true, // expired; the session logs in again once itself
	CodeSessionNotRegistered:     true,
	CodeEventsLost:               true,
	CodeHostIsSlave:              true, // reached only when no master was found
	CodeOtherOperationInProgress: true,
	CodeHostStillBooting:         true,
	CodeHostOffline:              true,
	CodeHostNotLive:              true,
	CodeHostInEmergencyMode:      true, // the pool is electing or restoring a master
	CodeCannotContactHost:        true,
	CodeTooBusy:                  true,
	CodeDeviceAttachTimeout:      true,
	CodeDeviceDetachTimeout:      true,
	CodeSMPluginCommFailure:      true,
	// xapi's catch-all for an unexpected exception, usually a race inside
	// the pool (xenopsd, storage): worth a few more tries, not more.
	CodeInternalError: true,
}

// Classify is the one place that says whether a failure is worth another
// attempt. Transient: transport failures (dropped connections, refused
// dials, timeouts, 429/502/503/504), the transient codes above, and a
// master that could not be found. Permanent: any other xapi code, TLS
// certificate problems, malformed answers, unknown host names. Canceled:
// the caller's context was cancelled.
func Classify(err error) Class {
	if err == nil {
		return Permanent
	}
	if xe, ok := AsError(err); ok {
		if transientCodes[xe.Code] {
			return Transient
		}
		return Permanent
	}
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Transient
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch he.StatusCode {
		case 429, 502, 503, 504:
			return Transient
		}
		return Permanent
	}
	var pe *ProtocolError
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var hn x509.HostnameError
	var rh tls.RecordHeaderError
	if errors.As(err, &pe) || errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &hn) || errors.As(err, &rh) {
		return Permanent
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return Permanent
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || closedIdle(err) {
		return Transient
	}
	return Permanent
}

// Retryable reports whether repeating the operation later may succeed
// (Classify says Transient).
func Retryable(err error) bool { return Classify(err) == Transient }

// notDelivered reports whether err means the request never reached the
// host: it could not be dialled, so the call was not executed there.
func notDelivered(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	if closedIdle(err) {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// closedIdle reports net/http's "server closed idle connection": the host
// closed a kept-alive connection before the request was written on it (a
// host going down, a restarted xapi), so the call never reached it. The
// error value is not exported; its text is stable.
func closedIdle(err error) bool {
	return err != nil && strings.Contains(err.Error(), "http: server closed idle connection")
}

// excerpt shortens s to about n bytes for error messages.
func excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && (s[cut]&0xC0) == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
