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
	return string(s.appendName(nil, name))
}

// appendName appends name as the client sees it: quoted, in modified
// UTF-7 unless the client enabled UTF8=ACCEPT.
func (s *session) appendName(b []byte, name string) []byte {
	if !s.utf8 {
		name = encodeUTF7(name)
	}
	return appendQuoted(b, name)
}

// quote renders s as an IMAP quoted string, or a literal when it holds CR
// or LF (which a valid name never does).
func quote(s string) string { return string(appendQuoted(nil, s)) }

func appendQuoted(b []byte, s string) []byte {
	if strings.IndexByte(s, '\r') >= 0 || strings.IndexByte(s, '\n') >= 0 {
		b = append(b, '{')
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, "}\r\n"...)
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// visible: the user may see m in LIST.
func visible(user string, m *fsm.Mailbox) bool {
	return m.State == fsm.Active && fsm.HasRight(user, m, 'l')
}
