package backend

import (
	"github.com/rookery-mail/rookery/backend/lmtpd"
	"github.com/rookery-mail/rookery/backend/quota"
)

// newLMTP builds the backend's LMTP server over the same store and
// directory as its IMAP server.
func newLMTP(cfg Config, meter *quota.Meter) (*lmtpd.Server, error) {
	lc := lmtpd.Default()
	lc.BackendID = cfg.ID
	lc.Directory = cfg.Directory
	lc.Store = cfg.Store
	lc.MaxMessageBytes = cfg.MaxMessageBytes
	lc.Logger = cfg.Logger
	lc.Quota = meter
	return lmtpd.New(lc)
}
