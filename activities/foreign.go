package activities

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// foreignIdle is how long an unused foreign database stays open. A run's
// Scan, Precheck and recover children follow each other within seconds;
// a recover gate that waits longer than this costs one more open.
const foreignIdle = 10 * time.Minute

// foreignDBs keeps the metadata databases this worker opened
// (VDI.open_database), one per site and metadata VDI, shared by Scan,
// Precheck and every Recover. Opening one replays the whole redo log on
// the master; doing it once per recover child cost hundreds of opens per
// run.
//
// Why sharing is safe:
//   - A foreign database is a read-only copy of the metadata VDI as it was
//     when opened: nothing writes to it afterwards (recovery writes to the
//     real database through session_to). Its records, read once, stay true
//     for the session's life.
//   - Scan always opens anew and replaces the entry, so a run recovers from
//     the very copy its scan and prechecks read (the versions match), and a
//     re-run after the metadata changed reads the new copy.
//   - An entry is keyed by site and VDI UUID; a caller naming another ref
//     of that UUID (the SR was forgotten and introduced again) gets a new
//     open.
//   - A foreign session that xapi dropped (SESSION_INVALID: master
//     restarted, session expired) is reopened once by withForeign.
//   - Sessions live only in the worker's memory and the master's; they are
//     logged out when idle for foreignIdle and when the worker stops
//     (Close). The references are never logged nor put in a result (only
//     Recover's heartbeat lists them, so a retry on another worker can log
//     out what a dead worker left open).
//
// Opening is single-flight: concurrent users of one VDI wait for one open.
type foreignDBs struct {
	log  *zap.Logger
	idle time.Duration
	// cleanupTimeout bounds the logout of an idle session.
	cleanupTimeout time.Duration

	mu      sync.Mutex
	entries map[foreignKey]*foreignDB
	bg      sync.WaitGroup // logouts under way
}

type foreignKey struct{ site, vdi string }

// foreignDB is one open metadata database and what was read from it.
type foreignDB struct {
	vdiRef xapi.Ref      // as asked for ("" = looked up by UUID)
	ready  chan struct{} // closed once the open ended; fs and err are set before
	fs     *xapi.ForeignSession
	err    error

	// guarded by foreignDBs.mu
	users    int
	lastUsed time.Time
	timer    *time.Timer
	dropped  bool

	recMu sync.Mutex
	recs  *foreignRecords

	netMu sync.Mutex
	vifs  map[xapi.ForeignRef]xapi.ForeignVIFSummary
	nets  map[xapi.ForeignRef]xapi.ForeignNetwork

	diskMu sync.Mutex
	disks  *storageIndex

	warming bool // guarded by foreignDBs.mu: warm ran

	logoutOnce sync.Once // closeAll and a last release may both log out
}

// storage reads the database's VBDs and SRs once, for the storage
// check of every precheck chunk (required.go).
func (e *foreignDB) storage(ctx context.Context) (*storageIndex, error) {
	e.diskMu.Lock()
	defer e.diskMu.Unlock()
	if e.disks != nil {
		return e.disks, nil
	}
	var vbds map[xapi.ForeignRef]xapi.ForeignVBDSummary
	var srs map[xapi.ForeignRef]xapi.ForeignSRDisks
	if err := allAtOnce(ctx,
		func() (err error) { vbds, err = e.fs.GetAllVBDSummaries(ctx); return err },
		func() (err error) { srs, err = e.fs.GetAllSRDisks(ctx); return err },
	); err != nil {
		return nil, err
	}
	e.disks = newStorageIndex(vbds, srs)
	return e.disks, nil
}

// networks reads the database's VIFs and networks once, for the network
// check of every precheck chunk (a 10,000-VM selection is twenty chunks,
// and decoding 20,000 VIFs each time was most of the precheck).
func (e *foreignDB) networks(ctx context.Context) (map[xapi.ForeignRef]xapi.ForeignVIFSummary, map[xapi.ForeignRef]xapi.ForeignNetwork, error) {
	e.netMu.Lock()
	defer e.netMu.Unlock()
	if e.vifs != nil && e.nets != nil {
		return e.vifs, e.nets, nil
	}
	var vifs map[xapi.ForeignRef]xapi.ForeignVIFSummary
	var nets map[xapi.ForeignRef]xapi.ForeignNetwork
	if err := allAtOnce(ctx,
		func() (err error) { vifs, err = e.fs.GetAllVIFSummaries(ctx); return err },
		func() (err error) { nets, err = e.fs.GetAllNetworkRecords(ctx); return err },
	); err != nil {
		return nil, nil, err
	}
	e.vifs, e.nets = vifs, nets
	return vifs, nets, nil
}

