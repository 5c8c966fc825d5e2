//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// chapEnv is where the test's worker configuration reads the DR array's CHAP
// secret from (secrets: {dr-chap: {env: chapEnv}}).
const (
	chapEnv  = "LIFEBOAT_E2E_DR_CHAP"
	chapUser = "lifeboat-e2e-initiator"
)

// randomSecret is 24 random hex characters, a value nothing else contains.
func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// TestSecretsNeverLeaveTheWorker fails over a plan whose DR iSCSI array
// requires CHAP, with the CHAP secret and the pools' password known only to
// the worker (from its environment), then fails over again with a wrong CHAP
// secret. Afterwards no secret may appear in any history (parent and child
// workflows, payloads decoded), in the runs' descriptions (memo, search
// attributes), in the worker's or the Temporal server's log, or in anything
// the CLI printed.
func TestSecretsNeverLeaveTheWorker(t *testing.T) {
	t.Parallel()
	began := time.Now()
	poolPassword, chapSecret, wrongSecret := randomSecret(t), randomSecret(t), randomSecret(t)
	secrets := map[string]string{"pool password": poolPassword, "CHAP secret": chapSecret, "wrong CHAP secret": wrongSecret}

	w := startSimulator(t, simOptions{speed: demoSpeed, scenario: func(sc *sim.Scenario) {
		requireCHAP(t, sc, "dr", "dr-array", chapUser, chapSecret)
		for si := range sc.Sites {
			for pi := range sc.Sites[si].Pools {
				for ui := range sc.Sites[si].Pools[pi].Users {
					sc.Sites[si].Pools[pi].Users[ui].Password = poolPassword
				}
			}
		}
	}})
	e := newWorkerEnvWith(t, w, workerOptions{password: poolPassword, secrets: map[string]string{"dr-chap": chapEnv}})
	first := e.startWith(chapEnv + "=" + chapSecret)
	w.primaryDown(t)

	planFile := chapPlan(t, "e2e-secrets")
	id := workflows.WorkflowID("e2e-secrets", plan.ModeFailover)
	var cliOut bytes.Buffer
	cli := func(args ...string) cliResult {
		t.Helper()
		res := lifeboat(t, e, args...)
		fmt.Fprintf(&cliOut, "$ lifeboat %s\n%s%s\n", strings.Join(args, " "), res.stdout, res.stderr)
		return res
	}

	// 1. The right secret: the DR LUNs are probed and introduced with CHAP,
	// the failover succeeds.
	require.Equal(t, exitcode.OK, cli("plan", "check", planFile).code, "plan check")
	require.Equal(t, exitcode.OK, cli("failover", "--plan", planFile, "--as", "alice").code, "failover start")
	r1 := &run{t: t, id: id, mode: plan.ModeFailover, began: time.Now()}
	t.Cleanup(r1.terminateIfRunning)
	r1.waitGate(plan.GateStorageReady)
	require.Equal(t, exitcode.OK, cli("approve", id, "--gate", plan.GateStorageReady, "--as", "alice").code)
	r1.waitGate(plan.GateRecover)
	require.Equal(t, exitcode.OK, cli("approve", id, "--gate", plan.GateRecover, "--as", "bob").code)
	res := cli("status", id, "--watch")
	require.Equal(t, exitcode.OK, res.code, "the failover with the CHAP secret succeeds: %s", res.stdout)
	r1.runID = runIDOf(t, id)
	rep, err := r1.result()
	require.NoError(t, err)
	assert.Equal(t, workflows.OutcomeSucceeded, rep.Outcome)
	checkRecovered(t, w.pool(t, poolPrimary), w.pool(t, poolDR), "Running")
	cli("report", id)
	cli("--output", "json", "report", id)
	cli("--output", "json", "status", id)
	r1.logTimings(rep)

	// 2. A wrong secret: the probe of the first CHAP storage is refused, and
	// the run fails saying which storage, without any secret.
	first.stop()
	e.startWith(chapEnv + "=" + wrongSecret)
	require.Equal(t, exitcode.OK, cli("failover", "--plan", planFile, "--as", "alice").code, "second failover start")
	r2 := &run{t: t, id: id, runID: runIDOf(t, id), mode: plan.ModeFailover, began: time.Now()}
	require.NotEqual(t, r1.runID, r2.runID)
	t.Cleanup(r2.terminateIfRunning)
	r2.waitGate(plan.GateStorageReady)
	require.Equal(t, exitcode.OK, cli("approve", id, "--gate", plan.GateStorageReady, "--as", "alice").code)
	res = cli("status", id, "--watch")
	assert.Equal(t, exitcode.RunFailed, res.code, "the failover with a wrong CHAP secret fails")
	rep2, err := r2.result()
	require.Error(t, err, "a wrong CHAP secret fails the run")
	require.NotNil(t, rep2)
	assert.Equal(t, workflows.OutcomeFailed, rep2.Outcome)
	assert.Contains(t, rep2.Message, `"dr-gold-1"`, "the failure names the storage: %s", rep2.Message)
	assert.Contains(t, strings.ToLower(rep2.Message), "chap", "the failure says CHAP was refused: %s", rep2.Message)
	assert.Contains(t, res.stdout, `"dr-gold-1"`, "status shows the failure naming the storage")
	t.Logf("wrong CHAP secret: %s", rep2.Message)
	cli("report", id)
	cli("--output", "json", "report", id)
	r2.logTimings(rep2)
	e.stopAll() // the worker logs are complete once the workers stopped

	// 3. Everything that left the worker, searched for the three secrets.
	var sources []leakSource
	children := 0
	for _, r := range []*run{r1, r2} {
		srcs, n := historySources(t, r.id, r.runID)
		sources = append(sources, srcs...)
		children += n
	}
	assert.Greater(t, children, 0, "the first failover ran child workflows, whose histories are searched too")
	for i, p := range e.procs {
		b, err := os.ReadFile(p.logPath)
		require.NoError(t, err)
		sources = append(sources, leakSource{name: fmt.Sprintf("worker #%d log", i+1), text: b})
	}
	tlog, err := os.ReadFile(srv.logPath)
	require.NoError(t, err)
	sources = append(sources, leakSource{name: "Temporal server log", text: tlog}, leakSource{name: "CLI output", text: cliOut.Bytes()})

	// The search does see inside payloads: the plan travels as the input,
	// with its secret reference, never its value.
	sawRef := false
	for _, s := range sources {
		for _, d := range s.payloads {
			sawRef = sawRef || bytes.Contains(d, []byte("${secret:dr-chap}"))
		}
	}
	assert.True(t, sawRef, "the decoded payloads hold the plan's ${secret:dr-chap} reference (the search looks inside payloads)")

	searched := 0
	for _, s := range sources {
		for what, secret := range secrets {
			forms := map[string][]byte{
				"as is":      []byte(secret),
				"base64":     []byte(base64.StdEncoding.EncodeToString([]byte(secret))),
				"base64 url": []byte(base64.RawURLEncoding.EncodeToString([]byte(secret))),
			}
			for form, needle := range forms {
				if i := bytes.Index(s.text, needle); i >= 0 {
					t.Errorf("the %s (%s) appears in %s: …%s…", what, form, s.name, excerpt(s.text, i, len(needle)))
				}
				for k, d := range s.payloads {
					if i := bytes.Index(d, needle); i >= 0 {
						t.Errorf("the %s (%s) appears in payload #%d of %s: …%s…", what, form, k, s.name, excerpt(d, i, len(needle)))
					}
				}
			}
		}
		searched += len(s.text)
		for _, d := range s.payloads {
			searched += len(d)
		}
	}
	t.Logf("searched %d sources (%d bytes, %d child workflows) for 3 secrets; secrets test: %s in all",
		len(sources), searched, children, time.Since(began).Round(time.Millisecond))
}

