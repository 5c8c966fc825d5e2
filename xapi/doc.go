// Package xapi is a client for the XenServer / XCP-ng management API (XAPI)
// over XML-RPC, focused on what disaster recovery needs. It has no
// dependency on the rest of lifeboat.
//
// Wire: requests are encoded with github.com/kolo/xmlrpc; responses are
// first normalised (Normalize) because xapi writes strings and ints as
// untyped <value>text</value> and empty strings as <value></value>, which
// kolo otherwise mis-decodes and silently drops members after. The
// Status/Value/ErrorDescription envelope is checked; API failures are
// *Error values with the xapi code (use errors.As, IsCode, Code, Retryable).
//
// Sessions: Client.Login follows HOST_IS_SLAVE to the master; a Session
// logs in again once and retries once on SESSION_INVALID, and is safe for
// concurrent use. A Session follows its pool: on HOST_IS_SLAVE, or when the
// master cannot be dialled, it asks the address in the error, then the
// pool's other hosts (WithKnownHosts, and those it read from
// host.get_all_records), which is the master now, and goes on there; a
// slave is never asked twice, and WithMasterMoved reports each move once.
//
// Retries: Classify is the one rule for what is worth another attempt
// (Transient: transport failures, timeouts, busy or booting hosts,
// INTERNAL_ERROR, no master found) and what is not (Permanent: every other
// code, VM_REQUIRES_SR, RBAC_PERMISSION_DENIED, LICENCE_RESTRICTION,
// SESSION_AUTHENTICATION_FAILED, TLS certificates...). A call that changes
// something is never repeated after its connection dropped.
//
// Long operations use Async.* calls: their answer, the task reference, is
// awaited up to WithAsyncCallTimeout, and a VM operation whose answer never
// came is looked for in the VM's current_operations (a slow pool is waited
// for, not asked twice). The task is awaited with event.from (falling back
// to polling task.get_record); cancelling the context cancels the task;
// tasks are always destroyed afterwards. VM starts and resumes are
// synchronous calls instead while the session has fewer than
// WithSyncCalls of them in flight: one call, no task of ours to wait for
// or destroy (xapi runs the call in a task of its own), answered when the
// boot and the VM's start_delay end. A call without an answer is waited
// for in the VM's current_operations (AwaitOperations, synccall.go) and
// its error wrapped in ErrAnswerLost; a cancelled context cancels the
// task found there.
// WithProgress reports task progress, e.g. for heartbeats.
//
// Foreign databases: Session.OpenDatabase returns a *ForeignSession whose
// reads return ForeignRef-keyed records (ForeignVM, ...). Recovery calls
// live on it and take the real *Session as session_to, so foreign and real
// references cannot be mixed up by accident.
//
// Example:
//
//	c, err := xapi.NewClient("https://dr-master.example", xapi.WithCAFile("/etc/lifeboat/ca.pem"))
//	if err != nil { ... }
//	s, err := c.Login(ctx, "root", password)
//	if err != nil { ... }
//	defer s.Logout(context.WithoutCancel(ctx))
//	vdis, err := s.GetAllVDIRecords(ctx)
//	for ref, vdi := range vdis {
//		if vdi.Type != "metadata" || !vdi.MetadataLatest {
//			continue
//		}
//		fs, err := s.OpenDatabase(ctx, ref)
//		if err != nil { ... }
//		vms, err := fs.GetAllVMRecords(ctx)
//		for vmRef, vm := range vms {
//			if vm.IsRealVM() && !vm.InAppliance() {
//				err = fs.RecoverVM(ctx, vmRef, s, true)
//			}
//		}
//		fs.Logout(ctx)
//	}
package xapi
