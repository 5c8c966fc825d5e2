package devproc

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is one child process of a harness (a Temporal dev server, the
// simulator, a worker): in its own process group, so a terminal's Ctrl-C
// reaches only the harness, and killed with the harness (Pdeathsig).
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string        // its stdout and stderr
	Done chan struct{} // closed once it exited
	Err  error         // how it exited, once Done is closed
}

// Command is what Start runs.
type Command struct {
	Name string
	Path string
	Args []string
	Env  []string // the whole environment
	Log  string
	// AppendLog keeps what the log holds (a process started again in
	// the same place); else the log starts empty, so a wait for a line
	// cannot see an earlier run's.
	AppendLog bool
}

// Start starts c.
func Start(c Command) (*Proc, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if c.AppendLog {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(c.Log, flags, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = c.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	p := &Proc{Name: c.Name, Cmd: cmd, Log: c.Log, Done: make(chan struct{})}
	go func() {
		p.Err = cmd.Wait()
		_ = f.Close()
		close(p.Done)
	}()
	return p, nil
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.Done:
		return true
	default:
		return false
	}
}

// Kill SIGKILLs the process group, as a crash would, and waits until the
// process is gone.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.Done
}

// Stop sends sig and waits up to grace for the process to exit, then
// kills it; it reports whether the process stopped by itself.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) bool {
	if p.Exited() {
		return true
	}
	_ = p.Cmd.Process.Signal(sig)
	select {
	case <-p.Done:
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}
