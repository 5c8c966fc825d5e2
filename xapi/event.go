package xapi

import (
	"context"
	"fmt"
	"time"
)

// Event is one entry of an event.from batch.
type Event struct {
	ID        int64  `xapi:"id"`
	Timestamp string `xapi:"timestamp"` // as sent; informational
	Class     string `xapi:"class"`
	Operation string `xapi:"operation"` // add, mod, del
	Ref       string `xapi:"ref"`
	// Snapshot is the object's record after the change (absent for del),
	// as a generic tree; decode it with DecodeSnapshot. The snapshots of
	// VMs, vApps and tasks hold only the fields this package follows them
	// by (VMStateRecord, VMApplianceRecord and a task's status, result and
	// error; see snapshotTypes): decode a full record with get_record.
	Snapshot any `xapi:"snapshot"`
}

// DecodeSnapshot decodes the event's snapshot into a record, e.g.
// *TaskRecord or *VM.
func (e Event) DecodeSnapshot(out any) error {
	if err := decodeInto(e.Snapshot, out); err != nil {
		return fmt.Errorf("decode %s snapshot of %s: %w", e.Class, e.Ref, err)
	}
	return nil
}

// EventBatch is the result of event.from.
type EventBatch struct {
	Events         []Event          `xapi:"events"`
	ValidRefCounts map[string]int64 `xapi:"valid_ref_counts"`
	Token          string           `xapi:"token"`
}

// EventFrom calls event.from: it returns the changes to objects of classes
// (e.g. "VM", "task", or "task/OpaqueRef:…" for one object) since token ("" =
// the current state of all of them), waiting up to timeout for at least one.
// Pass the returned Token to the next call.
func (s *Session) EventFrom(ctx context.Context, classes []string, token string, timeout time.Duration) (*EventBatch, error) {
	if classes == nil {
		classes = []string{}
	}
	v, err := s.callTimeout(withProjection(ctx, snapshotProjection(classes)), timeout+s.cfg.callTimeout, "event.from", classes, token, timeout.Seconds())
	if err != nil {
		return nil, fmt.Errorf("wait for events: %w", err)
	}
	var b EventBatch
	if err := decodeInto(v, &b); err != nil {
		return nil, fmt.Errorf("wait for events: %w", &ProtocolError{Reason: err.Error()})
	}
	return &b, nil
}
