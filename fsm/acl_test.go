package fsm

import "testing"

func TestRights(t *testing.T) {
	shared := func(acl ...ACE) *Mailbox { return &Mailbox{Name: "shared/news", ACL: acl} }
	for _, tc := range []struct {
		name string
		user string
		mb   *Mailbox
		want string
	}{
		{"owner holds every right", "alice", &Mailbox{Name: "user/alice/Sent"}, AllRights},
		{"owner's INBOX", "alice", &Mailbox{Name: "user/alice/INBOX"}, "lrswipkxtea"},
		{"owner whatever the ACL says", "alice",
			&Mailbox{Name: "user/alice/x", ACL: []ACE{{"-alice", "lr"}}}, AllRights},
		{"no entry", "bob", shared(), ""},
		{"another user's mailbox, no entry", "bob", &Mailbox{Name: "user/alice/Sent"}, ""},
		{"the user's entry", "bob", shared(ACE{"bob", "lrs"}), "lrs"},
		{"anyone's entry", "bob", shared(ACE{"anyone", "lr"}), "lr"},
		{"union in canonical order", "bob", shared(ACE{"anyone", "lw"}, ACE{"bob", "rl"}), "lrw"},
		{"another user's entry does not count", "bob", shared(ACE{"carol", "lrswi"}), ""},
		{"negative entry removes", "bob", shared(ACE{"-bob", "w"}, ACE{"anyone", "lrw"}), "lr"},
		{"negative anyone removes from everyone", "bob", shared(ACE{"-anyone", "i"}, ACE{"bob", "lri"}), "lr"},
		{"another user's negative entry does not count", "bob", shared(ACE{"-carol", "r"}, ACE{"bob", "lr"}), "lr"},
		{"prefix of a name is not the name", "bob", shared(ACE{"bobby", "lr"}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Rights(tc.user, tc.mb); got != tc.want {
				t.Fatalf("Rights = %q, want %q", got, tc.want)
			}
			for i := 0; i < len(rightsOrder); i++ {
				r := rightsOrder[i]
				want := false
				for j := 0; j < len(tc.want); j++ {
					want = want || tc.want[j] == r
				}
				if got := HasRight(tc.user, tc.mb, r); got != want {
					t.Errorf("HasRight(%c) = %v, want %v", r, got, want)
				}
			}
		})
	}
}
