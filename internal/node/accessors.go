package node

import (
	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/imapfront"
	"github.com/rookery-mail/rookery/lmtp"
	"github.com/rookery-mail/rookery/metrics"
	"github.com/rookery-mail/rookery/spool"
)

// The names of the node's listeners, as Addr takes them; the client
// listeners' connections are counted in the metrics under the same names.
const (
	ListenIMAP       = "imap"
	ListenIMAPS      = "imaps"
	ListenLMTP       = "lmtp"
	ListenPOP3       = "pop3"
	ListenPOP3S      = "pop3s"
	ListenLMTPSocket = "lmtp_socket"
	ListenAdmin      = "admin"
)

// Config is the node's configuration, as Validate completed it.
func (n *Node) Config() Config { return n.cfg }

// Directory is the node's directory node.
func (n *Node) Directory() *directory.Node { return n.dir }

// Metrics is the node's Observer and Prometheus registry.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// Store is the backend's spool; nil before Start or without the backend
// role.
func (n *Node) Store() *spool.Store { return n.store }

// Backend is the backend role; nil before Start or without it.
func (n *Node) Backend() *backend.Backend { return n.backend }

// IMAP is the frontend's IMAP proxy; nil before Start or without the
// frontend role.
func (n *Node) IMAP() *imapfront.Server { return n.imap }

// LMTP is the frontend's LMTP proxy; nil before Start or without the
// frontend role.
func (n *Node) LMTP() *lmtp.Server { return n.lmtp }

// Addr is the bound address of the listener name (one of the Listen
// names), so a config may ask for port 0; empty when the node serves
// none.
func (n *Node) Addr(name string) string {
	if a, ok := n.bound[name]; ok {
		return a.String()
	}
	return ""
}
