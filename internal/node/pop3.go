package node

import (
	"crypto/tls"
	"log/slog"
	"net"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/imapfront"
	"github.com/rookery-mail/rookery/pop3front"
)

var (
	_ pop3front.Authenticator = (*imapfront.Server)(nil)
	_ pop3front.Backends      = gossipPOP3{}
)

// gossipPOP3 finds a backend's POP3 listener in its node's gossip tags.
type gossipPOP3 struct{ dir *directory.Node }

func (g gossipPOP3) POP3Addr(backendID string) (string, bool) {
	return g.dir.BackendTag(backendID, directory.TagPOP3Addr)
}

// startPOP3 serves POP3 on the frontend's POP3 addresses, logging users
// in through the IMAP frontend so that both share its limits.
func (n *Node) startPOP3(log *slog.Logger) error {
	fc := n.cfg.Frontend
	if fc.POP3Addr == "" && fc.POP3SAddr == "" {
		return nil
	}
	pc := pop3front.Default()
	pc.Directory = n.dir
	pc.Backends = gossipPOP3{n.dir}
	pc.Authenticator = n.imap
	pc.ClusterSecret = n.cfg.ClusterSecret
	pc.TLS = n.cfg.TLS.Clients
	pc.AllowPlaintextLogin = fc.AllowPlaintextLogin
	pc.Logger = log
	pc.Dial = n.nodeDial()
	front, err := pop3front.New(pc)
	if err != nil {
		return err
	}
	if err := n.serve(ListenPOP3, fc.POP3Addr, "tcp", n.counted(ListenPOP3, front.Serve), front.Close); err != nil {
		front.Close()
		return err
	}
	if fc.POP3SAddr != "" {
		pop3s := func(ln net.Listener) error { return front.Serve(tls.NewListener(ln, n.cfg.TLS.Clients)) }
		stop := func() error { return nil }
		if fc.POP3Addr == "" {
			stop = front.Close
		}
		if err := n.serve(ListenPOP3S, fc.POP3SAddr, "tcp", n.counted(ListenPOP3S, pop3s), stop); err != nil {
			return err
		}
	}
	return nil
}
