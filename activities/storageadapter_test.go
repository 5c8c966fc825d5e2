package activities

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/activities/adapter"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// script writes an adapter that answers body (after reading its request).
func script(t *testing.T, body string) []string {
	path := filepath.Join(t.TempDir(), "adapter")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\ncat >/dev/null\n"+body+"\n"), 0o755))
	return []string{path}
}

func TestAdapterActivities(t *testing.T) {
	st := plan.StorageTarget{Name: "gold", Type: plan.StorageISCSI, Adapter: "array",
		DeviceConfig: map[string]string{"target": "a", "targetIQN": "iqn", "SCSIid": "3601", "chappassword": "${secret:chap}"}}
	ok := script(t, `echo '{"ok": true, "message": "made", "snapshot": {"name": "s", "created": true, "device_config": {"SCSIid": "3609"}, "data_as_of": "2026-12-01T09:00:00Z"}}'`)
	hang := script(t, "exec sleep 60")
	refuse := script(t, `echo '{"ok": false, "error": {"code": "CONFLICT", "message": "the volume is busy"}}'`)
	for _, tc := range []struct {
		name    string
		sites   map[string]SiteConfig
		storage plan.StorageTarget
		code    string
		retry   bool
		msg     string
	}{
		{"answers", map[string]SiteConfig{"dr": {Adapter: adapter.Config{Name: "array", Command: ok}}}, st, "", false, ""},
		{"no adapter at the site", map[string]SiteConfig{"dr": {}}, st, codeNoAdapter, false,
			`Storage "gold" names adapter array, but the worker configuration gives site dr no adapter.`},
		{"another adapter", map[string]SiteConfig{"dr": {Adapter: adapter.Config{Name: "other", Command: ok}}}, st, codeNoAdapter, false,
			`Storage "gold" names adapter array, but the worker configuration gives site dr adapter other.`},
		{"timeout", map[string]SiteConfig{"dr": {Adapter: adapter.Config{Name: "array", Command: hang, Timeout: 200 * time.Millisecond}}}, st, codeAdapterTimeout, true,
			`For storage "gold", storage adapter array did not answer snapshot within 200ms and was stopped.`},
		{"refused", map[string]SiteConfig{"dr": {Adapter: adapter.Config{Name: "array", Command: refuse}}}, st, codeAdapter, false,
			`For storage "gold", storage adapter array could not snapshot: the volume is busy (CONFLICT).`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Activities{adapters: storageAdapters(tc.sites), log: zap.NewNop()}
			res, err := a.SnapshotStorage(context.Background(), &SnapshotStorageInput{Site: "dr", Storage: tc.storage, Snapshot: "s"})
			if tc.code == "" {
				require.NoError(t, err)
				assert.Equal(t, "3609", res.DeviceConfig["SCSIid"])
				assert.True(t, res.Created)
				assert.Equal(t, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), res.DataAsOf.UTC(), "the age of the snapshot's data, for the report")
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.code, ErrorCode(err))
			assert.Equal(t, tc.msg, messageOf(err))
			var ae *temporal.ApplicationError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.retry, !ae.NonRetryable())
		})
	}
	assert.Equal(t, adapter.LUN{Type: "lvmoiscsi", SCSIid: "3601", Target: "a", TargetIQN: "iqn"}, lunOf(st), "no CHAP secret reaches an adapter")
}

func TestAdapterSnapshotName(t *testing.T) {
	assert.Equal(t, "lifeboat-demo-test-failover-5f0c6a52-1", AdapterSnapshotName("lifeboat-demo-test-failover", "5f0c6a52-1d7e-4a8b", 0))
	long := AdapterSnapshotName("lifeboat-a-very-long-plan-name-of-a-big-company-test-failover-2026-12-01T10:00:00Z", "5f0c6a52-1d7e", 2)
	assert.LessOrEqual(t, len(long), 63)
	assert.Regexp(t, `^[a-z0-9-]+-[0-9a-f]{8}-5f0c6a52-3$`, long)
	assert.NotEqual(t, long, AdapterSnapshotName("lifeboat-a-very-long-plan-name-of-a-big-company-test-failover-2026-12-08T10:00:00Z", "5f0c6a52-1d7e", 2))
}

