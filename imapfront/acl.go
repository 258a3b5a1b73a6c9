package imapfront

import (
	"fmt"
	"strings"

	"github.com/rookery-mail/rookery/fsm"
)

// ACL commands (RFC 4314), answered from and written to the directory.

// cmdSetACL answers SETACL and DELETEACL. The modification is checked
// here (a bad right or identifier is BAD, with no directory round trip)
// and applied by the directory to the rights it holds (fsm.ModifyACL), so
// that two concurrent "+r" and "+w" both hold.
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
	var change fsm.ModifyACL
	if err == nil {
		change, err = aclChange(name, ident, mod)
	}
	var m *fsm.Mailbox
	if err == nil {
		m, err = s.lookup(name)
	}
	if err == nil {
		err = s.need(m, 'a')
	}
	if err == nil {
		err = s.apply(change)
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	s.ok(cmd.Tag, cmd.Name+" completed")
	return true
}

// aclChange is the directory command for SETACL's (or, with mod "",
// DELETEACL's) arguments; a malformed one is ErrSyntax.
func aclChange(name, ident, mod string) (fsm.ModifyACL, error) {
	id, err := fsm.CanonicalIdentifier(ident)
	if err != nil {
		return fsm.ModifyACL{}, fmt.Errorf("%w: bad identifier", ErrSyntax)
	}
	mode, rights, err := fsm.ParseRightsModification(mod)
	if err != nil {
		return fsm.ModifyACL{}, fmt.Errorf("%w: bad rights", ErrSyntax)
	}
	return fsm.ModifyACL{Name: name, Identifier: id, Mode: mode, Rights: rights}, nil
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
