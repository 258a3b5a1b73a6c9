package imapd_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"golang.org/x/crypto/bcrypt"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/fsm"
)

func TestLogin(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "alice-pw")
	env.AddUser("bob", "bob-pw")

	t.Run("proxy acts for a user", func(t *testing.T) {
		c := asUser(t, env, "alice", nil)
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatalf("select: %v", err)
		}
		appendMsg(t, c, "INBOX", message("for alice", "hi"))
		// The proxy's session is alice's: her INBOX, not bob's.
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != 1 {
			t.Fatalf("status: %v %+v", err, st)
		}
	})
	t.Run("proxy with a wrong secret", func(t *testing.T) {
		c := dial(t, env, nil)
		err := c.Authenticate(sasl.NewPlainClient("alice", auth.ProxyUser, "wrong"))
		wantCode(t, "authenticate", err, imap.ResponseCodeAuthenticationFailed)
	})
	t.Run("proxy for an unknown user", func(t *testing.T) {
		c := dial(t, env, nil)
		wantCode(t, "authenticate", proxyLogin(c, "nobody"), imap.ResponseCodeAuthorizationFailed)
	})
	t.Run("proxy cannot LOGIN", func(t *testing.T) {
		c := dial(t, env, nil)
		wantCode(t, "login", c.Login(auth.ProxyUser, backendtest.Secret).Wait(), imap.ResponseCodeAuthenticationFailed)
	})
	t.Run("user logs in with own password", func(t *testing.T) {
		c := dial(t, env, nil)
		if err := c.Login("Bob", "bob-pw").Wait(); err != nil {
			t.Fatalf("login: %v", err)
		}
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != 0 {
			t.Fatalf("bob's status: %v %+v", err, st)
		}
		c2 := dial(t, env, nil)
		if err := c2.Authenticate(sasl.NewPlainClient("bob", "bob", "bob-pw")); err != nil {
			t.Fatalf("authenticate as self: %v", err)
		}
	})
	t.Run("user cannot act for another", func(t *testing.T) {
		c := dial(t, env, nil)
		err := c.Authenticate(sasl.NewPlainClient("alice", "bob", "bob-pw"))
		wantCode(t, "authenticate", err, imap.ResponseCodeAuthorizationFailed)
		if _, err := c.Select("INBOX", nil).Wait(); err == nil {
			t.Fatal("select succeeded after a refused login")
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		c := dial(t, env, nil)
		wantCode(t, "login", c.Login("bob", "alice-pw").Wait(), imap.ResponseCodeAuthenticationFailed)
	})
}

