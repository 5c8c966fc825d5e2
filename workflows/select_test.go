package workflows

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

func TestSelect(t *testing.T) {
	scan := fixtureScan()
	scan.VMs[0].Tags = []string{"tier:web"}     // web-1
	scan.VApps[0].VMs[0].Tags = []string{"pci"} // crm-2 (in vApp crm)

	type unit struct{ name, group string }
	cases := []struct {
		name     string
		sel      plan.Selection
		groups   []plan.PriorityGroup
		units    []unit
		warnings []string
		err      string
	}{
		{
			name:  "all, no groups: vApps before VMs, by name",
			sel:   plan.Selection{All: true},
			units: []unit{{"crm", RestGroup}, {"db-app", RestGroup}, {"misc-1", RestGroup}, {"web-1", RestGroup}, {"web-2", RestGroup}},
		},
		{
			name:  "vApp by glob",
			sel:   plan.Selection{VApps: []string{"db-*"}},
			units: []unit{{"db-app", RestGroup}},
		},
		{
			name:  "vApp by exact UUID",
			sel:   plan.Selection{VApps: []string{"vapp-crm"}},
			units: []unit{{"crm", RestGroup}},
		},
		{
			name:  "a vApp member selected by name selects its vApp",
			sel:   plan.Selection{VMs: []string{"app-1", "web-2"}},
			units: []unit{{"db-app", RestGroup}, {"web-2", RestGroup}},
		},
		{
			name:  "vms patterns never select a vApp by the vApp's own name",
			sel:   plan.Selection{VMs: []string{"crm", "web-1"}},
			units: []unit{{"web-1", RestGroup}},
			warnings: []string{
				`Selection vms entry "crm" matched nothing in the metadata found; it is ignored.`,
			},
		},
		{
			name:  "tags select standalone VMs and the vApps of tagged members",
			sel:   plan.Selection{Tags: []string{"tier:web", "pci"}},
			units: []unit{{"crm", RestGroup}, {"web-1", RestGroup}},
		},
		{
			name:  "exclude wins over all",
			sel:   plan.Selection{All: true, Exclude: []string{"misc-*", "vapp-db"}},
			units: []unit{{"crm", RestGroup}, {"web-1", RestGroup}, {"web-2", RestGroup}},
		},
		{
			name:  "excluding a vApp member alone keeps the vApp, with a warning",
			sel:   plan.Selection{VApps: []string{"crm"}, Exclude: []string{"crm-2"}},
			units: []unit{{"crm", RestGroup}},
			warnings: []string{
				`Exclude entry "crm-2" names a VM of vApp 'crm', which is recovered as a whole; exclude the vApp to leave it out.`,
			},
		},
		{
			name:  "entries matching nothing are warnings, except excludes",
			sel:   plan.Selection{VApps: []string{"erp"}, VMs: []string{"web-1", "[bad"}, Tags: []string{"nope"}, Exclude: []string{"ghost"}},
			units: []unit{{"web-1", RestGroup}},
			warnings: []string{
				`Selection vapps entry "erp" matched nothing in the metadata found; it is ignored.`,
				`Selection vms entry "[bad" matched nothing in the metadata found; it is ignored.`,
				`Selection tags entry "nope" matched nothing in the metadata found; it is ignored.`,
			},
		},
		{
			name: "a selection that selects nothing is an error",
			sel:  plan.Selection{VMs: []string{"erp-*"}},
			err:  "the plan's selection matched no vApp or VM among the 2 vApps and 3 VMs found in the metadata; check the selection and the storage, then re-run",
			warnings: []string{
				`Selection vms entry "erp-*" matched nothing in the metadata found; it is ignored.`,
			},
		},
		{
			name: "priority groups in order, first group wins, rest last",
			sel:  plan.Selection{All: true},
			groups: []plan.PriorityGroup{
				{Name: "db", VApps: []string{"db-app"}, VMs: []string{"misc-1"}},
				{Name: "front", Tags: []string{"tier:web"}, VMs: []string{"misc-1", "crm-1"}},
				{Name: "empty", VMs: []string{"erp"}},
			},
			units: []unit{{"db-app", "db"}, {"misc-1", "db"}, {"crm", "front"}, {"web-1", "front"}, {"web-2", RestGroup}},
			warnings: []string{
				`Priority group 'empty' vms entry "erp" matched no selected vApp or VM; it is ignored.`,
			},
		},
		{
			name:   "a priority group naming an unselected object warns",
			sel:    plan.Selection{VMs: []string{"web-*"}},
			groups: []plan.PriorityGroup{{Name: "db", VApps: []string{"db-app"}}},
			units:  []unit{{"web-1", RestGroup}, {"web-2", RestGroup}},
			warnings: []string{
				`Priority group 'db' vapps entry "db-app" matched no selected vApp or VM; it is ignored.`,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Select(tc.sel, tc.groups, scan)
			assert.Equal(t, tc.warnings, got.Warnings)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			var units []unit
			for _, u := range got.Units {
				units = append(units, unit{u.Name, got.Groups[u.Group]})
			}
			assert.Equal(t, tc.units, units)
			assert.Equal(t, len(tc.groups)+1, len(got.Groups))
		})
	}
}

