package main

import (
	"crypto/tls"
	"sync"

	"github.com/arpcbridge/arpcbridge/internal/testcerts"
)

// benchCerts are the TLS rows' configs: a CA made at start, a server
// certificate for loopback, clients trusting the CA (TLS 1.3, ECDSA P-256,
// no client certificates: the handshake and the record layer are what the
// rows measure).
type benchCerts struct{ server, client *tls.Config }

var benchTLS = sync.OnceValue(func() benchCerts {
	ca := testcerts.NewCA("bench-ca")
	return benchCerts{server: testcerts.ServerConfig(ca.Server(), nil),
		client: testcerts.ClientConfig(ca, nil)}
})