// requireCHAP makes an iSCSI target of a site require CHAP.
func requireCHAP(t *testing.T, sc *sim.Scenario, site, target, user, secret string) {
	t.Helper()
	for si := range sc.Sites {
		if sc.Sites[si].Name != site {
			continue
		}
		for ti := range sc.Sites[si].ISCSI {
			if sc.Sites[si].ISCSI[ti].Name == target {
				sc.Sites[si].ISCSI[ti].CHAPUser, sc.Sites[si].ISCSI[ti].CHAPPassword = user, secret
				return
			}
		}
	}
	t.Fatalf("no iSCSI target %s at site %s in the demo scenario", target, site)
}

// chapPlan writes the demo plan under another name, its DR iSCSI storage
// logging in with CHAP whose secret is the worker's ${secret:dr-chap}.
func chapPlan(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile("../../dev/plans/demo.yaml")
	require.NoError(t, err)
	s := strings.Replace(string(src), "\nname: demo\n", "\nname: "+name+"\n", 1)
	iqn := "      targetIQN: iqn.2026-01.lab.dr-array:gold\n"
	require.Equal(t, 2, strings.Count(s, iqn), "the demo plan's two DR iSCSI storage targets")
	s = strings.ReplaceAll(s, iqn, iqn+"      chapuser: "+chapUser+"\n      chappassword: ${secret:dr-chap}\n")
	path := filepath.Join(t.TempDir(), name+".yaml")
	require.NoError(t, os.WriteFile(path, []byte(s), 0o600))
	return path
}

