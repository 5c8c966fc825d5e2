package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
)

// Protect chooses the SRs that hold a site's pool metadata (XenCenter's
// Configure DR): one activity, run by a worker because only workers hold
// the sites' credentials. Running it again changes nothing.

// ProtectWorkflowName is the workflow type of lifeboat protect.
const ProtectWorkflowName = "Protect"

// ProtectInput is the input of Protect.
type ProtectInput struct {
	activities.ProtectInput
	RequestedBy string `json:"requested_by,omitempty"`
}

// ProtectWorkflowID is one site's Protect: two at once for a site would
// race each other's enable and disable.
func ProtectWorkflowID(site string) string { return "lifeboat-protect-" + site }

var optProtect = activityOpt{startToClose: 30 * time.Minute, heartbeat: heartbeatTimeout, maxAttempts: 3}

// ProtectSite is the Protect workflow.
func ProtectSite(ctx workflow.Context, in *ProtectInput) (*activities.ProtectResult, error) {
	if in == nil || in.Site == "" {
		return nil, temporal.NewNonRetryableApplicationError("The protect input names no site; start it with {\"site\": \"...\", \"srs\": [...]}.", "Failed", nil)
	}
	var out activities.ProtectResult
	summary := "choose the metadata SRs at site " + in.Site
	if in.DryRun {
		summary += " (dry run)"
	}
	if err := workflow.ExecuteActivity(withActivity(ctx, optProtect, summary), acts.Protect, &in.ProtectInput).Get(ctx, &out); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(errorText(err), "Failed", nil)
	}
	return &out, nil
}
