package workflows

import (
	"fmt"
	"path"
	"sort"

	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/plan"
)

// This file is the select step: pure, deterministic Go that applies a plan's
// selection and priority groups to what the scan found. It runs inside the
// workflow, so it never iterates a map to decide an order.
//
// Decisions:
//   - Patterns are path.Match globs on name_label, or exact UUIDs. Tags match
//     exactly (case-sensitive, as XAPI stores them).
//   - A VM that belongs to a vApp, selected by name, UUID or tag, selects its
//     whole vApp: VM_appliance.recover cannot recover part of a vApp.
//   - Exclude wins over every other rule. Excluding a vApp member alone cannot
//     be honoured for the same reason; it is a warning and the vApp stays.
//   - A selection or priority-group entry that matches nothing is a
//     warning, not an error: in a disaster the metadata may legitimately lack
//     an object (a VM retired since the plan was written), and the recover
//     gate shows the warnings to the approver before anything is recovered.
//     A selection that selects nothing at all is an error.
//   - A unit belongs to the first priority group that names it; units in no
//     group form the last group, started after every named group.

// RestGroup is the name shown for objects in no priority group.
const RestGroup = "(rest)"

// Selected is the outcome of the select step.
type Selected struct {
	// Groups are the start groups in order: the plan's priority groups, then
	// RestGroup. Empty groups are kept so indexes stay stable.
	Groups []string
	// Units in recovery and start order: by group, vApps before standalone
	// VMs, then by name and UUID.
	Units []SelectedUnit
	// Warnings are the selection entries that matched nothing, and the
	// excludes that could not be honoured.
	Warnings []string
}

// SelectedUnit is one vApp or standalone VM to recover.
type SelectedUnit struct {
	activities.Unit
	Group int                 `json:"group"` // index into Selected.Groups
	VMs   []activities.VMInfo `json:"vms"`   // the vApp's members, or the VM itself
}

// VMs returns every selected VM (vApp members and standalone VMs) in unit order.
func (s *Selected) VMs() []activities.VMInfo {
	var out []activities.VMInfo
	for _, u := range s.Units {
		out = append(out, u.VMs...)
	}
	return out
}

// candidate is a unit the selection may pick, with what its rules look at.
type candidate struct {
	unit SelectedUnit
	// vms are the VMs whose names, UUIDs and tags select the unit.
	vms []activities.VMInfo
}

func (c *candidate) matchesUnit(pattern string) bool {
	return matchName(pattern, c.unit.Name, c.unit.UUID)
}

func (c *candidate) matchesVM(pattern string) bool {
	for _, vm := range c.vms {
		if matchName(pattern, vm.Name, vm.UUID) {
			return true
		}
	}
	return false
}

func (c *candidate) hasTag(tag string) bool {
	for _, vm := range c.vms {
		for _, t := range vm.Tags {
			if t == tag {
				return true
			}
		}
	}
	return false
}

