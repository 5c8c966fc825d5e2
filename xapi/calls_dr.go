package xapi

import (
	"context"
	"fmt"
)

// CreateDRTask probes the storage described by deviceConfig, introduces the
// whitelisted SRs (by UUID) that the pool does not know yet and plugs them
// on every host (Async.DR_task.create). SRs already present are skipped and
// not tied to the task. If the call fails after xapi created the task, the
// task is not returned: find it with GetAllDRTaskRecords and destroy it.
func (s *Session) CreateDRTask(ctx context.Context, srType string, deviceConfig map[string]string, whitelist []string) (Ref, error) {
	if whitelist == nil {
		whitelist = []string{}
	}
	res, err := s.runAsync(ctx, "DR_task.create", srType, nonNilMap(deviceConfig), whitelist)
	if err != nil {
		return "", fmt.Errorf("introduce %s storage (DR task): %w", srType, err)
	}
	ref, err := ResultRef(res)
	if err != nil || ref == "" {
		return "", fmt.Errorf("introduce %s storage (DR task): %w", srType, &ProtocolError{Reason: "task result is not a DR_task reference"})
	}
	return ref, nil
}

// DestroyDRTask unplugs and forgets the SRs still introduced by the task
// (those no recovered VM uses) and deletes it (Async.DR_task.destroy).
func (s *Session) DestroyDRTask(ctx context.Context, task Ref) error {
	if _, err := s.runAsync(ctx, "DR_task.destroy", task); err != nil {
		return fmt.Errorf("destroy DR task %s: %w", task, err)
	}
	return nil
}
