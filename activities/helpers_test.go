package activities

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi"
)

// TestClassifyTable: the activity's error says what failed and why, with
// a code; retryable ones carry nothing else (their message may be the last
// one), final ones carry the activity's advice apart from the message.
func TestClassifyTable(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		err       error
		retryable bool
		code      string
		says      string
	}{
		{"requires SR", &xapi.Error{Code: xapi.CodeVMRequiresSR, Params: []string{"OpaqueRef:v", "OpaqueRef:s"}}, false, xapi.CodeVMRequiresSR, "not attached"},
		{"rbac", &xapi.Error{Code: xapi.CodeRBACPermissionDenied, Params: []string{"vdi.open_database", "no"}}, false, xapi.CodeRBACPermissionDenied, "pool-operator"},
		{"licence", &xapi.Error{Code: xapi.CodeLicenceRestriction, Params: []string{"DR"}}, false, xapi.CodeLicenceRestriction, "licence"},
		{"handle invalid", &xapi.Error{Code: xapi.CodeHandleInvalid, Params: []string{"VM", "OpaqueRef:x"}}, false, xapi.CodeHandleInvalid, "does not exist"},
		{"backend 140", &xapi.Error{Code: xapi.CodeSRBackendFailure140, Params: []string{"", "DNS lookup failed", ""}}, false, xapi.CodeSRBackendFailure140, "could not be resolved"},
		{"busy", &xapi.Error{Code: xapi.CodeOtherOperationInProgress, Params: []string{"VM", "x", "start", "t"}}, true, xapi.CodeOtherOperationInProgress, "another operation"},
		{"internal error", &xapi.Error{Code: xapi.CodeInternalError, Params: []string{"xenopsd died"}}, true, xapi.CodeInternalError, "xenopsd died"},
		{"session", &xapi.Error{Code: xapi.CodeSessionInvalid}, true, xapi.CodeSessionInvalid, "expired"},
		{"memory", &xapi.Error{Code: xapi.CodeHostNotEnoughFreeMemory, Params: []string{"100", "10"}}, false, xapi.CodeHostNotEnoughFreeMemory, "needs 100 bytes, 10 free"},
		{"net", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true, codeUnreachable, "connection refused"},
		{"eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true, codeUnreachable, "the connection was closed before the answer"},
		{"no master", &xapi.MasterNotFoundError{Tried: []string{"10.0.0.1:443", "10.0.0.2:443"}, Reason: &xapi.Error{Code: xapi.CodeHostIsSlave, Params: []string{"10.0.0.2"}},
			Last: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}, true, codeNoMaster, "no host answers as its pool master (asked 10.0.0.1:443, 10.0.0.2:443"},
		{"protocol", &xapi.ProtocolError{Reason: "not XML"}, false, codeXAPI, "not XML"},
		{"certificate", fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), false, codeTLS, "x509"},
		{"timeout", context.DeadlineExceeded, true, codeUnreachable, "did not answer in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(ctx, tc.err, `recovering VM 'erp-db' at site dr failed`, "fix it, then re-run")
			var ae *temporal.ApplicationError
			require.True(t, errors.As(err, &ae))
			assert.Equal(t, !tc.retryable, ae.NonRetryable())
			assert.Equal(t, tc.code, ae.Type())
			assert.Equal(t, tc.code, ErrorCode(err))
			assert.True(t, strings.HasPrefix(ae.Message(), `recovering VM 'erp-db' at site dr failed: `), ae.Message())
			assert.True(t, strings.HasSuffix(ae.Message(), "."), ae.Message())
			assert.NotContains(t, ae.Message(), "re-run")
			assert.Contains(t, ae.Message(), tc.says)
			if tc.retryable {
				assert.False(t, ae.HasDetails(), "a retryable error carries no advice")
			} else {
				var adv Advice
				require.NoError(t, ae.Details(&adv))
				assert.Equal(t, "fix it, then re-run", adv.Next)
			}
		})
	}
	// A cancelled activity returns the context's error, not a classification.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, classify(cctx, context.Canceled, "x", "y"), context.Canceled)
}

