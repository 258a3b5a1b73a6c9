package clusterapi

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Transport is the transport of calls to other nodes' cluster APIs: it
// dials from d, and with tlsConfig set (a node's mutual client config) it
// speaks TLS to https:// URLs, which a Client with TLS set builds. Every
// connection pool between nodes is made here, so no caller can pair a
// TLS cluster with a plaintext URL.
func Transport(d *net.Dialer, tlsConfig *tls.Config) *http.Transport {
	t := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	if tlsConfig != nil {
		td := &tls.Dialer{NetDialer: d, Config: tlsConfig}
		t.DialTLSContext = td.DialContext
	}
	return t
}