func TestSelectKeepsVAppMembersByOrder(t *testing.T) {
	got, err := Select(plan.Selection{VApps: []string{"db-app"}}, nil, fixtureScan())
	require.NoError(t, err)
	require.Len(t, got.Units, 1)
	var names []string
	for _, vm := range got.Units[0].VMs {
		names = append(names, vm.Name)
	}
	assert.Equal(t, []string{"db-1", "db-2", "app-1"}, names)
	assert.Equal(t, activities.KindVApp, got.Units[0].Kind)
	assert.Equal(t, "mdvdi-1", got.Units[0].SourceVDI)
}

func TestStartSteps(t *testing.T) {
	vms := []activities.VMInfo{{Name: "c", Order: 2}, {Name: "a", Order: 0}, {Name: "b", Order: 0}, {Name: "d", Order: 5}}
	var steps [][]string
	for _, s := range startSteps(vms) {
		var names []string
		for _, vm := range s {
			names = append(names, vm.Name)
		}
		steps = append(steps, names)
	}
	assert.Equal(t, [][]string{{"a", "b"}, {"c"}, {"d"}}, steps)
}

func TestRecoverJobsBatchByGroupAndMetadataVDI(t *testing.T) {
	scan := fixtureScan()
	for i := range 7 {
		vdi := "mdvdi-1"
		if i%2 == 1 {
			vdi = "mdvdi-2"
		}
		scan.VMs = append(scan.VMs, activities.VMInfo{UUID: "vm-x" + string(rune('a'+i)), Name: "x" + string(rune('a'+i)), SourceVDI: vdi})
	}
	p := fixturePlan()
	p.Concurrency.BatchSize = 2
	sel, err := Select(p.Selection, p.PriorityGroups, scan)
	require.NoError(t, err)
	r := &run{plan: &p, selected: sel}
	var got [][]string
	for _, j := range r.recoverJobs() {
		var names []string
		for _, u := range j.units {
			names = append(names, u.Name+"@"+u.SourceVDI)
		}
		got = append(got, append([]string{j.id}, names...))
	}
	assert.Equal(t, [][]string{
		{"recover/vapp-vapp-db", "db-app@mdvdi-1"},
		{"recover/vms-1", "web-1@mdvdi-1", "web-2@mdvdi-1"},
		{"recover/vapp-vapp-crm", "crm@mdvdi-1"},
		{"recover/vms-2", "misc-1@mdvdi-1", "xa@mdvdi-1"},
		{"recover/vms-3", "xc@mdvdi-1", "xe@mdvdi-1"},
		{"recover/vms-4", "xg@mdvdi-1"},
		{"recover/vms-5", "xb@mdvdi-2", "xd@mdvdi-2"},
		{"recover/vms-6", "xf@mdvdi-2"},
	}, got)
}

