package sim

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
)

// GenSpec sizes a generated scenario. The shape is always the demo's: a primary site with
// an iSCSI array (LUNs mirrored to a DR array) and an FC LUN, a Primary pool replicating
// its metadata, and a DR pool.
type GenSpec struct {
	VMs   int   // VMs on the primary pool
	VApps int   // vApps (each takes 2–5 of the VMs, in up to 3 order groups)
	Hosts int   // hosts per pool (default one per VMsPerHost VMs, 2 to MaxPoolHosts)
	LUNs  int   // mirrored iSCSI LUNs (default max(2, VMs/250))
	Seed  int64 // default 1
	// BasePort is the first port of the primary's hosts; the DR's are BasePort+100 and the
	// control API BasePort-81 (default 18081, as in the demo).
	BasePort int
}

// Pool sizing of generated worlds: real pools run some 40–60 VMs per host, and a
// XenServer pool has at most 64 hosts (docs/timing-model.md).
const (
	VMsPerHost   = 50
	MaxPoolHosts = 64
)

// HostsFor is the default number of hosts per pool for a world of vms VMs.
func HostsFor(vms int) int {
	return min(MaxPoolHosts, max(2, (vms+VMsPerHost-1)/VMsPerHost))
}

// ParseGenSpec parses "vms=5000,vapps=500,hosts=4,luns=8,seed=7,port=18081".
func ParseGenSpec(s string) (GenSpec, error) {
	var g GenSpec
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return g, fmt.Errorf("generate: %q is not key=value", kv)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return g, fmt.Errorf("generate: %s must be a non-negative integer, got %q", k, v)
		}
		switch strings.TrimSpace(k) {
		case "vms":
			g.VMs = int(n)
		case "vapps":
			g.VApps = int(n)
		case "hosts":
			g.Hosts = int(n)
		case "luns":
			g.LUNs = int(n)
		case "seed":
			g.Seed = n
		case "port":
			g.BasePort = int(n)
		default:
			return g, fmt.Errorf("generate: unknown key %q (vms, vapps, hosts, luns, seed, port)", k)
		}
	}
	return g, nil
}

