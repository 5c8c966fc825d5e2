package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// planCases pins every problem and warning of each testdata plan, with its
// exact line and column, so a change in positions or wording is deliberate.
var planCases = []struct {
	file     string
	errors   []string
	warnings []string
}{
	{file: "bad-empty.yaml",
		errors: []string{
			"bad-empty.yaml:1:1: the file is empty; write the settings as YAML",
		},
	},
	{file: "bad-missing.yaml",
		errors: []string{
			"bad-missing.yaml:1:1: name: the plan has no name; add name: with letters, digits, '-', '_' or '.'",
			"bad-missing.yaml:1:1: source: the plan has no source site; add source: with the protected site's name from the worker configuration",
			"bad-missing.yaml:1:1: target: the plan has no target site; add target: with the DR site's name from the worker configuration",
			"bad-missing.yaml:6:1: selection: the selection picks nothing; set all: true or list vapps, vms or tags",
		},
		warnings: []string{
			"bad-missing.yaml:1:1: failback_storage: failback will not be possible until failback_storage is set; add the LUNs to probe at the source site",
		},
	},
	{file: "bad-test-storage.yaml",
		errors: []string{
			"bad-test-storage.yaml:6:5: storage[1]: the storage-ready gate's method adapter needs an adapter to promote this LUN; add adapter: (a name from the worker configuration) or use method: approval",
			"bad-test-storage.yaml:7:40: storage[2].adapter: \"array dr\" is not an adapter name; write the name the worker configuration gives the adapter (letters, digits, '-', '_', '.')",
			"bad-test-storage.yaml:14:15: test_storage[1].storage: storage gold-1 already has its test LUN in test_storage[0]; give each storage one entry",
			"bad-test-storage.yaml:15:33: test_storage[2].snapshot: storage gold-2 names no adapter to make the snapshot; add adapter: (a name from the worker configuration) to storage[1]",
			"bad-test-storage.yaml:16:29: test_storage[3].snapshot: \"clone\" is not a snapshot source; write snapshot: adapter",
			"bad-test-storage.yaml:17:15: test_storage[4].storage: no entry of storage is named \"nope\"; write the name of the storage this test LUN stands in for",
			"bad-test-storage.yaml:18:5: test_storage[5]: the entry has both snapshot and device_config; keep snapshot: adapter or the device_config of a snapshot made beforehand",
			"bad-test-storage.yaml:18:15: test_storage[5].storage: storage gold-2 already has its test LUN in test_storage[2]; give each storage one entry",
			"bad-test-storage.yaml:19:5: test_storage[6].storage: the entry names no storage; write the name of the entry of storage whose LUN it stands in for",
			"bad-test-storage.yaml:20:45: test_storage[7].device_config.SCSIid: SCSIid 3605 is the storage's own LUN (the mirror's destination); write the snapshot LUN's SCSIid",
			"bad-test-storage.yaml:21:23: test_storage[8].device_config: lvmoiscsi needs targetIQN (the iSCSI target's IQN); add it or run discovery",
			"bad-test-storage.yaml:22:15: test_storage[9].storage: no entry of storage is named \"3601\"; write the name of the storage this test LUN stands in for",
			"bad-test-storage.yaml:26:21: approvals.recover.method: method applies to the storage-ready gate only; remove it here",
		},
	},
	{file: "bad-plan.yaml",
		errors: []string{
			"bad-plan.yaml:1:7: name: \"my plan\" cannot be part of a workflow ID; use only letters, digits, '-', '_' and '.'",
			"bad-plan.yaml:3:9: target: source and target are both \"dr\"; the target must be the DR site, not the protected one",
			"bad-plan.yaml:4:1: storage: the plan lists no storage; add the mirrored LUNs to probe at the target site (type and device_config)",
			"bad-plan.yaml:6:11: selection.vapps[0]: \"erp[\" is not a valid glob; check its [ ] brackets and escape special characters with \\",
			"bad-plan.yaml:6:19: selection.vapps[1]: the name is empty; write a name, a glob such as web-* or a UUID, or remove the line",
			"bad-plan.yaml:10:5: priority_groups[1]: the priority group \"first\" names no vapps, vms or tags; list what it starts or remove it",
			"bad-plan.yaml:10:11: priority_groups[1].name: the group name \"first\" is already used by priority_groups[0]; give each group its own name",
			"bad-plan.yaml:11:11: priority_groups[2].name: the priority group has no name; add name: so progress and reports can show it",
			"bad-plan.yaml:14:13: start.failover: \"started\" is not a start mode; use running, paused or none",
			"bad-plan.yaml:15:18: start.test_failover: a test failover cannot start VMs running: the recovered copies keep their MAC addresses and UUIDs, so running them next to production is unsafe; use paused or none",
			"bad-plan.yaml:18:24: approvals.storage-ready.approvers[1]: alice is already listed as approvers[0]; list each approver once",
			"bad-plan.yaml:19:13: approvals.storage-ready.quorum: quorum 2 needs 2 distinct approvers but only 1 is listed; lower the quorum or add approvers",
			"bad-plan.yaml:20:14: approvals.storage-ready.timeout: the timeout is negative (-1h); write 0 to wait for ever or a duration such as 4h",
			"bad-plan.yaml:21:17: approvals.storage-ready.on_timeout: \"ignore\" is not a timeout action; use reject or approve",
			"bad-plan.yaml:24:13: approvals.recover.quorum: quorum 3 needs 3 distinct approvers but only 2 are listed; lower the quorum or add approvers",
			"bad-plan.yaml:26:13: approvals.cleanup.quorum: quorum -1 is negative; write the number of distinct approvers needed (0 means 1)",
			"bad-plan.yaml:28:9: test.hold: the hold is negative (-30m); write 0 to clean up at once or a duration such as 30m",
			"bad-plan.yaml:30:12: concurrency.recover: -1 is negative; write 0 for the default or a positive number",
			"bad-plan.yaml:31:10: concurrency.start: -2 is negative; write 0 for the default or a positive number",
			"bad-plan.yaml:32:15: concurrency.batch_size: -3 is negative; write 0 for the default or a positive number",
		},
		warnings: []string{
			"bad-plan.yaml:1:1: failback_storage: failback will not be possible until failback_storage is set; add the LUNs to probe at the source site",
		},
	},
	{file: "bad-storage.yaml",
		errors: []string{
			"bad-storage.yaml:7:5: storage[0].device_config: lvmoiscsi needs targetIQN (the iSCSI target's IQN); add it or run discovery",
			"bad-storage.yaml:9:13: storage[0].device_config.port: port \"iscsi\" is not a TCP port number; write a number such as 3260",
			"bad-storage.yaml:11:11: storage[1].name: the name \"gold\" is also used by storage[0]; give each storage target its own name",
			"bad-storage.yaml:13:5: storage[1].device_config: lvmoiscsi needs targetIQN (the iSCSI target's IQN); add it or run discovery",
			"bad-storage.yaml:15:18: storage[1].device_config.targetiqn: XAPI spells this key targetIQN; rename targetiqn to targetIQN",
			"bad-storage.yaml:16:15: storage[1].device_config.SCSIid: SCSIid 36001405b0000000000000000000000b1 is also listed in storage[0]; list each LUN once",
			"bad-storage.yaml:18:21: storage[1].device_config.chappassword: chappassword must be a reference such as ${secret:gold-chap} resolved by the worker, never the password itself: plans are checked into repositories and travel in workflow history",
			"bad-storage.yaml:19:11: storage[1].srs[0]: \"not-a-uuid\" is not an SR UUID; write the SR's uuid (as shown by xe sr-list) or remove srs to introduce every SR found",
			"bad-storage.yaml:20:11: storage[2].type: \"nfs\" is not a storage type lifeboat can recover from; use lvmoiscsi or lvmohba",
			"bad-storage.yaml:24:5: storage[3].device_config: lvmohba needs SCSIid (the LUN's SCSI ID); add it",
			"bad-storage.yaml:27:5: failback_storage[0].device_config: incoming_chappassword is set without incoming_chapuser; add incoming_chapuser or remove incoming_chappassword",
			"bad-storage.yaml:31:30: failback_storage[0].device_config.incoming_chappassword: incoming_chappassword must be a reference such as ${secret:primary-array.lab-incoming-chap} resolved by the worker, never the password itself: plans are checked into repositories and travel in workflow history",
		},
	},
	{file: "bad-syntax.yaml",
		errors: []string{
			"bad-syntax.yaml:3: YAML syntax error: mapping values are not allowed in this context; check the indentation and quoting",
		},
	},
	{file: "bad-types.yaml",
		errors: []string{
			"bad-types.yaml:5:3: storage: expected a list, found a mapping; write one item per line starting with '- '",
			"bad-types.yaml:7:8: selection.all: \"maybe\" is not true or false",
			"bad-types.yaml:10:14: approvals.recover.timeout: \"7d\" is not a duration; days are not a unit, write 168h for 7 days",
			"bad-types.yaml:12:14: approvals.storage-ready.timeout: 3600 has no unit; write 3600s for seconds, 3600m for minutes or 3600h for hours",
			"bad-types.yaml:14:9: test.hold: expected a duration such as 90m or 4h, found a list",
			"bad-types.yaml:16:12: concurrency.recover: \"four\" is not a whole number",
		},
	},
	{file: "bad-unknown-keys.yaml",
		errors: []string{
			"bad-unknown-keys.yaml:12:5: approvals.recover.aprovers: unknown key \"aprovers\"; did you mean approvers?",
			"bad-unknown-keys.yaml:13:5: approvals.recover.qorum: unknown key \"qorum\"; did you mean quorum?",
			"bad-unknown-keys.yaml:14:1: concurency: unknown key \"concurency\"; did you mean concurrency?",
		},
		warnings: []string{
			"bad-unknown-keys.yaml:1:1: failback_storage: failback will not be possible until failback_storage is set; add the LUNs to probe at the source site",
		},
	},
	// An unknown key does not hide the problems of the values.
	{file: "bad-unknown-key-and-values.yaml",
		errors: []string{
			"bad-unknown-key-and-values.yaml:1:1: storage: the plan lists no storage; add the mirrored LUNs to probe at the target site (type and device_config)",
			"bad-unknown-key-and-values.yaml:3:9: target: source and target are both \"primary\"; the target must be the DR site, not the protected one",
			"bad-unknown-key-and-values.yaml:4:1: colour: unknown key \"colour\"; the keys allowed here are approvals, concurrency, description, drill, failback_storage, name, priority_groups, selection, source, start, storage, target, target_rto, test, test_storage",
		},
		warnings: []string{
			"bad-unknown-key-and-values.yaml:1:1: failback_storage: failback will not be possible until failback_storage is set; add the LUNs to probe at the source site",
		},
	},
	{file: "good-minimal.yaml",
		warnings: []string{
			"good-minimal.yaml:1:1: failback_storage: failback will not be possible until failback_storage is set; add the LUNs to probe at the source site",
		},
	},
	{file: "warn-gates.yaml",
		warnings: []string{
			"warn-gates.yaml:1:1: failback_storage: failback will not be possible until failback_storage is set; add the LUNs to probe at the source site",
			"warn-gates.yaml:12:15: approvals.storage-ready.required: required: false has effect only for test failovers; failover and failback always wait at the storage-ready gate",
			"warn-gates.yaml:13:17: approvals.storage-ready.on_timeout: on_timeout has no effect without a timeout; set timeout: or remove on_timeout",
			"warn-gates.yaml:16:17: approvals.recover.on_timeout: approve on timeout lets the run go on at the recover gate with nobody approving; make sure that is wanted",
		},
	},
}

func TestCheckTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(t, err)
	require.Len(t, planCases, len(files), "every testdata plan needs a case")
	for _, tc := range planCases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			require.NoError(t, err)
			p, warnings, err := Check(data, tc.file)
			var got []string
			if err != nil {
				var probs Problems
				require.True(t, errors.As(err, &probs), "error is %T, want Problems", err)
				for _, pr := range probs {
					got = append(got, pr.String())
				}
			} else {
				require.NotNil(t, p)
			}
			assert.Equal(t, tc.errors, got)
			var gotW []string
			for _, w := range warnings {
				gotW = append(gotW, w.String())
			}
			assert.Equal(t, tc.warnings, gotW)
		})
	}
}

// The shipped plans must stay valid: the demo runs them and users copy them.
func TestShippedPlans(t *testing.T) {
	for _, f := range []string{"demo.yaml", "demo-all.yaml", "example.yaml"} {
		t.Run(f, func(t *testing.T) {
			p, warnings, err := LoadChecked(filepath.Join("..", "dev", "plans", f))
			require.NoError(t, err)
			assert.Empty(t, warnings)
			assert.NotEmpty(t, p.Name)
		})
	}
}

func TestDemoPlan(t *testing.T) {
	p, err := Load("../dev/plans/demo.yaml")
	require.NoError(t, err)
	assert.Equal(t, "demo", p.Name)
	assert.Equal(t, []string{"build-agent", "dr-jumpbox", "dr-backup"}, p.Selection.Exclude)
	assert.Equal(t, []string{"databases-first", "core"}, []string{p.PriorityGroups[0].Name, p.PriorityGroups[1].Name})
	assert.Equal(t, 4*time.Hour, p.Approvals.Recover.Timeout.D())
	assert.Equal(t, 30*time.Minute, p.Test.Hold.D())
	assert.True(t, p.GateRequired(GateCleanup, ModeTestFailover), "the hold opens the cleanup gate")
	assert.Equal(t, StartPaused, p.StartModeFor(ModeTestFailover))
	assert.Equal(t, "iqn.2026-01.lab.primary-array:gold", p.StorageFor(ModeFailback)[0].DeviceConfig["targetIQN"])
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-plan.yaml")
	require.Error(t, err)
	assert.Equal(t, "cannot read the plan testdata/no-such-plan.yaml: no such file or directory; check the path", err.Error())
}

