package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/imapfront"
	"github.com/rookery-mail/rookery/lmtp"
	"github.com/rookery-mail/rookery/replication"
	"github.com/rookery-mail/rookery/spool"
)

// startRoles waits until the directory can serve a synced read (the
// cluster has a leader and this node has caught up), then starts the
// backend and frontend roles the config names.
func (n *node) startRoles(ctx context.Context, log *slog.Logger) error {
	if err := n.waitForDirectory(ctx, log); err != nil {
		return err
	}
	if n.cfg.Has(roleBackend) {
		if err := n.startBackend(ctx, log.With("role", "backend")); err != nil {
			return fmt.Errorf("backend: %w", err)
		}
	}
	if n.cfg.Has(roleFrontend) {
		if err := n.startFrontend(log.With("role", "frontend")); err != nil {
			return fmt.Errorf("frontend: %w", err)
		}
	}
	if err := n.startAdminHTTP(n.cfg.AdminAddr, log.With("component", "admin_http")); err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}

func (n *node) waitForDirectory(ctx context.Context, log *slog.Logger) error {
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := n.dir.SyncedRead(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt%6 == 0 {
			log.Info("waiting for the directory to have a leader", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (n *node) startBackend(ctx context.Context, log *slog.Logger) error {
	store, err := spool.Open(spool.Options{
		Dir:             filepath.Join(n.cfg.DataDir, "spool"),
		MaxMessageBytes: n.cfg.Backend.MaxMessageBytes,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	n.closers = append(n.closers, store.Close)
	n.store = store
	b, err := backend.New(backend.Config{
		ID:            n.cfg.Backend.ID,
		Store:         store,
		Directory:     n.dir,
		ClusterSecret: n.cfg.ClusterSecret,
		IMAPAddr:      n.cfg.Backend.IMAPAddr,
		LMTPAddr:      n.cfg.Backend.LMTPAddr,
		IMAPAdvertise: n.cfg.Backend.IMAPAdvertise,
		LMTPAdvertise: n.cfg.Backend.LMTPAdvertise,
		APIAddr:       n.dir.APIAddr(),
		NodeTLS:       n.tls.server,
		ReplicaHTTPClient: &http.Client{Transport: &http.Transport{
			DialContext:         n.nodeDial(),
			MaxIdleConnsPerHost: 16,
		}},
		ReplicationFactor: n.cfg.Backend.ReplicationFactor,
		// Frontends log in to backends over the node network: in mutual
		// TLS when tls.node_dir is set, else in plaintext on a network the
		// operator keeps private.
		AllowPlaintextAuth: true,
		Logger:             log,
	})
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		b.Close()
		return err
	}
	n.backend = b
	n.closers = append(n.closers, b.Close)
	b.Routes(n.dir.Handle)
	return nil
}

func (n *node) startFrontend(log *slog.Logger) error {
	fc := n.cfg.Frontend
	ic := imapfront.Default()
	ic.Directory = n.dir
	if os.Getenv(envFaultSkipSyncedRead) == "1" {
		log.Warn("fault injection: the IMAP frontend trusts its local directory copy however stale",
			"env", envFaultSkipSyncedRead)
		ic.Directory = staleDirectory{n.dir}
	}
	ic.ClusterSecret = n.cfg.ClusterSecret
	ic.TLS = n.tls.clients
	ic.Observer = n.metrics
	// RENAME a b SERVER asks the mailbox's primary to move it; a move
	// streams its progress for as long as it takes, so no overall timeout.
	ic.Mover = replication.RemoteMover{Directory: n.dir, Secret: n.cfg.ClusterSecret,
		HTTP: &http.Client{Transport: &http.Transport{DialContext: n.nodeDial()}}}
	ic.AllowPlaintextLogin = fc.AllowPlaintextLogin
	ic.MaxLiteralBytes = fc.MaxMessageBytes
	ic.Logger = log.With("component", "imap")
	ic.Dial = n.nodeDial()
	front, err := imapfront.New(ic)
	if err != nil {
		return err
	}
	if err := n.serve(fc.IMAPAddr, "tcp", n.counted("imap", front.Serve), front.Close); err != nil {
		front.Close()
		return err
	}
	if fc.IMAPSAddr != "" {
		// Implicit TLS (port 993): the session sees a *tls.Conn and counts
		// itself encrypted from the first byte.
		imaps := func(ln net.Listener) error { return front.Serve(tls.NewListener(ln, n.tls.clients)) }
		if err := n.serve(fc.IMAPSAddr, "tcp", n.counted("imaps", imaps), func() error { return nil }); err != nil {
			return err
		}
	}
	lc := lmtp.Default()
	lc.Directory = n.dir
	lc.Hostname = n.cfg.NodeID
	lc.Domains = fc.Domains
	lc.MaxMessageBytes = fc.MaxMessageBytes
	lc.Logger = log.With("component", "lmtp")
	lc.Dial = n.nodeDial()
	lc.TLS = n.tls.clients
	lc.Observer = n.metrics
	proxy, err := lmtp.New(lc)
	if err != nil {
		return err
	}
	if err := n.serve(fc.LMTPAddr, "tcp", n.counted("lmtp", proxy.Serve), proxy.Close); err != nil {
		proxy.Close()
		return err
	}
	if fc.LMTPSocket != "" {
		os.Remove(fc.LMTPSocket) // a socket left by a process that died
		if err := n.serve(fc.LMTPSocket, "unix", n.counted("lmtp_socket", proxy.Serve), func() error { return nil }); err != nil {
			return err
		}
		// An MTA's delivery agent runs as its own user (Postfix's as
		// "postfix"); it needs write permission on the socket.
		mode, _ := strconv.ParseUint(fc.LMTPSocketMode, 8, 32)
		if err := os.Chmod(fc.LMTPSocket, os.FileMode(mode)); err != nil {
			return err
		}
	}
	return nil
}

// envFaultSkipSyncedRead names the fault-injection switch with which the
// jepsen harness shows that its checkers catch a frontend answering from a
// stale directory: never set it on a real cluster.
const envFaultSkipSyncedRead = "ROOKERY_FAULT_SKIP_SYNCED_READ"

// staleDirectory is the local directory with its freshness checks removed:
// a SELECT of a name the local copy lacks says NONEXISTENT at once.
type staleDirectory struct{ *directory.Node }

var _ imapfront.Directory = staleDirectory{}

func (staleDirectory) SyncedRead(context.Context) error { return nil }
func (staleDirectory) FreshRead(context.Context) error  { return nil }

// serve listens on addr and runs serveFn in a goroutine that stop ends.
func (n *node) serve(addr, network string, serveFn func(net.Listener) error, stop func() error) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveFn(ln)
	}()
	n.closers = append(n.closers, func() error {
		err := stop()
		ln.Close()
		<-done
		return err
	})
	return nil
}

// addUser adds a user through the directory.
func (n *node) addUser(ctx context.Context, name, password string) error {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	res, err := n.dir.Apply(ctx, fsm.UserAdd{Name: name, PasswordHash: hash, At: time.Now().UnixNano()})
	if err == nil {
		err = res.Err
	}
	return err
}

// ensureInbox creates user's INBOX on this node's backend unless it exists.
func (n *node) ensureInbox(ctx context.Context, user string) error {
	if _, ok := n.dir.FSM().Mailbox(fsm.Inbox(user)); ok {
		return nil
	}
	if n.backend == nil {
		return errors.New("this node runs no backend")
	}
	_, err := n.backend.Create(ctx, fsm.Inbox(user), "")
	if errors.Is(err, fsm.ErrNameExists) {
		return nil
	}
	return err
}
