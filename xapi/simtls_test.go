package xapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

func tlsWorld(t *testing.T) *sim.World {
	t.Helper()
	w, err := sim.Start(context.Background(), sim.DemoScenario(), sim.Options{Speed: 0, FreePorts: true, TLS: true, ControlAddr: "-"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// Over HTTPS the client verifies each host's certificate against ca_file, and
// follows HOST_IS_SLAVE's bare address on the port and scheme it was given.
func TestTLSAgainstTheSimulatorFollowsTheMaster(t *testing.T) {
	w := tlsWorld(t)
	urls := w.HostTLSURLs("DR")
	require.True(t, strings.HasPrefix(urls[0], "https://"))
	s, mv := drLogin(t, urls[0], xapi.WithCAFile(w.CAFile()))

	require.NoError(t, w.Control().MoveMaster("DR", "dr-02"))
	_, _, err := s.GetPool(context.Background())
	require.NoError(t, err)
	assert.Equal(t, urls[1], s.Endpoint(), "HTTPS port kept, the new master's certificate verified")
	require.Len(t, mv.list(), 1)
	reason, ok := xapi.AsError(mv.list()[0].Reason)
	require.True(t, ok)
	assert.Equal(t, []string{hostIP(t, urls[1])}, reason.Params, "HOST_IS_SLAVE carries the bare address")
}

// Without the CA the certificate is refused, for good (retrying cannot fix
// it); insecure skips the check.
func TestTLSAgainstTheSimulatorNeedsTheCAOrInsecure(t *testing.T) {
	w := tlsWorld(t)
	c, err := xapi.NewClient(w.PoolTLSURL("DR"))
	require.NoError(t, err)
	_, err = c.Login(context.Background(), user, password)
	var ua x509.UnknownAuthorityError
	require.True(t, errors.As(err, &ua), "%v", err)
	assert.Equal(t, xapi.Permanent, xapi.Classify(err))

	c, err = xapi.NewClient(w.PoolTLSURL("DR"), xapi.WithInsecureSkipVerify())
	require.NoError(t, err)
	_, err = c.Login(context.Background(), user, password)
	require.NoError(t, err)

	// https:// to the plain HTTP port: a TLS failure, not a retryable one.
	c, err = xapi.NewClient(strings.Replace(w.PoolURL("DR"), "http://", "https://", 1), xapi.WithCAFile(w.CAFile()))
	require.NoError(t, err)
	_, err = c.Login(context.Background(), user, password)
	var rh tls.RecordHeaderError
	require.True(t, errors.As(err, &rh), "%v", err)
	assert.Equal(t, xapi.Permanent, xapi.Classify(err))

	// Plain HTTP is still served beside HTTPS.
	c, err = xapi.NewClient(w.PoolURL("DR"))
	require.NoError(t, err)
	_, err = c.Login(context.Background(), user, password)
	require.NoError(t, err)
}
