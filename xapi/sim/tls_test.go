package sim_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// With TLS every host also serves HTTPS, with a certificate for its own IP signed by
// the world's CA; plain HTTP stays on its own port.
func TestHTTPSWithTheWorldsCA(t *testing.T) {
	sc, err := sim.ParseScenario([]byte(tinyScenario))
	require.NoError(t, err)
	w, err := sim.Start(context.Background(), sc, sim.Options{FreePorts: true, TLS: true, ControlAddr: "-"})
	require.NoError(t, err)
	pemFile := w.CAFile()
	pemData, err := os.ReadFile(pemFile)
	require.NoError(t, err)
	assert.Equal(t, w.CAPEM(), pemData)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pemData))

	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	https := w.HostTLSURLs("P")
	plain := w.HostURLs("P")
	require.Len(t, https, 2)
	for i, u := range https {
		p, _ := url.Parse(u)
		q, _ := url.Parse(plain[i])
		assert.Equal(t, "https", p.Scheme)
		assert.Equal(t, q.Hostname(), p.Hostname(), "HTTPS on the host's own address")
		assert.NotEqual(t, q.Port(), p.Port())
		resp, err := trusting.Post(u, "text/xml", strings.NewReader(string(requestBody("session.login_with_password", "root", "pw"))))
		require.NoError(t, err, "the certificate names the host's IP")
		_ = resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
	}
	assert.Equal(t, https[0], w.PoolTLSURL("P"))
	// Plain HTTP still answers.
	c := rpc{t: t, url: w.PoolURL("P")}
	c.str("session.login_with_password", "root", "pw")
	// A client without the CA refuses the certificate.
	_, err = http.Post(https[0], "text/xml", strings.NewReader("x"))
	var ua x509.UnknownAuthorityError
	assert.True(t, errors.As(err, &ua), "%v", err)

	require.NoError(t, w.Close())
	_, err = os.Stat(pemFile)
	assert.True(t, os.IsNotExist(err), "the temporary CA file is removed at Close")
}
