// Package testcerts makes certificate authorities and certificates for
// tests with crypto/x509: a CA, server certificates for loopback, client
// certificates naming an identity, expired ones. Not for production use.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte
}

// Cert is a certificate with its key.
type Cert struct {
	TLS     tls.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// Opts shape a leaf certificate.
type Opts struct {
	// CN, DNS, IPs and URIs are the subject common name and the SANs.
	CN   string
	DNS  []string
	IPs  []net.IP
	URIs []string
	// Expired makes a certificate that expired an hour ago.
	Expired bool
	// Server makes a server certificate (else a client one).
	Server bool
}

var serial = big.NewInt(time.Now().UnixNano())

func next() *big.Int {
	serial = new(big.Int).Add(serial, big.NewInt(1))
	return serial
}

// NewCA makes a self-signed CA named name.
func NewCA(name string) *CA {
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber:          next(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))
	return &CA{Cert: must(x509.ParseCertificate(der)), Key: key,
		PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool returns a pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue makes a leaf certificate signed by the CA.
func (ca *CA) Issue(o Opts) *Cert {
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber: next(),
		Subject:      pkix.Name{CommonName: o.CN},
		DNSNames:     o.DNS,
		IPAddresses:  o.IPs,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if o.Server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if o.Expired {
		tmpl.NotBefore = time.Now().Add(-48 * time.Hour)
		tmpl.NotAfter = time.Now().Add(-time.Hour)
	}
	for _, u := range o.URIs {
		tmpl.URIs = append(tmpl.URIs, must(url.Parse(u)))
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey,
		ca.Key))
	keyDER := must(x509.MarshalECPrivateKey(key))
	c := &Cert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	c.TLS = must(tls.X509KeyPair(c.CertPEM, c.KeyPEM))
	return c
}

// Server makes a server certificate for localhost and 127.0.0.1.
func (ca *CA) Server() *Cert {
	return ca.Issue(Opts{CN: "localhost", DNS: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, Server: true})
}

// Write writes the certificate and key to dir/name.crt and dir/name.key
// and returns their paths.
func (c *Cert) Write(dir, name string) (certFile, keyFile string) {
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	mustDo(os.WriteFile(certFile, c.CertPEM, 0o600))
	mustDo(os.WriteFile(keyFile, c.KeyPEM, 0o600))
	return certFile, keyFile
}

// Write writes the CA certificate to dir/name.crt and returns the path.
func (ca *CA) Write(dir, name string) string {
	f := filepath.Join(dir, name+".crt")
	mustDo(os.WriteFile(f, ca.PEM, 0o600))
	return f
}

// ServerConfig is a server config with the certificate; with clientCA
// set, client certificates are required and verified against it.
func ServerConfig(c *Cert, clientCA *CA) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{c.TLS},
		MinVersion: tls.VersionTLS12}
	if clientCA != nil {
		cfg.ClientCAs = clientCA.Pool()
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg
}

// ClientConfig is a client config trusting ca, presenting c when set.
func ClientConfig(ca *CA, c *Cert) *tls.Config {
	cfg := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	if c != nil {
		cfg.Certificates = []tls.Certificate{c.TLS}
	}
	return cfg
}

func must[T any](v T, err error) T {
	mustDo(err)
	return v
}

func mustDo(err error) {
	if err != nil {
		// test-only package: a failure to make a certificate is a broken test
		panic(err)
	}
}
