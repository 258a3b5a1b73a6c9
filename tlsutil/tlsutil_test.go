package tlsutil

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// cluster makes a CA and one node certificate for 127.0.0.1 and localhost.
func cluster(t *testing.T, nodeID string) (caDir, nodeDir string) {
	t.Helper()
	caDir = filepath.Join(t.TempDir(), "ca")
	if _, err := InitCA(caDir); err != nil {
		t.Fatal(err)
	}
	nodeDir = filepath.Join(t.TempDir(), nodeID)
	if _, err := IssueNode(caDir, nodeID, []string{"127.0.0.1", "localhost"}, nodeDir); err != nil {
		t.Fatal(err)
	}
	return caDir, nodeDir
}

// serveOnce accepts one connection on a real TCP listener, runs the TLS
// handshake and answers "ok" when it succeeds. The handshake's error on the
// server side is the result.
func serveOnce(t *testing.T, cfg *tls.Config) (addr string, result <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	res := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			res <- err
			return
		}
		_, err = tc.Write([]byte("ok"))
		res <- err
	}()
	return ln.Addr().String(), res
}

// dial connects with cfg and reads the server's answer; with TLS 1.3 a
// refused client certificate shows up on the first read, not in Dial.
func dial(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ok" {
		return errors.New("unexpected answer " + string(buf))
	}
	return nil
}

func TestMutualTLSServerChecksClientCertificates(t *testing.T) {
	caDir, serverDir := cluster(t, "node1")
	clusterClientDir := filepath.Join(t.TempDir(), "node2")
	if _, err := IssueNode(caDir, "node2", []string{"127.0.0.2"}, clusterClientDir); err != nil {
		t.Fatal(err)
	}
	_, strangerDir := cluster(t, "stranger")
	serverCfg, err := MutualServerConfig(serverDir)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := loadPool(filepath.Join(serverDir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := MutualClientConfig(strangerDir)
	if err != nil {
		t.Fatal(err)
	}
	// The stranger trusts our CA, so only its own certificate can be why
	// the server refuses it.
	stranger.RootCAs = pool
	member, err := MutualClientConfig(clusterClientDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		client *tls.Config
		accept bool
	}{
		{"no certificate", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}, false},
		{"certificate from another CA", stranger, false},
		{"certificate from the cluster CA", member, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, result := serveOnce(t, serverCfg)
			clientErr := dial(addr, tc.client)
			serverErr := <-result
			if tc.accept && (clientErr != nil || serverErr != nil) {
				t.Fatalf("refused: client %v, server %v", clientErr, serverErr)
			}
			if !tc.accept && (clientErr == nil || serverErr == nil) {
				t.Fatalf("accepted: client %v, server %v", clientErr, serverErr)
			}
		})
	}
}

func TestMutualTLSClientChecksServer(t *testing.T) {
	caDir, clientDir := cluster(t, "node1")
	_, strangerDir := cluster(t, "stranger")
	wrongNameDir := filepath.Join(t.TempDir(), "elsewhere")
	if _, err := IssueNode(caDir, "elsewhere", []string{"10.9.9.9"}, wrongNameDir); err != nil {
		t.Fatal(err)
	}
	client, err := MutualClientConfig(clientDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		serverDir string
		accept    bool
	}{
		{"server from another CA", strangerDir, false},
		{"server certificate for another address", wrongNameDir, false},
		{"server from the cluster CA", clientDir, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serverCfg, err := MutualServerConfig(tc.serverDir)
			if err != nil {
				t.Fatal(err)
			}
			// The server trusts our CA, so the client is the side refusing.
			serverCfg.ClientCAs, _ = loadPool(filepath.Join(clientDir, CACertFile))
			addr, result := serveOnce(t, serverCfg)
			clientErr := dial(addr, client)
			<-result
			var unknown x509.UnknownAuthorityError
			var hostname x509.HostnameError
			switch {
			case tc.accept && clientErr != nil:
				t.Fatalf("refused: %v", clientErr)
			case !tc.accept && !errors.As(clientErr, &unknown) && !errors.As(clientErr, &hostname):
				t.Fatalf("want a verification error, got %v", clientErr)
			}
		})
	}
}

