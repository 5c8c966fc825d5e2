package activities

import (
	"context"
	"sort"
)

// Inventory snapshots a pool's DR-relevant state: compared before and after
// a test failover, it proves the DR pool was left as it was.
func (a *Activities) Inventory(ctx context.Context, in *InventoryInput) (*Inventory, error) {
	defer a.keepAlive(ctx)()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	fail := func(err error, what string) (*Inventory, error) {
		return nil, classify(ctx, err, "reading the "+what+" at site "+c.site+" failed", "")
	}
	_, pool, err := c.s.GetPool(ctx)
	if err != nil {
		return fail(err, "pool")
	}
	out := &Inventory{PoolUUID: pool.UUID, VMs: map[string]string{}, VApps: []string{}, SRs: []string{}, Networks: []string{}, DRTasks: []string{}}
	vms, err := c.s.GetAllVMRecords(ctx)
	if err != nil {
		return fail(err, "VMs")
	}
	for _, vm := range vms {
		if vm.IsRealVM() {
			out.VMs[vm.UUID] = vm.PowerState
		}
	}
	apps, err := c.s.GetAllVMApplianceRecords(ctx)
	if err != nil {
		return fail(err, "vApps")
	}
	for _, x := range apps {
		out.VApps = append(out.VApps, x.UUID)
	}
	srs, err := c.s.GetAllSRRecords(ctx)
	if err != nil {
		return fail(err, "SRs")
	}
	for _, x := range srs {
		out.SRs = append(out.SRs, x.UUID)
	}
	nets, err := c.s.GetAllNetworkRecords(ctx)
	if err != nil {
		return fail(err, "networks")
	}
	for _, x := range nets {
		out.Networks = append(out.Networks, x.UUID)
	}
	tasks, err := c.s.GetAllDRTaskRecords(ctx)
	if err != nil {
		return fail(err, "DR tasks")
	}
	for _, x := range tasks {
		out.DRTasks = append(out.DRTasks, x.UUID)
	}
	for _, l := range [][]string{out.VApps, out.SRs, out.Networks, out.DRTasks} {
		sort.Strings(l)
	}
	return out, nil
}
