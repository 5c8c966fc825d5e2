package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// Storage the plan's adapters handle: the test LUNs of a test failover
// (test_storage: a snapshot per run, or one listed in the plan) and the
// promotion that satisfies the storage-ready gate (its method). Every
// adapter call is an activity whose outcome goes into the timeline, so the
// report shows what was made, promoted and deleted.

// Version markers: recorded only by runs whose plan uses these features, so
// runs of other plans keep their command sequence (workflows/testdata).
const (
	versionTestStorage    = "test-storage"
	versionStorageAdapter = "storage-adapter-promote"
	versionMirrorAges     = "storage-adapter-mirror-ages"
)

// DecidedByAdapter is recorded as the storage-ready gate's decider when the
// storage adapters promoted the LUNs (method adapter).
const DecidedByAdapter = "adapter"

// testStorageState is what the run learnt of its test storage.
type testStorageState struct {
	// targets replaces the plan's storage in a test failover that has test
	// storage (nil: the plan's storage as is).
	targets []plan.StorageTarget
	// snapshots are the snapshots asked of the adapters, recorded before the
	// call so that cleanup deletes one the adapter made but could not report
	// (a timeout, a crash).
	snapshots []testSnapshot
}

type testSnapshot struct {
	Index   int
	Storage plan.StorageTarget
	Name    string
}

// adapterRuns says, per storage target of the mode, whether a run calls its
// adapter: a test snapshot by adapter (makeTestStorage), or the promotion
// of a storage-ready method that promotes (promoteStorage). Readiness uses
// it to tell a missing adapter that would fail the run from one that only
// leaves the mirror's state unchecked.
func adapterRuns(p *plan.Plan, mode plan.Mode) []bool {
	storage := p.StorageFor(mode)
	out := make([]bool, len(storage))
	for i, st := range storage {
		if mode == plan.ModeTestFailover {
			ts, ok := p.TestStorageFor(st)
			out[i] = ok && len(ts.DeviceConfig) == 0
		} else {
			out[i] = p.Approvals.StorageReady.Method.Promotes()
		}
	}
	return out
}

// storage is what the run probes and introduces at its target site.
func (r *run) storage() []plan.StorageTarget {
	if r.ts.targets != nil {
		return r.ts.targets
	}
	return r.plan.StorageFor(r.mode)
}