// TestNextStep: one next step per code; the activity's advice when the code
// has none; the step's own otherwise.
func TestNextStep(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"bad password", loginError("dr", "https://dr", "root", &xapi.Error{Code: xapi.CodeSessionAuthenticationFailed}), "correct the site's username or password"},
		{"role", loginError("dr", "https://dr", "auditor", &xapi.Error{Code: xapi.CodeRBACPermissionDenied}), "pool-operator role"},
		{"tls", loginError("dr", "https://dr", "root", fmt.Errorf("x: %w", x509.UnknownAuthorityError{})), "ca_file"},
		{"unreachable", loginError("dr", "https://dr", "root", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}), "reachable from the worker"},
		{"no master", classify(ctx, &xapi.MasterNotFoundError{Reason: &xapi.Error{Code: xapi.CodeHostIsSlave}}, "x", ""), "hosts: in the worker configuration"},
		{"unknown site", nonRetryable(codeUnknownSite, "site \"mars\" is not in the worker configuration.", nil), "add the site to the worker configuration"},
		{"requires SR", classify(ctx, &xapi.Error{Code: xapi.CodeVMRequiresSR}, "x", "activity advice"), "make the storage the VM needs visible"},
		{"licence", classify(ctx, &xapi.Error{Code: xapi.CodeLicenceRestriction}, "x", ""), "license the pool"},
		{"storage driver", classify(ctx, &xapi.Error{Code: "SR_BACKEND_FAILURE_47"}, "x", "activity advice"), "device_config"},
		{"activity advice", classify(ctx, &xapi.Error{Code: xapi.CodeHandleInvalid}, "x", "re-scan the metadata"), "re-scan the metadata"},
		{"fallback", classify(ctx, &xapi.Error{Code: xapi.CodeHandleInvalid}, "x", ""), "the step's own"},
		{"wrapped", fmt.Errorf("activity: %w", classify(ctx, &xapi.Error{Code: xapi.CodeTooBusy}, "x", "")), "wait for the pool's load"},
		{"not an activity error", errors.New("boom"), "the step's own"},
	} {
		next := NextStep(tc.err, "the step's own")
		assert.Contains(t, next, tc.want, tc.name)
		assert.NotContains(t, next, ";", "%s: one next step: %s", tc.name, next)
		assert.False(t, strings.HasSuffix(next, "."), "%s: a clause the workflow ends: %s", tc.name, next)
	}
	for code, next := range nextSteps {
		assert.NotContains(t, next, ";", code)
		assert.False(t, strings.HasSuffix(next, "."), code)
	}
}

func TestClassifyScrubsSecrets(t *testing.T) {
	r := &resolved{secrets: []string{"hunter2"}}
	err := classifyScrubbed(context.Background(), &xapi.Error{Code: xapi.CodeSRBackendFailure68, Params: []string{"", "login failed for chap hunter2", "stderr hunter2"}},
		`probing storage "s" failed`, "check CHAP", r)
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae))
	assert.True(t, ae.NonRetryable())
	for e := error(ae); e != nil; e = errors.Unwrap(e) {
		assert.NotContains(t, e.Error(), "hunter2")
	}
	assert.Contains(t, ae.Message(), "[secret]")
}

func TestResolveDeviceConfig(t *testing.T) {
	a := &Activities{secrets: mapSecrets{"chap": "pw", "user": "u"}}
	st := plan.StorageTarget{Name: "gold", DeviceConfig: map[string]string{"chappassword": "${secret:chap}", "chapuser": "x-${secret:user}-y", "target": "t"}}
	r, err := a.resolveDeviceConfig(st, 0)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"chappassword": "pw", "chapuser": "x-u-y", "target": "t"}, r.config)
	assert.Equal(t, "${secret:chap}", st.DeviceConfig["chappassword"], "the plan is not modified")
	_, err = (&Activities{}).resolveDeviceConfig(st, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `secret "chap"`)
}

