package activities

import (
	"context"
	"fmt"
	"sync"
)

// StartChain is one vApp's VMs by order (one step per order), or one batch
// of standalone VMs (a single step).
type StartChain struct {
	Label string    `json:"label"`
	Steps [][]VMRef `json:"steps"`
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
// step and VM order. The chains run side by side; the steps of one chain
// one after the other, each once every VM of the step before returned; the
// VMs of a step side by side, each through start (called from its own
// goroutine, with the number of steps of its chain still to come after its
// own: a start slot goes first to a VM that others wait for). When a VM fails to start, the later steps of its chain are
// skipped: order expresses a dependency (database before application).
// Once ctx is done no step begins; the entries of VMs not started are
// left empty.
//
// The rule is here, apart from XAPI, so that the workflow tests run it too.
func RunChains(ctx context.Context, chains []StartChain, start func(vm VMRef, later int) StartedVM) []StartedVM {
	n := 0
	for _, ch := range chains {
		for _, s := range ch.Steps {
			n += len(s)
		}
	}
	out := make([]StartedVM, n)
	var chainsWG sync.WaitGroup
	base := 0
	for _, ch := range chains {
		chainsWG.Add(1)
		go func(ch StartChain, base int) {
			defer chainsWG.Done()
			failed := ""
			i := base
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
		}(ch, base)
		for _, s := range ch.Steps {
			base += len(s)
		}
	}
	chainsWG.Wait()
	return out
}
