package activities

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// A refused login costs xapi's delay and a lockout count each time: the
// activities that follow within rejectedHold get the same permanent error,
// with its one next step, without asking the pool again.
func TestRejectedLoginAnsweredOnce(t *testing.T) {
	f := newFixture(t)
	a, err := New(map[string]SiteConfig{"dr": {URL: f.w.PoolURL("dr"), Username: "operator", Password: "wrong"}}, nil, testLogger(t))
	require.NoError(t, err)
	f.a = a
	f.env = f.newEnv()
	logins := func() int { return f.w.Journal().Count("session.login_with_password", "") }
	before := logins()
	for i := 0; i < 3; i++ {
		err := f.run(nil, a.Inventory, &InventoryInput{Site: "dr"})
		var ae *temporal.ApplicationError
		require.True(t, errors.As(err, &ae))
		assert.True(t, ae.NonRetryable())
		assert.Equal(t, codeAuth, ae.Type())
		assert.Equal(t, `site dr rejected the login of user "operator": the user name or password is wrong (SESSION_AUTHENTICATION_FAILED).`, ae.Message())
		assert.Contains(t, NextStep(err, ""), "correct the site's username or password")
	}
	assert.Equal(t, 1, logins()-before, "one login asked")

	hold := rejectedHold
	rejectedHold = 0
	t.Cleanup(func() { rejectedHold = hold })
	require.Error(t, f.run(nil, a.Inventory, &InventoryInput{Site: "dr"}))
	assert.Equal(t, 2, logins()-before, "past the hold, the pool is asked again")
}

// A session lost while the credentials stopped working: the re-login's
// refusal is the error, permanent with its next step, not a retryable
// SESSION_INVALID that would wait for xapi's refusal at every retry.
func TestReloginRefusedIsPermanent(t *testing.T) {
	f := newFixture(t)
	var inv Inventory
	f.must(&inv, f.a.Inventory, &InventoryInput{Site: "dr"})
	_, err := f.w.Control().ExpireSessions("DR", "")
	require.NoError(t, err)
	f.w.Control().AddFault(sim.Fault{Pool: "DR", Method: "session.login_with_password", Nth: 1, Error: []string{"SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"}})
	err = f.run(nil, f.a.Inventory, &InventoryInput{Site: "dr"})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae))
	assert.True(t, ae.NonRetryable(), ae.Message())
	assert.Equal(t, "SESSION_AUTHENTICATION_FAILED", ae.Type())
	assert.Contains(t, NextStep(err, ""), "correct the site's username or password")
}
