package imapfront

import (
	"slices"
	"testing"
)

// TestHierarchy: CREATE with a trailing separator creates the name
// (RFC 3501 section 6.3.3); a name with children but no mailbox (its
// parents never created, or DELETEd with children, section 6.3.4) is
// \Noselect in LIST and \NonExistent under LIST-EXTENDED (RFC 5258
// section 3.4); LSUB "%" shows the unsubscribed parent of a subscribed
// mailbox as \Noselect (section 6.3.9); RECURSIVEMATCH gives such a
// parent CHILDINFO (RFC 5258 section 3.5). As Dovecot answers.
func TestHierarchy(t *testing.T) {
	cl := startTestCluster(t, 1, 1)
	cl.addUser("alice", 0)
	rc := loggedIn(t, cl.frontends[0], "alice")
	rc.collect("c1", "CREATE foo/", "OK")
	rc.collect("c2", "CREATE a/b/c", "OK")
	rc.collect("c3", "CREATE x/y", "OK")
	rc.collect("c4", "CREATE x/y/z", "OK")
	rc.collect("d1", "DELETE x/y", "OK")
	rc.collect("s1", "SUBSCRIBE a/b/c", "OK")
	rc.collect("s2", "SUBSCRIBE x/y/z", "OK")
	for _, tc := range []struct {
		cmd, tag string
		want     []string
	}{
		{`LIST "" foo*`, "l1", []string{`* LIST (\HasNoChildren) "/" "foo"`}},
		{`LIST "" %`, "l2", []string{
			`* LIST (\HasNoChildren) "/" "INBOX"`,
			`* LIST (\Noselect \HasChildren) "/" "a"`,
			`* LIST (\HasNoChildren) "/" "foo"`,
			`* LIST (\Noselect \HasChildren) "/" "x"`,
		}},
		{`LIST "" x*`, "l3", []string{
			`* LIST (\Noselect \HasChildren) "/" "x"`,
			`* LIST (\Noselect \HasChildren) "/" "x/y"`,
			`* LIST (\HasNoChildren) "/" "x/y/z"`,
		}},
		{`LIST "" a* RETURN (CHILDREN)`, "l4", []string{
			`* LIST (\NonExistent \HasChildren) "/" "a"`,
			`* LIST (\NonExistent \HasChildren) "/" "a/b"`,
			`* LIST (\HasNoChildren) "/" "a/b/c"`,
		}},
		{`LSUB "" %`, "l5", []string{
			`* LSUB (\Noselect) "/" "a"`,
			`* LSUB (\Noselect) "/" "x"`,
		}},
		{`LSUB "" x/%`, "l6", []string{`* LSUB (\Noselect) "/" "x/y"`}},
		{`LSUB "" *`, "l7", []string{`* LSUB () "/" "a/b/c"`, `* LSUB () "/" "x/y/z"`}},
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" %`, "l8", []string{
			`* LIST (\NonExistent \HasChildren) "/" "a" ("CHILDINFO" ("SUBSCRIBED"))`,
			`* LIST (\NonExistent \HasChildren) "/" "x" ("CHILDINFO" ("SUBSCRIBED"))`,
		}},
	} {
		if got := rc.collect(tc.tag, tc.cmd, "OK"); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
	rc.collect("sel", "SELECT x/y", "NO [NONEXISTENT]")
	rc.collect("c5", "CREATE a/b", "OK")
	if got := rc.collect("l9", `LIST "" a/b`, "OK"); !slices.Equal(got, []string{`* LIST (\HasChildren) "/" "a/b"`}) {
		t.Errorf("LIST a/b once created: %q", got)
	}
}