// runIDOf is the run ID of a workflow ID's latest run.
func runIDOf(t *testing.T, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := srv.client.DescribeWorkflowExecution(ctx, id, "")
	require.NoError(t, err)
	return d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

// leakSource is text to search, with the decoded data of its payloads.
type leakSource struct {
	name     string
	text     []byte
	payloads [][]byte
}

// historySources returns the complete history and the description of a run
// and of every child workflow it started (from its child events), each
// event serialised with protojson, and the number of children.
func historySources(t *testing.T, id, runID string) ([]leakSource, int) {
	t.Helper()
	type execution struct{ id, runID string }
	queue := []execution{{id, runID}}
	var out []leakSource
	children := 0
	for len(queue) > 0 {
		ex := queue[0]
		queue = queue[1:]
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		src := leakSource{name: "history of " + ex.id + "/" + ex.runID}
		it := srv.client.GetWorkflowHistory(ctx, ex.id, ex.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		events := 0
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err, "read the history of %s", ex.id)
			events++
			src.add(t, ev)
			if a := ev.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
				queue = append(queue, execution{a.GetWorkflowExecution().GetWorkflowId(), a.GetWorkflowExecution().GetRunId()})
				children++
			}
		}
		require.Greater(t, events, 0, "history of %s", ex.id)
		d, err := srv.client.DescribeWorkflowExecution(ctx, ex.id, ex.runID)
		require.NoError(t, err, "describe %s", ex.id)
		src.add(t, d)
		cancel()
		st := d.GetWorkflowExecutionInfo().GetStatus()
		require.Contains(t, []enumspb.WorkflowExecutionStatus{enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED},
			st, "%s has ended", ex.id)
		out = append(out, src)
	}
	return out, children
}

// add serialises m and collects the data of every payload inside it.
func (s *leakSource) add(t *testing.T, m proto.Message) {
	t.Helper()
	b, err := protojson.Marshal(m)
	require.NoError(t, err)
	s.text = append(append(s.text, b...), '\n')
	collectPayloads(m.ProtoReflect(), &s.payloads)
}

var payloadName = (&commonpb.Payload{}).ProtoReflect().Descriptor().FullName()

// collectPayloads walks a message and appends the data (and metadata values)
// of every Payload in it: inputs, results, failure details, memo, search
// attributes, headers, summaries.
func collectPayloads(m protoreflect.Message, out *[][]byte) {
	if m.Descriptor().FullName() == payloadName {
		p := m.Interface().(*commonpb.Payload)
		*out = append(*out, p.GetData())
		for _, v := range p.GetMetadata() {
			*out = append(*out, v)
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			if fd.Message() != nil {
				for i := 0; i < v.List().Len(); i++ {
					collectPayloads(v.List().Get(i).Message(), out)
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					collectPayloads(mv.Message(), out)
					return true
				})
			}
		case fd.Message() != nil:
			collectPayloads(v.Message(), out)
		}
		return true
	})
}

// excerpt is the text around a match, with the match itself masked.
func excerpt(b []byte, i, n int) string {
	from, to := max(i-60, 0), min(i+n+60, len(b))
	return string(b[from:i]) + "[MATCH]" + string(b[i+n:to])
}
