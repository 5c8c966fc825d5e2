package activities

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi"
)

// The adoption rule: a copy is this plan's only if its mark names the plan,
// the mode and the metadata, and it was not recovered again since.
func TestAdoptionRule(t *testing.T) {
	o := owner{"erp", plan.ModeFailover}
	ours := recoveryMark{Plan: "erp", Mode: plan.ModeFailover, VDI: "vdi-1", Version: 4, ImportTask: "OpaqueRef:t1"}
	copyWith := func(m *recoveryMark, version int64, task string) xapi.VMState {
		oc := map[string]string{importTaskKey: task}
		if m != nil {
			oc[recoveryMarkKey] = m.String()
		}
		return xapi.VMState{UUID: "vm-1", Version: version, OtherConfig: oc}
	}
	with := func(f func(*recoveryMark)) *recoveryMark { m := ours; f(&m); return &m }
	for _, tc := range []struct {
		name  string
		owner owner
		vm    xapi.VMState
		ok    bool
		why   string
	}{
		{"ours", o, copyWith(&ours, 5, "OpaqueRef:t1"), true, ""},
		{"unmarked", o, copyWith(nil, 5, "OpaqueRef:t1"), false, ""},
		{"garbled mark", o, xapi.VMState{Version: 5, OtherConfig: map[string]string{recoveryMarkKey: "{"}}, false, ""},
		{"another plan", o, copyWith(with(func(m *recoveryMark) { m.Plan = "crm" }), 5, "OpaqueRef:t1"), false, "recovered by the failover of plan crm"},
		{"another mode", o, copyWith(with(func(m *recoveryMark) { m.Mode = plan.ModeTestFailover }), 5, "OpaqueRef:t1"), false, "recovered by the test-failover of plan erp"},
		{"other metadata VDI", o, copyWith(with(func(m *recoveryMark) { m.VDI = "vdi-2" }), 5, "OpaqueRef:t1"), false, "from other metadata"},
		{"older metadata", o, copyWith(with(func(m *recoveryMark) { m.Version = 3 }), 4, "OpaqueRef:t1"), false, "from other metadata"},
		{"recovered again (version)", o, copyWith(&ours, 6, "OpaqueRef:t1"), false, "recovered again"},
		{"recovered again (task)", o, copyWith(&ours, 5, "OpaqueRef:t2"), false, "recovered again"},
		{"no plan adopts nothing", owner{}, copyWith(&ours, 5, "OpaqueRef:t1"), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := tc.owner.adoptable(tc.vm, "vdi-1", 4)
			assert.Equal(t, tc.ok, ok)
			if tc.why == "" {
				assert.Empty(t, why)
			} else {
				assert.Contains(t, why, tc.why)
			}
		})
	}
}

// Recover marks what it recovers; the precheck of the same plan and mode
// then adopts it, and another plan's precheck does not.
func TestRecoverMarksAndPrecheckAdopts(t *testing.T) {
	f, _, sc := prepared(t)
	us, vms := units(sc, "build-agent")
	var rec RecoverResult
	f.must(&rec, f.a.Recover, &RecoverInput{Site: "dr", Units: us, Plan: "demo", Mode: plan.ModeFailover})
	for _, u := range rec.Units {
		require.Empty(t, u.Error, u.UUID)
	}
	ctx := context.Background()
	s, err := f.a.sites["dr"].session(ctx)
	require.NoError(t, err)
	dns := vmByName(sc, "dns-01")
	ref, err := s.GetVMByUUID(ctx, dns.UUID)
	require.NoError(t, err)
	vm, err := s.GetVMRecord(ctx, ref)
	require.NoError(t, err)
	m, ok := readMark(xapi.VMState{OtherConfig: vm.OtherConfig})
	require.True(t, ok, "%v", vm.OtherConfig)
	assert.Equal(t, recoveryMark{Plan: "demo", Mode: plan.ModeFailover, VDI: dns.SourceVDI, Version: dns.Version, ImportTask: vm.OtherConfig[importTaskKey]}, m)
	assert.NotEmpty(t, m.ImportTask)

	in := &PrecheckInput{Site: "dr", Mode: plan.ModeFailover, Plan: "demo", Units: us, VMs: vms}
	var pre PrecheckResult
	f.must(&pre, f.a.Precheck, in)
	assert.Len(t, pre.Adopted, len(us))
	c, ok := findCheck(pre.Checks, checkExisting, "vApp 'erp'")
	require.True(t, ok)
	assert.Equal(t, SeverityOK, c.Severity)
	assert.Contains(t, c.Message, "adopted")

	// Recovering again is Already and recovers nothing twice.
	n := f.w.Journal().Count("Async.VM.recover", "") + f.w.Journal().Count("Async.VM_appliance.recover", "")
	f.must(&rec, f.a.Recover, &RecoverInput{Site: "dr", Units: us, Plan: "demo", Mode: plan.ModeFailover})
	for _, u := range rec.Units {
		assert.True(t, u.Already, u.UUID)
	}
	assert.Equal(t, n, f.w.Journal().Count("Async.VM.recover", "")+f.w.Journal().Count("Async.VM_appliance.recover", ""))

	// Another plan, or a test failover of this one, finds copies it did not make.
	for _, other := range []*PrecheckInput{
		{Site: "dr", Mode: plan.ModeFailover, Plan: "other", Units: us, VMs: vms},
		{Site: "dr", Mode: plan.ModeTestFailover, Plan: "demo", Units: us, VMs: vms},
	} {
		pre = PrecheckResult{}
		f.must(&pre, f.a.Precheck, other)
		assert.Empty(t, pre.Adopted, other.Plan)
		c, ok = findCheck(pre.Checks, checkExisting, "VM 'dns-01'")
		require.True(t, ok)
		assert.Equal(t, SeverityProblem, c.Severity)
		assert.Contains(t, c.Message, "recovered by the failover of plan demo")
		assert.True(t, strings.HasSuffix(c.Message, "; exclude it from the plan, then re-run"), c.Message)
	}

	// A copy somebody else changed (here: its mark removed) is not adopted.
	require.NoError(t, s.SetVMOtherConfigKey(ctx, ref, recoveryMarkKey, ""))
	pre = PrecheckResult{}
	f.must(&pre, f.a.Precheck, in)
	assert.Len(t, pre.Adopted, len(us)-1)
	c, ok = findCheck(pre.Checks, checkExisting, "VM 'dns-01'")
	require.True(t, ok)
	assert.Equal(t, SeverityProblem, c.Severity, c.Message)
}