// foreignRecords is the VMs and vApps of a foreign database by UUID.
type foreignRecords struct {
	vms      map[string]xapi.ForeignRef
	vmByRef  map[xapi.ForeignRef]xapi.ForeignVMSummary
	apps     map[string]xapi.ForeignRef
	appByRef map[xapi.ForeignRef]xapi.ForeignVMAppliance
}

func newForeignDBs(log *zap.Logger, cleanupTimeout time.Duration) *foreignDBs {
	return &foreignDBs{log: log, idle: foreignIdle, cleanupTimeout: cleanupTimeout, entries: map[foreignKey]*foreignDB{}}
}

// acquire returns the open database of the VDI, opening it if needed
// (fresh: always, replacing the cached one). Call release when done.
func (d *foreignDBs) acquire(ctx context.Context, c *conn, vdiUUID string, vdiRef xapi.Ref, fresh bool) (*foreignDB, error) {
	key := foreignKey{c.site, vdiUUID}
	for {
		d.mu.Lock()
		e := d.entries[key]
		if e != nil && (fresh || vdiRef != "" && e.vdiRef != "" && e.vdiRef != vdiRef) {
			d.dropLocked(key, e)
			e = nil
		}
		if e == nil {
			e = &foreignDB{vdiRef: vdiRef, ready: make(chan struct{})}
			d.entries[key] = e
			e.users++
			d.mu.Unlock()
			e.fs, e.err = d.open(ctx, c, vdiUUID, vdiRef)
			close(e.ready)
			if e.err != nil {
				d.mu.Lock()
				e.users--
				if d.entries[key] == e {
					delete(d.entries, key)
				}
				d.mu.Unlock()
				return nil, e.err
			}
			return e, nil
		}
		e.users++
		d.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			d.release(e)
			return nil, ctx.Err()
		}
		if e.err != nil {
			d.release(e)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The opener's attempt failed (maybe its context ended): try
			// once ourselves rather than share another caller's failure.
			fresh = false
			d.mu.Lock()
			if d.entries[key] == e {
				delete(d.entries, key)
			}
			d.mu.Unlock()
			continue
		}
		return e, nil
	}
}

func (d *foreignDBs) open(ctx context.Context, c *conn, vdiUUID string, ref xapi.Ref) (*xapi.ForeignSession, error) {
	if ref == "" {
		var err error
		if ref, err = c.s.GetVDIByUUID(ctx, vdiUUID); err != nil {
			return nil, err
		}
	}
	return c.s.OpenDatabase(ctx, ref)
}

// release ends one use; the last user arms the idle timer, or logs the
// session out if the entry was dropped meanwhile.
func (d *foreignDBs) release(e *foreignDB) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e.users--
	e.lastUsed = time.Now()
	if e.users > 0 || e.fs == nil {
		return
	}
	if e.dropped {
		d.logoutLater(e)
		return
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timer = time.AfterFunc(d.idle, func() { d.expireIdle(time.Now()) })
}

// expireIdle drops every entry unused for the idle time as of now.
func (d *foreignDBs) expireIdle(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for key, e := range d.entries {
		if e.users == 0 && e.fs != nil && now.Sub(e.lastUsed) >= d.idle {
			d.dropLocked(key, e)
		}
	}
}

// dropLocked removes the entry; its session is logged out now if no one
// uses it, else by the last release (an entry still opening has a user,
// its opener, so fs is only read once it is set).
func (d *foreignDBs) dropLocked(key foreignKey, e *foreignDB) {
	if d.entries[key] == e {
		delete(d.entries, key)
	}
	if e.dropped {
		return
	}
	e.dropped = true
	if e.timer != nil {
		e.timer.Stop()
	}
	if e.users == 0 && e.fs != nil {
		d.logoutLater(e)
	}
}

// warmTimeout bounds warm's reads.
const warmTimeout = 2 * time.Minute

// warm reads, in the background, what the precheck reads of a database (its
// VIFs, networks and disks) once the scan has read its VMs: the precheck
// that follows finds them ready instead of decoding tens of thousands of
// records at 10,000 VMs while the run waits. A read that fails is left to
// the precheck; the entry stays in use until the reads end.
func (d *foreignDBs) warm(e *foreignDB) {
	d.mu.Lock()
	if e.dropped || e.warming || e.fs == nil {
		d.mu.Unlock()
		return
	}
	e.warming = true
	e.users++
	d.bg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.bg.Done()
		defer d.release(e)
		ctx, cancel := context.WithTimeout(context.Background(), warmTimeout)
		defer cancel()
		_ = allAtOnce(ctx,
			func() (err error) { _, _, err = e.networks(ctx); return err },
			func() (err error) { _, err = e.storage(ctx); return err },
		)
	}()
}