// Generate builds a deterministic scenario of any size.
func Generate(g GenSpec) (*Scenario, error) {
	if g.VMs <= 0 {
		g.VMs = 100
	}
	if g.Hosts <= 0 {
		g.Hosts = HostsFor(g.VMs)
	}
	if g.Hosts > MaxPoolHosts {
		return nil, fmt.Errorf("generate: at most %d hosts per pool, as in XenServer", MaxPoolHosts)
	}
	if g.LUNs <= 0 {
		g.LUNs = max(2, g.VMs/250)
	}
	if g.Seed == 0 {
		g.Seed = 1
	}
	if g.BasePort == 0 {
		g.BasePort = 18081
	}
	if g.VApps*2 > g.VMs {
		return nil, fmt.Errorf("generate: %d vApps need at least %d VMs", g.VApps, g.VApps*2)
	}
	if g.LUNs > 250 {
		return nil, fmt.Errorf("generate: at most 250 LUNs")
	}
	rng := rand.New(rand.NewSource(g.Seed))
	sc := &Scenario{Name: fmt.Sprintf("generated-%dvms-%dvapps-seed%d", g.VMs, g.VApps, g.Seed), Seed: g.Seed,
		Control: fmt.Sprintf("127.0.0.1:%d", g.BasePort-81)}
	users := []UserSpec{{"root", "lifeboat", "pool-admin"}, {"operator", "lifeboat", "pool-operator"}, {"auditor", "lifeboat", "read-only"}}
	priTarget := TargetSpec{Name: "primary-array", Address: "primary-array.lab", IP: "10.10.0.10", Port: 3260, IQN: "iqn.2026-01.lab.primary-array:gold"}
	drTarget := TargetSpec{Name: "dr-array", Address: "dr-array.lab", IP: "10.20.0.10", Port: 3260, IQN: "iqn.2026-01.lab.dr-array:gold"}
	var priSRs []SRSpec
	for i := 0; i < g.LUNs; i++ {
		a := fmt.Sprintf("36001405a%024x", i+1)
		b := fmt.Sprintf("36001405b%024x", i+1)
		priTarget.LUNs = append(priTarget.LUNs, LUNSpec{LUN: i, SCSIid: a, Size: Size(2 << 40)})
		drTarget.LUNs = append(drTarget.LUNs, LUNSpec{LUN: i, SCSIid: b, Size: Size(2 << 40)})
		name := fmt.Sprintf("gold-%02d", i+1)
		priSRs = append(priSRs, SRSpec{Name: name, UUID: stableUUID(g.Seed, "gen-sr", name), Type: "lvmoiscsi", LUN: a})
		sc.Mirrors = append(sc.Mirrors, MirrorSpec{Name: name, Source: a, Destination: b, State: MirrorReplicating, Lag: Duration(30e9)})
	}
	drTarget.LUNs = append(drTarget.LUNs, LUNSpec{LUN: g.LUNs, SCSIid: "36001405b0000000000000000000000b9", Size: Size(200 << 30)})
	priSRs = append(priSRs, SRSpec{Name: "fc-silver-01", UUID: stableUUID(g.Seed, "gen-sr", "fc-silver-01"), Type: "lvmohba", LUN: "3600a0b8000000000000000000000c1"})
	sc.Mirrors = append(sc.Mirrors, MirrorSpec{Name: "fc-silver-01", Source: "3600a0b8000000000000000000000c1", Destination: "3600a0b8000000000000000000000d1", State: MirrorReplicating, Lag: Duration(60e9)})
	hosts := func(prefix string, port int, mem int64) []HostSpec {
		var out []HostSpec
		for i := 0; i < g.Hosts; i++ {
			out = append(out, HostSpec{Name: fmt.Sprintf("%s-%02d", prefix, i+1), Address: fmt.Sprintf("127.0.0.1:%d", port+i), Memory: Size(mem), CPUs: 64})
		}
		return out
	}
	var vms []VMSpec
	var total int64
	for i := 0; i < g.VMs; i++ {
		mem := int64(1+rng.Intn(8)) << 30
		total += mem
		sr := priSRs[rng.Intn(g.LUNs)].Name
		if rng.Intn(20) == 0 {
			sr = "fc-silver-01"
		}
		vm := VMSpec{Name: fmt.Sprintf("vm-%05d", i+1), UUID: stableUUID(g.Seed, "gen-vm", strconv.Itoa(i)), Memory: Size(mem), VCPUs: int64(1 + rng.Intn(4)),
			Power: "Running", Disks: []DiskSpec{{SR: sr, Size: Size(int64(10+rng.Intn(90)) << 30)}}, Networks: []string{"Production"}}
		if rng.Intn(3) == 0 {
			vm.Networks = append(vm.Networks, "Backend")
		}
		vms = append(vms, vm)
	}
	var vapps []VAppSpec
	next := 0
	for a := 0; a < g.VApps; a++ {
		name := fmt.Sprintf("app-%04d", a+1)
		vapps = append(vapps, VAppSpec{Name: name, UUID: stableUUID(g.Seed, "gen-vapp", name)})
		n := 2 + rng.Intn(4)
		remaining := g.VMs - next
		if left := g.VApps - a - 1; remaining-n < 2*left {
			n = max(2, remaining-2*left)
		}
		for k := 0; k < n && next < g.VMs; k++ {
			vms[next].VApp = name
			vms[next].Order = int64(k / 2)
			if k%2 == 0 {
				vms[next].StartDelay = int64(rng.Intn(3) * 5)
			}
			next++
		}
	}
	// A tenth of the standalone VMs carry the tag tier1 (plans start them in a group of
	// their own); VMs of vApps go with their vApp.
	for i := range vms {
		if vms[i].VApp == "" && rng.Intn(10) == 0 {
			vms[i].Tags = []string{"tier1"}
		}
	}
	hostMem := (total/int64(g.Hosts))*3/2 + (16 << 30)
	hostMem = (hostMem + (1<<30 - 1)) &^ (1<<30 - 1)
	net := []NetworkSpec{{Name: "Production", Bridge: "xenbr1"}, {Name: "Backend", Bridge: "xenbr2"}}
	priPool := PoolSpec{Name: "Primary", UUID: stableUUID(g.Seed, "gen-pool", "Primary"), Hosts: hosts("primary", g.BasePort, hostMem), Users: users,
		Networks: net, SRs: priSRs, ReplicateMetadata: []string{priSRs[0].Name, "fc-silver-01"}, VApps: vapps, VMs: vms}
	drPool := PoolSpec{Name: "DR", UUID: stableUUID(g.Seed, "gen-pool", "DR"), Hosts: hosts("dr", g.BasePort+100, hostMem), Users: users,
		Networks: []NetworkSpec{{Name: "Production", Bridge: "xenbr10"}, {Name: "Backend", Bridge: "xenbr11"}},
		SRs:      []SRSpec{{Name: "dr-infra", UUID: stableUUID(g.Seed, "gen-sr", "dr-infra"), Type: "lvmoiscsi", LUN: "36001405b0000000000000000000000b9"}},
		VMs:      []VMSpec{{Name: "dr-jumpbox", UUID: stableUUID(g.Seed, "gen-vm", "dr-jumpbox"), Memory: Size(4 << 30), Power: "Running", Disks: []DiskSpec{{SR: "dr-infra", Size: Size(20 << 30)}}, Networks: []string{"Production"}}}}
	sc.Sites = []SiteSpec{
		{Name: "primary", ISCSI: []TargetSpec{priTarget}, FC: []LUNSpec{{SCSIid: "3600a0b8000000000000000000000c1", Size: Size(4 << 40)}}, Pools: []PoolSpec{priPool}},
		{Name: "dr", ISCSI: []TargetSpec{drTarget}, FC: []LUNSpec{{SCSIid: "3600a0b8000000000000000000000d1", Size: Size(4 << 40)}}, Pools: []PoolSpec{drPool}},
	}
	return sc, nil
}
