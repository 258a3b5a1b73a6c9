package fsm

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	good := []string{
		"user/alice/INBOX", "user/alice/INBOX/work", "user/alice/Sent", "user/a.b-c_d@example.com/x",
		"shared/news", "shared/a/b/c", "user/alice/Entwürfe", "user/alice/" + strings.Repeat("x", MaxSegmentLen),
	}
	bad := []string{
		"", "user", "user/alice", "user/Alice/INBOX", "user/alice/inbox", "user/alice/Inbox/x", "shared",
		"other/x", "user/alice//x", "user/alice/x/", "/user/alice/x", "user/alice/.", "user/alice/..",
		"user/alice/a*b", "user/alice/a%b", "user/alice/a\x00b", "user/alice/a\nb", "user/alice/\xff",
		"user/alice/" + strings.Repeat("x", MaxSegmentLen+1), "shared/" + strings.Repeat("abcdefg/", 70),
		"user/al+ice/INBOX", "user/alice/Shared/x", "user/alice/Other Users/bob/x", "user/alice/shared",
	}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func TestCanonicalUser(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"}, {"Alice", "alice"}, {"A.B@Example.COM", "a.b@example.com"}, {"x-1_2", "x-1_2"},
	}
	for _, tt := range tests {
		if got, err := CanonicalUser(tt.in); err != nil || got != tt.want {
			t.Errorf("CanonicalUser(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "a+b", ".a", "a b", "a@", "a@-x", "a@b@c", "a/b", strings.Repeat("a", MaxUserLen+1)} {
		if _, err := CanonicalUser(in); !errors.Is(err, ErrInvalidUser) {
			t.Errorf("CanonicalUser(%q) = %v, want ErrInvalidUser", in, err)
		}
	}
}

func TestInternalExternal(t *testing.T) {
	tests := []struct{ user, external, internal string }{
		{"alice", "INBOX", "user/alice/INBOX"},
		{"alice", "inbox", "user/alice/INBOX"},
		{"alice", "InBoX/work", "user/alice/INBOX/work"},
		{"alice", "Sent", "user/alice/Sent"},
		{"alice", "Other Users/bob/Sent", "user/bob/Sent"},
		{"alice", "Other Users/Bob/inbox", "user/bob/INBOX"},
		{"alice", "Shared/news", "shared/news"},
	}
	for _, tt := range tests {
		got, err := Internal(tt.user, tt.external)
		if err != nil || got != tt.internal {
			t.Errorf("Internal(%q, %q) = %q, %v; want %q", tt.user, tt.external, got, err, tt.internal)
		}
	}
	for _, ext := range []string{"", "Shared", "Other Users", "Other Users/bob", "a//b", "a*"} {
		if got, err := Internal("alice", ext); err == nil {
			t.Errorf("Internal(alice, %q) = %q, want error", ext, got)
		}
	}
	outs := []struct{ user, internal, external string }{
		{"alice", "user/alice/INBOX", "INBOX"},
		{"alice", "user/bob/INBOX", "Other Users/bob/INBOX"},
		{"alice", "shared/news", "Shared/news"},
	}
	for _, tt := range outs {
		if got := External(tt.user, tt.internal); got != tt.external {
			t.Errorf("External(%q, %q) = %q, want %q", tt.user, tt.internal, got, tt.external)
		}
	}
}

func TestOwnerParent(t *testing.T) {
	owners := map[string]string{"user/alice/INBOX": "alice", "user/bob/a/b": "bob", "shared/x": ""}
	for n, want := range owners {
		if got := Owner(n); got != want {
			t.Errorf("Owner(%q) = %q, want %q", n, got, want)
		}
	}
	parents := map[string]string{
		"user/alice/INBOX": "", "user/alice/INBOX/work": "user/alice/INBOX", "user/alice/a/b/c": "user/alice/a/b",
		"shared/x": "", "shared/x/y": "shared/x",
	}
	for n, want := range parents {
		if got := Parent(n); got != want {
			t.Errorf("Parent(%q) = %q, want %q", n, got, want)
		}
	}
}

func FuzzNames(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox/x", "Sent", "Shared/news", "Other Users/bob/Sent", "Shared", "a/../b", "Entwürfe"} {
		f.Add("alice", s)
	}
	f.Fuzz(func(t *testing.T, user, external string) {
		if u, err := CanonicalUser(user); err != nil || u != user {
			return
		}
		name, err := Internal(user, external)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("Internal(%q, %q): error %v is not ErrInvalidName", user, external, err)
			}
			return
		}
		if err := ValidateName(name); err != nil {
			t.Fatalf("Internal(%q, %q) = %q, which is invalid: %v", user, external, name, err)
		}
		// The name a client sees leads back to the same mailbox.
		back, err := Internal(user, External(user, name))
		if err != nil || back != name {
			t.Fatalf("Internal(External(%q)) = %q, %v", name, back, err)
		}
		if p := Parent(name); p != "" {
			if err := ValidateName(p); err != nil {
				t.Fatalf("Parent(%q) = %q is invalid: %v", name, p, err)
			}
		}
	})
}
