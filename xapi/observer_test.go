package xapi

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type seenCall struct {
	method string
	code   string
	failed bool
}

type recordingObserver struct {
	mu    sync.Mutex
	calls []seenCall
}

func (o *recordingObserver) ObserveCall(method string, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if took < 0 {
		panic("negative duration")
	}
	o.calls = append(o.calls, seenCall{method: method, code: Code(err), failed: err != nil})
}

// Every call reaches the observer once, with its outcome: the login, a
// success, an xapi failure, and the logout.
func TestCallObserverSeesEveryCall(t *testing.T) {
	f := newFake(t, map[string]func(rpcCall) string{
		"session.login_with_password": loginOK("OpaqueRef:s1"),
		"VM.unpause":                  func(rpcCall) string { return failure(CodeVMBadPowerState, "OpaqueRef:vm", "paused", "running") },
		"session.logout":              func(rpcCall) string { return success(xv("")) },
	})
	obs := &recordingObserver{}
	s := login(t, f, WithCallObserver(obs))
	ctx := context.Background()
	require.Error(t, s.UnpauseVM(ctx, "OpaqueRef:vm"))
	require.NoError(t, s.Logout(ctx))

	obs.mu.Lock()
	defer obs.mu.Unlock()
	require.NotEmpty(t, obs.calls)
	assert.Equal(t, seenCall{method: "session.login_with_password"}, obs.calls[0])
	assert.Contains(t, obs.calls, seenCall{method: "VM.unpause", code: CodeVMBadPowerState, failed: true})
	assert.Equal(t, seenCall{method: "session.logout"}, obs.calls[len(obs.calls)-1])
	// What the fake server was asked is what the observer saw, call for call.
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, obs.calls, len(f.calls))
	for i, c := range f.calls {
		assert.Equal(t, c.Method, obs.calls[i].method)
	}
}
