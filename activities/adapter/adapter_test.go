package adapter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary doubles as a fake adapter: with FAKE_ADAPTER set it reads
// the request and answers as that mode says.
func TestMain(m *testing.M) {
	if mode := os.Getenv("FAKE_ADAPTER"); mode != "" {
		fakeAdapter(mode)
		return
	}
	os.Exit(m.Run())
}

func fakeAdapter(mode string) {
	var req Request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(2)
	}
	out := func(v any) { _ = json.NewEncoder(os.Stdout).Encode(v) }
	switch mode {
	case "echo":
		out(Response{OK: true, Message: fmt.Sprintf("protocol %d %s %s at %s", req.Protocol, req.Action, req.Snapshot, req.Site),
			Snapshot: &Snapshot{Name: req.Snapshot, Created: true, DeviceConfig: map[string]string{"SCSIid": req.LUN.SCSIid + "5"}}})
	case "hang":
		fmt.Fprintln(os.Stderr, "password=hunter2 (an adapter may print anything on stderr)")
		select {}
	case "garbage":
		fmt.Print("snapshot made!\n")
	case "silent-crash":
		fmt.Fprintln(os.Stderr, "panic: array SDK exploded")
		os.Exit(3)
	case "two":
		out(Response{OK: true, Mirror: &Mirror{State: "split"}})
		out(Response{OK: true, Mirror: &Mirror{State: "split"}})
	case "refused":
		out(Response{Error: &Fault{Code: CodeNotFound, Message: "no volume with WWN " + req.LUN.SCSIid + "."}})
		os.Exit(1)
	case "busy":
		out(Response{Error: &Fault{Code: CodeUnavailable, Message: "array management port does not answer", Retryable: true}})
	case "bare-refusal":
		out(map[string]any{"ok": false})
	case "no-mirror":
		out(Response{OK: true})
	case "unknown-field":
		_, _ = io.WriteString(os.Stdout, `{"ok": true, "mirror": {"state": "split"}, "colour": "blue"}`)
	}
}

func fake(t *testing.T, mode string, timeout time.Duration) Config {
	t.Setenv("FAKE_ADAPTER", mode)
	exe, err := os.Executable()
	require.NoError(t, err)
	return Config{Name: "fake", Command: []string{exe}, Timeout: timeout}
}

var lun = LUN{Type: "lvmoiscsi", SCSIid: "36001405b1", Target: "dr-array.lab", Port: "3260", TargetIQN: "iqn.x"}

func TestCallAnswers(t *testing.T) {
	resp, err := Call(context.Background(), fake(t, "echo", 0), Request{Action: ActionSnapshot, Site: "dr", LUN: lun, Snapshot: "s1"})
	require.NoError(t, err)
	assert.Equal(t, "protocol 1 snapshot s1 at dr", resp.Message)
	assert.Equal(t, "36001405b15", resp.Snapshot.DeviceConfig["SCSIid"])
}

func TestCallFailures(t *testing.T) {
	for _, tc := range []struct {
		mode, action string
		kind         Kind
		retryable    bool
		msg          string
	}{
		{"hang", ActionSnapshot, KindTimeout, true, "storage adapter fake did not answer snapshot within 300ms and was stopped"},
		{"garbage", ActionSnapshot, KindProtocol, false, "storage adapter fake broke the protocol on snapshot: its answer is not a JSON response: invalid character 's' looking for beginning of value"},
		{"silent-crash", ActionPromote, KindProtocol, false, "storage adapter fake broke the protocol on promote: it wrote nothing on stdout (exit status 3)"},
		{"two", ActionPromote, KindProtocol, false, "storage adapter fake broke the protocol on promote: it wrote more than one JSON value on stdout"},
		{"refused", ActionDeleteSnapshot, KindRefused, false, "storage adapter fake could not delete-snapshot: no volume with WWN 36001405b1 (NOT_FOUND)"},
		{"busy", ActionStatus, KindRefused, true, "storage adapter fake could not status: array management port does not answer (UNAVAILABLE)"},
		{"bare-refusal", ActionStatus, KindProtocol, false, `storage adapter fake broke the protocol on status: it answered ok: false without "error": {"code", "message"}`},
		{"no-mirror", ActionPromote, KindProtocol, false, `storage adapter fake broke the protocol on promote: its answer has no "mirror": {"state": ...}`},
		{"no-mirror", ActionSnapshot, KindProtocol, false, `storage adapter fake broke the protocol on snapshot: its answer has no "snapshot": {"device_config": {"SCSIid": ...}}`},
		{"unknown-field", ActionPromote, KindProtocol, false, `storage adapter fake broke the protocol on promote: its answer is not a JSON response: json: unknown field "colour"`},
	} {
		t.Run(tc.mode+"/"+tc.action, func(t *testing.T) {
			timeout := 10 * time.Second
			if tc.kind == KindTimeout {
				timeout = 300 * time.Millisecond
			}
			_, err := Call(context.Background(), fake(t, tc.mode, timeout), Request{Action: tc.action, Site: "dr", LUN: lun, Snapshot: "s1"})
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.kind, e.Kind)
			assert.Equal(t, tc.retryable, e.Retryable())
			assert.Equal(t, tc.msg, err.Error())
			assert.NotContains(t, err.Error(), "hunter2", "stderr never goes into the message")
		})
	}
}

func TestCallStartProblems(t *testing.T) {
	_, err := Call(context.Background(), Config{Name: "none"}, Request{Action: ActionStatus})
	assert.EqualError(t, err, "storage adapter none could not be started for status: the worker configuration gives it no command")
	_, err = Call(context.Background(), Config{Name: "gone", Command: []string{"/nonexistent/adapter"}}, Request{Action: ActionStatus})
	assert.ErrorContains(t, err, "storage adapter gone could not be started for status: fork/exec /nonexistent/adapter: no such file or directory")
}

// A cancelled activity stops the adapter and returns the context's error,
// not a timeout of the adapter's.
func TestCallCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Call(ctx, fake(t, "hang", time.Minute), Request{Action: ActionSnapshot})
	assert.ErrorIs(t, err, context.Canceled)
}