func TestKeyFilesArePrivate(t *testing.T) {
	caDir, nodeDir := cluster(t, "node1")
	for _, path := range []string{filepath.Join(caDir, CAKeyFile), filepath.Join(nodeDir, NodeKeyFile)} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", path, st.Mode().Perm())
		}
	}
	if _, err := InitCA(caDir); !errors.Is(err, ErrExists) {
		t.Fatalf("second InitCA: %v, want ErrExists", err)
	}
}

func TestNodeCertificate(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	ca, err := InitCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	nodeDir := t.TempDir()
	cert, err := IssueNode(caDir, "mx1", []string{"mx1.example.com", "10.0.0.1", "::1", "MX1", ""}, nodeDir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cert.DNSNames, []string{"mx1", "mx1.example.com"}; !equal(got, want) {
		t.Errorf("DNS SANs %v, want %v", got, want)
	}
	if len(cert.IPAddresses) != 2 || cert.IPAddresses[0].String() != "10.0.0.1" || cert.IPAddresses[1].String() != "::1" {
		t.Errorf("IP SANs %v", cert.IPAddresses)
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life < NodeLifetime || life > NodeLifetime+2*clockSkew {
		t.Errorf("lifetime %v", life)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "mx1.example.com", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("usage %v: %v", usage, err)
		}
	}
	if _, err := IssueNode(caDir, "mx1", []string{"bad host!"}, nodeDir); !errors.Is(err, ErrBadHost) {
		t.Errorf("bad host: %v, want ErrBadHost", err)
	}
	if _, err := IssueNode(caDir, "not a name", nil, nodeDir); !errors.Is(err, ErrBadHost) {
		t.Errorf("no SANs: %v, want ErrBadHost", err)
	}
	// The refused issues left the first certificate in place.
	onDisk, err := readCert(filepath.Join(nodeDir, NodeCertFile))
	if err != nil || !onDisk.Equal(cert) {
		t.Fatalf("node.crt changed by a refused issue: %v", err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestClientPortConfigReloadsRenewedCertificate(t *testing.T) {
	caDir, nodeDir := cluster(t, "imap")
	cfg, err := ClientPortConfig(filepath.Join(nodeDir, NodeCertFile), filepath.Join(nodeDir, NodeKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := cfg.GetCertificate(nil)
	renewed, err := IssueNode(caDir, "imap", []string{"127.0.0.1"}, nodeDir)
	if err != nil {
		t.Fatal(err)
	}
	// A later modification time than the first load, whatever the file
	// system's timestamp granularity.
	later := time.Now().Add(time.Minute)
	for _, f := range []string{NodeCertFile, NodeKeyFile} {
		if err := os.Chtimes(filepath.Join(nodeDir, f), later, later); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := cfg.GetCertificate(nil)
		if bytes.Equal(got.Certificate[0], renewed.Raw) {
			break
		}
		if !bytes.Equal(got.Certificate[0], first.Certificate[0]) {
			t.Fatal("serving neither the first nor the renewed certificate")
		}
		if time.Now().After(deadline) {
			t.Fatal("renewed certificate never served")
		}
		time.Sleep(50 * time.Millisecond) // polling the condition, not waiting for it
	}
	// Real handshake with the renewed certificate on the client port.
	addr, result := serveOnce(t, cfg)
	pool, _ := loadPool(filepath.Join(caDir, CACertFile))
	if err := dial(addr, &tls.Config{RootCAs: pool}); err != nil {
		t.Fatal(err)
	}
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if _, err := ClientPortConfig(filepath.Join(nodeDir, "missing.crt"), filepath.Join(nodeDir, NodeKeyFile)); err == nil {
		t.Fatal("missing certificate file accepted")
	}
}

func TestGossipKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, GossipKeyFile)
	if err := InitGossipKey(path); err != nil {
		t.Fatal(err)
	}
	if err := InitGossipKey(path); !errors.Is(err, ErrExists) {
		t.Fatalf("second InitGossipKey: %v", err)
	}
	key, err := GossipKey(path)
	if err != nil || len(key) != 32 {
		t.Fatalf("key %d bytes, %v", len(key), err)
	}
	// memberlist takes it as Config.SecretKey, or in a Keyring.
	if _, err := memberlist.NewKeyring(nil, key); err != nil {
		t.Fatalf("memberlist refuses the key: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	k1, err := GossipKey(pass)
	if err != nil || len(k1) != 32 {
		t.Fatalf("passphrase key %d bytes, %v", len(k1), err)
	}
	os.WriteFile(pass, []byte("correct horse battery staple"), 0o600)
	if k2, _ := GossipKey(pass); !bytes.Equal(k1, k2) {
		t.Error("trailing newline changed the derived key")
	}
	if bytes.Equal(k1, key) {
		t.Error("different files, same key")
	}
	os.WriteFile(pass, []byte("short"), 0o600)
	if _, err := GossipKey(pass); !errors.Is(err, ErrBadGossipKey) {
		t.Errorf("short passphrase: %v", err)
	}
}

// A node's second connection to a peer resumes its TLS session, with the
// client certificate still known to the server.
func TestMutualTLSResumes(t *testing.T) {
	caDir, serverDir := cluster(t, "node1")
	clientDir := filepath.Join(t.TempDir(), "node2")
	if _, err := IssueNode(caDir, "node2", []string{"127.0.0.2"}, clientDir); err != nil {
		t.Fatal(err)
	}
	serverCfg, err := MutualServerConfig(serverDir)
	if err != nil {
		t.Fatal(err)
	}
	clientCfg, err := MutualClientConfig(clientDir)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type seen struct {
		resumed bool
		peer    string
		err     error
	}
	results := make(chan seen, 2)
	go func() {
		for i := 0; i < 2; i++ {
			c, err := ln.Accept()
			if err != nil {
				results <- seen{err: err}
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			tc := tls.Server(c, serverCfg)
			err = tc.Handshake()
			st := tc.ConnectionState()
			s := seen{resumed: st.DidResume, err: err}
			if len(st.PeerCertificates) > 0 {
				s.peer = st.PeerCertificates[0].Subject.CommonName
			}
			if err == nil {
				_, s.err = tc.Write([]byte("ok"))
			}
			results <- s
			tc.Close()
		}
	}()
	for i, wantResumed := range []bool{false, true} {
		if err := dial(ln.Addr().String(), clientCfg); err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		s := <-results
		if s.err != nil || s.resumed != wantResumed || s.peer != "node2" {
			t.Fatalf("connection %d: resumed %v (want %v), client certificate %q, %v", i, s.resumed, wantResumed, s.peer, s.err)
		}
	}
}

// BenchmarkMutualHandshake: one node's connection to another over
// loopback, both ends in this process, with a full handshake each time and
// with the session resumed.
func BenchmarkMutualHandshake(b *testing.B) {
	caDir := filepath.Join(b.TempDir(), "ca")
	if _, err := InitCA(caDir); err != nil {
		b.Fatal(err)
	}
	serverDir, clientDir := filepath.Join(b.TempDir(), "node1"), filepath.Join(b.TempDir(), "node2")
	for dir, id := range map[string]string{serverDir: "node1", clientDir: "node2"} {
		if _, err := IssueNode(caDir, id, []string{"127.0.0.1"}, dir); err != nil {
			b.Fatal(err)
		}
	}
	serverCfg, err := MutualServerConfig(serverDir)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := tls.Server(c, serverCfg)
				if s.Handshake() == nil {
					s.Write([]byte("ok"))
				}
			}()
		}
	}()
	for _, resume := range []bool{false, true} {
		b.Run(map[bool]string{false: "full", true: "resumed"}[resume], func(b *testing.B) {
			clientCfg, err := MutualClientConfig(clientDir)
			if err != nil {
				b.Fatal(err)
			}
			if !resume {
				clientCfg.ClientSessionCache = nil
			}
			for i := 0; i < b.N; i++ {
				if err := dial(ln.Addr().String(), clientCfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