// TestCheckMirrors: readiness's mirror lines come from each storage's
// adapter (status): what it answers, what it refuses, and what is not
// asked because the plan names no adapter or the site has none.
func TestCheckMirrors(t *testing.T) {
	status := func(state string) []string {
		return script(t, `echo '{"ok": true, "mirror": {"name": "gold-01", "state": "`+state+`", "lag_seconds": 30, "last_copy": "2026-12-01T09:00:00Z"}}'`)
	}
	busy := script(t, `echo '{"ok": false, "error": {"code": "UNAVAILABLE", "message": "the array does not answer", "retryable": true}}'`)
	gold := plan.StorageTarget{Name: "gold", Type: plan.StorageISCSI, Adapter: "array", DeviceConfig: map[string]string{"SCSIid": "3601"}}
	plain := plan.StorageTarget{Name: "fc", Type: plan.StorageHBA, DeviceConfig: map[string]string{"SCSIid": "3602"}}
	site := func(cmd []string) map[string]SiteConfig {
		return map[string]SiteConfig{"dr": {Adapter: adapter.Config{Name: "array", Command: cmd}}}
	}
	for _, tc := range []struct {
		name     string
		sites    map[string]SiteConfig
		storage  []plan.StorageTarget
		runs     []bool
		severity string
		says     string
	}{
		{"replicating", site(status("replicating")), []plan.StorageTarget{gold}, nil, SeverityOK,
			`storage "gold": mirror gold-01 replicates; the DR copy is 30s behind, last copy at 2026-12-01T09:00:00Z`},
		{"split", site(status("split")), []plan.StorageTarget{gold}, nil, SeverityProblem,
			`storage "gold": mirror gold-01 is split: the DR copy no longer receives the source's writes and ages, last copy at 2026-12-01T09:00:00Z; resume its replication on the array`},
		{"refused", site(busy), []plan.StorageTarget{gold}, nil, SeverityWarning,
			`storage "gold": the storage adapter could not say its mirror state (for storage "gold", storage adapter array could not status: the array does not answer (UNAVAILABLE)): check the mirror on the array`},
		{"no adapter named", site(busy), []plan.StorageTarget{plain}, nil, SeverityWarning,
			`storage at site dr: mirror state and lag not checked for "fc": the plan names no storage adapter for it`},
		{"site without it", map[string]SiteConfig{"dr": {}}, []plan.StorageTarget{gold}, nil, SeverityWarning,
			`storage "gold": mirror state and lag not checked: storage "gold" names adapter array, but the worker configuration gives site dr no adapter`},
		{"site without it, the run needs it", map[string]SiteConfig{"dr": {}}, []plan.StorageTarget{gold}, []bool{true}, SeverityProblem,
			`storage "gold": Storage "gold" names adapter array, but the worker configuration gives site dr no adapter, and the run calls it (test snapshots or promotion); define the adapter under adapters:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Activities{adapters: storageAdapters(tc.sites), log: zap.NewNop()}
			ck := &checks{}
			ms := a.checkMirrors(context.Background(), &CheckTargetInput{Site: "dr", Storage: tc.storage, AdapterRuns: tc.runs}, ck)
			require.Len(t, ck.list, 1, "%+v", ck.list)
			assert.Equal(t, tc.severity, ck.list[0].Severity)
			assert.Contains(t, ck.list[0].Object+": "+ck.list[0].Message, tc.says)
			if strings.Contains(tc.says, "mirror gold-01") { // the adapter answered
				require.Len(t, ms, 1)
				assert.Equal(t, 30*time.Second, ms[0].Lag)
			} else {
				assert.Empty(t, ms)
			}
		})
	}
}
