package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/testcluster"
)

func TestAdminDomainsAndAliases(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Backends: 1, Frontends: 1})
	t.Setenv("ROOKERY_CLUSTER_SECRET", testcluster.Secret)
	c.AddUser("alice", 0)
	admin := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		a := append([]string{"--addr", c.Voters[0].APIAddr(), "--timeout", "1m"}, args...)
		err := runAdmin(a, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	steps := []struct {
		args []string
		want string // in the output; "!" first: the command fails
	}{
		{[]string{"domain", "list"}, "every domain is served"},
		{[]string{"alias", "add", "info@example.org", "alice"}, "!domain not served"},
		{[]string{"domain", "add", "Example.org"}, "serving Example.org ("},
		{[]string{"domain", "add", "example.org"}, "serving example.org already"},
		{[]string{"domain", "add", "example.net"}, "serving example.net ("},
		{[]string{"domain", "add", "bad_domain"}, "!invalid mail domain"},
		{[]string{"domain", "list"}, "example.org  default"},
		{[]string{"alias", "add", "info@example.net", "alice"}, "info@example.net delivers to alice ("},
		{[]string{"alias", "add", "info@example.net", "alice"}, "delivers to alice already"},
		{[]string{"alias", "add", "alice@example.org", "alice"}, "!address taken"},
		{[]string{"alias", "add", "x@example.net", "nobody"}, "!no such user"},
		{[]string{"alias", "list", "alice"}, "info@example.net  alice"},
		{[]string{"domain", "remove", "example.net"}, "!domain in use"},
		{[]string{"alias", "remove", "info@example.net"}, "removed alias info@example.net"},
		{[]string{"alias", "remove", "info@example.net"}, "!no such alias"},
		{[]string{"domain", "remove", "example.net"}, "stopped serving example.net"},
		{[]string{"alias"}, "!unknown command"},
	}
	for _, s := range steps {
		out, err := admin(s.args...)
		want, fails := strings.CutPrefix(s.want, "!")
		if fails != (err != nil) || !strings.Contains(out+errString(err), want) {
			t.Fatalf("admin %s: %v\n%s\nwant %q", strings.Join(s.args, " "), err, out, s.want)
		}
	}
	out, err := admin("--json", "domain", "list")
	var domains []fsm.Domain
	if err != nil || json.Unmarshal([]byte(out), &domains) != nil || len(domains) != 1 || domains[0] != (fsm.Domain{Name: "example.org", Default: true}) {
		t.Fatalf("domain list --json: %v\n%s", err, out)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
