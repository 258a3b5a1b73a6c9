package node

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/imapfront"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/internal/condstore"
	"github.com/rookery-mail/rookery/internal/faults"
	"github.com/rookery-mail/rookery/internal/multiappend"
	"github.com/rookery-mail/rookery/lmtp"
	"github.com/rookery-mail/rookery/replication"
)

func (n *Node) startFrontend(log *slog.Logger) error {
	if err := n.startIMAP(log.With("component", "imap")); err != nil {
		return err
	}
	if err := n.startLMTP(log.With("component", "lmtp")); err != nil {
		return err
	}
	return n.startPOP3(log.With("component", "pop3"))
}

func (n *Node) startIMAP(log *slog.Logger) error {
	fc := n.cfg.Frontend
	ic := imapfront.Default()
	ic.Directory = faults.FrontendDirectory(n.dir, log)
	ic.ClusterSecret = n.cfg.ClusterSecret
	ic.TLS = n.cfg.TLS.Clients
	ic.Observer = n.metrics
	pw, err := n.passwords()
	if err != nil {
		return err
	}
	ic.Passwords, n.accounts = pw, pw
	// RENAME a b SERVER asks the mailbox's primary to move it; a move
	// streams its progress for as long as it takes, so no overall timeout.
	ic.Mover = replication.RemoteMover{Directory: n.dir, API: clusterapi.NewClient(n.cfg.ClusterSecret,
		&http.Client{Transport: clusterapi.Transport(n.cfg.dialer(), n.cfg.TLS.Client)}, n.cfg.TLS.Client != nil, nil)}
	ic.Quotas = frontQuotas{quota.NewMeter(quota.MeterConfig{
		Remote: backend.UsageRemote{API: clusterapi.NewClient(n.cfg.ClusterSecret,
			&http.Client{Transport: clusterapi.Transport(n.cfg.dialer(), n.cfg.TLS.Client)}, n.cfg.TLS.Client != nil, nil)},
		// GETQUOTA shows every write acknowledged before it.
		CacheFor: -1,
	})}
	// CONDSTORE reads and changes flags with their modseqs on the backends.
	ic.ModSeqs = condstore.Remote{API: clusterapi.NewClient(n.cfg.ClusterSecret,
		&http.Client{Transport: clusterapi.Transport(n.cfg.dialer(), n.cfg.TLS.Client)}, n.cfg.TLS.Client != nil, nil)}
	// MULTIAPPEND streams an APPEND's messages to the backend for as long
	// as the client sends them: no overall timeout.
	ic.Appender = multiappend.Remote{API: clusterapi.NewClient(n.cfg.ClusterSecret,
		&http.Client{Transport: clusterapi.Transport(n.cfg.dialer(), n.cfg.TLS.Client)}, n.cfg.TLS.Client != nil, nil)}
	ic.AllowPlaintextLogin = fc.AllowPlaintextLogin
	ic.MaxLiteralBytes = fc.MaxMessageBytes
	fc.imapLimits(&ic)
	ic.Logger = log
	ic.Dial = n.nodeDial()
	ic.Penalties = penaltyGossip{n.dir}
	front, err := imapfront.New(ic)
	if err != nil {
		return err
	}
	n.penaltyTo.Store(front)
	if err := n.serve(ListenIMAP, fc.IMAPAddr, "tcp", n.counted(ListenIMAP, front.Serve), front.Close); err != nil {
		front.Close()
		return err
	}
	n.imap = front
	if fc.IMAPSAddr != "" {
		// Implicit TLS (port 993): the session sees a *tls.Conn and counts
		// itself encrypted from the first byte.
		imaps := func(ln net.Listener) error { return front.Serve(tls.NewListener(ln, n.cfg.TLS.Clients)) }
		if err := n.serve(ListenIMAPS, fc.IMAPSAddr, "tcp", n.counted(ListenIMAPS, imaps), func() error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

// frontQuotas reads users' usage on every backend, for GETQUOTA.
type frontQuotas struct{ m *quota.Meter }

func (q frontQuotas) Usage(ctx context.Context, dir *fsm.View, user string) (int64, int64, error) {
	u, err := q.m.Usage(ctx, dir, user)
	return u.Bytes, u.Messages, err
}

func (n *Node) startLMTP(log *slog.Logger) error {
	fc := n.cfg.Frontend
	lc := lmtp.Default()
	lc.Directory = n.dir
	lc.Hostname = n.cfg.NodeID
	lc.Domains = fc.Domains
	lc.MaxMessageBytes = fc.MaxMessageBytes
	lc.Logger = log
	lc.Dial = n.nodeDial()
	lc.TLS = n.cfg.TLS.Clients
	lc.Observer = n.metrics
	lc.Recipients = recipients{n.accounts}
	proxy, err := lmtp.New(lc)
	if err != nil {
		return err
	}
	if err := n.serve(ListenLMTP, fc.LMTPAddr, "tcp", n.counted(ListenLMTP, proxy.Serve), proxy.Close); err != nil {
		proxy.Close()
		return err
	}
	n.lmtp = proxy
	if fc.LMTPSocket != "" {
		os.Remove(fc.LMTPSocket) // a socket left by a process that died
		if err := n.serve(ListenLMTPSocket, fc.LMTPSocket, "unix", n.counted(ListenLMTPSocket, proxy.Serve), func() error { return nil }); err != nil {
			return err
		}
		// An MTA's delivery agent runs as its own user (Postfix's as
		// "postfix"); it needs write permission on the socket.
		if err := os.Chmod(fc.LMTPSocket, fc.LMTPSocketMode); err != nil {
			return err
		}
	}
	return nil
}

// imapLimits overrides imapfront's defaults with the limits fc sets.
func (fc *FrontendConfig) imapLimits(ic *imapfront.Config) {
	setNonZero(&ic.MaxCommandBytes, fc.MaxCommandBytes)
	setNonZero(&ic.PreAuthMaxCommandBytes, fc.PreAuthMaxCommandBytes)
	setNonZero(&ic.MaxPreAuthConns, fc.MaxPreAuthConns)
	setNonZero(&ic.MaxPreAuthConnsPerAddr, fc.MaxPreAuthConnsPerAddr)
	setNonZero(&ic.PreAuthTimeout, fc.PreAuthTimeout)
	setNonZero(&ic.LoginPenaltyBase, fc.LoginPenaltyBase)
	setNonZero(&ic.LoginPenaltyMax, fc.LoginPenaltyMax)
	setNonZero(&ic.FailedLoginWindow, fc.FailedLoginWindow)
}

func setNonZero[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}
