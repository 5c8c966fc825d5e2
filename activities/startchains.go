package activities

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// StartChain is one vApp's VMs by order (one step per order), or one batch
// of standalone VMs (a single step).
type StartChain struct {
	Label string    `json:"label"`
	Steps [][]VMRef `json:"steps"`
	// Stage orders chains: those of one stage run side by side once every
	// chain of the stages below has ended (a plan's priority groups, when
	// one activity starts them all).
	Stage int `json:"stage,omitempty"`
}

// VMRef names a VM.
type VMRef struct {
	UUID string `json:"uuid"`
	Name string `json:"name"`
}

// StartChains returns the input's chains: a batch of an earlier version (a
// flat list of UUIDs) is one chain of one step.
func (in *StartBatchInput) StartChains() []StartChain {
	if len(in.Chains) > 0 || len(in.VMUUIDs) == 0 {
		return in.Chains
	}
	step := make([]VMRef, len(in.VMUUIDs))
	for i, u := range in.VMUUIDs {
		step[i] = VMRef{UUID: u}
	}
	return []StartChain{{Steps: [][]VMRef{step}}}
}

// RunChains starts the VMs of chains and returns one entry per VM in chain,
// step and VM order. The chains of one stage run side by side, the stages
// one after the other, each once every chain of the one before ended
// (whatever their VMs' outcome: a group that failed to start does not hold
// back the next); the steps of one chain one after the other, each once
// every VM of the step before returned; the VMs of a step side by side,
// each through start (called from its own goroutine, with the number of
// steps of its chain still to come after its own: a start slot goes first
// to a VM that others wait for). When a VM fails to start, the later steps
// of its chain are skipped: order expresses a dependency (database before
// application). Once ctx is done no step begins; the entries of VMs not
// started are left empty.
//
// The rule is here, apart from XAPI, so that the workflow tests run it too.
func RunChains(ctx context.Context, chains []StartChain, start func(vm VMRef, later int) StartedVM) []StartedVM {
	bases := make([]int, len(chains))
	n := 0
	var stages []int
	for c, ch := range chains {
		bases[c] = n
		for _, s := range ch.Steps {
			n += len(s)
		}
		if !slices.Contains(stages, ch.Stage) {
			stages = append(stages, ch.Stage)
		}
	}
	slices.Sort(stages)
	out := make([]StartedVM, n)
	for _, stage := range stages {
		var chainsWG sync.WaitGroup
		for c, ch := range chains {
			if ch.Stage != stage {
				continue
			}
			chainsWG.Add(1)
			go func() {
				defer chainsWG.Done()
				runChain(ctx, ch, out[bases[c]:], start)
			}()
		}
		chainsWG.Wait()
	}
	return out
}

// runChain runs one chain of RunChains, its entries in out.
func runChain(ctx context.Context, ch StartChain, out []StartedVM, start func(vm VMRef, later int) StartedVM) {
	failed := ""
	i := 0
	for si, step := range ch.Steps {
		later := len(ch.Steps) - 1 - si
		if failed != "" {
			for _, vm := range step {
				out[i] = StartedVM{UUID: vm.UUID, Skipped: true,
					Error: fmt.Sprintf("not started because VM '%s' of an earlier order failed to start", failed)}
				i++
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		var wg sync.WaitGroup
		for k, vm := range step {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i+k] = start(vm, later)
			}()
		}
		wg.Wait()
		for k, vm := range step {
			if out[i+k].Error != "" && failed == "" {
				failed = vm.Name
				if failed == "" {
					failed = vm.UUID
				}
			}
		}
		i += len(step)
	}
}
