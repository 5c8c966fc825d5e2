package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// TestProbeMessages feeds the ways a Probe can fail through the real
// activity: each error says what failed and why in one sentence, with a
// code; none gives a next step of its own; NextStep gives the right one.
func TestProbeMessages(t *testing.T) {
	f := newFixture(t)
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	probeAt := func(sites map[string]SiteConfig, site string, storage []plan.StorageTarget) error {
		a, err := New(sites, mapSecrets{}, testLogger(t))
		require.NoError(t, err)
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		_, err = env.ExecuteActivity(a.Probe, &ProbeInput{Site: site, Storage: storage})
		return err
	}
	dr := func(c SiteConfig) map[string]SiteConfig {
		if c.URL == "" {
			c.URL = f.w.PoolURL("dr")
		}
		if c.Username == "" {
			c.Username, c.Password = "root", "lifeboat"
		}
		return map[string]SiteConfig{"dr": c}
	}
	badType := []plan.StorageTarget{{Name: "nfs", Type: "nfs", DeviceConfig: map[string]string{"server": "x"}}}
	noLUN := []plan.StorageTarget{{Name: "ghost", Type: "lvmoiscsi", DeviceConfig: map[string]string{"target": "dr-array.lab", "port": "3260",
		"targetIQN": "iqn.2026-01.lab.dr-array:gold", "SCSIid": "36001405b00000000000000000000ffff"}}}
	for _, tc := range []struct {
		name      string
		err       func() error
		code      string
		retryable bool
		message   string // a prefix
		next      string // part of NextStep
	}{
		{"wrong password", func() error { return probeAt(dr(SiteConfig{Username: "root", Password: "wrong"}), "dr", drStorage()) },
			codeAuth, false, `site dr rejected the login of user "root": the user name or password is wrong (SESSION_AUTHENTICATION_FAILED).`, "username or password"},
		{"unknown site", func() error { return probeAt(dr(SiteConfig{}), "mars", drStorage()) },
			codeUnknownSite, false, `site "mars" is not in the worker configuration (known: dr).`, "add the site"},
		{"TLS", func() error { return probeAt(dr(SiteConfig{URL: tlsSrv.URL}), "dr", drStorage()) },
			codeTLS, false, "the TLS certificate of site dr (" + tlsSrv.URL + ") could not be verified: it is signed by an authority the worker does not trust.", "ca_file"},
		{"unreachable", func() error { return probeAt(dr(SiteConfig{URL: gone.URL}), "dr", drStorage()) },
			codeUnreachable, true, "site dr could not be reached at " + gone.URL + ": the connection was refused.", "reachable from the worker"},
		{"unsupported type", func() error { return probeAt(dr(SiteConfig{}), "dr", badType) },
			codeBadInput, false, `storage "nfs" has type "nfs", which disaster recovery does not support (only lvmoiscsi and lvmohba).`, "lvmoiscsi or lvmohba"},
		{"LUN not presented", func() error { return probeAt(dr(SiteConfig{}), "dr", noLUN) },
			"", false, `probing storage "ghost" (lvmoiscsi) at site dr failed: `, "device_config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			var ae *temporal.ApplicationError
			require.True(t, errors.As(err, &ae), "%v", err)
			if tc.code != "" {
				assert.Equal(t, tc.code, ae.Type())
			}
			assert.Equal(t, !tc.retryable, ae.NonRetryable())
			msg := ae.Message()
			assert.True(t, strings.HasPrefix(msg, tc.message), msg)
			assert.True(t, strings.HasSuffix(msg, "."), msg)
			for _, advice := range []string{"re-run", "retried", "start the run again", "check the"} {
				assert.NotContains(t, msg, advice, "the workflow gives the next step")
			}
			next := NextStep(err, "the step's own")
			assert.Contains(t, next, tc.next)
		})
	}
}