// makeTestStorage gets the test LUNs of a test failover before the probe:
// for each storage with a test_storage entry, the listed snapshot LUN or a
// snapshot its adapter makes now. The mirrors are left replicating.
// In a failover or failback it reads instead, from the adapters, how old
// the data on the storage is (readMirrorAges).
func (r *run) makeTestStorage(ctx workflow.Context) error {
	if r.mode != plan.ModeTestFailover {
		r.readMirrorAges(ctx)
		return nil
	}
	if len(r.plan.TestStorage) == 0 {
		return nil
	}
	if workflow.GetVersion(ctx, versionTestStorage, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	storage := r.plan.StorageFor(r.mode)
	targets := append([]plan.StorageTarget(nil), storage...)
	type pending struct {
		i int
		f workflow.Future
	}
	var calls []pending
	for i, st := range storage {
		ts, ok := r.plan.TestStorageFor(st)
		switch {
		case !ok:
			r.warn(ctx, "Storage %s has no test storage: the test uses its LUN itself, which must be writable (mirror split).", storageName(st, i))
		case len(ts.DeviceConfig) > 0:
			targets[i] = onLUN(st, ts.DeviceConfig)
			r.event(ctx, "Storage %s: the test uses snapshot LUN %s, listed in the plan.", storageName(st, i), ts.DeviceConfig["SCSIid"])
		default:
			name := activities.AdapterSnapshotName(r.workflowID, r.runID, i)
			r.ts.snapshots = append(r.ts.snapshots, testSnapshot{Index: i, Storage: st, Name: name})
			actx := withActivity(ctx, optAdapter, fmt.Sprintf("snapshot %s of storage %s by adapter %s", name, storageName(st, i), st.Adapter))
			calls = append(calls, pending{i, workflow.ExecuteActivity(actx, acts.SnapshotStorage,
				&activities.SnapshotStorageInput{Site: r.target, Storage: st, StorageIndex: i, Snapshot: name})})
		}
	}
	// The data the test comes back with is as of the adapters' snapshots;
	// a listed LUN, or the storage's own, is of an age nobody said.
	asOf := make([]time.Time, len(storage))
	var firstErr error
	for _, c := range calls {
		st := storage[c.i]
		var res activities.SnapshotStorageResult
		if err := c.f.Get(ctx, &res); err != nil {
			if activities.AdapterNotCalled(err) {
				r.ts.snapshots = slices.DeleteFunc(r.ts.snapshots, func(s testSnapshot) bool { return s.Index == c.i })
			}
			if firstErr == nil {
				firstErr = stepError(fmt.Sprintf("making the test snapshot of storage %s at site %s", storageName(st, c.i), r.target), err,
					"check the storage adapter and its array, then start the run again")
			}
			continue
		}
		targets[c.i] = onLUN(st, res.DeviceConfig)
		asOf[c.i] = res.DataAsOf
		verb := "made"
		if !res.Created {
			verb = "found"
		}
		r.event(ctx, "Storage adapter %s %s snapshot %s of storage %s: LUN %s; the mirror keeps replicating.", st.Adapter, verb, res.Snapshot, storageName(st, c.i), res.DeviceConfig["SCSIid"])
	}
	if firstErr != nil {
		return firstErr
	}
	r.ts.targets = targets
	r.dataAsOf = oldest(asOf)
	return nil
}

// oldest is the earliest of the times, or zero when one is not known: the
// age of a run's data is that of its oldest storage.
func oldest(times []time.Time) time.Time {
	var out time.Time
	for _, t := range times {
		if t.IsZero() {
			return time.Time{}
		}
		if out.IsZero() || t.Before(out) {
			out = t
		}
	}
	return out
}

// onLUN is the storage target on another LUN of the same array: the given
// keys replace the storage's (CHAP settings, for one, are kept).
func onLUN(st plan.StorageTarget, dc map[string]string) plan.StorageTarget {
	out := st
	out.DeviceConfig = map[string]string{}
	for _, k := range sortedKeys(st.DeviceConfig) {
		out.DeviceConfig[k] = st.DeviceConfig[k]
	}
	for _, k := range sortedKeys(dc) {
		out.DeviceConfig[k] = dc[k]
	}
	return out
}

// deleteTestSnapshots deletes, at cleanup, every snapshot the run asked
// for (after the SRs on them are forgotten); one that cannot be deleted is
// a leftover.
func (r *run) deleteTestSnapshots(ctx workflow.Context) {
	if len(r.ts.snapshots) == 0 {
		return
	}
	futures := make([]workflow.Future, len(r.ts.snapshots))
	for j, s := range r.ts.snapshots {
		actx := withActivity(ctx, optAdapter, fmt.Sprintf("delete snapshot %s of storage %s by adapter %s", s.Name, storageName(s.Storage, s.Index), s.Storage.Adapter))
		futures[j] = workflow.ExecuteActivity(actx, acts.DeleteSnapshot,
			&activities.DeleteSnapshotInput{Site: r.target, Storage: s.Storage, StorageIndex: s.Index, Snapshot: s.Name})
	}
	for j, s := range r.ts.snapshots {
		var res activities.DeleteSnapshotResult
		if err := futures[j].Get(ctx, &res); err != nil {
			msg := fmt.Sprintf("Snapshot %s of storage %s at site %s could not be deleted: %s; delete it on the array if it exists.",
				s.Name, storageName(s.Storage, s.Index), r.target, strings.TrimSuffix(errorText(err), "."))
			r.leftovers = append(r.leftovers, msg)
			r.warn(ctx, "%s", msg)
			continue
		}
		if res.Deleted {
			r.event(ctx, "Storage adapter %s deleted snapshot %s of storage %s.", s.Storage.Adapter, s.Name, storageName(s.Storage, s.Index))
		} else {
			r.event(ctx, "Storage adapter %s had no snapshot %s of storage %s to delete.", s.Storage.Adapter, s.Name, storageName(s.Storage, s.Index))
		}
	}
}

// readMirrorAges asks, in a failover or failback whose LUNs a person made
// writable (the storage-ready gate approved; no adapter promoted them), each
// storage's adapter for its mirror's last copy: the data the run comes back
// with is as of then, the report's RPO indication. It changes nothing and
// does not wait; an adapter that cannot say leaves the age not known.
func (r *run) readMirrorAges(ctx workflow.Context) {
	storage := r.storage()
	if len(storage) == 0 || r.plan.Approvals.StorageReady.Method.Promotes() {
		return // nothing to ask, or the promotion said already
	}
	for _, st := range storage {
		if st.Adapter == "" {
			return // that storage's age cannot be known, so the run's is not
		}
	}
	if workflow.GetVersion(ctx, versionMirrorAges, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	futures := make([]workflow.Future, len(storage))
	for i, st := range storage {
		actx := withActivity(ctx, optAdapterStatus, fmt.Sprintf("mirror status of storage %s by adapter %s", storageName(st, i), st.Adapter))
		futures[i] = workflow.ExecuteActivity(actx, acts.StorageStatus, &activities.StorageStatusInput{Site: r.target, Storage: st, StorageIndex: i})
	}
	// The answers are awaited beside the run, not before it goes on: a slow
	// or unreachable array never delays a failover for a line of its report
	// (a run that ends first reports the age not known).
	workflow.Go(ctx, func(ctx workflow.Context) {
		lastCopy := make([]time.Time, len(storage))
		for i, st := range storage {
			var ms activities.MirrorStatus
			if err := futures[i].Get(ctx, &ms); err != nil {
				if ctx.Err() == nil {
					r.event(ctx, "Storage %s: the age of its data is not known (%s).", storageName(st, i), strings.TrimSuffix(errorText(err), "."))
				}
				continue
			}
			lastCopy[i] = ms.LastCopy
			when := "an unknown time"
			if !ms.LastCopy.IsZero() {
				when = ms.LastCopy.UTC().Format(time.RFC3339)
			}
			r.event(ctx, "Storage adapter %s: mirror %s of storage %s is %s; its LUN last received data at %s.", st.Adapter, orText(ms.Mirror, "(unnamed)"), storageName(st, i), ms.State, when)
		}
		r.dataAsOf = oldest(lastCopy)
	})
}

// promoteStorage is the adapters' part of the storage-ready gate in a
// failover or failback: each storage's adapter makes its LUN writable. With
// method adapter that satisfies the gate (done); with
// adapter-then-approval the gate then waits for its approvals. A test
// failover never promotes.
func (r *run) promoteStorage(ctx workflow.Context) (done bool, err error) {
	method := r.plan.Approvals.StorageReady.Method
	if r.mode == plan.ModeTestFailover || !method.Promotes() {
		return false, nil
	}
	if workflow.GetVersion(ctx, versionStorageAdapter, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false, nil
	}
	storage := r.storage()
	futures := make([]workflow.Future, len(storage))
	for i, st := range storage {
		actx := withActivity(ctx, optAdapter, fmt.Sprintf("promote storage %s by adapter %s", storageName(st, i), st.Adapter))
		futures[i] = workflow.ExecuteActivity(actx, acts.PromoteStorage, &activities.PromoteStorageInput{Site: r.target, Storage: st, StorageIndex: i})
	}
	var firstErr error
	var promoted []string
	lastCopy := make([]time.Time, len(storage))
	for i, st := range storage {
		var res activities.PromoteStorageResult
		if err := futures[i].Get(ctx, &res); err != nil {
			if firstErr == nil {
				firstErr = stepError(fmt.Sprintf("promoting storage %s at site %s", storageName(st, i), r.target), err,
					"promote the LUN at the array by hand and approve the storage-ready gate, or fix the adapter and start the run again")
			}
			continue
		}
		promoted = append(promoted, storageName(st, i))
		lastCopy[i] = res.LastCopy
		r.event(ctx, "Storage adapter %s promoted storage %s: mirror %s is %s.", st.Adapter, storageName(st, i), orText(res.Mirror, "(unnamed)"), res.State)
	}
	if firstErr != nil {
		return true, firstErr
	}
	// A promoted LUN no longer receives copies: it holds the source as of
	// its mirror's last copy.
	r.dataAsOf = oldest(lastCopy)
	if method != plan.MethodAdapter {
		return false, nil
	}
	now := workflow.Now(ctx)
	r.gates = append(r.gates, GateStatus{Gate: plan.GateStorageReady, State: GateApproved, Quorum: 1, OpenedAt: now,
		Summary:   fmt.Sprintf("The storage adapters promote the LUNs at site %s: %s.", r.target, strings.Join(promoted, ", ")),
		Decisions: []Decision{{By: DecidedByAdapter, Approved: true, At: now, Comment: "every LUN promoted by its storage adapter"}}})
	r.event(ctx, "Gate %s satisfied by the storage adapters: %s promoted.", plan.GateStorageReady, plural(len(promoted), "LUN"))
	return true, nil
}
