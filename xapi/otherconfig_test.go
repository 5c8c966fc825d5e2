package xapi_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// SetVMOtherConfigKey sets a key whatever it held, leaving the others, and
// is idempotent: xapi's add_to_other_config alone refuses a key that exists.
func TestSetVMOtherConfigKey(t *testing.T) {
	ctx := context.Background()
	w := demoWorld(t)
	c, err := xapi.NewClient(w.PoolURL("primary"))
	require.NoError(t, err)
	s, err := c.Login(ctx, user, password)
	require.NoError(t, err)
	refs, err := s.Call(ctx, "VM.get_by_name_label", "dns-01")
	require.NoError(t, err)
	ref := xapi.Ref(refs.([]any)[0].(string))
	before, err := s.GetVMRecord(ctx, ref)
	require.NoError(t, err)

	_, err = s.Call(ctx, "VM.add_to_other_config", string(ref), "k", "v0")
	require.NoError(t, err)
	_, err = s.Call(ctx, "VM.add_to_other_config", string(ref), "k", "v1")
	assert.True(t, xapi.IsCode(err, "MAP_DUPLICATE_KEY"), "%v", err)

	for _, v := range []string{"v1", "v1", `{"plan":"p","n":1}`} {
		require.NoError(t, s.SetVMOtherConfigKey(ctx, ref, "k", v))
		vm, err := s.GetVMRecord(ctx, ref)
		require.NoError(t, err)
		assert.Equal(t, v, vm.OtherConfig["k"])
		assert.Len(t, vm.OtherConfig, len(before.OtherConfig)+1, "the other keys are kept")
		assert.Equal(t, before.Version, vm.Version, "other_config changes leave the version alone")
	}
	require.NoError(t, s.SetVMOtherConfigKey(ctx, ref, "fresh", "x"), "a key that was not there")
}