// More units than lanes: each lane gets nearly the same weight of VMs,
// every unit once, in selection order within the lane; more VMs than the
// lanes' children may hold make more children of the same size.
func TestLaneJobsAreEven(t *testing.T) {
	for _, tc := range []struct {
		name              string
		vapps, standalone int
		lanes, batch      int
		perChild          int
		wantJobs          int
	}{
		{"vApps and standalone VMs", 30, 200, 8, 50, recoverUnitsPerChild, 2},
		{"standalone VMs only", 0, 1001, 40, 50, recoverUnitsPerChild, 8},
		{"more VMs than the children hold", 0, 900, 4, 10, recoverUnitsPerChild, 9},
		{"lanes fewer than units per child", 0, 50, 3, 50, recoverUnitsPerChild, 1},
		// recover-one-child: every lane in one child, as payloads allow.
		{"one child", 30, 200, 8, 50, 8, 1},
		{"one child per ten batches", 0, 1001, 40, 50, 40, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var units []SelectedUnit
			for i := range tc.vapps {
				u := SelectedUnit{Unit: activities.Unit{Kind: activities.KindVApp, UUID: fmt.Sprintf("vapp-%03d", i)}}
				for k := range 2 + i%4 {
					u.VMs = append(u.VMs, activities.VMInfo{UUID: fmt.Sprintf("vapp-%03d-vm-%d", i, k)})
				}
				units = append(units, u)
			}
			for i := range tc.standalone {
				uuid := fmt.Sprintf("vm-%04d", i)
				units = append(units, SelectedUnit{Unit: activities.Unit{Kind: activities.KindVM, UUID: uuid}, VMs: []activities.VMInfo{{UUID: uuid}}})
			}
			p := fixturePlan()
			p.Concurrency.Recover, p.Concurrency.BatchSize = tc.lanes, tc.batch
			r := &run{plan: &p, selected: &Selected{Units: units}}
			index := map[string]int{}
			for i, u := range units {
				index[u.UUID] = i
			}
			jobs, parallel := r.laneJobs(tc.perChild)
			require.Len(t, jobs, tc.wantJobs)
			assert.LessOrEqual(t, len(jobs)*parallel, max(tc.lanes, len(jobs)), "no more imports in flight than concurrency.recover")
			assert.GreaterOrEqual(t, len(jobs)*parallel, min(tc.lanes, len(units))-parallel, "about concurrency.recover in flight")
			seen := map[string]bool{}
			least, most := 1<<30, 0
			for _, j := range jobs {
				w := 4*jobVMs(j) + len(j.units)
				least, most = min(least, w), max(most, w)
				assert.LessOrEqual(t, jobVMs(j), 10*tc.batch)
				for k, u := range j.units {
					assert.False(t, seen[u.UUID], "unit %s in two lanes", u.UUID)
					seen[u.UUID] = true
					if k > 0 && len(j.units[k-1].VMs) == len(u.VMs) {
						assert.Less(t, index[j.units[k-1].UUID], index[u.UUID], "selection order among units of one size")
					}
				}
			}
			assert.Len(t, seen, len(units), "every unit once")
			assert.LessOrEqual(t, most-least, 5, "lanes differ by one standalone VM's weight at most")
		})
	}
}

func TestInventoryDiff(t *testing.T) {
	before := &activities.Inventory{PoolUUID: "p", VMs: map[string]string{"a": "Running", "b": "Halted"}, VApps: []string{"va"}, SRs: []string{"s1"}, DRTasks: nil}
	after := &activities.Inventory{PoolUUID: "p", VMs: map[string]string{"a": "Halted", "c": "Paused"}, VApps: []string{"va", "vb"}, SRs: []string{"s1", "s2"}, DRTasks: []string{"t1"}}
	assert.Equal(t, []string{
		"VM a was Running before the test and is Halted now.",
		"VM c is still in the pool (Paused).",
		"VM b was in the pool before the test and is gone.",
		"vApp vb is still in the pool.",
		"SR s2 is still in the pool.",
		"DR task t1 is still in the pool.",
	}, inventoryDiff(before, after, func(u string) string { return "VM " + u }))
	assert.Empty(t, inventoryDiff(before, before, func(u string) string { return u }))
}
