package imapfront

import (
	"fmt"
	"strings"

	"github.com/rookery-mail/rookery/fsm"
)

// ACL commands (RFC 4314), answered from and written to the directory.

func (s *session) cmdSetACL(cmd *Command) bool {
	a := cmd.argReader()
	name, err := s.mailboxArg(a)
	var ident, mod string
	if err == nil {
		ident, err = a.astring()
	}
	if err == nil && cmd.Name == "SETACL" {
		mod, err = a.astring()
	}
	if err == nil {
		err = a.done()
	}
	var m *fsm.Mailbox
	if err == nil {
		ident, err = canonIdentifier(ident)
	}
	if err == nil {
		m, err = s.lookup(name)
	}
	if err == nil {
		err = s.need(m, 'a')
	}
	if err == nil {
		err = s.apply(fsm.SetACL{Name: name, Identifier: ident, Rights: applyRights(current(m, ident), mod)})
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	s.ok(cmd.Tag, cmd.Name+" completed")
	return true
}

func canonIdentifier(id string) (string, error) {
	if strings.EqualFold(id, "anyone") {
		return "anyone", nil
	}
	u, err := fsm.CanonicalUser(id)
	if err != nil {
		return "", fmt.Errorf("%w: bad identifier", ErrSyntax)
	}
	return u, nil
}

func current(m *fsm.Mailbox, ident string) string {
	for _, ace := range m.ACL {
		if ace.Identifier == ident {
			return ace.Rights
		}
	}
	return ""
}

// applyRights applies a SETACL modification: "+r" adds, "-r" removes,
// anything else replaces; "" (DELETEACL) removes the entry.
func applyRights(cur, mod string) string {
	switch {
	case mod == "":
		return ""
	case mod[0] == '+':
		return cur + mod[1:]
	case mod[0] == '-':
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune(mod[1:], r) {
				return -1
			}
			return r
		}, cur)
	}
	return mod
}

func (s *session) cmdGetACL(cmd *Command) bool {
	a := cmd.argReader()
	name, err := s.mailboxArg(a)
	var ident string
	if err == nil && cmd.Name == "LISTRIGHTS" {
		ident, err = a.astring()
	}
	if err == nil {
		err = a.done()
	}
	var m *fsm.Mailbox
	if err == nil {
		m, err = s.lookup(name)
	}
	if err == nil && cmd.Name != "MYRIGHTS" {
		err = s.need(m, 'a')
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	ext := s.externalName(name)
	switch cmd.Name {
	case "GETACL":
		var b strings.Builder
		if owner := fsm.Owner(name); owner != "" {
			fmt.Fprintf(&b, " %s %s", quote(owner), fsm.AllRights)
		}
		for _, ace := range m.ACL {
			fmt.Fprintf(&b, " %s %s", quote(ace.Identifier), quote(ace.Rights))
		}
		s.untagged("ACL %s%s", ext, b.String())
	case "MYRIGHTS":
		s.untagged("MYRIGHTS %s %s", ext, quote(fsm.Rights(s.user, m)))
	case "LISTRIGHTS":
		if fsm.Owner(name) == strings.ToLower(ident) {
			s.untagged("LISTRIGHTS %s %s %s", ext, quote(ident), fsm.AllRights)
		} else {
			s.untagged(`LISTRIGHTS %s %s "" l r s w i p k x t e a`, ext, quote(ident))
		}
	}
	s.ok(cmd.Tag, cmd.Name+" completed")
	return true
}
