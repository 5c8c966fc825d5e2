package activities

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// Recovery after xapi dropped every session (master restart, expiry):
// the real session logs in again and the cached metadata database is
// opened again, once.
func TestRecoverReopensExpiredForeignDatabase(t *testing.T) {
	f, _, sc := prepared(t)
	opened := f.w.Journal().Count("Async.VDI.open_database", "Success")
	n, err := f.w.Control().ExpireSessions("DR", "")
	require.NoError(t, err)
	require.NotZero(t, n)
	us := recoverSome(t, f, sc, "dns-01", "mail-01")
	require.Len(t, us, 2)
	assert.Equal(t, opened+1, f.w.Journal().Count("Async.VDI.open_database", "Success"), "the one VDI of both units opened again once")
}

// Concurrent users of one metadata VDI share one open.
func TestForeignDatabaseOpenedOnce(t *testing.T) {
	f, _, sc := prepared(t)
	// A new worker: nothing cached.
	a, err := New(map[string]SiteConfig{"dr": {URL: f.w.PoolURL("dr"), Username: "root", Password: "lifeboat"}}, mapSecrets{}, nil)
	require.NoError(t, err)
	ctx := context.Background()
	c, err := a.connect(ctx, "dr")
	require.NoError(t, err)
	vdi := sc.Sources[0].VDIUUID
	before := f.w.Journal().Count("Async.VDI.open_database", "Success")
	var wg sync.WaitGroup
	refs := make([]string, 8)
	for i := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, a.withForeign(ctx, c, vdi, "", false, func(e *foreignDB) error {
				refs[i] = string(e.fs.Ref())
				_, err := e.records(ctx)
				return err
			}))
		}()
	}
	wg.Wait()
	assert.Equal(t, before+1, f.w.Journal().Count("Async.VDI.open_database", "Success"))
	for _, r := range refs {
		assert.Equal(t, refs[0], r)
	}
	// Unused for the idle time: logged out (what the idle timer does).
	logouts := countLogouts(f, "foreign")
	a.foreign.expireIdle(time.Now())
	a.foreign.bg.Wait()
	assert.Equal(t, logouts, countLogouts(f, "foreign"), "not idle long enough yet")
	a.foreign.expireIdle(time.Now().Add(foreignIdle))
	a.foreign.bg.Wait()
	assert.Equal(t, logouts+1, countLogouts(f, "foreign"))
	assert.False(t, a.foreign.holds(xapi.ForeignRef(refs[0])))
	require.NoError(t, Close(ctx, a))
	assert.Equal(t, logouts+1, countLogouts(f, "foreign"), "nothing left to log out")
}

// A scan's first page opens the metadata anew; its later pages read the
// copy the first page opened.
func TestScanPagesReadOneCopy(t *testing.T) {
	f, intro, _ := prepared(t)
	var srs []string
	for _, s := range intro.AttachedSRs {
		srs = append(srs, s.UUID)
	}
	opens := func() int { return f.w.Journal().Count("Async.VDI.open_database", "Success") }
	var first ScanResult
	before := opens()
	f.must(&first, f.a.Scan, &ScanInput{Site: "dr", SRUUIDs: srs, Offset: 0, Limit: 1})
	opened := opens() - before
	require.NotZero(t, opened, "the first page opens the metadata")
	require.NotZero(t, first.Next, "more than one page")
	for next := first.Next; next != 0; {
		var page ScanResult
		f.must(&page, f.a.Scan, &ScanInput{Site: "dr", SRUUIDs: srs, Offset: next, Limit: 1})
		next = page.Next
	}
	assert.Equal(t, before+opened, opens(), "later pages open nothing")
}
