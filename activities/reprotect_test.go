package activities

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// nineSRs is a pool with nine replicable SRs, s1…s8 replicating its metadata
// (xapi's limit), s9 not.
func nineSRs() string {
	var luns, srs, names []string
	for i := 1; i <= 9; i++ {
		luns = append(luns, fmt.Sprintf(`{lun: %d, scsi_id: "3600C%d", size: 10GiB}`, i, i))
		srs = append(srs, fmt.Sprintf(`{name: s%d, uuid: "00000000-0000-4000-8000-00000000000%d", type: lvmoiscsi, lun: "3600C%d"}`, i, i, i))
		if i <= 8 {
			names = append(names, fmt.Sprintf("s%d", i))
		}
	}
	return `
name: nine
seed: 5
sites:
  - name: dr
    iscsi:
      - {name: arr, address: arr.lab, iqn: "iqn.2026-01.lab.arr:t", luns: [` + strings.Join(luns, ", ") + `]}
    pools:
      - name: DR
        hosts: [{name: h1}, {name: h2}]
        users: [{name: root, password: pw, role: pool-admin}]
        srs: [` + strings.Join(srs, ", ") + `]
        replicate_metadata: [` + strings.Join(names, ", ") + `]
`
}

// With 8 redo logs active, xapi refuses any enable, even on an SR it already
// replicates to (the limit is checked first): Reprotect counts those as
// enabled without asking, and the others get the one step that can work.
func TestReprotectAtTheRedoLogLimit(t *testing.T) {
	sc, err := sim.ParseScenario([]byte(nineSRs()))
	require.NoError(t, err)
	w, err := sim.Start(context.Background(), sc, sim.Options{FreePorts: true, ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	a, err := New(map[string]SiteConfig{"dr": {URL: w.PoolURL("DR"), Username: "root", Password: "pw"}}, nil, testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = Close(context.Background(), a) })
	f := &fixture{t: t, w: w, a: a}
	f.env = f.newEnv()

	s1, s9 := "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000009"
	var rp ReprotectResult
	f.must(&rp, f.a.Reprotect, &ReprotectInput{Site: "dr", SRUUIDs: []string{s1, s9}})
	assert.Equal(t, []string{s1}, rp.Enabled)
	require.Len(t, rp.Errors, 1)
	assert.Equal(t, "Metadata replication could not be enabled on SR 's9' at site dr: the pool already replicates its metadata to the maximum number of storage repositories (8) (NO_MORE_REDO_LOGS_ALLOWED); "+
		"disable metadata replication on an SR that no longer needs it (Configure DR), then enable it on this one so that a failback is possible.", rp.Errors[0])
	assert.Equal(t, 1, w.Journal().Count("Async.SR.enable_database_replication", ""), "s1 is not asked again")
}
