package activities

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

var demoSRs = []string{gold01UUID, gold02UUID, silverUUID}

// failedOver is the demo after the primary site's loss, a failover of erp,
// a reprotection of gold-01 on DR and the primary site's return (its VMs
// halted) with the mirrors reversed; split says whether the reversed
// mirrors were then split (the storage-ready gate's job before a failback).
func failedOver(t *testing.T, split bool) *fixture {
	f := newFixture(t)
	require.NoError(t, f.w.Control().SiteDown("primary"))
	f.splitMirrors()
	intro := f.introduceAll()
	recoverSome(t, f, f.scan(intro.AttachedSRs), "erp")
	var rp ReprotectResult
	f.must(&rp, f.a.Reprotect, &ReprotectInput{Site: "dr", SRUUIDs: []string{gold01UUID}})
	require.Equal(t, []string{gold01UUID}, rp.Enabled)
	ct := f.w.Control()
	require.NoError(t, ct.SiteUp("primary", false))
	for _, m := range []string{"gold-01", "gold-02", "fc-silver-01"} {
		require.NoError(t, ct.ReverseMirror(m))
		if split {
			require.NoError(t, ct.SplitMirror(m))
		}
	}
	return f
}

func (f *fixture) scanAt(site string) (*ScanResult, error) {
	var res ScanResult
	err := f.run(&res, f.a.Scan, &ScanInput{Site: site, SRUUIDs: demoSRs})
	return &res, err
}

// pbdCalls lists the PBD.plug / PBD.unplug calls since journal entry seq,
// as "unplug <host>" / "plug <host>".
func (f *fixture) pbdCalls(c *conn, since int64) []string {
	ctx := context.Background()
	pbds, err := c.s.GetAllPBDRecords(ctx)
	require.NoError(f.t, err)
	hosts, err := c.s.GetAllHostRecords(ctx)
	require.NoError(f.t, err)
	var out []string
	for _, e := range f.w.Journal().Entries(since) {
		verb, ok := map[string]string{"Async.PBD.unplug": "unplug", "Async.PBD.plug": "plug"}[e.Method]
		if !ok || len(e.Params) == 0 {
			continue
		}
		p := pbds[xapi.Ref(fmt.Sprint(e.Params[len(e.Params)-1]))]
		out = append(out, verb+" "+hosts[p.Host].NameLabel)
	}
	return out
}

func lastSeq(f *fixture) int64 {
	es := f.w.Journal().Entries(0)
	return es[len(es)-1].Seq
}

func (f *fixture) primaryConn() *conn {
	c, err := f.a.connect(context.Background(), "primary")
	require.NoError(f.t, err)
	return c
}

// TestScanReplugsAttachedSRForFailback: the primary has gold-01 attached
// when its mirror brings the DR pool's metadata VDI; SR.scan records it
// (metadata_latest false) and only a re-plug makes xapi read it. Scan
// unplugs gold-01 (other host first, master last) and plugs it again
// (master first), and only gold-01, whose foreign metadata was stale; a
// second Scan finds it latest and plugs nothing.
func TestScanReplugsAttachedSRForFailback(t *testing.T) {
	f := failedOver(t, true)
	c := f.primaryConn()
	mark := lastSeq(f)
	sc, err := f.scanAt("primary")
	require.NoError(t, err)
	assert.Equal(t, primaryID, sc.TargetPoolUUID)
	require.Len(t, sc.Sources, 1, "ignored: %v", sc.Ignored)
	assert.Equal(t, drPoolID, sc.Sources[0].PoolUUID)
	assert.Equal(t, gold01UUID, sc.Sources[0].SRUUID)
	assert.Equal(t, []string{"unplug primary-02", "unplug primary-01", "plug primary-01", "plug primary-02"}, f.pbdCalls(c, mark))
	var erp bool
	for _, va := range sc.VApps {
		erp = erp || va.Name == "erp"
	}
	assert.True(t, erp, "erp is in the DR pool's metadata")

	mark = lastSeq(f)
	again, err := f.scanAt("primary")
	require.NoError(t, err)
	assert.Equal(t, sc.Sources, again.Sources)
	assert.Empty(t, f.pbdCalls(c, mark), "already latest: no re-plug")
}