func TestMergerKeepsNewestAndTieRule(t *testing.T) {
	m := newMerger()
	// VDIs are added in UUID order: "a" before "b".
	m.add("a", &metadata{
		vms: []VMInfo{{UUID: "vm1", Name: "one", Version: 1, SourceVDI: "a"}, {UUID: "vm2", Name: "two", Version: 3, SourceVDI: "a"},
			{UUID: "m1", Name: "member", VApp: "app", Version: 2, SourceVDI: "a"}},
		vapps: []VAppInfo{{UUID: "app", Name: "app", SourceVDI: "a", VMs: []VMInfo{{UUID: "m1", Name: "member", VApp: "app", Version: 2, SourceVDI: "a"}}}},
	})
	m.add("b", &metadata{
		vms: []VMInfo{{UUID: "vm1", Name: "one", Version: 2, SourceVDI: "b"}, {UUID: "vm2", Name: "two", Version: 3, SourceVDI: "b"},
			{UUID: "m1", Name: "member", VApp: "app", Version: 2, SourceVDI: "b"}},
		vapps: []VAppInfo{{UUID: "app", Name: "app", SourceVDI: "b", VMs: []VMInfo{{UUID: "m1", Name: "member", VApp: "app", Version: 2, SourceVDI: "b"}}}},
	})
	vapps, vms, dropped := m.result()
	assert.Empty(t, dropped)
	require.Len(t, vapps, 1)
	assert.Equal(t, "a", vapps[0].SourceVDI, "tie: smallest VDI UUID")
	require.Len(t, vms, 2, "members are not standalone")
	assert.Equal(t, "b", vms[0].SourceVDI, "vm1: higher version wins")
	assert.Equal(t, int64(2), vms[0].Version)
	assert.Equal(t, "a", vms[1].SourceVDI, "vm2: tie, smallest VDI UUID")
}

// TestScanResultSize measures a 5,000-VM scan result: it must fit one
// Temporal payload (2 MB) with room to spare.
func TestScanResultSize(t *testing.T) {
	uuid := func(i int) string { return fmt.Sprintf("%08x-1d7e-4a8b-9c3d-%012x", i, i) }
	res := &ScanResult{TargetPoolUUID: uuid(0), Sources: []MetadataSource{{VDIUUID: uuid(1), SRUUID: uuid(2), SRName: "gold-01", PoolUUID: uuid(3), PoolName: "Primary"}}}
	vdi := uuid(1)
	n := 0
	for a := 0; a < 500; a++ {
		app := VAppInfo{UUID: uuid(10000 + a), Name: fmt.Sprintf("vapp-%03d", a), SourceVDI: vdi}
		for k := 0; k < 5; k++ {
			n++
			app.VMs = append(app.VMs, VMInfo{UUID: uuid(20000 + n), Name: fmt.Sprintf("vm-%04d", n), VApp: app.UUID, Order: int64(k), StartDelay: 10,
				Version: 1, PowerState: "Running", MemoryMax: 8 << 30, SourceVDI: vdi})
		}
		res.VApps = append(res.VApps, app)
	}
	for n < 5000 {
		n++
		res.VMs = append(res.VMs, VMInfo{UUID: uuid(20000 + n), Name: fmt.Sprintf("vm-%04d", n), Version: 1, PowerState: "Running",
			Tags: []string{"tier1"}, MemoryMax: 4 << 30, SourceVDI: vdi})
	}
	b, err := json.Marshal(res)
	require.NoError(t, err)
	t.Logf("ScanResult with 5,000 VMs (500 vApps of 5, 2,500 standalone): %d bytes (%.2f MB) of JSON", len(b), float64(len(b))/1e6)
	assert.Less(t, len(b), 1_500_000)
}

// testLogger logs to t until the test ends and drops what comes later: a
// site's background loops (the task watcher following a master that moved)
// may still log once the test is over, which testing forbids (a data race
// under -race).
func testLogger(t *testing.T) *zap.Logger {
	l := &untilEnd{Core: zaptest.NewLogger(t).Core(), mu: &sync.RWMutex{}, ended: new(bool)}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		*l.ended = true
	})
	return zap.New(l)
}

type untilEnd struct {
	zapcore.Core
	mu    *sync.RWMutex
	ended *bool
}

func (c *untilEnd) With(fields []zapcore.Field) zapcore.Core {
	return &untilEnd{Core: c.Core.With(fields), mu: c.mu, ended: c.ended}
}

func (c *untilEnd) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *untilEnd) Write(e zapcore.Entry, fields []zapcore.Field) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if *c.ended {
		return nil
	}
	return c.Core.Write(e, fields)
}

// callsOf counts the journal's calls of method from entry since on, made
// synchronously or as Async.<method> (a session makes its VM starts
// synchronously within its budget, xapi.WithSyncCalls), with result (any
// if "").
func callsOf(f *fixture, since int, method, result string) int {
	n := 0
	for _, e := range f.w.Journal().Entries(0)[since:] {
		if strings.TrimPrefix(e.Method, "Async.") == method && (result == "" || e.Result == result) {
			n++
		}
	}
	return n
}
