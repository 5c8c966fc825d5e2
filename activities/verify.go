package activities

import (
	"context"
	"fmt"
	"sort"
)

// Verify checks every VM is in its expected power state; one sentence per
// VM that is not.
func (a *Activities) Verify(ctx context.Context, in *VerifyInput) (*VerifyResult, error) {
	defer a.keepAlive(ctx)()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	// The site's view (vmview.go), brought up to date by a read that began
	// after this call: as fresh as get_all_records, shared by the chunks.
	snap, err := a.view(c).sync(ctx, c.s)
	if err != nil {
		return nil, classify(ctx, err, "reading the VMs at site "+c.site+" failed", "")
	}
	vms, _ := snap.all()
	type state struct{ name, power string }
	byUUID := map[string]state{}
	for _, vm := range vms {
		if vm.IsRealVM() {
			byUUID[vm.UUID] = state{vm.NameLabel, vm.PowerState}
		}
	}
	uuids := make([]string, 0, len(in.Expect))
	for u := range in.Expect {
		uuids = append(uuids, u)
	}
	sort.Strings(uuids)
	out := &VerifyResult{}
	for _, u := range uuids {
		want := in.Expect[u]
		st, ok := byUUID[u]
		switch {
		case !ok:
			out.Mismatches = append(out.Mismatches, fmt.Sprintf("VM %s is not in the pool at site %s; it should be %s.", u, c.site, want))
		case st.power != want:
			out.Mismatches = append(out.Mismatches, fmt.Sprintf("VM %s (%s) is %s at site %s; it should be %s.", q(st.name, u), u, st.power, c.site, want))
		}
	}
	return out, nil
}
