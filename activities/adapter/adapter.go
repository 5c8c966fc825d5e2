// Package adapter is lifeboat's storage adapter protocol (the SRM "SRA" idea,
// for any array): an executable, named and configured in the worker
// configuration only, that lifeboat runs once per request. It reads one JSON
// Request on stdin and writes one JSON Response on stdout, then exits.
// docs/storage-adapters.md describes the protocol for adapter authors.
//
// The package holds the protocol types (an adapter written in Go can use
// them) and Call, which runs an adapter with a timeout. Call never leaves a
// process behind: on timeout or cancellation the adapter's whole process
// group is killed.
package adapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Protocol is the protocol version lifeboat speaks; it is sent in every request.
const Protocol = 1

// Actions.
const (
	ActionStatus         = "status"          // mirror state and lag of a LUN; changes nothing
	ActionSnapshot       = "snapshot"        // make (or find) a named snapshot of a LUN
	ActionDeleteSnapshot = "delete-snapshot" // delete a named snapshot; none is not an error
	ActionPromote        = "promote"         // make the LUN writable at its site (split the mirror)
	ActionReverse        = "reverse"         // replicate from this LUN back to its former source
)

// Actions lists every action, in the order the documentation gives them.
var Actions = []string{ActionStatus, ActionSnapshot, ActionDeleteSnapshot, ActionPromote, ActionReverse}

// Error codes an adapter may answer with; an adapter may use others.
const (
	CodeNotFound    = "NOT_FOUND"    // no such LUN / mirror
	CodeBadRequest  = "BAD_REQUEST"  // the request makes no sense to this adapter
	CodeUnavailable = "UNAVAILABLE"  // the array does not answer (retryable)
	CodeConflict    = "CONFLICT"     // the array refuses in its current state
	CodeUnsupported = "UNSUPPORTED"  // this adapter does not do that action
	CodeInternal    = "ARRAY_FAILED" // anything else the array reported
)

// Default timeout of one call when the worker configuration gives none.
const DefaultTimeout = 2 * time.Minute

// maxOutput bounds what is read of an adapter's stdout and stderr.
const maxOutput = 1 << 20

// Config is one adapter, as the worker configuration defines it.
type Config struct {
	Name    string
	Command []string // argv: the executable and its arguments
	Timeout time.Duration
}

// LUN identifies a device as the plan's storage target gives it (never a
// secret: CHAP credentials are not sent).
type LUN struct {
	Type      string `json:"type"`                 // lvmoiscsi or lvmohba
	SCSIid    string `json:"scsi_id"`              // the device's SCSI id (NAA/WWN)
	Target    string `json:"target,omitempty"`     // iSCSI portal address
	Port      string `json:"port,omitempty"`       // iSCSI port
	TargetIQN string `json:"target_iqn,omitempty"` // iSCSI target IQN
}

// Request is what lifeboat writes on the adapter's stdin.
type Request struct {
	Protocol int    `json:"protocol"`
	Action   string `json:"action"`
	Site     string `json:"site"` // the worker's name of the site the LUN is at
	LUN      LUN    `json:"lun"`
	// Snapshot is the name of the snapshot (snapshot, delete-snapshot). It
	// is unique per run and storage target, so asking twice (a retry) must
	// return the same snapshot.
	Snapshot string `json:"snapshot,omitempty"`
}

// Response is what the adapter writes on stdout.
type Response struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"` // what was done, for the report
	Error   *Fault `json:"error,omitempty"`   // when !OK
	// Mirror: status, promote and reverse.
	Mirror *Mirror `json:"mirror,omitempty"`
	// Snapshot: snapshot (required), delete-snapshot (optional).
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	// Deleted: delete-snapshot; false when there was no such snapshot.
	Deleted bool `json:"deleted,omitempty"`
}

// Fault is an adapter's error answer.
type Fault struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable,omitempty"`
}

// Mirror is the replication state of the LUN's mirror.
type Mirror struct {
	Name       string    `json:"name"`
	State      string    `json:"state"`                 // replicating, split, reversed (or the array's word)
	Role       string    `json:"role,omitempty"`        // source or destination: this LUN's end
	LagSeconds float64   `json:"lag_seconds,omitempty"` // configured or measured lag
	LastCopy   time.Time `json:"last_copy,omitzero"`    // when the LUN last received data
}

