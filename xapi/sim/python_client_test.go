package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGenericPythonClient runs Python's standard xmlrpc.client, unmodified,
// against the in-process demo world: login, records with empty strings and
// untyped ints, SR.probe (success and a discovery failure), Async
// DR_task.create awaited with event.from, VDI.open_database, VM
// assert/recover through the foreign session, event.from after a VM.start,
// DR_task.destroy. The script (testdata/generic_client.py) prints JSON.
func TestGenericPythonClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("the generic XML-RPC client check needs python3 on PATH (xmlrpc.client from its standard library)")
	}
	w := startDemo(t)
	disaster(t, w)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, py, "-I", filepath.Join("testdata", "generic_client.py"), w.PoolURL("dr"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "python3 failed:\n%s", stderr.String())

	var out struct {
		SessionPrefix string   `json:"session_prefix"`
		VMCount       int      `json:"vm_count"`
		JumpboxRef    string   `json:"jumpbox_ref"`
		JumpboxFields int      `json:"jumpbox_fields"`
		JumpboxEmpty  []string `json:"jumpbox_empty_strings"`
		Jumpbox       struct {
			NameDescription  string   `json:"name_description"`
			MemoryStaticMax  string   `json:"memory_static_max"`
			MemoryType       string   `json:"memory_type"`
			Domid            string   `json:"domid"`
			VCPUsMax         string   `json:"VCPUs_max"`
			IsATemplate      bool     `json:"is_a_template"`
			PowerState       string   `json:"power_state"`
			OtherConfigTypes []string `json:"other_config_types"`
		} `json:"jumpbox"`
		Dom0Domid string `json:"dom0_domid"`
		Probe     struct {
			UUID                 string `json:"uuid"`
			NameLabel            string `json:"name_label"`
			PoolMetadataDetected string `json:"pool_metadata_detected"`
		} `json:"probe"`
		Probe96 struct {
			Len    int    `json:"len"`
			Code   string `json:"code"`
			Param1 string `json:"param1"`
			HasIQN bool   `json:"has_iqn"`
		} `json:"probe_96"`
		DRTaskStatus       string   `json:"dr_task_status"`
		DRTaskProgressType string   `json:"dr_task_progress_type"`
		DRTaskPrefix       string   `json:"dr_task_prefix"`
		Introduced         []string `json:"introduced"`
		MetadataVDIs       int      `json:"metadata_vdis"`
		MetadataPoolUUID   string   `json:"metadata_pool_uuid"`
		ForeignVMCount     int      `json:"foreign_vm_count"`
		ForeignPool        string   `json:"foreign_pool"`
		AssertDNS          string   `json:"assert_dns"`
		AssertBuildAgent   []any    `json:"assert_build_agent"`
		RecoverDNS         string   `json:"recover_dns"`
		ForeignReadonly    string   `json:"foreign_readonly"`
		ForeignAfterLogout string   `json:"foreign_after_logout"`
		RecoveredVersion   string   `json:"recovered_version"`
		RecoveredPower     string   `json:"recovered_power"`
		Events             []struct {
			Class      string `json:"class"`
			Operation  string `json:"operation"`
			RefMatches bool   `json:"ref_matches"`
			PowerState string `json:"power_state"`
			IDType     string `json:"id_type"`
		} `json:"events"`
		TokenChanged     bool           `json:"token_changed"`
		ValidRefCounts   map[string]int `json:"valid_ref_counts"`
		DRTasksLeft      int            `json:"dr_tasks_left"`
		Gold01StillKnown string         `json:"gold01_still_known"`
		AfterLogout      string         `json:"after_logout"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &out), "script output: %s", stdout.String())

	assert.Equal(t, "OpaqueRef", out.SessionPrefix)
	assert.Equal(t, 4, out.VMCount, "two control domains, dr-jumpbox, dr-backup")
	// Every member survives, the empty ones included (<value></value> = "").
	raw := rpc{t: t, url: w.PoolURL("dr")}
	rec := raw.rec("VM.get_record", raw.login("root"), out.JumpboxRef)
	assert.Equal(t, len(rec), out.JumpboxFields, "no struct member lost")
	var empty []string
	for k, v := range rec {
		if v == "" {
			empty = append(empty, k)
		}
	}
	sort.Strings(empty)
	assert.NotEmpty(t, empty)
	assert.Equal(t, empty, out.JumpboxEmpty, "empty values decode as empty strings")
	assert.Equal(t, "Bastion of the DR site", out.Jumpbox.NameDescription)
	assert.Equal(t, "4294967296", out.Jumpbox.MemoryStaticMax, "ints arrive untyped, as strings")
	assert.Equal(t, "str", out.Jumpbox.MemoryType)
	assert.Regexp(t, `^\d+$`, out.Jumpbox.Domid)
	assert.Regexp(t, `^\d+$`, out.Jumpbox.VCPUsMax)
	assert.False(t, out.Jumpbox.IsATemplate)
	assert.Equal(t, "Running", out.Jumpbox.PowerState)
	assert.Equal(t, []string{"str"}, out.Jumpbox.OtherConfigTypes)
	assert.Equal(t, "0", out.Dom0Domid)

	assert.Equal(t, gold01UUID, out.Probe.UUID)
	assert.Equal(t, "gold-01", out.Probe.NameLabel)
	assert.Equal(t, "true", out.Probe.PoolMetadataDetected)
	assert.Equal(t, 4, out.Probe96.Len, "nothing lost after the empty ErrorDescription[1]")
	assert.Equal(t, "SR_BACKEND_FAILURE_96", out.Probe96.Code)
	assert.Equal(t, "", out.Probe96.Param1)
	assert.True(t, out.Probe96.HasIQN)

	assert.Equal(t, "success", out.DRTaskStatus)
	assert.Equal(t, "float", out.DRTaskProgressType)
	assert.Equal(t, "OpaqueRef", out.DRTaskPrefix)
	assert.Equal(t, []string{gold01UUID}, out.Introduced)
	assert.Equal(t, 1, out.MetadataVDIs)
	assert.Equal(t, primaryPoolUUID, out.MetadataPoolUUID)
	assert.Equal(t, primaryPoolUUID, out.ForeignPool)
	assert.Greater(t, out.ForeignVMCount, 13)
	assert.Equal(t, "", out.AssertDNS, "void is the empty string")
	assert.Equal(t, []any{"VM_REQUIRES_SR", float64(3)}, out.AssertBuildAgent)
	assert.Equal(t, "", out.RecoverDNS)
	assert.Equal(t, "RBAC_PERMISSION_DENIED", out.ForeignReadonly)
	assert.Equal(t, "SESSION_INVALID", out.ForeignAfterLogout)
	assert.Equal(t, "1", out.RecoveredVersion)
	assert.Equal(t, "Halted", out.RecoveredPower)

	require.NotEmpty(t, out.Events)
	running := false
	for _, e := range out.Events {
		assert.Equal(t, "vm", e.Class, "xapi's lower-case class names")
		assert.Equal(t, "str", e.IDType)
		if e.RefMatches && e.Operation == "mod" && e.PowerState == "Running" {
			running = true
		}
	}
	assert.True(t, running, "the VM.start shows as a mod event with the Running snapshot: %+v", out.Events)
	assert.True(t, out.TokenChanged)
	assert.Positive(t, out.ValidRefCounts["vm"], "an int (xapi sends <i4>), lower-case class")

	assert.Equal(t, 0, out.DRTasksLeft)
	assert.Equal(t, "gold-01", out.Gold01StillKnown, "used by the recovered VM: kept by DR_task.destroy")
	assert.Equal(t, "SESSION_INVALID", out.AfterLogout)
}
