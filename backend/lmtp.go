package backend

import (
	"github.com/rookery-mail/rookery/backend/lmtpd"
)

// newLMTP builds the backend's LMTP server over the same store and
// directory as its IMAP server.
func newLMTP(cfg Config) (*lmtpd.Server, error) {
	lc := lmtpd.Default()
	lc.BackendID = cfg.ID
	lc.Directory = cfg.Directory
	lc.Store = cfg.Store
	lc.MaxMessageBytes = cfg.MaxMessageBytes
	lc.Logger = cfg.Logger
	return lmtpd.New(lc)
}
