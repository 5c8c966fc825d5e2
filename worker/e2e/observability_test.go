//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// webhookSink is a webhook receiver: it keeps every body it is sent.
type webhookSink struct {
	mu     sync.Mutex
	bodies map[string][]map[string]any // by path
	raw    []string
}

func newWebhookSink(t *testing.T) (*webhookSink, *httptest.Server) {
	s := &webhookSink{bodies: map[string][]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.bodies[r.URL.Path] = append(s.bodies[r.URL.Path], m)
		s.raw = append(s.raw, string(b))
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return s, srv
}

// wait returns the first body sent to path that matches, waiting for it.
func (s *webhookSink) wait(t *testing.T, path string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	eventually(t, gateWithin, "a webhook to "+path, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, b := range s.bodies[path] {
			if match(b) {
				found = b
				return true
			}
		}
		return false
	}, func() string { s.mu.Lock(); defer s.mu.Unlock(); return strings.Join(s.raw, "\n") })
	return found
}

func gateBody(gate string) func(map[string]any) bool {
	return func(b map[string]any) bool { return b["event"] == "gate-waiting" && b["gate"] == gate }
}

// approveAs runs the approve command a notification carries, as the person
// named, exactly as written but for the name and the comment.
func approveAs(t *testing.T, e *workerEnv, command, who string) {
	t.Helper()
	args := strings.Fields(command)
	require.Equal(t, "lifeboat", args[0], "the command is a lifeboat command: %s", command)
	for i, a := range args {
		switch a {
		case "YOUR-NAME":
			args[i] = who
		case `"..."`:
			args[i] = "approved from a notification"
		}
	}
	res := lifeboat(t, e, args[1:]...)
	require.Equal(t, exitcode.OK, res.code, "%s\n%s", res.stdout, res.stderr)
}

// TestObservability runs a failover with the worker's metrics endpoint and
// two webhooks on: each gate's notification carries the command that
// approves it (the test runs it), the end is notified, no secret is in any
// of them, /metrics exports every metric the Grafana dashboard queries, the
// health endpoints answer, and every log line of the run names it.
func TestObservability(t *testing.T) {
	t.Parallel()
	sink, hooks := newWebhookSink(t)
	metricsAddr, err := freeAddr()
	require.NoError(t, err)
	password := randomSecret(t) // the demo's is "lifeboat", in every notification
	w := startSimulator(t, simOptions{speed: demoSpeed, scenario: func(sc *sim.Scenario) {
		for si := range sc.Sites {
			for pi := range sc.Sites[si].Pools {
				for ui := range sc.Sites[si].Pools[pi].Users {
					sc.Sites[si].Pools[pi].Users[ui].Password = password
				}
			}
		}
	}})
	e := newWorkerEnvWith(t, w, workerOptions{password: password, extra: fmt.Sprintf(`metrics:
  listen: %s
notify:
  ui_url: http://ui.example.com:8233
  webhooks:
    ops:
      url: %s/ops
    chat:
      url_env: LIFEBOAT_E2E_CHAT_HOOK
      format: slack
      events: [gate-waiting]
`, metricsAddr, hooks.URL)})
	proc := e.startWith("LIFEBOAT_E2E_CHAT_HOOK=" + hooks.URL + "/chat/T0/B0/tok3n")
	base := "http://" + metricsAddr

	w.primaryDown(t)
	r := startRun(t, e, demoPlan(t, "e2e-observe"), plan.ModeFailover)
	for _, gate := range []string{plan.GateStorageReady, plan.GateRecover} {
		b := sink.wait(t, "/ops", gateBody(gate))
		assert.Equal(t, r.id, b["workflow_id"])
		assert.Equal(t, r.runID, b["run_id"])
		assert.Equal(t, "http://ui.example.com:8233/namespaces/default/workflows/"+r.id+"/"+r.runID+"/history", b["ui_url"])
		chat := sink.wait(t, "/chat/T0/B0/tok3n", func(m map[string]any) bool {
			return strings.Contains(fmt.Sprint(m["text"]), "gate *"+gate+"*")
		})
		assert.Contains(t, chat["text"], b["approve_command"].(string))
		approveAs(t, e, b["approve_command"].(string), "alice")
	}
	rep := r.succeeded()
	end := sink.wait(t, "/ops", func(b map[string]any) bool { return b["event"] == "run-ended" })
	assert.Equal(t, "succeeded", end["outcome"])
	assert.Equal(t, rep.Message, end["message"])
	assert.Equal(t, "lifeboat report "+r.id, end["report_command"])
	assert.Empty(t, rep.Warnings)
	sink.mu.Lock()
	assert.Len(t, sink.bodies["/chat/T0/B0/tok3n"], 2, "the chat webhook wants gate-waiting only")
	for _, raw := range sink.raw {
		assert.NotContains(t, raw, e.password, "the pool password in a notification")
		assert.NotContains(t, raw, "tok3n", "a webhook URL in a notification")
	}
	sink.mu.Unlock()

	for _, path := range []string{"/healthz", "/readyz"} {
		code, body := httpGet(t, base+path)
		assert.Equal(t, http.StatusOK, code, "%s: %s", path, body)
	}
	exported := scrape(t, base+"/metrics")
	names := dashboardMetrics(t, "../../dev/grafana/lifeboat.json")
	require.NotEmpty(t, names)
	t.Logf("the dashboard queries %d metrics: %s", len(names), strings.Join(names, ", "))
	for _, name := range names {
		assert.True(t, exported[name], "the dashboard queries %s, which the worker does not export", name)
	}
	// /healthz reads the pollers' answers from these SDK metrics: a
	// renamed one would leave every worker unhealthy after 150 s.
	assert.True(t, exported["temporal_workflow_task_queue_poll_succeed_total"], "the SDK's poll metric that /healthz watches")
	for _, want := range []string{
		`lifeboat_runs_total{mode="failover",outcome="succeeded"}`,
		`lifeboat_vms_recovered_total{mode="failover",site="dr"}`,
		`lifeboat_vms_started_total{mode="failover",site="dr"}`,
	} {
		assert.True(t, exported[want], "%s not exported", want)
	}

	proc.stop()
	checkRunLogLines(t, proc.logPath, r.id)
	replayRun(t, r)
}

