package xapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsServer starts an HTTPS fake XAPI with a certificate signed by a fresh CA
// and returns its URL and the CA certificate file.
func tlsServer(t *testing.T) (string, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "pool master"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(success(xv("OpaqueRef:tls-session"))))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	return srv.URL, caFile
}

func TestTLSWithCAFile(t *testing.T) {
	url, caFile := tlsServer(t)
	s, err := newTestClient(t, url, WithCAFile(caFile)).Login(context.Background(), "root", "pw")
	require.NoError(t, err)
	assert.Equal(t, Ref("OpaqueRef:tls-session"), s.Ref())
}

func TestTLSRefusesUnknownCAUnlessInsecure(t *testing.T) {
	url, _ := tlsServer(t)
	_, err := newTestClient(t, url).Login(context.Background(), "root", "pw")
	require.Error(t, err, "system roots do not know the test CA")
	assert.False(t, Retryable(err), "a certificate problem does not heal by retrying: %v", err)
	assert.NotContains(t, err.Error(), "pw\"")

	_, err = newTestClient(t, url, WithInsecureSkipVerify()).Login(context.Background(), "root", "pw")
	require.NoError(t, err)
}

func TestCAFileWithoutCertificates(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.pem")
	require.NoError(t, os.WriteFile(p, []byte("nothing here"), 0o600))
	_, err := NewClient("https://h", WithCAFile(p))
	assert.Error(t, err)
}
