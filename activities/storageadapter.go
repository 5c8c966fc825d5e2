package activities

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/activities/adapter"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// The storage adapter activities: each runs the site's adapter once
// (activities/adapter), named by the plan's storage target and defined in the
// worker configuration. Every action is idempotent at the adapter (a snapshot
// is named, so asking twice finds the first; deleting what is gone is done;
// promoting a writable LUN changes nothing), so Temporal may retry them.

// Error types of the adapter activities.
const (
	codeNoAdapter      = "LIFEBOAT_NO_ADAPTER"
	codeAdapter        = "LIFEBOAT_ADAPTER"
	codeAdapterTimeout = "LIFEBOAT_ADAPTER_TIMEOUT"
)

// SnapshotStorage has the storage's adapter make, or find, the named
// snapshot of the storage's LUN, and returns its device_config.
func (a *Activities) SnapshotStorage(ctx context.Context, in *SnapshotStorageInput) (*SnapshotStorageResult, error) {
	defer a.keepAlive(ctx)()
	resp, err := a.callAdapter(ctx, in.Site, in.Storage, in.StorageIndex, adapter.ActionSnapshot, in.Snapshot)
	if err != nil {
		return nil, err
	}
	return &SnapshotStorageResult{Snapshot: in.Snapshot, Created: resp.Snapshot.Created,
		DeviceConfig: resp.Snapshot.DeviceConfig, Message: resp.Message, DataAsOf: resp.Snapshot.DataAsOf}, nil
}

// DeleteSnapshot has the storage's adapter delete the named snapshot; one
// that does not exist is deleted already.
func (a *Activities) DeleteSnapshot(ctx context.Context, in *DeleteSnapshotInput) (*DeleteSnapshotResult, error) {
	defer a.keepAlive(ctx)()
	resp, err := a.callAdapter(ctx, in.Site, in.Storage, in.StorageIndex, adapter.ActionDeleteSnapshot, in.Snapshot)
	if err != nil {
		return nil, err
	}
	return &DeleteSnapshotResult{Deleted: resp.Deleted, Message: resp.Message}, nil
}

// PromoteStorage has the storage's adapter make its LUN writable at the
// site (split its mirror), the storage-ready gate's work.
func (a *Activities) PromoteStorage(ctx context.Context, in *PromoteStorageInput) (*PromoteStorageResult, error) {
	defer a.keepAlive(ctx)()
	resp, err := a.callAdapter(ctx, in.Site, in.Storage, in.StorageIndex, adapter.ActionPromote, "")
	if err != nil {
		return nil, err
	}
	return &PromoteStorageResult{Mirror: resp.Mirror.Name, State: resp.Mirror.State, Message: resp.Message, LastCopy: resp.Mirror.LastCopy}, nil
}

// StorageStatus has the storage's adapter read its LUN's mirror (the status
// action, which changes nothing): its state, lag and last copy.
func (a *Activities) StorageStatus(ctx context.Context, in *StorageStatusInput) (*MirrorStatus, error) {
	defer a.keepAlive(ctx)()
	ms, err := a.mirrorStatus(ctx, in.Site, in.Storage, in.StorageIndex)
	if err != nil {
		return nil, err
	}
	return &ms, nil
}

// mirrorStatus is the status action's answer as lifeboat reads it.
func (a *Activities) mirrorStatus(ctx context.Context, site string, st plan.StorageTarget, i int) (MirrorStatus, error) {
	resp, err := a.callAdapter(ctx, site, st, i, adapter.ActionStatus, "")
	if err != nil {
		return MirrorStatus{}, err
	}
	m := resp.Mirror
	return MirrorStatus{Storage: storageLabel(st, i), Mirror: m.Name, State: m.State, LastCopy: m.LastCopy,
		Lag: time.Duration(m.LagSeconds * float64(time.Second))}, nil
}

