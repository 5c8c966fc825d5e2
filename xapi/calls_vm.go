package xapi

import (
	"context"
	"fmt"
)

// StartVM boots a halted VM (VM.start, synchronous within WithSyncCalls,
// else Async); xapi sleeps the VM's start_delay inside the call. A
// suspended VM needs ResumeVM instead.
func (s *Session) StartVM(ctx context.Context, vm Ref, paused, force bool) error {
	if err := s.runOn(ctx, "VM", vm, "start", "VM.start", vm, paused, force); err != nil {
		return fmt.Errorf("start VM %s: %w", vm, err)
	}
	return nil
}

// StartVMOn boots a halted VM on host (VM.start_on, as StartVM): xapi checks
// that the host can run it (memory, storage, networks) and refuses
// otherwise, HOST_NOT_ENOUGH_FREE_MEMORY for instance.
func (s *Session) StartVMOn(ctx context.Context, vm, host Ref, paused, force bool) error {
	if err := s.runOn(ctx, "VM", vm, "start_on", "VM.start_on", vm, host, paused, force); err != nil {
		return fmt.Errorf("start VM %s on host %s: %w", vm, host, err)
	}
	return nil
}

// ResumeVM resumes a suspended VM (VM.resume, as StartVM).
func (s *Session) ResumeVM(ctx context.Context, vm Ref, paused, force bool) error {
	if err := s.runOn(ctx, "VM", vm, "resume", "VM.resume", vm, paused, force); err != nil {
		return fmt.Errorf("resume VM %s: %w", vm, err)
	}
	return nil
}

// UnpauseVM lets a paused VM run (VM.unpause).
func (s *Session) UnpauseVM(ctx context.Context, vm Ref) error {
	if _, err := s.call(ctx, "VM.unpause", vm); err != nil {
		return fmt.Errorf("unpause VM %s: %w", vm, err)
	}
	return nil
}

// HardShutdownVM powers a VM off (Async.VM.hard_shutdown). On a suspended VM
// this deletes the suspend image: destroy suspended test VMs directly.
func (s *Session) HardShutdownVM(ctx context.Context, vm Ref) error {
	if _, err := s.runAsyncOn(ctx, "VM", vm, "hard_shutdown", "VM.hard_shutdown", vm); err != nil {
		return fmt.Errorf("hard shut down VM %s: %w", vm, err)
	}
	return nil
}

// CleanShutdownVM asks the guest to shut down (Async.VM.clean_shutdown).
func (s *Session) CleanShutdownVM(ctx context.Context, vm Ref) error {
	if _, err := s.runAsyncOn(ctx, "VM", vm, "clean_shutdown", "VM.clean_shutdown", vm); err != nil {
		return fmt.Errorf("shut down VM %s: %w", vm, err)
	}
	return nil
}

// DestroyVM deletes a halted or suspended VM's record with its VBDs and VIFs,
// never its VDIs (VM.destroy).
func (s *Session) DestroyVM(ctx context.Context, vm Ref) error {
	if _, err := s.call(ctx, "VM.destroy", vm); err != nil {
		return fmt.Errorf("destroy VM %s: %w", vm, err)
	}
	return nil
}

// StartVMAppliance starts a vApp's VMs by ascending order groups, waiting
// each VM's start_delay (Async.VM_appliance.start).
func (s *Session) StartVMAppliance(ctx context.Context, app Ref, paused bool) error {
	if _, err := s.runAsyncOn(ctx, "VM_appliance", app, "start", "VM_appliance.start", app, paused); err != nil {
		return fmt.Errorf("start vApp %s: %w", app, err)
	}
	return nil
}

// ShutdownVMAppliance shuts a vApp down, clean with hard fallback
// (Async.VM_appliance.shutdown).
func (s *Session) ShutdownVMAppliance(ctx context.Context, app Ref) error {
	if _, err := s.runAsync(ctx, "VM_appliance.shutdown", app); err != nil {
		return fmt.Errorf("shut down vApp %s: %w", app, err)
	}
	return nil
}

// CleanShutdownVMAppliance is Async.VM_appliance.clean_shutdown.
func (s *Session) CleanShutdownVMAppliance(ctx context.Context, app Ref) error {
	if _, err := s.runAsync(ctx, "VM_appliance.clean_shutdown", app); err != nil {
		return fmt.Errorf("clean shut down vApp %s: %w", app, err)
	}
	return nil
}

// HardShutdownVMAppliance is Async.VM_appliance.hard_shutdown.
func (s *Session) HardShutdownVMAppliance(ctx context.Context, app Ref) error {
	if _, err := s.runAsync(ctx, "VM_appliance.hard_shutdown", app); err != nil {
		return fmt.Errorf("hard shut down vApp %s: %w", app, err)
	}
	return nil
}

// DestroyVMAppliance deletes the vApp record, not its VMs (VM_appliance.destroy).
func (s *Session) DestroyVMAppliance(ctx context.Context, app Ref) error {
	if _, err := s.call(ctx, "VM_appliance.destroy", app); err != nil {
		return fmt.Errorf("destroy vApp %s: %w", app, err)
	}
	return nil
}

// SetVMOtherConfigKey sets one key of a VM's other_config, whatever it held:
// xapi's add_to_other_config fails with MAP_DUPLICATE_KEY on a key that is
// there, so the key is removed first (remove_from_other_config of a missing
// key succeeds). Other keys are left alone.
func (s *Session) SetVMOtherConfigKey(ctx context.Context, vm Ref, key, value string) error {
	if _, err := s.call(ctx, "VM.remove_from_other_config", vm, key); err != nil {
		return fmt.Errorf("remove %s from other_config of VM %s: %w", key, vm, err)
	}
	return s.AddVMOtherConfigKey(ctx, vm, key, value)
}

// AddVMOtherConfigKey adds a key that is not in the VM's other_config
// (VM.add_to_other_config: MAP_DUPLICATE_KEY if it is).
func (s *Session) AddVMOtherConfigKey(ctx context.Context, vm Ref, key, value string) error {
	if _, err := s.call(ctx, "VM.add_to_other_config", vm, key, value); err != nil {
		return fmt.Errorf("add %s to other_config of VM %s: %w", key, vm, err)
	}
	return nil
}
