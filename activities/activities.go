// Package activities holds the runbook's Temporal activities: one method per
// step on one Activities struct that holds the site connectors. Every method
// is idempotent (it checks by UUID before acting) and names sites, never
// credentials.
package activities

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// SiteConfig is how the worker reaches one site's pool master. The password
// is resolved by the worker (environment or file) and lives only in memory.
type SiteConfig struct {
	URL      string
	Username string
	Password string
	CAFile   string
	Insecure bool // skip TLS verification: an explicit opt-in
	Timeout  time.Duration
}

// Secrets resolves "${secret:NAME}" references in plan device_config values.
type Secrets interface {
	Secret(name string) (string, error)
}

// New returns the activities for the given sites.
func New(sites map[string]SiteConfig, secrets Secrets, logger *zap.Logger) (*Activities, error) {
	return nil, errNotYet
}

// Activities is registered with the worker filled in, and referenced by the
// workflows through a nil *Activities (method values name the activities).
type Activities struct {
	// Filled in by the activities implementation: site connectors, secrets,
	// logger, limits.
}

var errNotYet = errors.New("activity not implemented yet")

// Probe runs SR.probe (metadata=true) for each storage target at the site.
func (a *Activities) Probe(ctx context.Context, in *ProbeInput) (*ProbeResult, error) {
	return nil, errNotYet
}

// Introduce creates one DR_task per storage target with whitelisted SRs.
func (a *Activities) Introduce(ctx context.Context, in *IntroduceInput) (*IntroduceResult, error) {
	return nil, errNotYet
}

// Scan reads the latest foreign metadata on the given SRs.
func (a *Activities) Scan(ctx context.Context, in *ScanInput) (*ScanResult, error) {
	return nil, errNotYet
}

// Precheck checks the selected units can be recovered at the site.
func (a *Activities) Precheck(ctx context.Context, in *PrecheckInput) (*PrecheckResult, error) {
	return nil, errNotYet
}

// Recover recovers one vApp or a batch of standalone VMs.
func (a *Activities) Recover(ctx context.Context, in *RecoverInput) (*RecoverResult, error) {
	return nil, errNotYet
}

// StartVM starts one recovered VM (running or paused).
func (a *Activities) StartVM(ctx context.Context, in *StartVMInput) (*StartVMResult, error) {
	return nil, errNotYet
}

// Verify checks every VM is in its expected power state.
func (a *Activities) Verify(ctx context.Context, in *VerifyInput) (*VerifyResult, error) {
	return nil, errNotYet
}

// Reprotect enables metadata replication on the recovered SRs.
func (a *Activities) Reprotect(ctx context.Context, in *ReprotectInput) (*ReprotectResult, error) {
	return nil, errNotYet
}

// DestroyDRTasks destroys the run's DR tasks that still exist.
func (a *Activities) DestroyDRTasks(ctx context.Context, in *DestroyDRTasksInput) error {
	return errNotYet
}

// CleanupTest removes what a test failover recreated.
func (a *Activities) CleanupTest(ctx context.Context, in *CleanupInput) (*CleanupResult, error) {
	return nil, errNotYet
}

// Inventory snapshots a pool's DR-relevant state.
func (a *Activities) Inventory(ctx context.Context, in *InventoryInput) (*Inventory, error) {
	return nil, errNotYet
}