// logoutLater logs out without holding up the caller (who holds mu).
func (d *foreignDBs) logoutLater(e *foreignDB) {
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		d.logout(e)
	}()
}

func (d *foreignDBs) logout(e *foreignDB) {
	if e.fs == nil {
		return
	}
	e.logoutOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), d.cleanupTimeout)
		defer cancel()
		if err := e.fs.Logout(ctx); err != nil {
			d.log.Warn("cannot log out of a metadata database", zap.String("vdi", string(e.vdiRef)), zap.Error(err))
		}
	})
}

// invalidate drops the entry if it is still e (its session was rejected).
func (d *foreignDBs) invalidate(key foreignKey, e *foreignDB) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries[key] == e {
		delete(d.entries, key)
		e.dropped = true
		if e.timer != nil {
			e.timer.Stop()
		}
	}
}

// holds reports whether this worker's cache holds the foreign session ref.
func (d *foreignDBs) holds(ref xapi.ForeignRef) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.entries {
		select {
		case <-e.ready:
			if e.fs != nil && e.fs.Ref() == ref {
				return true
			}
		default: // still opening: not that session
		}
	}
	return false
}

// closeAll logs every cached session out (worker stop).
func (d *foreignDBs) closeAll(ctx context.Context) {
	d.mu.Lock()
	var all []*foreignDB
	for k, e := range d.entries {
		delete(d.entries, k)
		e.dropped = true
		if e.timer != nil {
			e.timer.Stop()
		}
		all = append(all, e)
	}
	d.mu.Unlock()
	for _, e := range all {
		select {
		case <-e.ready:
			d.logout(e)
		case <-ctx.Done():
			return
		}
	}
	d.bg.Wait()
}

// withForeign runs fn with the open database of a metadata VDI (by UUID;
// vdiRef may be "" to look it up). When xapi rejects the foreign session
// itself (SESSION_INVALID naming it) the database is opened again and fn
// runs once more: xapi checks the session before doing anything, so fn
// did nothing the first time. Errors of the open are returned as they are.
func (a *Activities) withForeign(ctx context.Context, c *conn, vdiUUID string, vdiRef xapi.Ref, fresh bool, fn func(*foreignDB) error) error {
	key := foreignKey{c.site, vdiUUID}
	for attempt := 0; ; attempt++ {
		e, err := a.foreign.acquire(ctx, c, vdiUUID, vdiRef, fresh)
		if err != nil {
			return err
		}
		err = fn(e)
		a.foreign.release(e)
		if attempt == 0 && foreignSessionRejected(err, e.fs) {
			a.foreign.invalidate(key, e)
			fresh = true
			continue
		}
		return err
	}
}

func foreignSessionRejected(err error, fs *xapi.ForeignSession) bool {
	xe, ok := xapi.AsError(err)
	return ok && xe.Code == xapi.CodeSessionInvalid && (xe.Param(0) == "" || xe.Param(0) == string(fs.Ref()))
}

// records reads the database's VMs and vApps once (two get_all_records
// calls); every later use is free. Concurrent first users share one read.
func (e *foreignDB) records(ctx context.Context) (*foreignRecords, error) {
	e.recMu.Lock()
	defer e.recMu.Unlock()
	if e.recs != nil {
		return e.recs, nil
	}
	var (
		apps map[xapi.ForeignRef]xapi.ForeignVMAppliance
		vms  map[xapi.ForeignRef]xapi.ForeignVMSummary
	)
	if err := allAtOnce(ctx,
		func() (err error) { apps, err = e.fs.GetAllVMApplianceRecords(ctx); return err },
		func() (err error) { vms, err = e.fs.GetAllVMSummaries(ctx); return err },
	); err != nil {
		return nil, err
	}
	e.setRecords(vms, apps)
	return e.recs, nil
}

// setRecords is called with recMu held, or before the entry is shared.
func (e *foreignDB) setRecords(vms map[xapi.ForeignRef]xapi.ForeignVMSummary, apps map[xapi.ForeignRef]xapi.ForeignVMAppliance) {
	r := &foreignRecords{vms: map[string]xapi.ForeignRef{}, vmByRef: vms, apps: map[string]xapi.ForeignRef{}, appByRef: apps}
	for ref, vm := range vms {
		r.vms[vm.UUID] = ref
	}
	for ref, app := range apps {
		r.apps[app.UUID] = ref
	}
	e.recs = r
}
