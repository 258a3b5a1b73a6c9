package fsm

import (
	"fmt"
	"net/netip"
	"strings"
)

// Recipient addresses, parsed once for the LMTP proxy and the backend's
// LMTP server, so both read an address the same way.

// RFC 5321 section 4.5.3.1 limits.
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxLabel     = 63 // RFC 1035
)

// Recipient is an envelope recipient, local-part@domain.
type Recipient struct {
	Local  string // the whole local part, as given
	User   string // the local part before its first '+'
	Detail string // after the first '+' ("+detail", a folder of User's); "" when none
	Domain string // in lower case; an address literal keeps its brackets
}

// ParseRecipient reads an RFC 5321 Mailbox (section 4.1.2): a dot-string
// local part, '@', and a domain or an address literal; ErrBadAddress when
// it is none. A quoted local part is refused as well: no user name could
// match one. The local part splits at its first '+' into User and Detail.
func ParseRecipient(addr string) (Recipient, error) {
	bad := func(why string) (Recipient, error) {
		return Recipient{}, fmt.Errorf("%w: %q: %s", ErrBadAddress, addr, why)
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return bad("no domain")
	}
	local, domain := addr[:at], addr[at+1:]
	switch {
	case local == "":
		return bad("empty local part")
	case strings.HasPrefix(local, `"`):
		return bad("quoted local part")
	case len(local) > maxLocalPart:
		return bad("local part too long")
	case !dotString(local):
		return bad("local part is not a dot-string")
	}
	if err := checkDomain(domain); err != "" {
		return bad(err)
	}
	r := Recipient{Local: local, Domain: strings.ToLower(domain)}
	r.User, r.Detail, _ = strings.Cut(local, "+")
	return r, nil
}

// Users lists the user names the recipient may be in a directory with no
// mail domains (View.Deliver has the rule with them), each canonical, most
// specific first: the whole address User@Domain (sites with a namespace
// of users per domain), then User alone. Names that cannot be user names
// are left out, so the list may be empty.
func (r Recipient) Users() []string {
	var out []string
	for _, name := range []string{r.User + "@" + r.Domain, r.User} {
		if u, err := CanonicalUser(name); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// dotString: Atom *("." Atom), where an atom is one or more atext.
func dotString(s string) bool {
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if !atext(atom[i]) {
				return false
			}
		}
	}
	return true
}

// atext is RFC 5322's: letters, digits and !#$%&'*+-/=?^_`{|}~.
func atext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// checkDomain says what is wrong with domain ("" when nothing): RFC 5321's
// sub-domain *("." sub-domain), or an IPv4 or IPv6 address literal.
func checkDomain(domain string) string {
	switch {
	case domain == "":
		return "empty domain"
	case len(domain) > maxDomain:
		return "domain too long"
	case strings.HasPrefix(domain, "["):
		if !addressLiteral(domain) {
			return "bad address literal"
		}
		return ""
	}
	for _, label := range strings.Split(domain, ".") {
		if !subDomain(label) {
			return "bad domain"
		}
	}
	return ""
}

// subDomain: Let-dig [Ldh-str], at most 63 octets.
func subDomain(s string) bool {
	if s == "" || len(s) > maxLabel || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// addressLiteral: "[" IPv4 "]" or "[IPv6:" IPv6 "]".
func addressLiteral(s string) bool {
	inner, ok := strings.CutSuffix(strings.TrimPrefix(s, "["), "]")
	if !ok {
		return false
	}
	if v6, ok := cutPrefixFold(inner, "IPv6:"); ok {
		a, err := netip.ParseAddr(v6)
		return err == nil && a.Is6() && a.Zone() == ""
	}
	a, err := netip.ParseAddr(inner)
	return err == nil && a.Is4()
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
