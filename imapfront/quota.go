package imapfront

import (
	"context"
	"fmt"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// QuotaRoot is the name of a user's one quota root, as Dovecot names its
// default root. Each user sees only their own.
const QuotaRoot = "User quota"

// Quotas reads what a user's mailboxes hold on every backend, under the
// placement of dir, for GETQUOTA and GETQUOTAROOT (RFC 9208).
type Quotas interface {
	Usage(ctx context.Context, dir *fsm.View, user string) (bytes, messages int64, err error)
}

// quotaCapabilities are the RFC 9208 capabilities offered after login:
// storage is the one resource limited (fsm.User.QuotaBytes).
func (s *session) quotaCapabilities() []string {
	if s.cfg.Quotas == nil {
		return nil
	}
	return []string{"QUOTA", "QUOTA=RES-STORAGE"}
}

// cmdGetQuotaRoot is GETQUOTAROOT (RFC 9208 section 4.3.2): the session
// user's root for a mailbox of theirs they can see, none for another's.
func (s *session) cmdGetQuotaRoot(cmd *Command) bool {
	a := cmd.argReader()
	name, err := s.mailboxArg(a)
	if err == nil {
		err = a.done()
	}
	if err == nil {
		_, err = s.lookup(name)
	}
	var v *fsm.View
	var limit int64
	if err == nil {
		v, limit, err = s.quotaOf()
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	ext := s.externalName(name)
	if limit == 0 || fsm.Owner(name) != s.user {
		s.untagged("QUOTAROOT %s", ext)
		s.ok(cmd.Tag, "GETQUOTAROOT completed")
		return true
	}
	line, err := s.quotaLine(v, limit)
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	s.untagged("QUOTAROOT %s %s", ext, quote(QuotaRoot))
	s.untagged("%s", line)
	s.ok(cmd.Tag, "GETQUOTAROOT completed")
	return true
}

// cmdGetQuota is GETQUOTA (RFC 9208 section 4.3.1) of the session user's
// root; any other root does not exist.
func (s *session) cmdGetQuota(cmd *Command) bool {
	a := cmd.argReader()
	root, err := a.astring()
	if err == nil {
		err = a.done()
	}
	var v *fsm.View
	var limit int64
	if err == nil {
		v, limit, err = s.quotaOf()
	}
	if err == nil && (root != QuotaRoot || limit == 0) {
		err = fmt.Errorf("%w: %q", errNoQuotaRoot, root)
	}
	var line string
	if err == nil {
		line, err = s.quotaLine(v, limit)
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	s.untagged("%s", line)
	s.ok(cmd.Tag, "GETQUOTA completed")
	return true
}

// cmdSetQuota refuses SETQUOTA (RFC 9208 section 4.3.3 lets a server):
// quotas are set by administrators, with `rookery admin user quota`.
func (s *session) cmdSetQuota(cmd *Command) bool {
	a := cmd.argReader()
	_, err := a.astring()
	if err == nil {
		_, err = a.list(false)
	}
	if err == nil {
		err = a.done()
	}
	if err == nil {
		err = errQuotaByAdmin
	}
	s.fail(cmd.Tag, err)
	return true
}

// quotaOf is a synced view, so that the usage follows every move and
// failover acknowledged before, and the session user's limit in bytes.
func (s *session) quotaOf() (*fsm.View, int64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	v, err := s.cfg.Directory.Read(ctx, directory.Synced)
	if err != nil {
		return nil, 0, err
	}
	u, ok := v.User(s.user)
	if !ok {
		return v, 0, nil
	}
	return v, u.QuotaBytes, nil
}

// quotaLine is the QUOTA response of the session user's root. STORAGE is
// in units of 1024 octets (RFC 9208 section 5.1): usage rounded up and the
// limit down, so the answer never shows room that is not there.
func (s *session) quotaLine(v *fsm.View, limit int64) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.BackendTimeout)
	defer cancel()
	used, _, err := s.cfg.Quotas.Usage(ctx, v, s.user)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("QUOTA %s (STORAGE %d %d)", quote(QuotaRoot), (used+1023)/1024, limit/1024), nil
}

// quotaCommand runs the RFC 9208 commands.
func (s *session) quotaCommand(cmd *Command) bool {
	switch cmd.Name {
	case "GETQUOTAROOT":
		return s.cmdGetQuotaRoot(cmd)
	case "GETQUOTA":
		return s.cmdGetQuota(cmd)
	}
	return s.cmdSetQuota(cmd)
}
