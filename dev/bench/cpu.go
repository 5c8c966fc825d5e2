package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// The three processes of a run share the machine's cores: the CPU each used
// during the failover says whether a phase waited for the pools or for a core.

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat's times (100 on
// every Linux architecture Go supports).
const clockTick = 100

// cpuSample is the CPU time used so far by the worker, the Temporal dev server
// and this process (the simulator runs in it).
type cpuSample struct {
	at                      time.Time
	worker, temporal, bench time.Duration
}

func sampleCPU(workerPID int) cpuSample {
	s := cpuSample{at: time.Now(), worker: procCPU(workerPID)}
	for _, pid := range childPIDs("temporal") {
		s.temporal += procCPU(pid)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.bench = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

// CPUUse is the CPU seconds each process used between two samples.
type CPUUse struct {
	WallS     float64 `json:"wall_s"`
	WorkerS   float64 `json:"worker_s"`
	TemporalS float64 `json:"temporal_s"`
	SimS      float64 `json:"simulator_s"`
}

func (a cpuSample) until(b cpuSample) CPUUse {
	return CPUUse{
		WallS:     b.at.Sub(a.at).Seconds(),
		WorkerS:   (b.worker - a.worker).Seconds(),
		TemporalS: (b.temporal - a.temporal).Seconds(),
		SimS:      (b.bench - a.bench).Seconds(),
	}
}

func (u CPUUse) String() string {
	total := u.WorkerS + u.TemporalS + u.SimS
	return fmt.Sprintf("worker %.1f s, Temporal %.1f s, simulator %.1f s: %.2f of %d cores busy on average over %.1f s",
		u.WorkerS, u.TemporalS, u.SimS, total/u.WallS, runtime.NumCPU(), u.WallS)
}

// procCPU is a process's user+system time from /proc/PID/stat (0 when gone).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields are counted after its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTick
}

// childPIDs are this process's children whose command name starts with prefix.
func childPIDs(prefix string) []int {
	var pids []int
	me := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 2 || f[1] != me || !strings.HasPrefix(s[open+1:end], prefix) {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(s[:open])); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// profileWorker, with BENCH_WORKER_CPUPROFILE=DIR, takes the worker's CPU
// profile through its /debug/pprof endpoint in 5 s slices while a run goes on
// (DIR/worker-N-K.pprof; `go tool pprof bin/lifeboat-worker DIR/worker-N-*`
// merges them). It returns the function that stops it, after the slice under
// way.
func profileWorker(dir string, n int, addr string) (stop func()) {
	var stopping atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k := 0; !stopping.Load(); k++ {
			resp, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=5")
			if err != nil {
				return
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				return
			}
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("worker-%d-%03d.pprof", n, k)), b, 0o644)
		}
	}()
	return func() { stopping.Store(true); <-done }
}