// callAdapter runs the adapter the storage names, which must be the one the
// worker configuration gives its site.
func (a *Activities) callAdapter(ctx context.Context, site string, st plan.StorageTarget, i int, action, snapshot string) (*adapter.Response, error) {
	label := storageLabel(st, i)
	cfg, ok := a.adapters[site]
	switch {
	case st.Adapter == "":
		return nil, permanent(codeBadInput, fmt.Sprintf("Storage %s names no adapter to %s its LUN.", label, action),
			"add adapter: to the storage in the plan, then start the run again", nil)
	case !ok:
		return nil, nonRetryable(codeNoAdapter, fmt.Sprintf("Storage %s names adapter %s, but the worker configuration gives site %s no adapter.", label, st.Adapter, site), nil)
	case cfg.Name != st.Adapter:
		return nil, nonRetryable(codeNoAdapter, fmt.Sprintf("Storage %s names adapter %s, but the worker configuration gives site %s adapter %s.", label, st.Adapter, site, cfg.Name), nil)
	}
	req := adapter.Request{Action: action, Site: site, Snapshot: snapshot, LUN: lunOf(st)}
	resp, err := adapter.Call(ctx, cfg, req)
	if err == nil {
		a.log.Info("storage adapter answered", zap.String("adapter", cfg.Name), zap.String("action", action),
			zap.String("storage", st.Name), zap.String("message", resp.Message))
		return resp, nil
	}
	var ae *adapter.Error
	if !errors.As(err, &ae) {
		return nil, err // the activity was cancelled
	}
	// stderr is the adapter's own and may hold anything: the worker's log
	// only, never the error (which reaches Temporal's history).
	a.log.Warn("storage adapter failed", zap.String("adapter", cfg.Name), zap.String("action", action),
		zap.String("storage", st.Name), zap.Error(err), zap.String("stderr", truncate(ae.Stderr, 2000)))
	msg := fmt.Sprintf("For storage %s, %s.", label, err)
	switch {
	case ae.Kind == adapter.KindTimeout:
		return nil, retryable(codeAdapterTimeout, msg, nil)
	case ae.Retryable():
		return nil, retryable(codeAdapter, msg, nil)
	}
	return nil, nonRetryable(codeAdapter, msg, nil)
}

// AdapterNotCalled says whether an adapter activity failed before any
// adapter ran (the site has none, or not that one): nothing was made, so
// there is nothing to delete.
func AdapterNotCalled(err error) bool {
	switch ErrorCode(err) {
	case codeNoAdapter, codeBadInput:
		return true
	}
	return false
}

// lunOf is what an adapter is told of a storage's LUN: never a secret.
func lunOf(st plan.StorageTarget) adapter.LUN {
	dc := st.DeviceConfig
	return adapter.LUN{Type: st.Type, SCSIid: dc["SCSIid"], Target: dc["target"], Port: dc["port"], TargetIQN: dc["targetIQN"]}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// storageAdapters indexes the sites' adapters by site name.
func storageAdapters(sites map[string]SiteConfig) map[string]adapter.Config {
	out := map[string]adapter.Config{}
	for name, s := range sites {
		if s.Adapter.Name != "" {
			out[name] = s.Adapter
		}
	}
	return out
}

// AdapterSnapshotName is the name of the snapshot a run makes of one storage
// target: unique per run and storage, so a retry finds the one made before
// and two runs never share one. Arrays limit volume names, so it is at most
// maxSnapshotName characters of [a-z0-9-] (a long workflow ID, such as a
// schedule's, is cut and a hash of it keeps the name unique).
func AdapterSnapshotName(workflowID, runID string, storageIndex int) string {
	id := runID
	if len(id) > 8 {
		id = id[:8]
	}
	full := fmt.Sprintf("%s-%s-%d", workflowID, id, storageIndex+1)
	name := strings.Trim(unsafeNameChars.ReplaceAllString(strings.ToLower(full), "-"), "-")
	if len(name) > maxSnapshotName {
		sum := sha256.Sum256([]byte(full))
		tail := fmt.Sprintf("-%x-%s-%d", sum[:4], id, storageIndex+1)
		name = strings.TrimRight(name[:maxSnapshotName-len(tail)], "-") + tail
	}
	return name
}

const maxSnapshotName = 63

var unsafeNameChars = regexp.MustCompile(`[^a-z0-9-]+`)
