package activities

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// The worker against a pool served over HTTPS by the simulator: with the
// site's ca_file it verifies every host's certificate (the master's move
// included); without it the login fails for good, and the next step names
// ca_file and insecure; insecure logs in without checking.
func TestSiteOverHTTPS(t *testing.T) {
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{Speed: 0, FreePorts: true, TLS: true, ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	inventory := func(c SiteConfig) (*Inventory, error) {
		c.Username, c.Password = "root", "lifeboat"
		a, err := New(map[string]SiteConfig{"dr": c}, mapSecrets{}, testLogger(t))
		require.NoError(t, err)
		t.Cleanup(func() { _ = Close(context.Background(), a) })
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		v, err := env.ExecuteActivity(a.Inventory, &InventoryInput{Site: "dr"})
		if err != nil {
			return nil, err
		}
		var inv Inventory
		require.NoError(t, v.Get(&inv))
		return &inv, nil
	}
	url := w.PoolTLSURL("dr")

	inv, err := inventory(SiteConfig{URL: url, CAFile: w.CAFile()})
	require.NoError(t, err)
	assert.Equal(t, drPoolID, inv.PoolUUID)

	_, err = inventory(SiteConfig{URL: url})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, codeTLS, ae.Type())
	assert.True(t, ae.NonRetryable())
	assert.Equal(t, "the TLS certificate of site dr ("+strings.TrimSuffix(url, "/")+") could not be verified: it is signed by an authority the worker does not trust.", ae.Message())
	next := NextStep(err, "the step's own")
	assert.Contains(t, next, "ca_file")
	assert.Contains(t, next, "insecure")

	_, err = inventory(SiteConfig{URL: url, Insecure: true})
	require.NoError(t, err)

	// Plain HTTP on the certificate's port is refused as not TLS.
	_, err = inventory(SiteConfig{URL: strings.Replace(w.PoolURL("dr"), "http://", "https://", 1), CAFile: w.CAFile()})
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, codeTLS, ae.Type())
	assert.Contains(t, ae.Message(), "does not speak TLS on this port")
}
