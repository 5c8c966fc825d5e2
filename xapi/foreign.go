package xapi

import (
	"context"
	"fmt"
	"sync"
)

// ForeignSession is a read-only session bound to a foreign pool database
// replayed from a metadata VDI (VDI.open_database). Every read through it
// sees the foreign database and returns ForeignRef. Recovery calls take the
// real session as session_to. It lives only in the memory of the master
// that opened it: use it with that master only and always Logout.
type ForeignSession struct {
	opener *Session // the real session that opened it; calls go to its master
	ref    ForeignRef
	vdi    Ref

	mu     sync.Mutex
	closed bool
}

// OpenDatabase opens the foreign database held in metadata VDI vdi
// (Async.VDI.open_database) and returns a session bound to it.
func (s *Session) OpenDatabase(ctx context.Context, vdi Ref) (*ForeignSession, error) {
	res, err := s.runAsync(ctx, "VDI.open_database", vdi)
	if err != nil {
		return nil, fmt.Errorf("open metadata database of VDI %s: %w", vdi, err)
	}
	ref, err := resultRef(res)
	if err != nil || ref == "" {
		return nil, fmt.Errorf("open metadata database of VDI %s: %w", vdi, &ProtocolError{Reason: "task result is not a session reference"})
	}
	return &ForeignSession{opener: s, ref: ForeignRef(ref), vdi: vdi}, nil
}

// NewForeignSession wraps a foreign session reference obtained elsewhere
// (for instance recorded in an activity heartbeat) for use through s.
func (s *Session) NewForeignSession(ref ForeignRef, vdi Ref) *ForeignSession {
	return &ForeignSession{opener: s, ref: ref, vdi: vdi}
}

// Ref returns the foreign session reference.
func (f *ForeignSession) Ref() ForeignRef { return f.ref }

// VDI returns the metadata VDI the database was opened from.
func (f *ForeignSession) VDI() Ref { return f.vdi }

// call prepends the foreign session reference. There is no re-login: a
// foreign session cannot be recreated without reopening the database.
// A foreign database lives on the master that opened it: when the master
// moves, the call follows it and meets SESSION_INVALID there.
func (f *ForeignSession) call(ctx context.Context, method string, params ...any) (any, error) {
	o := f.opener
	c, _, gen := o.current()
	v, err := c.call(ctx, o.cfg.callTimeout, method, append([]any{string(f.ref)}, params...))
	if !masterGone(method, err) || ctx.Err() != nil {
		return v, err
	}
	if derr := o.rediscover(ctx, c, gen, err); derr != nil {
		return nil, derr
	}
	c, _, _ = o.current()
	return c.call(ctx, o.cfg.callTimeout, method, append([]any{string(f.ref)}, params...))
}

// callTo makes a call whose params include session_to (the real session
// reference, substituted for toPlaceholder). If xapi rejects session_to as
// SESSION_INVALID, to logs in again once and the call is retried once.
func (f *ForeignSession) callTo(ctx context.Context, to *Session, method string, params ...any) (any, error) {
	if to == nil {
		return nil, fmt.Errorf("%s: session_to is nil", method)
	}
	build := func(ref Ref) []any {
		out := make([]any, len(params))
		for i, p := range params {
			if _, ok := p.(toPlaceholder); ok {
				out[i] = string(ref)
			} else {
				out[i] = p
			}
		}
		return out
	}
	toRef := to.Ref()
	v, err := f.call(ctx, method, build(toRef)...)
	if xe, ok := AsError(err); ok && xe.Code == CodeSessionInvalid && xe.Param(0) == string(toRef) {
		newRef, rerr := to.relogin(ctx, toRef)
		if rerr != nil {
			return nil, fmt.Errorf("%w (log in again: %v)", err, rerr)
		}
		return f.call(ctx, method, build(newRef)...)
	}
	return v, err
}

type toPlaceholder struct{}

// Logout ends the foreign session, which also unregisters the foreign
// database in xapi. Idempotent.
func (f *ForeignSession) Logout(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	_, err := f.call(ctx, "session.logout")
	if err != nil && !IsCode(err, CodeSessionInvalid) {
		return fmt.Errorf("log out of metadata database of VDI %s: %w", f.vdi, err)
	}
	return nil
}

// GetPBDDeviceConfig returns a PBD's device_config from the foreign database
// (to re-attach a missing SR with DR_task.create).
func (f *ForeignSession) GetPBDDeviceConfig(ctx context.Context, pbd ForeignRef) (map[string]string, error) {
	v, err := f.call(ctx, "PBD.get_device_config", string(pbd))
	if err != nil {
		return nil, fmt.Errorf("read device_config of foreign PBD %s: %w", pbd, err)
	}
	out := map[string]string{}
	if err := decodeInto(v, &out); err != nil {
		return nil, fmt.Errorf("read device_config of foreign PBD %s: %w", pbd, &ProtocolError{Reason: err.Error()})
	}
	return out, nil
}

