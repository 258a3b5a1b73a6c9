package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// MutualServerConfig is the tls.Config of a listener between nodes (Raft
// transport, cluster API, replication): it presents the node certificate in
// nodeDir and requires every client to present one signed by the cluster CA.
func MutualServerConfig(nodeDir string) (*tls.Config, error) {
	pool, err := loadPool(filepath.Join(nodeDir, CACertFile))
	if err != nil {
		return nil, err
	}
	kp, err := newKeyPair(filepath.Join(nodeDir, NodeCertFile), filepath.Join(nodeDir, NodeKeyFile))
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS13, // only Rookery nodes speak here
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.current(), nil },
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      pool,
	}, nil
}

// MutualClientConfig is the tls.Config a node dials its peers with: it
// presents the node certificate in nodeDir and accepts only servers whose
// certificate the cluster CA signed for the name or address dialled.
func MutualClientConfig(nodeDir string) (*tls.Config, error) {
	pool, err := loadPool(filepath.Join(nodeDir, CACertFile))
	if err != nil {
		return nil, err
	}
	kp, err := newKeyPair(filepath.Join(nodeDir, NodeCertFile), filepath.Join(nodeDir, NodeKeyFile))
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.current(), nil
		},
		// A frontend opens a connection to a backend at each client login:
		// resuming the session spares both ends the certificate checks and
		// signatures of a full handshake. A resumed session carries the
		// certificates first verified, and neither end resumes past their
		// expiry; the trust is the same as a full handshake's, as no
		// certificate is revoked before it expires.
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
	}, nil
}

// sessionCacheSize bounds the TLS sessions a node keeps for resuming, one
// per peer host name (the name dialled, without its port: peers that share
// a host, as on a test machine, take each other's place).
const sessionCacheSize = 256

// ClientPortConfig is the tls.Config of the IMAP and LMTP client ports
// (implicit TLS on 993, STARTTLS elsewhere) with an operator's certificate,
// typically from a public CA. The files are read again when they change, so
// a renewed certificate takes effect without a restart.
func ClientPortConfig(certFile, keyFile string) (*tls.Config, error) {
	kp, err := newKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12, // mail clients in the field still need 1.2
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.current(), nil },
	}, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	cert, err := readCert(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

// keyPair is a certificate and key loaded from files and loaded again when
// either file's modification time changes. A file that fails to load keeps
// the previous pair in use: a half-copied renewal must not take a node down.
type keyPair struct {
	certFile, keyFile string

	mu        sync.Mutex
	cert      *tls.Certificate
	certMtime time.Time
	keyMtime  time.Time
	checked   time.Time
}

// recheckEvery bounds how often a handshake stats the files.
const recheckEvery = time.Second

func newKeyPair(certFile, keyFile string) (*keyPair, error) {
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if err := kp.loadLocked(); err != nil {
		return nil, err
	}
	return kp, nil
}

func (kp *keyPair) current() *tls.Certificate {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if time.Since(kp.checked) >= recheckEvery {
		_ = kp.loadLocked() // on failure the previous pair stays
	}
	return kp.cert
}

func (kp *keyPair) loadLocked() error {
	kp.checked = time.Now()
	cst, err := os.Stat(kp.certFile)
	if err != nil {
		return err
	}
	kst, err := os.Stat(kp.keyFile)
	if err != nil {
		return err
	}
	if kp.cert != nil && cst.ModTime().Equal(kp.certMtime) && kst.ModTime().Equal(kp.keyMtime) {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(kp.certFile, kp.keyFile)
	if err != nil {
		return fmt.Errorf("tlsutil: %s, %s: %w", kp.certFile, kp.keyFile, err)
	}
	kp.cert, kp.certMtime, kp.keyMtime = &cert, cst.ModTime(), kst.ModTime()
	return nil
}