// After a login, the site's pool going dark is a transient "no master"
// failure; once the master moved, the same activities go on there.
func TestSiteFollowsMasterMove(t *testing.T) {
	f := newFixture(t)
	var inv Inventory
	f.must(&inv, f.a.Inventory, &InventoryInput{Site: "dr"})
	require.NoError(t, f.w.Control().MoveMaster("DR", "dr-02"))
	f.must(&inv, f.a.Inventory, &InventoryInput{Site: "dr"})
	assert.Equal(t, drPoolID, inv.PoolUUID)
	assert.Equal(t, strings.TrimSuffix(f.w.PoolURL("dr"), "/"), strings.TrimSuffix(f.a.sites["dr"].sess.Endpoint(), "/"))

	require.NoError(t, f.w.Control().SiteDown("dr"))
	err := f.run(nil, f.a.Inventory, &InventoryInput{Site: "dr"})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, codeNoMaster, ae.Type())
	assert.False(t, ae.NonRetryable())
	assert.Contains(t, ae.Message(), "no host answers as its pool master")
}

// One INTERNAL_ERROR from VM.start is transient: the attempt fails
// retryably, with no advice in its message, and the next attempt starts the
// VM.
func TestStartVMInternalErrorIsRetried(t *testing.T) {
	f := newFixture(t)
	var uuid string
	for _, vm := range f.w.Control().State().Pools[0].VMs {
		if vm.Name == "dns-01" {
			uuid = vm.UUID
		}
	}
	require.NotEmpty(t, uuid)
	c, err := f.a.connect(context.Background(), "primary")
	require.NoError(t, err)
	ref, err := c.s.GetVMByUUID(context.Background(), uuid)
	require.NoError(t, err)
	require.NoError(t, c.s.HardShutdownVM(context.Background(), ref))
	f.w.Control().AddFault(sim.Fault{Pool: "Primary", Method: "VM.start", Nth: 1, Error: []string{"INTERNAL_ERROR", "xenopsd: domain build failed"}})

	err = f.run(nil, f.a.StartVM, &StartVMInput{Site: "primary", VMUUID: uuid})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.False(t, ae.NonRetryable())
	assert.Equal(t, "INTERNAL_ERROR", ae.Type())
	assert.True(t, strings.HasSuffix(ae.Message(), "the pool reported an internal error: xenopsd: domain build failed (INTERNAL_ERROR)."), ae.Message())

	var res StartVMResult
	f.must(&res, f.a.StartVM, &StartVMInput{Site: "primary", VMUUID: uuid})
	assert.Equal(t, "Running", res.PowerState)
}

// The DR pool's master moves between the scan and the recovery (the issue's
// hang): the recovery goes on at the new master and the old one is asked
// once, not on every retry.
func TestRecoverAfterMasterMoved(t *testing.T) {
	f, _, sc := prepared(t)
	us, _ := units(sc, "build-agent")
	require.NoError(t, f.w.Control().MoveMaster("DR", "dr-02"))
	mark := int64(0)
	if e := f.w.Journal().Entries(0); len(e) > 0 {
		mark = e[len(e)-1].Seq
	}
	var res RecoverResult
	f.must(&res, f.a.Recover, &RecoverInput{Site: "dr", Units: us})
	require.Len(t, res.Units, len(us))
	for _, u := range res.Units {
		assert.Empty(t, u.Error, u.UUID)
	}
	// Calls already in flight when it moved (the VM view's and the task
	// watcher's event.from) may each meet it once; no caller asks it again.
	met := map[string]int{}
	for _, e := range f.w.Journal().Entries(mark) {
		if e.Result == "HOST_IS_SLAVE" {
			caller := e.Method
			if e.Method == "event.from" && len(e.Params) > 1 {
				caller += fmt.Sprint(e.Params[1]) // the view's classes, or the watcher's
			}
			met[caller]++
		}
	}
	require.NotEmpty(t, met, "the recovery met the old master")
	for caller, n := range met {
		assert.Equal(t, 1, n, "%s asked the old master again", caller)
	}
}