func TestMailboxCommands(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	c := asUser(t, env, "alice", nil)

	if err := c.Create("Work", nil).Wait(); err != nil {
		t.Fatalf("create: %v", err)
	}
	wantCode(t, "create again", c.Create("Work", nil).Wait(), imap.ResponseCodeAlreadyExists)
	wantCode(t, "select missing", selectErr(c, "Nope"), imap.ResponseCodeNonExistent)
	wantCode(t, "append to missing", appendErr(c, "Nope", message("x", "y")), imap.ResponseCodeTryCreate)
	wantCode(t, "create bad name", c.Create("a/../b", nil).Wait(), imap.ResponseCodeCannot)

	first := appendMsg(t, c, "Work", message("first", "hello world"))
	second := appendMsg(t, c, "Work", multipart("second"), imap.FlagFlagged)
	if first.UID == 0 || second.UID <= first.UID || first.UIDValidity == 0 {
		t.Fatalf("APPENDUID %+v then %+v", first, second)
	}
	sel, err := c.Select("Work", nil).Wait()
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	if sel.NumMessages != 2 || sel.UIDValidity != first.UIDValidity {
		t.Fatalf("select data %+v", sel)
	}

	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{
		Envelope: true, Flags: true, RFC822Size: true, UID: true, InternalDate: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
	}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("fetch: %v, %d messages", err, len(msgs))
	}
	if msgs[0].Envelope.Subject != "first" || msgs[0].Envelope.From[0].Host != "example.org" {
		t.Fatalf("envelope %+v", msgs[0].Envelope)
	}
	if mp, ok := msgs[1].BodyStructure.(*imap.BodyStructureMultiPart); !ok || len(mp.Children) != 2 {
		t.Fatalf("body structure %#v", msgs[1].BodyStructure)
	}
	if msgs[1].RFC822Size != int64(len(multipart("second"))) || !hasFlag(msgs[1].Flags, imap.FlagFlagged) {
		t.Fatalf("size %d flags %v", msgs[1].RFC822Size, msgs[1].Flags)
	}

	// Sections and partial fetches; BODY.PEEK leaves \Seen alone.
	text := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
	part2 := &imap.FetchItemBodySection{Part: []int{2}, Peek: true}
	partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 5}}
	msgs, err = c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{text, part2, partial}, Flags: true}).Collect()
	if err != nil {
		t.Fatalf("fetch sections: %v", err)
	}
	if got := string(msgs[0].FindBodySection(part2)); got != "<p>second part</p>" {
		t.Fatalf("BODY[2] = %q", got)
	}
	if got := string(msgs[0].FindBodySection(partial)); got != multipart("second")[6:11] {
		t.Fatalf("BODY[]<6.5> = %q", got)
	}
	if !bytes.Contains(msgs[0].FindBodySection(text), []byte("needle")) || hasFlag(msgs[0].Flags, imap.FlagSeen) {
		t.Fatalf("BODY[TEXT] or flags wrong: %v", msgs[0].Flags)
	}
	// BODY[] without PEEK sets \Seen.
	whole := &imap.FetchItemBodySection{}
	msgs, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{whole}}).Collect()
	if err != nil || string(msgs[0].FindBodySection(whole)) != message("first", "hello world") {
		t.Fatalf("BODY[]: %v", err)
	}
	if !hasFlag(msgs[0].Flags, imap.FlagSeen) {
		t.Fatalf("BODY[] did not set \\Seen: %v", msgs[0].Flags)
	}

	// SEARCH by flag, header, body text and UID.
	search := func(c2 *imap.SearchCriteria) []uint32 {
		t.Helper()
		d, err := c.Search(c2, nil).Wait()
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		return d.AllSeqNums()
	}
	if got := search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}); !equal(got, 2) {
		t.Fatalf("search flagged = %v", got)
	}
	if got := search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "FIRST"}}}); !equal(got, 1) {
		t.Fatalf("search subject = %v", got)
	}
	if got := search(&imap.SearchCriteria{Body: []string{"needle"}}); !equal(got, 2) {
		t.Fatalf("search body = %v", got)
	}
	if got := search(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}, Text: []string{"alice"}}); !equal(got, 2) {
		t.Fatalf("search unseen text = %v", got)
	}
	uidData, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(second.UID)}}, nil).Wait()
	if err != nil || !equalUIDs(uidData.AllUIDs(), second.UID) {
		t.Fatalf("uid search: %v %v", err, uidData)
	}

	// STORE, silent and not.
	stored, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted, "$Work"}}, nil).Collect()
	if err != nil || len(stored) != 1 || !hasFlag(stored[0].Flags, imap.FlagDeleted) || !hasFlag(stored[0].Flags, "$Work") {
		t.Fatalf("store: %v %+v", err, stored)
	}
	if err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatalf("store silent: %v", err)
	}
	if got := search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}); len(got) != 0 {
		t.Fatalf("flagged after -FLAGS = %v", got)
	}

	// COPY with COPYUID, then MOVE.
	if err := c.Create("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	cp, err := c.Copy(imap.SeqSetNum(2), "Archive").Wait()
	if err != nil || len(cp.DestUIDs) != 1 || !cp.SourceUIDs.Contains(second.UID) {
		t.Fatalf("copy: %v %+v", err, cp)
	}
	wantCode(t, "copy to missing", copyErr(c, "Missing"), imap.ResponseCodeTryCreate)
	mv, err := c.Move(imap.SeqSetNum(2), "Archive").Wait()
	if err != nil || mv.SourceUIDs.String() != imap.UIDSetNum(second.UID).String() {
		t.Fatalf("move: %v %+v", err, mv)
	}
	if n := c.Mailbox().NumMessages; n != 1 {
		t.Fatalf("after MOVE the client sees %d messages, want 1", n)
	}

	// EXPUNGE removes the \Deleted message 1.
	gone, err := c.Expunge().Collect()
	if err != nil || !equal(gone, 1) {
		t.Fatalf("expunge: %v %v", err, gone)
	}
	st, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true, Size: true, UIDNext: true}).Wait()
	if err != nil || *st.NumMessages != 2 || *st.Size != 2*int64(len(multipart("second"))) {
		t.Fatalf("status of Archive: %v %+v", err, st)
	}

	// LIST, subscriptions, rename, delete.
	if err := c.Subscribe("Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	names := listNames(t, c, "*", nil)
	if strings.Join(names, ",") != "Archive,INBOX,Work" {
		t.Fatalf("LIST * = %v", names)
	}
	if got := listNames(t, c, "*", &imap.ListOptions{SelectSubscribed: true}); strings.Join(got, ",") != "Archive" {
		t.Fatalf("LIST (SUBSCRIBED) = %v", got)
	}
	if err := c.Rename("Work", "Play", nil).Wait(); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if err := c.Delete("Archive").Wait(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	wantCode(t, "delete INBOX", c.Delete("INBOX").Wait(), imap.ResponseCodeCannot)
	if got := listNames(t, c, "*", nil); strings.Join(got, ",") != "INBOX,Play" {
		t.Fatalf("LIST after rename and delete = %v", got)
	}
	if err := env.Store.Verify(); err != nil {
		t.Fatalf("store verify: %v", err)
	}
}

func TestExamineIsReadOnly(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	c := asUser(t, env, "alice", nil)
	appendMsg(t, c, "INBOX", message("a", "b"), imap.FlagDeleted)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "store", c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(), imap.ResponseCodeCannot)
	wantCode(t, "expunge", c.Expunge().Close(), imap.ResponseCodeCannot)
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("message gone after refused expunge: %v %+v", err, st)
	}
}