// matchName says whether pattern is uuid or a glob matching name. A malformed
// glob matches nothing (plan check reports it; here it only cannot match).
func matchName(pattern, name, uuid string) bool {
	if pattern == uuid {
		return true
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// Select applies the selection and priority groups to the scan result.
func Select(sel plan.Selection, groups []plan.PriorityGroup, scan *activities.ScanResult) (*Selected, error) {
	cands := candidates(scan)
	out := &Selected{}
	picked := make([]bool, len(cands))

	// What selects a unit.
	for i := range cands {
		picked[i] = sel.All
	}
	pickEach := func(kind string, patterns []string, match func(c *candidate, p string) bool) {
		for _, p := range patterns {
			found := false
			for i := range cands {
				if match(&cands[i], p) {
					picked[i], found = true, true
				}
			}
			if !found {
				out.Warnings = append(out.Warnings, fmt.Sprintf("Selection %s entry %q matched nothing in the metadata found; it is ignored.", kind, p))
			}
		}
	}
	pickEach("vapps", sel.VApps, func(c *candidate, p string) bool {
		return c.unit.Kind == activities.KindVApp && c.matchesUnit(p)
	})
	pickEach("vms", sel.VMs, func(c *candidate, p string) bool { return c.matchesVM(p) })
	pickEach("tags", sel.Tags, func(c *candidate, p string) bool { return c.hasTag(p) })

	// Exclude wins, but only for whole units. An exclude that matches nothing
	// leaves nothing out and is not warned about: one plan serves both
	// directions and each reads different metadata (a failback also sees the
	// DR site's own VMs, which the plan excludes; a failover does not).
	for _, p := range sel.Exclude {
		for i := range cands {
			c := &cands[i]
			if c.matchesUnit(p) {
				picked[i] = false
				continue
			}
			if c.unit.Kind == activities.KindVApp && c.matchesVM(p) && picked[i] {
				out.Warnings = append(out.Warnings, fmt.Sprintf("Exclude entry %q names a VM of vApp '%s', which is recovered as a whole; exclude the vApp to leave it out.", p, c.unit.Name))
			}
		}
	}

	var chosen []candidate
	for i := range cands {
		if picked[i] {
			chosen = append(chosen, cands[i])
		}
	}
	if len(chosen) == 0 {
		return out, fmt.Errorf("the plan's selection matched no vApp or VM among the %d vApps and %d VMs found in the metadata; check the selection and the storage, then re-run", len(scan.VApps), len(scan.VMs))
	}

	out.Warnings = append(out.Warnings, assignGroups(chosen, groups)...)
	for _, g := range groups {
		out.Groups = append(out.Groups, g.Name)
	}
	out.Groups = append(out.Groups, RestGroup)

	sort.SliceStable(chosen, func(i, j int) bool {
		a, b := chosen[i].unit, chosen[j].unit
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Kind != b.Kind {
			return a.Kind == activities.KindVApp
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.UUID < b.UUID
	})
	for _, c := range chosen {
		out.Units = append(out.Units, c.unit)
	}
	return out, nil
}

// candidates turns the scan result into units, in the scan's order.
func candidates(scan *activities.ScanResult) []candidate {
	var cands []candidate
	for _, va := range scan.VApps {
		members := append([]activities.VMInfo(nil), va.VMs...)
		sort.SliceStable(members, func(i, j int) bool {
			if members[i].Order != members[j].Order {
				return members[i].Order < members[j].Order
			}
			return members[i].Name < members[j].Name
		})
		cands = append(cands, candidate{
			unit: SelectedUnit{
				Unit: activities.Unit{Kind: activities.KindVApp, UUID: va.UUID, Name: va.Name, SourceVDI: va.SourceVDI},
				VMs:  members,
			},
			vms: members,
		})
	}
	for _, vm := range scan.VMs {
		cands = append(cands, candidate{
			unit: SelectedUnit{
				Unit: activities.Unit{Kind: activities.KindVM, UUID: vm.UUID, Name: vm.Name, SourceVDI: vm.SourceVDI},
				VMs:  []activities.VMInfo{vm},
			},
			vms: []activities.VMInfo{vm},
		})
	}
	return cands
}

// assignGroups sets each chosen unit's group: the first priority group that
// names it, else the rest group. It returns the group entries that matched no
// selected unit.
func assignGroups(chosen []candidate, groups []plan.PriorityGroup) []string {
	var warnings []string
	assigned := make([]bool, len(chosen))
	for i := range chosen {
		chosen[i].unit.Group = len(groups)
	}
	for gi, g := range groups {
		try := func(kind, p string, match func(c *candidate) bool) {
			found := false
			for i := range chosen {
				if match(&chosen[i]) {
					found = true
					if !assigned[i] {
						chosen[i].unit.Group, assigned[i] = gi, true
					}
				}
			}
			if !found {
				warnings = append(warnings, fmt.Sprintf("Priority group '%s' %s entry %q matched no selected vApp or VM; it is ignored.", g.Name, kind, p))
			}
		}
		for _, p := range g.VApps {
			try("vapps", p, func(c *candidate) bool { return c.unit.Kind == activities.KindVApp && c.matchesUnit(p) })
		}
		for _, p := range g.VMs {
			try("vms", p, func(c *candidate) bool { return c.matchesVM(p) })
		}
		for _, p := range g.Tags {
			try("tags", p, func(c *candidate) bool { return c.hasTag(p) })
		}
	}
	return warnings
}

// startSteps splits a unit's VMs into start steps: a vApp's VMs by order
// ascending (one step per order value, VMs of one order in parallel); a
// standalone VM is one step of its own.
func startSteps(vms []activities.VMInfo) [][]activities.VMInfo {
	sorted := append([]activities.VMInfo(nil), vms...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Order < sorted[j].Order })
	var steps [][]activities.VMInfo
	for i, vm := range sorted {
		if i == 0 || vm.Order != sorted[i-1].Order {
			steps = append(steps, nil)
		}
		steps[len(steps)-1] = append(steps[len(steps)-1], vm)
	}
	return steps
}

// describeUnit names a unit in an operator's sentence.
func describeUnit(kind, name string) string {
	if kind == activities.KindVApp {
		return "vApp '" + name + "'"
	}
	return "VM '" + name + "'"
}

func (r *run) selectUnits(ctx workflow.Context) error {
	sel, err := Select(r.plan.Selection, r.plan.PriorityGroups, r.found)
	for _, w := range sel.Warnings {
		r.warn(ctx, "%s", w)
	}
	if err != nil {
		return err
	}
	r.selected = sel
	vapps := 0
	for _, u := range sel.Units {
		r.addUnit(u, groupName(sel, u.Group))
		if u.Kind == activities.KindVApp {
			vapps++
		}
	}
	r.event(ctx, "Selected %s and %s (%s in all).", plural(vapps, "vApp"), plural(len(sel.Units)-vapps, "standalone VM"), plural(len(r.vms), "VM"))
	r.updateDetails(ctx)
	return nil
}

func groupName(sel *Selected, g int) string {
	if g >= len(sel.Groups)-1 {
		return ""
	}
	return sel.Groups[g]
}
