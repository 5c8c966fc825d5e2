package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// StartVM takes the VM from the worker's view without reading it; what
// changed behind the view's back (shut down, destroyed) is read afresh
// before anything is reported.
func TestStartVMWithStaleView(t *testing.T) {
	f, _, sc := prepared(t)
	recoverSome(t, f, sc, "dns-01", "mail-01")
	dns, mail := vmByName(sc, "dns-01"), vmByName(sc, "mail-01")
	var r StartVMResult
	f.must(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: dns.UUID})
	require.Equal(t, "Running", r.PowerState)
	ctx := context.Background()
	s, err := f.a.sites["dr"].session(ctx)
	require.NoError(t, err)
	ref, err := s.GetVMByUUID(ctx, dns.UUID)
	require.NoError(t, err)
	require.NoError(t, s.HardShutdownVM(ctx, ref))
	// The view still says Running: a fresh read finds it halted and starts it.
	f.must(&r, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: dns.UUID})
	assert.Equal(t, "Running", r.PowerState)
	assert.False(t, r.Already)
	assert.Equal(t, 2, callsOf(f, 0, "VM.start", "Success"))
	// Destroyed behind the view's back: said to be missing, by UUID.
	mref, err := s.GetVMByUUID(ctx, mail.UUID)
	require.NoError(t, err)
	require.NoError(t, s.DestroyVM(ctx, mref))
	err = f.run(nil, f.a.StartVM, &StartVMInput{Site: "dr", VMUUID: mail.UUID})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not in the pool at site dr")
}

// keepWarm brings the view up to date in the background: a change made
// behind its back shows in the view without anyone asking for a read.
func TestViewKeptWarm(t *testing.T) {
	f, _, sc := prepared(t)
	recoverSome(t, f, sc, "dns-01")
	dns := vmByName(sc, "dns-01")
	ctx := context.Background()
	c, v := syncedView(t, f)
	ref, vm, ok := v.cached(dns.UUID)
	require.True(t, ok)
	require.Equal(t, "Halted", vm.PowerState)
	require.NoError(t, c.s.StartVM(ctx, ref, false, false))
	v.mu.Lock()
	require.Less(t, len(v.vms), warmMinVMs, "the demo is a small pool")
	v.warmFrom = 0 // kept warm whatever its size
	v.mu.Unlock()
	stop := v.keepWarm(ctx, c.s)
	defer stop()
	assert.Eventually(t, func() bool {
		_, vm, _ := v.cached(dns.UUID)
		return vm.PowerState == "Running"
	}, 20*time.Second, 10*time.Millisecond, "the view follows without a sync")
	stop()
	stop() // stopping twice is harmless
}

// The callers of shareRead before its read starts share that one read,
// which starts after each of them asked; asking for it sooner moves it
// earlier, hurry starts it at once, and a caller after it started gets the
// next one.
func TestSharedReadServesEveryCallerBeforeItStarts(t *testing.T) {
	f := newFixture(t)
	c, v := syncedView(t, f)
	reads := func() int { return f.w.Journal().Count("event.from", "Success") }
	before := reads()
	asked := time.Now()
	r1 := v.shareRead(c.s, time.Hour)
	r2 := v.shareRead(c.s, time.Hour)
	r3 := v.shareRead(c.s, time.Minute)
	require.Same(t, r1, r2)
	require.Same(t, r1, r3, "asked for sooner: the same read, earlier")
	select {
	case <-r1.done:
		t.Fatal("the read started before anyone hurried it")
	default:
	}
	v.hurry(r1)
	<-r1.done
	require.NoError(t, r1.err)
	assert.False(t, r1.began.Before(asked))
	assert.Equal(t, before+1, reads(), "one read for three callers")
	r4 := v.shareRead(c.s, 0)
	assert.NotSame(t, r1, r4)
	<-r4.done
	require.NoError(t, r4.err)
	assert.Equal(t, before+2, reads())
}

// syncedView is the dr site's connection and VM view, read once.
func syncedView(t *testing.T, f *fixture) (*conn, *vmView) {
	t.Helper()
	ctx := context.Background()
	c, err := f.a.connect(ctx, "dr")
	require.NoError(t, err)
	v := f.a.view(c)
	_, err = v.sync(ctx, c.s)
	require.NoError(t, err)
	return c, v
}
