package main

import (
	"context"
	"fmt"
	"time"

	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// BaselineResult is the XenCenter-like sequential failover of one world.
type BaselineResult struct {
	Took time.Duration // measured, or estimated when Sampled
	// Sampled is set when only some units were recovered and started; Took is then the
	// measured setup plus each kind of unit's mean time over the sample times its count.
	Sampled     bool
	SampleUnits int
	Units       int
}

// runBaseline fails the world over as an operator with XenCenter's DR wizard does, one
// thing at a time: each LUN's DR task, the metadata opened, then each vApp and
// standalone VM recovered in turn, then each started in turn (vApps by
// VM_appliance.start, which keeps their order and delays), in priority order. With
// sample > 0 only that many vApps and as many standalone VMs are done, and the rest
// is estimated from them.
func runBaseline(ctx context.Context, w *World, simw *sim.World, sample int) (BaselineResult, error) {
	var res BaselineResult
	ct := simw.Control()
	if err := ct.SiteDown("primary"); err != nil {
		return res, err
	}
	for _, m := range w.Scenario.Mirrors {
		if err := ct.SplitMirror(m.Name); err != nil {
			return res, err
		}
	}
	began := time.Now()
	// Async starts and their tasks, as XenCenter makes them.
	c, err := xapi.NewClient(simw.PoolURL("DR"), xapi.WithCallTimeout(30*time.Minute), xapi.WithSyncCalls(0))
	if err != nil {
		return res, err
	}
	s, err := c.Login(ctx, "root", "lifeboat")
	if err != nil {
		return res, fmt.Errorf("baseline: log in to DR: %w", err)
	}
	defer func() { _ = s.Logout(context.Background()) }()
	_, pool, err := s.GetPool(ctx)
	if err != nil {
		return res, err
	}
	for _, st := range w.Storage {
		// The wizard probes each LUN and introduces the SRs holding metadata (or the ones
		// named, for LUNs with disks only).
		srs := st.SRs
		if len(srs) == 0 {
			pr, err := s.ProbeSR(ctx, pool.Master, st.DeviceConfig, st.Type, xapi.MetadataSMConfig())
			if err != nil {
				return res, fmt.Errorf("baseline: %s: %w", st.Name, err)
			}
			for _, e := range pr.SRs {
				if e.PoolMetadataDetected {
					srs = append(srs, e.UUID)
				}
			}
		}
		if _, err := s.CreateDRTask(ctx, st.Type, st.DeviceConfig, srs); err != nil {
			return res, fmt.Errorf("baseline: %s: %w", st.Name, err)
		}
	}
	// XenCenter opens each metadata VDI it finds and recovers from the one the wizard
	// is given: here the first one of the primary pool (both hold the whole pool).
	vdis, err := s.GetAllVDIRecords(ctx)
	if err != nil {
		return res, err
	}
	var foreign *xapi.ForeignSession
	for ref, v := range vdis {
		if v.Type != "metadata" {
			continue
		}
		f, err := s.OpenDatabase(ctx, ref)
		if err != nil {
			return res, fmt.Errorf("baseline: %w", err)
		}
		defer func() { _ = f.Logout(context.Background()) }()
		if foreign == nil {
			foreign = f
		}
	}
	if foreign == nil {
		return res, fmt.Errorf("baseline: no metadata VDI was introduced")
	}
	vms, err := foreign.GetAllVMRecords(ctx)
	if err != nil {
		return res, err
	}
	apps, err := foreign.GetAllVMApplianceRecords(ctx)
	if err != nil {
		return res, err
	}
	vmByName, appByName := map[string]xapi.ForeignRef{}, map[string]xapi.ForeignRef{}
	for ref, v := range vms {
		vmByName[v.NameLabel] = ref
	}
	for ref, a := range apps {
		appByName[a.NameLabel] = ref
	}
	type unit struct {
		name string
		vapp bool
		vms  int
	}
	var units []unit
	nApps, nVMs := 0, 0
	for _, g := range w.Units() {
		for _, u := range g {
			_, isApp := appByName[u.Name]
			res.Units++
			if isApp {
				nApps++
			} else {
				nVMs++
			}
			if sample > 0 && ((isApp && nApps > sample) || (!isApp && nVMs > sample)) {
				continue
			}
			units = append(units, unit{u.Name, isApp, len(u.VMs)})
		}
	}
	setup := time.Since(began)
	var recApp, recVM, startApp, startVM time.Duration
	sApps, sVMs := 0, 0
	for _, u := range units {
		t0 := time.Now()
		if u.vapp {
			err = foreign.RecoverVMAppliance(ctx, appByName[u.name], s, false)
			recApp += time.Since(t0)
			sApps++
		} else {
			err = foreign.RecoverVM(ctx, vmByName[u.name], s, false)
			recVM += time.Since(t0)
			sVMs++
		}
		if err != nil {
			return res, fmt.Errorf("baseline: recover %s: %w", u.name, err)
		}
	}
	t0 := time.Now()
	here, err := s.GetAllVMRecords(ctx)
	if err != nil {
		return res, err
	}
	hereApps, err := s.GetAllVMApplianceRecords(ctx)
	if err != nil {
		return res, err
	}
	setup += time.Since(t0)
	vmRef, appRef := map[string]xapi.Ref{}, map[string]xapi.Ref{}
	for ref, v := range here {
		vmRef[v.NameLabel] = ref
	}
	for ref, a := range hereApps {
		appRef[a.NameLabel] = ref
	}
	for _, u := range units {
		t0 := time.Now()
		if u.vapp {
			err = s.StartVMAppliance(ctx, appRef[u.name], false)
			startApp += time.Since(t0)
		} else {
			err = s.StartVM(ctx, vmRef[u.name], false, false)
			startVM += time.Since(t0)
		}
		if err != nil {
			return res, fmt.Errorf("baseline: start %s: %w", u.name, err)
		}
	}
	res.SampleUnits = len(units)
	res.Took = setup + recApp + recVM + startApp + startVM
	if len(units) < res.Units {
		res.Sampled = true
		mean := func(d time.Duration, n int) time.Duration {
			if n == 0 {
				return 0
			}
			return d / time.Duration(n)
		}
		res.Took = setup + time.Duration(nApps)*(mean(recApp, sApps)+mean(startApp, sApps)) +
			time.Duration(nVMs)*(mean(recVM, sVMs)+mean(startVM, sVMs))
	}
	return res, nil
}

// predictBaseline is the baseline's duration under the timing model (simulated time),
// to decide whether to run it whole or sample it.
func predictBaseline(w *World) time.Duration {
	t := w.Scenario.Resolved()
	d := time.Duration(len(w.Storage)) * (t.Probe + time.Duration(len(w.Scenario.Sites[1].Pools[0].Hosts))*t.Plug)
	for _, g := range w.Units() {
		for _, u := range g {
			d += time.Duration(len(u.VMs))*t.Recover + unitPath(u, t.Start, t.Latency)
		}
	}
	return d
}
