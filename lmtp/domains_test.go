package lmtp_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

// Once the directory names its domains, a recipient in any other domain is
// refused with 550 5.1.2 at RCPT (before, demo@any.domain reached demo),
// users of the default domain are reached without a domain of their own,
// users named with a domain only in it, and an alias reaches its user,
// +detail and all; the backend resolves the address as the proxy did.
func TestDeliveryByDomainAndAlias(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 2, Frontends: 1})
	c.AddUser("alice", 0)
	c.AddUser("carol@example.net", 1)
	addr := c.Frontends[0].LMTPAddr

	// No domains yet: every domain is served, as before.
	if codes := send(t, addr, []string{"alice@any.domain"}, message("d0")); codes["alice@any.domain"] != 250 {
		t.Fatalf("before domains: %v", codes)
	}
	c.Apply(fsm.DomainAdd{Name: "example.org", Default: true})
	c.Apply(fsm.DomainAdd{Name: "example.net"})
	c.Apply(fsm.AliasAdd{Address: "postmaster@example.net", User: "alice"})
	c.Apply(fsm.AliasAdd{Address: "sales@example.org", User: "carol@example.net"})
	c.Create(1, "user/carol@example.net/Leads")
	c.Apply(fsm.SetACL{Name: "user/carol@example.net/Leads", Identifier: "anyone", Rights: "p"})

	codes := send(t, addr, []string{
		"alice@any.domain",        // a domain not served
		"alice@example.org",       // the default domain's user
		"alice@example.net",       // alice is not a user of example.net
		"carol@example.net",       // a user named with its domain
		"postmaster@example.net",  // an alias of alice: alice has it once
		"sales+Leads@example.org", // an alias with a detail: carol's folder
	}, message("d1"))
	want := map[string]int{"alice@any.domain": 550, "alice@example.org": 250, "alice@example.net": 550,
		"carol@example.net": 250, "postmaster@example.net": 250, "sales+Leads@example.org": 250}
	for r, w := range want {
		if codes[r] != w {
			t.Errorf("%s: got %d, want %d", r, codes[r], w)
		}
	}
	if n := inboxCount(t, c, "alice"); n != 2 {
		t.Errorf("alice has %d messages, want 2 (one before domains, one for two addresses)", n)
	}
	if n := inboxCount(t, c, "carol@example.net"); n != 1 {
		t.Errorf("carol has %d messages in her INBOX, want 1", n)
	}
	if n := c.MessageCount("user/carol@example.net/Leads"); n != 1 {
		t.Errorf("carol's Leads has %d messages, want 1", n)
	}

	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks is not installed: skipping its part of the test")
	}
	out, _ := exec.Command(swaks, "--protocol", "LMTP", "--server", addr,
		"--from", "s@example.org", "--to", "demo@any.domain", "--timeout", "30").CombinedOutput()
	if !strings.Contains(string(out), "<** 550 5.1.2") {
		t.Fatalf("swaks to a foreign domain saw no 550 5.1.2:\n%s", out)
	}
	out, err = exec.Command(swaks, "--protocol", "LMTP", "--server", addr,
		"--from", "s@example.org", "--to", "postmaster@example.net", "--timeout", "30").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "<-  250 2.0.0") {
		t.Fatalf("swaks to an alias: %v\n%s", err, out)
	}
	if n := inboxCount(t, c, "alice"); n != 3 {
		t.Errorf("alice has %d messages after swaks, want 3", n)
	}
}