// TestScanPlugsWhatAnEarlierAttemptLeftUnplugged: an attempt that stopped
// between unplug and plug left gold-01 detached; the next one plugs it
// (master first) before scanning, and the master's plug reads the metadata.
func TestScanPlugsWhatAnEarlierAttemptLeftUnplugged(t *testing.T) {
	f := failedOver(t, true)
	c := f.primaryConn()
	ctx := context.Background()
	sr, err := c.s.GetSRByUUID(ctx, gold01UUID)
	require.NoError(t, err)
	require.NoError(t, c.s.ScanSR(ctx, sr))
	pool, err := c.s.GetAllPoolRecords(ctx)
	require.NoError(t, err)
	var master xapi.Ref
	for _, p := range pool {
		master = p.Master
	}
	rs := &srsToRead{refs: []xapi.Ref{sr}, master: master}
	pbds, err := f.a.pbdsOf(ctx, c, sr)
	require.NoError(t, err)
	vms, err := f.a.unplugSR(ctx, c, rs, sr, pbds)
	require.NoError(t, err)
	require.Empty(t, vms)

	mark := lastSeq(f)
	sc, err := f.scanAt("primary")
	require.NoError(t, err)
	require.Len(t, sc.Sources, 1, "ignored: %v", sc.Ignored)
	assert.Equal(t, drPoolID, sc.Sources[0].PoolUUID)
	assert.Equal(t, []string{"plug primary-01", "plug primary-02"}, f.pbdCalls(c, mark), "plugged back, then latest: no second re-plug")
}

// TestScanLeavesAnSRInUseAttached: a VM running on gold-01 at the primary
// keeps its PBDs plugged (PBD.unplug would refuse VDI_IN_USE): the SR is not
// re-plugged, and the scan says which VM to shut down.
func TestScanLeavesAnSRInUseAttached(t *testing.T) {
	f := failedOver(t, true)
	c := f.primaryConn()
	ctx := context.Background()
	dns, err := c.s.GetVMByUUID(ctx, vmUUIDAt(t, f, c, "dns-01"))
	require.NoError(t, err)
	require.NoError(t, c.s.StartVM(ctx, dns, false, false))
	mark := lastSeq(f)
	sc, err := f.scanAt("primary")
	require.NoError(t, err)
	assert.Empty(t, f.pbdCalls(c, mark))
	assert.Empty(t, sc.Sources)
	var note string
	for _, why := range sc.Ignored {
		if strings.Contains(why, "could not be re-read") {
			note = why
		}
	}
	assert.Contains(t, note, "VM 'dns-01'")
	assert.Contains(t, note, "shut it down, then start the run again")
}

// TestScanOnAReadOnlyMirrorCopySaysSplit: the reversed mirrors were not
// split, so the primary's LUNs are read-only copies and the re-plug fails:
// the error is the mirror's (split it), and the next attempt, once split,
// plugs the SR and reads the metadata.
func TestScanOnAReadOnlyMirrorCopySaysSplit(t *testing.T) {
	f := failedOver(t, false)
	_, err := f.scanAt("primary")
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, codeMirror, ae.Type())
	assert.True(t, ae.NonRetryable())
	assert.Contains(t, ae.Message(), "its LUN is a read-only mirror copy")
	for _, m := range []string{"gold-01", "gold-02", "fc-silver-01"} {
		require.NoError(t, f.w.Control().SplitMirror(m))
	}
	sc, err := f.scanAt("primary")
	require.NoError(t, err)
	require.Len(t, sc.Sources, 1, "ignored: %v", sc.Ignored)
	assert.Equal(t, drPoolID, sc.Sources[0].PoolUUID)
}

func vmUUIDAt(t *testing.T, f *fixture, c *conn, name string) string {
	vms, err := c.s.GetAllVMRecords(context.Background())
	require.NoError(t, err)
	for _, vm := range vms {
		if vm.NameLabel == name {
			return vm.UUID
		}
	}
	t.Fatalf("no VM %s", name)
	return ""
}

// TestFailoverWhenThePlugDoesNotScan: since CA-379112 xapi's master plug
// handles only the metadata VDIs already in the database, and DR_task.create
// plugs an SR just introduced, so none: the scan finds the primary's
// metadata VDIs not latest and re-plugs the SRs, which reads them.
func TestFailoverWhenThePlugDoesNotScan(t *testing.T) {
	f := newFixtureWith(t, sim.Options{Speed: 0, FreePorts: true, ControlAddr: "-", PlugWithoutScan: true})
	require.NoError(t, f.w.Control().SiteDown("primary"))
	f.splitMirrors()
	intro := f.introduceAll()
	mark := lastSeq(f)
	sc := f.scan(intro.AttachedSRs)
	require.Len(t, sc.Sources, 1, "ignored: %v", sc.Ignored)
	assert.Equal(t, primaryID, sc.Sources[0].PoolUUID)
	assert.Len(t, sc.VApps, 3)
	unplugs := 0
	for _, e := range f.w.Journal().Entries(mark) {
		if e.Method == "Async.PBD.unplug" && e.Result == "Success" {
			unplugs++
		}
	}
	assert.Equal(t, 4, unplugs, "gold-01 and fc-silver-01 (the primary's metadata) re-plugged on both hosts")
}
