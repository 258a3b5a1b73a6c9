package backend

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/rookery-mail/rookery/backend/pop3d"
)

// newPOP3 builds the backend's POP3 server when the config asks for one.
func newPOP3(cfg Config) (*pop3d.Server, error) {
	if cfg.POP3Addr == "" {
		return nil, nil
	}
	return pop3d.New(pop3d.Config{
		BackendID:        cfg.ID,
		Store:            cfg.Store,
		Directory:        cfg.Directory,
		ClusterSecret:    cfg.ClusterSecret,
		DirectoryTimeout: cfg.DirectoryTimeout,
		Logger:           cfg.Logger,
	})
}

// listenPOP3 opens the POP3 listener, in the node's mutual TLS when it
// has TLS, as the IMAP and LMTP listeners are.
func (b *Backend) listenPOP3() error {
	if b.pop3 == nil {
		return nil
	}
	ln, err := net.Listen("tcp", b.cfg.POP3Addr)
	if err != nil {
		return fmt.Errorf("listen pop3: %w", err)
	}
	if b.cfg.NodeTLS != nil {
		ln = tls.NewListener(ln, b.cfg.NodeTLS)
	}
	b.pop3Ln = ln
	return nil
}

func (b *Backend) closePOP3() error {
	if b.pop3 == nil {
		return nil
	}
	return b.pop3.Close()
}

// POP3Addr is the bound POP3 address once Start has returned; empty when
// the backend serves no POP3.
func (b *Backend) POP3Addr() string {
	if b.pop3Ln == nil {
		return ""
	}
	return b.pop3Ln.Addr().String()
}
