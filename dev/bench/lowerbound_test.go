package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

func TestLowerBound(t *testing.T) {
	s := time.Second
	tm := sim.Timing{Recover: 2 * s, RecoverDB: 100 * time.Millisecond, Start: 3 * s, Probe: 1500 * time.Millisecond,
		Plug: s, OpenDatabase: 2 * s, HostVMOps: 4}
	vm := func(order int64, delay time.Duration) VMWork { return VMWork{Order: order, StartDelay: delay} }
	standalone := func(n int) []Unit {
		var out []Unit
		for i := 0; i < n; i++ {
			out = append(out, Unit{Name: "vm", VMs: []VMWork{vm(0, 0)}})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		work  Work
		want  map[string]time.Duration
		total time.Duration
	}{
		{
			name: "one vApp: order groups and start_delay make the path",
			work: Work{Timing: tm, Hosts: 1, LUNs: 1, Databases: 1,
				Groups: [][]Unit{{{Name: "app", VMs: []VMWork{vm(0, 5*s), vm(1, 0), vm(1, 0)}}}}},
			// recover: 3 VMs imported in turn by one call = 6s (lock: 3 x 0.1 + 1.9 = 2.2s);
			// start: (3 + 5) + 3 = 11s (3 boots over 4 slots = 2.25s).
			want:  map[string]time.Duration{"probe": 1500 * time.Millisecond, "introduce": 2500 * time.Millisecond, "scan": 2 * s, "recover": 6 * s, "start": 11 * s},
			total: 23 * s,
		},
		{
			name: "boots bounded by the hosts' slots",
			work: Work{Timing: tm, Hosts: 1, LUNs: 2, Databases: 2,
				Groups: [][]Unit{standalone(8)}},
			// introduce: LUNs in parallel, 1 host; scan: 2 source pools, opened in turn;
			// recover: 8 x 0.1 + 1.9 = 2.7s > 2s; start: 8 x 3s / 4 slots = 6s > 3s.
			want:  map[string]time.Duration{"introduce": 2500 * time.Millisecond, "scan": 4 * s, "recover": 2700 * time.Millisecond, "start": 6 * s},
			total: 1500*time.Millisecond + 2500*time.Millisecond + 4*s + 2700*time.Millisecond + 6*s,
		},
		{
			name: "more hosts: more slots, longer introduce",
			work: Work{Timing: tm, Hosts: 4, LUNs: 1, Databases: 1,
				Groups: [][]Unit{standalone(8)}},
			want: map[string]time.Duration{"introduce": 5500 * time.Millisecond, "start": 3 * s},
		},
		{
			name: "a boot is not divisible: ten boots on eight slots take two boots' time",
			work: Work{Timing: tm, Hosts: 2, Databases: 1,
				Groups: [][]Unit{standalone(10)}},
			// 10 x 3s / 8 slots would be 3.75s; some slot boots two VMs in turn.
			want: map[string]time.Duration{"start": 6 * s},
		},
		{
			name: "priority groups run one after another",
			work: Work{Timing: tm, Hosts: 1, Databases: 1,
				Groups: [][]Unit{standalone(1), standalone(1), nil}},
			// g1's VM recovered at 2s boots until 5s, then g2's until 8s: recovery (2.1s)
			// and start end at 8s.
			want: map[string]time.Duration{"start": 5900 * time.Millisecond, "recover": 2100 * time.Millisecond},
		},
		{
			name: "the first group starts while the others are recovered",
			work: Work{Timing: sim.Timing{Recover: 2 * s, RecoverDB: s, Start: 3 * s, HostVMOps: 100}, Hosts: 1,
				Groups: [][]Unit{standalone(1), standalone(30)}},
			// Recovery: 31 x 1s + 1s = 32s; g1 recovered at 2s and started by 5s, g2
			// recovered at 32s and started by 35s: 3s after recovery, not 6s.
			want: map[string]time.Duration{"recover": 32 * s, "start": 3 * s},
		},
		{
			name: "the database lock bounds recovery",
			work: Work{Timing: sim.Timing{Recover: 2 * s, RecoverDB: s, HostVMOps: 1}, Hosts: 1,
				Groups: [][]Unit{standalone(100)}},
			want: map[string]time.Duration{"recover": 101 * s},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := LowerBound(tc.work)
			got := map[string]time.Duration{}
			var sum time.Duration
			for _, p := range b.Phases {
				got[p.Phase] = p.Bound
				sum += p.Bound
				assert.NotEmpty(t, p.How, p.Phase)
			}
			for phase, want := range tc.want {
				assert.Equal(t, want, got[phase], phase)
			}
			assert.Equal(t, sum, b.Total)
			if tc.total > 0 {
				assert.Equal(t, tc.total, b.Total)
			}
		})
	}
}