// AssertVMCanBeRecovered checks that every SR the VM needs is attached in
// the pool of session to (VM.assert_can_be_recovered); VM_REQUIRES_SR
// otherwise (Params[1] may be a foreign or a real SR ref; docs/xapi-dr.md,
// "Recovery calls").
func (f *ForeignSession) AssertVMCanBeRecovered(ctx context.Context, vm ForeignRef, to *Session) error {
	if _, err := f.callTo(ctx, to, "VM.assert_can_be_recovered", string(vm), toPlaceholder{}); err != nil {
		return fmt.Errorf("check VM %s can be recovered: %w", vm, err)
	}
	return nil
}

// GetSRsRequiredForVMRecovery returns the foreign refs of SRs the VM needs
// that are missing or unplugged in the target pool (empty = recoverable).
func (f *ForeignSession) GetSRsRequiredForVMRecovery(ctx context.Context, vm ForeignRef, to *Session) ([]ForeignRef, error) {
	v, err := f.callTo(ctx, to, "VM.get_SRs_required_for_recovery", string(vm), toPlaceholder{})
	if err != nil {
		return nil, fmt.Errorf("list SRs required to recover VM %s: %w", vm, err)
	}
	var out []ForeignRef
	if err := decodeInto(v, &out); err != nil {
		return nil, fmt.Errorf("list SRs required to recover VM %s: %w", vm, &ProtocolError{Reason: err.Error()})
	}
	return out, nil
}

// RecoverVM recreates the VM (and its snapshots) from the foreign database
// in the pool of session to (Async.VM.recover). With force, a same-UUID
// halted VM is replaced and a non-halted one silently skipped (docs/xapi-dr.md,
// "Recovery calls").
func (f *ForeignSession) RecoverVM(ctx context.Context, vm ForeignRef, to *Session, force bool) error {
	if _, err := f.runAsyncTo(ctx, to, "VM.recover", string(vm), toPlaceholder{}, force); err != nil {
		return fmt.Errorf("recover VM %s: %w", vm, err)
	}
	return nil
}

// AssertVMApplianceCanBeRecovered is VM_appliance.assert_can_be_recovered.
func (f *ForeignSession) AssertVMApplianceCanBeRecovered(ctx context.Context, app ForeignRef, to *Session) error {
	if _, err := f.callTo(ctx, to, "VM_appliance.assert_can_be_recovered", string(app), toPlaceholder{}); err != nil {
		return fmt.Errorf("check vApp %s can be recovered: %w", app, err)
	}
	return nil
}

// GetSRsRequiredForVMApplianceRecovery is VM_appliance.get_SRs_required_for_recovery.
func (f *ForeignSession) GetSRsRequiredForVMApplianceRecovery(ctx context.Context, app ForeignRef, to *Session) ([]ForeignRef, error) {
	v, err := f.callTo(ctx, to, "VM_appliance.get_SRs_required_for_recovery", string(app), toPlaceholder{})
	if err != nil {
		return nil, fmt.Errorf("list SRs required to recover vApp %s: %w", app, err)
	}
	var out []ForeignRef
	if err := decodeInto(v, &out); err != nil {
		return nil, fmt.Errorf("list SRs required to recover vApp %s: %w", app, &ProtocolError{Reason: err.Error()})
	}
	return out, nil
}

// RecoverVMAppliance recreates the vApp and its VMs in the pool of session
// to (Async.VM_appliance.recover).
func (f *ForeignSession) RecoverVMAppliance(ctx context.Context, app ForeignRef, to *Session, force bool) error {
	if _, err := f.runAsyncTo(ctx, to, "VM_appliance.recover", string(app), toPlaceholder{}, force); err != nil {
		return fmt.Errorf("recover vApp %s: %w", app, err)
	}
	return nil
}

// runAsyncTo starts Async.<method> with the foreign session; the task lives
// in the master's real database, so it is awaited and destroyed through to.
func (f *ForeignSession) runAsyncTo(ctx context.Context, to *Session, method string, params ...any) (string, error) {
	v, err := f.callTo(ctx, to, "Async."+method, params...)
	if err != nil {
		return "", err
	}
	task, err := taskRefFrom(v)
	if err != nil {
		return "", err
	}
	return to.awaitTask(ctx, task)
}