func TestValidateWithoutPositions(t *testing.T) {
	p := &Plan{Name: "json plan", Source: "a", Target: "b",
		Storage:   []StorageTarget{{Type: StorageHBA, DeviceConfig: map[string]string{"SCSIid": "x"}}},
		Selection: Selection{All: true}}
	warnings, err := p.Validate()
	require.Error(t, err)
	assert.Equal(t, `name: "json plan" cannot be part of a workflow ID; use only letters, digits, '-', '_' and '.'`, err.Error())
	require.Len(t, warnings, 1)
	assert.Equal(t, "failback_storage", warnings[0].Field)
	assert.Zero(t, warnings[0].Line)
}

func TestStartPlacement(t *testing.T) {
	p := &Plan{Name: "p", Source: "a", Target: "b",
		Storage:         []StorageTarget{{Type: StorageHBA, DeviceConfig: map[string]string{"SCSIid": "x"}}},
		FailbackStorage: []StorageTarget{{Type: StorageHBA, DeviceConfig: map[string]string{"SCSIid": "y"}}},
		Selection:       Selection{All: true}}
	assert.Equal(t, PlacementPool, p.StartPlacement(), "the pool places VMs by default")
	for _, tc := range []struct {
		placement StartPlacement
		err       string
	}{
		{PlacementPool, ""},
		{PlacementSpread, ""},
		{"everywhere", `start.placement: "everywhere" is not a start placement; use pool or spread`},
	} {
		p.Start.Placement = tc.placement
		_, err := p.Validate()
		if tc.err == "" {
			require.NoError(t, err, tc.placement)
			assert.Equal(t, tc.placement, p.StartPlacement())
			continue
		}
		require.Error(t, err)
		assert.Equal(t, tc.err, err.Error())
	}
}