func selectErr(c *imapclient.Client, name string) error {
	_, err := c.Select(name, nil).Wait()
	return err
}

func appendErr(c *imapclient.Client, name, body string) error {
	cmd := c.Append(name, int64(len(body)), nil)
	cmd.Write([]byte(body))
	cmd.Close()
	_, err := cmd.Wait()
	return err
}

func copyErr(c *imapclient.Client, name string) error {
	_, err := c.Copy(imap.SeqSetNum(1), name).Wait()
	return err
}

func listNames(t testing.TB, c *imapclient.Client, pattern string, opts *imap.ListOptions) []string {
	t.Helper()
	l, err := c.List("", pattern, opts).Collect()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var names []string
	for _, d := range l {
		names = append(names, d.Mailbox)
	}
	return names
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, g := range flags {
		if strings.EqualFold(string(g), string(f)) {
			return true
		}
	}
	return false
}

func equal(got []uint32, want ...uint32) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func equalUIDs(got []imap.UID, want ...imap.UID) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestQuota(t *testing.T) {
	env := backendtest.Start(t)
	hash, err := auth.HashPasswordCost("pw", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	body := message("quota", strings.Repeat("x", 400))
	env.Apply(fsm.UserAdd{Name: "carol", PasswordHash: hash, QuotaBytes: int64(len(body)) * 3 / 2, At: time.Now().UnixNano()})
	if _, err := env.Backend.Create(backendtest.Ctx(t), fsm.Inbox("carol"), ""); err != nil {
		t.Fatal(err)
	}
	c := asUser(t, env, "carol", nil)
	appendMsg(t, c, "INBOX", body)
	wantCode(t, "append past quota", appendErr(c, "INBOX", body), imap.ResponseCodeOverQuota)
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("status after refused append: %v %+v", err, st)
	}

	// COPY would double the usage: refused. MOVE between the user's own
	// mailboxes changes nothing: allowed.
	if _, err := env.Backend.Create(backendtest.Ctx(t), "user/carol/Archive", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	_, err = c.Copy(imap.SeqSetNum(1), "Archive").Wait()
	wantCode(t, "copy past quota", err, imap.ResponseCodeOverQuota)
	if _, err := c.Move(imap.SeqSetNum(1), "Archive").Wait(); err != nil {
		t.Fatalf("move within the user's mailboxes: %v", err)
	}
	for name, want := range map[string]uint32{"INBOX": 0, "Archive": 1} {
		st, err := c.Status(name, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != want {
			t.Fatalf("status of %s: %v %+v, want %d messages", name, err, st, want)
		}
	}
}

func TestACL(t *testing.T) {
	env := backendtest.Start(t)
	env.AddUser("alice", "pw")
	env.AddUser("bob", "pw")
	alice := asUser(t, env, "alice", nil)
	if err := alice.Create("Team", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, alice, "Team", message("team news", "x"))
	bob := asUser(t, env, "bob", nil)
	wantCode(t, "select without rights", selectErr(bob, "Other Users/alice/Team"), imap.ResponseCodeNonExistent)

	env.Apply(fsm.SetACL{Name: "user/alice/Team", Identifier: "bob", Rights: "lr"})
	if _, err := bob.Select("Other Users/alice/Team", nil).Wait(); err != nil {
		t.Fatalf("select with lr: %v", err)
	}
	msgs, err := bob.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "team news" {
		t.Fatalf("fetch with lr: %v %+v", err, msgs)
	}
	err = bob.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	wantCode(t, "store without t", err, imap.ResponseCodeNoPerm)
	wantCode(t, "append without i", appendErr(bob, "Other Users/alice/Team", message("y", "z")), imap.ResponseCodeNoPerm)
	got := listNames(t, bob, "*", nil)
	slices.Sort(got)
	if strings.Join(got, ",") != "INBOX,Other Users/alice/Team" {
		t.Fatalf("bob's LIST * = %v", got)
	}
}