// Snapshot is a snapshot LUN, ready to probe at its site.
type Snapshot struct {
	Name string `json:"name"`
	// Created is false when the snapshot already existed (a repeated request).
	Created bool `json:"created"`
	// DeviceConfig is what SR.probe and DR_task.create take for it: SCSIid,
	// and for iSCSI target, port and targetIQN.
	DeviceConfig map[string]string `json:"device_config"`
	// DataAsOf (optional) is when the data the snapshot holds was current:
	// for a snapshot of a mirror's destination, the mirror's last copy
	// before it was taken. The run's report gives it as the age of the data
	// a test came back with (an RPO indication); without it, "not known".
	DataAsOf time.Time `json:"data_as_of,omitzero"`
}

// Kind says how a call failed.
type Kind string

const (
	KindTimeout  Kind = "timeout"  // no answer within the timeout: the adapter was stopped
	KindProtocol Kind = "protocol" // it did not answer one valid JSON response
	KindRefused  Kind = "refused"  // it answered ok: false
	KindStart    Kind = "start"    // it could not be started
)

// Error is a failed call; its message is one sentence naming the adapter
// and the action. Stderr is kept apart (the worker logs it; it never goes
// into an error message, which reaches Temporal's history).
type Error struct {
	Adapter, Action string
	Kind            Kind
	Fault           *Fault // KindRefused
	Detail          string // what is wrong (protocol, start)
	Timeout         time.Duration
	Stderr          string
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindTimeout:
		return fmt.Sprintf("storage adapter %s did not answer %s within %s and was stopped", e.Adapter, e.Action, e.Timeout)
	case KindRefused:
		return fmt.Sprintf("storage adapter %s could not %s: %s (%s)", e.Adapter, e.Action, strings.TrimSuffix(e.Fault.Message, "."), e.Fault.Code)
	case KindStart:
		return fmt.Sprintf("storage adapter %s could not be started for %s: %s", e.Adapter, e.Action, e.Detail)
	}
	return fmt.Sprintf("storage adapter %s broke the protocol on %s: %s", e.Adapter, e.Action, e.Detail)
}

// Retryable says whether a later call may succeed: a timeout, or a refusal
// the adapter marked retryable. A protocol error will not mend itself.
func (e *Error) Retryable() bool {
	return e.Kind == KindTimeout || (e.Kind == KindRefused && e.Fault.Retryable)
}

// Call runs the adapter once for the request and checks its answer.
func Call(ctx context.Context, cfg Config, req Request) (*Response, error) {
	req.Protocol = Protocol
	fail := func(kind Kind, detail string) *Error {
		return &Error{Adapter: cfg.Name, Action: req.Action, Kind: kind, Detail: detail, Timeout: cfg.timeout()}
	}
	if len(cfg.Command) == 0 {
		return nil, fail(KindStart, "the worker configuration gives it no command")
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, fail(KindStart, err.Error())
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	cmd := exec.CommandContext(cctx, cfg.Command[0], cfg.Command[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr limitedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Its own process group, killed whole: an adapter that started a helper
	// (a shell script calling an array CLI) leaves nothing running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if cctx.Err() != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e := fail(KindTimeout, "")
		e.Stderr = stderr.String()
		return nil, e
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return nil, fail(KindStart, runErr.Error())
	}
	resp, detail := parse(req.Action, stdout.Bytes())
	if detail != "" {
		if runErr != nil {
			detail += " (" + runErr.Error() + ")"
		}
		e := fail(KindProtocol, detail)
		e.Stderr = stderr.String()
		return nil, e
	}
	if !resp.OK {
		e := fail(KindRefused, "")
		e.Fault, e.Stderr = resp.Error, stderr.String()
		return nil, e
	}
	return resp, nil
}

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// parse decodes and checks a response; detail says what is wrong with it.
func parse(action string, out []byte) (*Response, string) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, "it wrote nothing on stdout"
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	var resp Response
	if err := dec.Decode(&resp); err != nil {
		return nil, "its answer is not a JSON response: " + err.Error()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "it wrote more than one JSON value on stdout"
	}
	if !resp.OK {
		if resp.Error == nil || resp.Error.Message == "" {
			return nil, `it answered ok: false without "error": {"code", "message"}`
		}
		if resp.Error.Code == "" {
			resp.Error.Code = CodeInternal
		}
		return &resp, ""
	}
	switch action {
	case ActionSnapshot:
		if resp.Snapshot == nil || resp.Snapshot.DeviceConfig["SCSIid"] == "" {
			return nil, `its answer has no "snapshot": {"device_config": {"SCSIid": ...}}`
		}
	case ActionStatus, ActionPromote, ActionReverse:
		if resp.Mirror == nil || resp.Mirror.State == "" {
			return nil, `its answer has no "mirror": {"state": ...}`
		}
	}
	return &resp, ""
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