func TestSecretRefs(t *testing.T) {
	p, err := Load("../dev/plans/example.yaml")
	require.NoError(t, err)
	assert.Equal(t, []string{"lyon-chap"}, p.SecretRefs())

	p.FailbackStorage[0].DeviceConfig["chapuser"] = "x"
	p.FailbackStorage[0].DeviceConfig["chappassword"] = "${secret:paris-chap}"
	p.Storage[1].DeviceConfig["chappassword"] = "${secret:lyon-chap}"
	assert.Equal(t, []string{"lyon-chap", "paris-chap"}, p.SecretRefs())

	name, ok := SecretRef(" ${secret:a.b-c_d} ")
	assert.True(t, ok)
	assert.Equal(t, "a.b-c_d", name)
	for _, v := range []string{"hunter2", "${secret:}", "x${secret:a}", "${secret:a b}", "${SECRET:a}"} {
		_, ok := SecretRef(v)
		assert.False(t, ok, v)
	}
}

func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		in, out string
	}{
		{"90m", "1h30m"}, {"4h", "4h"}, {"168h", "168h"}, {"30m", "30m"}, {"45s", "45s"},
		{"1h0m30s", "1h0m30s"}, {"0", "0s"}, {"1.5s", "1.5s"}, {"-4h", "-4h"},
	} {
		d, err := ParseDuration(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.out, d.String(), tc.in)
		back, err := ParseDuration(d.String())
		require.NoError(t, err)
		assert.Equal(t, d, back, "round trip of %s", tc.in)
	}
	_, err := ParseDuration("7d")
	assert.EqualError(t, err, `"7d" is not a duration; days are not a unit, write 168h for 7 days`)
	_, err = ParseDuration("soon")
	assert.EqualError(t, err, `"soon" is not a duration; write a number with a unit, such as 90m, 4h or 168h`)
}

