package imapfront

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
)

// cmdAuthenticate supports SASL PLAIN, with or without an initial response.
func (s *session) cmdAuthenticate(cmd *Command) bool {
	a := cmd.argReader()
	mech, err := a.atom()
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	if mech != "PLAIN" {
		s.tagged(cmd.Tag, "NO", "unsupported authentication mechanism")
		return true
	}
	var resp string
	if a.sp() {
		_, resp, err = a.next()
		if err == nil {
			err = a.done()
		}
		if err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
	} else {
		s.bw.WriteString("+ \r\n")
		if s.flush() != nil {
			return false
		}
		line, err := s.wr.readLine(nil)
		if err != nil {
			return s.readFailed(s.wr.resync(&Command{Tag: cmd.Tag}, err))
		}
		resp = string(bytes.TrimSuffix(line, []byte("\r\n")))
	}
	if resp == "*" {
		s.tagged(cmd.Tag, "BAD", "authentication cancelled")
		return true
	}
	if resp == "=" {
		resp = ""
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	parts := bytes.Split(raw, []byte{0})
	if err != nil || len(parts) != 3 {
		s.tagged(cmd.Tag, "BAD", "malformed SASL PLAIN response")
		return true
	}
	authz, user, pw := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && !strings.EqualFold(authz, user) {
		// Acting for another user is for frontends at backends, not clients.
		s.loginFailure(cmd.Tag, user, errors.New("authorization id differs"))
		return true
	}
	return s.login(cmd.Tag, user, pw)
}
