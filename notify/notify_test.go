package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/lifeboat-dr/lifeboat/plan"
)

// receiver is a webhook endpoint that records what it was sent; failFirst
// answers 503 to that many requests before accepting.
type receiver struct {
	mu        sync.Mutex
	bodies    []map[string]any
	failFirst int
	status    int
	srv       *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.failFirst > 0 {
			r.failFirst--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || req.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.bodies = append(r.bodies, m)
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.bodies...)
}

var gateEvent = &Event{
	Event: EventGateWaiting, WorkflowID: "lifeboat-demo-failover", RunID: "run-1", Plan: "demo", Mode: "failover",
	Gate: plan.GateRecover, Summary: "2 warnings, no problem.", Approvers: []string{"alice", "bob"}, Quorum: 1,
	At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
}

func TestGateWaitingInBothFormats(t *testing.T) {
	js, slack := newReceiver(t), newReceiver(t)
	n := New(Config{Webhooks: []Webhook{
		{Name: "ops", URL: js.srv.URL, Format: FormatJSON},
		{Name: "chat", URL: slack.srv.URL + "/services/T0/B0/token", Format: FormatSlack, Events: []string{EventGateWaiting}},
	}, UIURL: "https://temporal.example.com/", Namespace: "dr"}, nil, nil)
	res, err := n.Notify(context.Background(), gateEvent)
	require.NoError(t, err)
	assert.Equal(t, &Result{Sent: []string{"chat", "ops"}}, res)

	require.Len(t, js.got(), 1)
	b := js.got()[0]
	assert.Equal(t, "gate-waiting", b["event"])
	assert.Equal(t, "lifeboat-demo-failover/run-1/gate-waiting/recover", b["id"])
	assert.Equal(t, "recover", b["gate"])
	assert.Equal(t, `lifeboat --namespace dr approve lifeboat-demo-failover --gate recover --as YOUR-NAME --comment "..."`, b["approve_command"])
	assert.Equal(t, "https://temporal.example.com/namespaces/dr/workflows/lifeboat-demo-failover/run-1/history", b["ui_url"])
	assert.Equal(t, []any{"alice", "bob"}, b["approvers"])

	require.Len(t, slack.got(), 1)
	text := slack.got()[0]["text"].(string)
	assert.Len(t, slack.got()[0], 1, "a Slack body is {\"text\": ...}")
	for _, want := range []string{
		"the failover of plan demo waits at gate *recover* for 1 approval (from alice, bob).",
		"2 warnings, no problem.",
		"Approve: `lifeboat --namespace dr approve lifeboat-demo-failover --gate recover --as YOUR-NAME --comment \"...\"`",
		"Run: https://temporal.example.com/namespaces/dr/workflows/lifeboat-demo-failover/run-1/history",
	} {
		assert.Contains(t, text, want)
	}
}

func TestRunEndedOnlyToTheWebhooksThatWantIt(t *testing.T) {
	all, gatesOnly := newReceiver(t), newReceiver(t)
	n := New(Config{Webhooks: []Webhook{
		{Name: "all", URL: all.srv.URL, Format: FormatJSON},
		{Name: "gates", URL: gatesOnly.srv.URL, Format: FormatSlack, Events: []string{EventGateWaiting}},
	}}, nil, nil)
	res, err := n.Notify(context.Background(), &Event{Event: EventRunEnded, WorkflowID: "lifeboat-demo-failover", RunID: "r",
		Plan: "demo", Mode: "failover", Outcome: "succeeded", Message: "Failover of plan demo succeeded."})
	require.NoError(t, err)
	assert.Equal(t, []string{"all"}, res.Sent)
	assert.Empty(t, gatesOnly.got())
	require.Len(t, all.got(), 1)
	assert.Equal(t, "lifeboat report lifeboat-demo-failover", all.got()[0]["report_command"])
	assert.Equal(t, "succeeded", all.got()[0]["outcome"])
	assert.Equal(t, "http://127.0.0.1:8233/namespaces/default/workflows/lifeboat-demo-failover/r/history", all.got()[0]["ui_url"])
}

// A webhook that fails is retried, then reported as a warning naming the
// webhook, never its URL (a Slack URL holds a token); the activity itself
// succeeds, and the others are sent.
func TestFailingWebhookIsAWarning(t *testing.T) {
	flaky, down, refused := newReceiver(t), newReceiver(t), newReceiver(t)
	flaky.failFirst = 1
	down.failFirst = 100
	refused.status = http.StatusForbidden
	deadURL := httptest.NewServer(http.NotFoundHandler())
	deadURL.Close()
	var logBuf bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logBuf), zap.InfoLevel)
	var outcomes []string
	var mu sync.Mutex
	n := New(Config{Webhooks: []Webhook{
		{Name: "flaky", URL: flaky.srv.URL, Format: FormatJSON},
		{Name: "down", URL: down.srv.URL + "/hooks/s3cr3t-token", Format: FormatSlack},
		{Name: "refused", URL: refused.srv.URL, Format: FormatJSON},
		{Name: "gone", URL: deadURL.URL + "/hooks/s3cr3t-token", Format: FormatJSON},
	}, Attempts: 3, Backoff: time.Millisecond}, zap.New(core), func(event, format string, err error) {
		mu.Lock()
		defer mu.Unlock()
		outcomes = append(outcomes, format+" "+map[bool]string{true: "ok", false: "error"}[err == nil])
	})
	res, err := n.Notify(context.Background(), gateEvent)
	require.NoError(t, err)
	assert.Equal(t, []string{"flaky"}, res.Sent)
	require.Len(t, res.Warnings, 3)
	assert.Contains(t, res.Warnings[0], "The gate-waiting notification could not be sent to webhook down: the webhook answered 503 Service Unavailable.")
	assert.Contains(t, res.Warnings[1], "webhook gone: the request failed:")
	assert.Contains(t, res.Warnings[2], "webhook refused: the webhook answered 403 Forbidden (permanent).")
	assert.Len(t, down.got(), 0)
	assert.Equal(t, 97, down.failFirst, "tried 3 times")
	assert.Len(t, flaky.got(), 1)
	assert.Contains(t, logBuf.String(), `"webhook":"down"`)
	assert.NotContains(t, logBuf.String(), "s3cr3t", "a webhook URL was logged")
	for _, w := range res.Warnings {
		assert.NotContains(t, w, "s3cr3t")
	}
	assert.Len(t, outcomes, 4)
}

// A retried attempt skips the webhooks its predecessor sent, as its
// heartbeat recorded them.
func TestRetriedAttemptSkipsWhatWasSent(t *testing.T) {
	a, b := newReceiver(t), newReceiver(t)
	n := New(Config{Webhooks: []Webhook{{Name: "a", URL: a.srv.URL}, {Name: "b", URL: b.srv.URL}}}, nil, nil)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(n)
	env.SetHeartbeatDetails([]string{"a"})
	v, err := env.ExecuteActivity(n.Notify, gateEvent)
	require.NoError(t, err)
	var res Result
	require.NoError(t, v.Get(&res))
	assert.Equal(t, []string{"a", "b"}, res.Sent)
	assert.Empty(t, a.got(), "a was sent by the earlier attempt")
	assert.Len(t, b.got(), 1)
}

func TestNoWebhookSendsNothing(t *testing.T) {
	var n *Notifier
	res, err := n.Notify(context.Background(), gateEvent)
	require.NoError(t, err)
	assert.Equal(t, &Result{}, res)
}