func TestDurationJSON(t *testing.T) {
	type box struct {
		D Duration `json:"d"`
	}
	b, err := json.Marshal(box{D: Duration(90 * time.Minute)})
	require.NoError(t, err)
	assert.JSONEq(t, `{"d":"1h30m"}`, string(b))

	for in, want := range map[string]time.Duration{
		`{"d":"4h"}`:          4 * time.Hour,
		`{"d":5400000000000}`: 90 * time.Minute,
		`{"d":null}`:          0,
		`{}`:                  0,
	} {
		var got box
		require.NoError(t, json.Unmarshal([]byte(in), &got), in)
		assert.Equal(t, want, got.D.D(), in)
	}
	for _, in := range []string{`{"d":"4 hours"}`, `{"d":1.5}`, `{"d":true}`} {
		var got box
		assert.Error(t, json.Unmarshal([]byte(in), &got), in)
	}
}

func TestDurationYAML(t *testing.T) {
	out, err := yaml.Marshal(map[string]Duration{"hold": Duration(30 * time.Minute)})
	require.NoError(t, err)
	assert.Equal(t, "hold: 30m\n", string(out))
}

// A plan is also the workflow input: JSON must carry it unchanged.
func TestPlanJSONRoundTrip(t *testing.T) {
	p, err := Load("../dev/plans/example.yaml")
	require.NoError(t, err)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"timeout":"4h"`)
	var back Plan
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, *p, back)
	_, err = back.Validate()
	assert.NoError(t, err)
}

func TestParseMode(t *testing.T) {
	m, err := ParseMode("test-failover")
	require.NoError(t, err)
	assert.Equal(t, ModeTestFailover, m)
	_, err = ParseMode("drill")
	assert.EqualError(t, err, `"drill" is not a mode; use failover, failback or test-failover`)
}

func TestProblemsRender(t *testing.T) {
	ps := Problems{
		{File: "b.yaml", Line: 2, Column: 1, Field: "x", Message: "second"},
		{File: "b.yaml", Line: 1, Column: 3, Field: "y", Message: "first"},
		{Message: "bare"},
	}
	ps.Sort()
	assert.Equal(t, strings.Join([]string{"bare", "b.yaml:1:3: y: first", "b.yaml:2:1: x: second"}, "\n"), ps.Error())
	assert.NoError(t, Problems(nil).Err())
}

func TestCheckAgainstTheWorkerConfiguration(t *testing.T) {
	data := []byte(`name: erp
source: paris
target: lion
storage:
  - type: lvmoiscsi
    device_config: {target: a, targetIQN: iqn.x, SCSIid: "3600", chapuser: lb, chappassword: "${secret:lyon-chap}"}
selection: {all: true}
`)
	env := &Environment{File: "worker.yaml", Sites: []string{"paris", "lyon"}, Secrets: []string{"paris-chap"}}
	_, _, err := CheckIn(data, "erp.yaml", env)
	require.Error(t, err)
	assert.Equal(t, `erp.yaml:3:9: target: site "lion" is not in the worker configuration worker.yaml (its sites: lyon, paris); use one of those, or add the site there
erp.yaml:6:94: storage[0].device_config.chappassword: the secret "lyon-chap" is not defined in the worker configuration worker.yaml; add it under secrets: (env: or file:)`, err.Error())

	env.Sites, env.Secrets = []string{"paris", "lion"}, []string{"lyon-chap"}
	_, _, err = CheckIn(data, "erp.yaml", env)
	assert.NoError(t, err)
	_, _, err = CheckIn(data, "erp.yaml", nil)
	assert.NoError(t, err, "without a configuration, sites and secrets are not checked")
}

// A plan too large to be a run's input is refused by plan check, with what
// to do, not by Temporal after the start.
func TestPlanTooLargeForTemporal(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: big\nsource: a\ntarget: b\nstorage: [{type: lvmohba, device_config: {SCSIid: x}}]\nselection:\n  vms:\n")
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, "    - vm-with-a-rather-long-name-%06d\n", i)
	}
	_, _, err := Check([]byte(b.String()), "big.yaml")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "big.yaml:1:1: the plan is ")
	assert.Contains(t, err.Error(), " as a run's input, more than the 2.0 MiB Temporal accepts; split it into several plans")

	p, err := Load("../dev/plans/demo.yaml")
	require.NoError(t, err)
	for len(p.Selection.VMs) < 60000 {
		p.Selection.VMs = append(p.Selection.VMs, fmt.Sprintf("vm-%05d", len(p.Selection.VMs)))
	}
	warnings, err := p.Validate()
	require.NoError(t, err)
	assert.Contains(t, warnings.Error(), "near the 2.0 MiB Temporal accepts")
}
