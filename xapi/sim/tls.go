package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// This file is the world's certificate authority: with Options.TLS each host serves
// HTTPS with a certificate of its own (its IP and host name, as a XenServer host's
// certificate names them), signed by a CA generated at Start and written to a PEM file
// that clients point their ca_file at.

// quietLog drops the HTTP server's own log lines (TLS handshakes refused by a client
// that does not trust the CA are expected in tests).
var quietLog = log.New(io.Discard, "", 0)

type authority struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	pem     []byte
	file    string
	tempDir string // removed at Close when the file was not asked for
}

func newAuthority(file string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "xapisim CA", Organization: []string{"xapisim"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create the CA certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	a := &authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	if file == "" {
		dir, err := os.MkdirTemp("", "xapisim-ca-")
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		a.tempDir, file = dir, filepath.Join(dir, "ca.pem")
	}
	if err := os.WriteFile(file, a.pem, 0o644); err != nil {
		a.close()
		return nil, fmt.Errorf("write the CA file: %w", err)
	}
	a.file = file
	return a, nil
}

// serverConfig is the TLS configuration of one host: a certificate for its IP and name.
func (a *authority) serverConfig(h *Host) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand failing leaves nothing to simulate
	}
	ip, _, _ := net.SplitHostPort(h.bound)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: h.Name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		DNSNames: []string{h.Name}, IPAddresses: []net.IP{net.ParseIP(ip)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		panic(err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func (a *authority) close() {
	if a != nil && a.tempDir != "" {
		_ = os.RemoveAll(a.tempDir)
	}
}

// CAFile is the path of the PEM file holding the CA that signed the hosts' certificates
// ("" without Options.TLS).
func (w *World) CAFile() string {
	if w.ca == nil {
		return ""
	}
	return w.ca.file
}

// CAPEM is the CA certificate in PEM (nil without Options.TLS).
func (w *World) CAPEM() []byte {
	if w.ca == nil {
		return nil
	}
	return w.ca.pem
}
