package node

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/spool"
)

func (n *Node) startBackend(ctx context.Context, log *slog.Logger) error {
	bc := n.cfg.Backend
	store, err := spool.Open(spool.Options{
		Dir:             filepath.Join(n.cfg.DataDir, "spool"),
		MaxMessageBytes: bc.MaxMessageBytes,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	n.closers = append(n.closers, store.Close)
	n.store = store
	var replicas http.RoundTripper = clusterapi.Transport(n.cfg.dialer(), n.cfg.TLS.Client)
	if bc.ReplicaTransport != nil {
		replicas = bc.ReplicaTransport(replicas)
	}
	b, err := backend.New(backend.Config{
		ID:                bc.ID,
		Store:             store,
		Directory:         n.dir,
		ClusterSecret:     n.cfg.ClusterSecret,
		IMAPAddr:          bc.IMAPAddr,
		LMTPAddr:          bc.LMTPAddr,
		POP3Addr:          bc.POP3Addr,
		IMAPAdvertise:     bc.IMAPAdvertise,
		LMTPAdvertise:     bc.LMTPAdvertise,
		APIAddr:           n.dir.APIAddr(),
		NodeTLS:           n.cfg.TLS.Server,
		ReplicaHTTPClient: &http.Client{Transport: replicas},
		ReplicationFactor: bc.ReplicationFactor,
		ReplicaTimeout:    bc.ReplicaTimeout,
		CatchUpInterval:   bc.CatchUpInterval,
		RestoreAfter:      bc.RestoreAfter,
		GatherInterval:    bc.GatherInterval,
		QuotaCacheFor:     bc.QuotaCacheFor,
		// Frontends log in to backends over the node network: in mutual
		// TLS when the node has TLS, else in plaintext on a network the
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