// replayRun replays the run's history on the current workflows: the
// notifications, behind their version marker, and the run's header replay
// as they ran (the recorded histories in workflows/testdata predate them).
func replayRun(t *testing.T, r *run) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	it := srv.client.GetWorkflowHistory(ctx, r.id, r.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	notifies := 0
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "Notify" {
			notifies++
			assert.Contains(t, a.GetHeader().GetFields(), "lifeboat-run", "the run's plan and mode travel in a header")
		}
		h.Events = append(h.Events, ev)
	}
	assert.Equal(t, 3, notifies, "two gates and the end")
	rep := worker.NewWorkflowReplayer()
	workflows.Register(rep)
	// Child workflow IDs derive from the run's, which the replay must know.
	require.NoError(t, rep.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: r.id, RunID: r.runID},
	}), "the run replays on the current workflows")
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape reads /metrics: the names of its samples (a histogram's _bucket,
// _sum and _count), and some series as name{labels} with the labels the
// test names (mode, outcome, site).
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	code, body := httpGet(t, url)
	require.Equal(t, http.StatusOK, code)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	out := map[string]bool{}
	for name, mf := range families {
		out[name] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if slices.Contains([]string{"mode", "outcome", "site"}, l.GetName()) {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
			}
			out[name+"{"+strings.Join(labels, ",")+"}"] = true
		}
	}
	return out
}

var metricToken = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// dashboardMetrics is every metric name the dashboard's queries use: the
// tokens of each expr that are metric names of ours (lifeboat_, temporal_,
// go_, process_), outside label matchers and strings.
func dashboardMetrics(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if s, ok := val.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(val)
			}
		case []any:
			for _, val := range x {
				walk(val)
			}
		}
	}
	var d any
	require.NoError(t, json.Unmarshal(b, &d), "the dashboard is JSON")
	walk(d)
	require.NotEmpty(t, exprs, "the dashboard has no query")
	seen := map[string]bool{}
	for _, expr := range exprs {
		expr = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(expr, "")  // label matchers
		expr = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(expr, "") // ranges
		for _, tok := range metricToken.FindAllString(expr, -1) {
			if !model.LegacyValidation.IsValidMetricName(tok) {
				continue
			}
			for _, prefix := range []string{"lifeboat_", "temporal_", "go_", "process_"} {
				if strings.HasPrefix(tok, prefix) {
					seen[tok] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// checkRunLogLines reads the worker's JSON log: every line of the run (its
// workflow ID's or a child's) carries the run ID, plan, mode and step; the
// activities' own lines (recovered) are among them. The SDK's debug lines
// about its own commands (ExecuteActivity, NewTimer) are logged where no
// interceptor reaches: they carry the workflow and run IDs only.
func checkRunLogLines(t *testing.T, logPath, id string) {
	t.Helper()
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	n, recovered := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil || !strings.HasPrefix(fmt.Sprint(m["workflow_id"]), id) {
			continue
		}
		n++
		assert.NotEmpty(t, m["run_id"], "line without run_id: %s", sc.Text())
		if m["logger"] == "temporal" && m["level"] == "debug" {
			continue
		}
		assert.Equal(t, "e2e-observe", m["plan"], "line without plan: %s", sc.Text())
		assert.Equal(t, "failover", m["mode"], "line without mode: %s", sc.Text())
		assert.NotEmpty(t, m["step"], "line without step: %s", sc.Text())
		if m["msg"] == "recovered" {
			recovered++
			assert.Equal(t, "Recover", m["step"])
		}
	}
	assert.Positive(t, n, "no log line names the run")
	assert.Positive(t, recovered, "the activities' own lines name the run")
	t.Logf("%d log lines of the run, each with workflow_id, run_id, plan, mode and step", n)
}
