package imapfront

import (
	"strconv"
	"strings"

	"github.com/rookery-mail/rookery/fsm"
)

// mailboxArg reads a mailbox argument and returns its internal name.
func (s *session) mailboxArg(a *argReader) (string, error) {
	raw, err := a.astring()
	if err != nil {
		return "", err
	}
	return s.internalName(raw)
}

// internalName turns a name as the client spelled it into the canonical
// internal name.
func (s *session) internalName(raw string) (string, error) {
	name, err := s.decodeName(raw)
	if err != nil {
		return "", err
	}
	return fsm.Internal(s.user, name)
}

func (s *session) decodeName(raw string) (string, error) {
	if s.utf8 {
		return raw, nil
	}
	return decodeUTF7(raw)
}

// externalName is the quoted name the client sees for an internal name.
func (s *session) externalName(internal string) string {
	return s.quoteName(fsm.External(s.user, internal))
}

func (s *session) quoteName(name string) string {
	if !s.utf8 {
		name = encodeUTF7(name)
	}
	return quote(name)
}

// quote renders s as an IMAP quoted string, or a literal when it holds CR
// or LF (which a valid name never does).
func quote(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		return "{" + strconv.Itoa(len(s)) + "}\r\n" + s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// visible: the user may see m in LIST.
func visible(user string, m *fsm.Mailbox) bool {
	return m.State == fsm.Active && fsm.HasRight(user, m, 'l')
}
