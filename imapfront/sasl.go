package imapfront

import (
	"bytes"
	"encoding/base64"
)

// AUTHENTICATE: SASL PLAIN (RFC 4616), with an authorization id for admins,
// and LOGIN (draft-murchison-sasl-login), each with or without an initial
// response (SASL-IR, RFC 4959). Both end in login, so the limits and the
// throttling of failed logins are those of the LOGIN command.

// saslMechanisms are the mechanisms the frontend offers, in AUTH= order.
var saslMechanisms = []string{"PLAIN", "LOGIN"}

// The LOGIN mechanism's challenges, base64 of "Username:" and "Password:".
const (
	loginUserChallenge = "VXNlcm5hbWU6"
	loginPassChallenge = "UGFzc3dvcmQ6"
)

func (s *session) cmdAuthenticate(cmd *Command) bool {
	a := cmd.argReader()
	mech, err := a.atom()
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	x := &saslExchange{s: s, tag: cmd.Tag}
	if a.sp() {
		_, x.initial, err = a.next()
		if err == nil {
			err = a.done()
		}
		if err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
		x.hasInitial = true
	}
	switch mech {
	case "PLAIN":
		return s.authPlain(x)
	case "LOGIN":
		return s.authLogin(x)
	}
	s.tagged(cmd.Tag, "NO", "unsupported authentication mechanism")
	return true
}

func (s *session) authPlain(x *saslExchange) bool {
	raw, ok, keep := x.step("")
	if !ok {
		return keep
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 {
		s.tagged(x.tag, "BAD", "malformed SASL PLAIN response")
		return true
	}
	return s.login(x.tag, credentials{authz: string(parts[0]), user: string(parts[1]), pw: string(parts[2])})
}

func (s *session) authLogin(x *saslExchange) bool {
	user, ok, keep := x.step(loginUserChallenge)
	if !ok {
		return keep
	}
	pw, ok, keep := x.step(loginPassChallenge)
	if !ok {
		return keep
	}
	return s.login(x.tag, credentials{user: string(user), pw: string(pw)})
}

// saslExchange is one AUTHENTICATE command's exchange of challenges and
// responses.
type saslExchange struct {
	s          *session
	tag        string
	initial    string // the initial response, base64, when hasInitial
	hasInitial bool
}

// step returns the client's next response, decoded. The first step takes
// the initial response when the command carried one; any other step sends
// challenge as a continuation and reads the answer. When ok is false the
// command has been answered and keep says whether the session goes on.
func (x *saslExchange) step(challenge string) (resp []byte, ok, keep bool) {
	s := x.s
	line := x.initial
	if x.hasInitial {
		x.hasInitial = false
	} else {
		s.bw.WriteString("+ " + challenge + "\r\n")
		if s.flush() != nil {
			return nil, false, false
		}
		b, err := s.wr.readLine(nil)
		if err != nil {
			return nil, false, s.readFailed(s.wr.resync(&Command{Tag: x.tag}, err))
		}
		line = string(bytes.TrimSuffix(b, []byte("\r\n")))
	}
	switch line {
	case "*":
		s.tagged(x.tag, "BAD", "authentication cancelled")
		return nil, false, true
	case "=":
		return nil, true, true
	}
	resp, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		s.tagged(x.tag, "BAD", "malformed SASL response")
		return nil, false, true
	}
	return resp, true, true
}

// authMechanisms is the AUTH= part of the capabilities.
func authMechanisms() []string {
	caps := make([]string, len(saslMechanisms))
	for i, m := range saslMechanisms {
		caps[i] = "AUTH=" + m
	}
	return caps
}
