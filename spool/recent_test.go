package spool

import "testing"

// The recent mark only rises, survives a reopen, and Status counts the
// messages above it.
func TestRecentMark(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, 1, 1, 0)
	for i := range 3 {
		mustAppend(t, s, 1, testBody(i))
	}
	if st, err := s.Status(1); err != nil || st.Recent != 3 {
		t.Fatalf("status before any claim: recent %d, err %v; want 3", st.Recent, err)
	}
	if prev, err := s.ClaimRecent(1, 2); err != nil || prev != 0 {
		t.Fatalf("first claim: prev %d, err %v; want 0", prev, err)
	}
	if prev, err := s.ClaimRecent(1, 1); err != nil || prev != 2 {
		t.Fatalf("claim below the mark: prev %d, err %v; want 2", prev, err)
	}
	if st, _ := s.Status(1); st.Recent != 1 {
		t.Fatalf("status after claiming 2: recent %d, want 1", st.Recent)
	}
	s.Close()
	s = openStore(t, dir)
	if mark, err := s.RecentMark(1); err != nil || mark != 2 {
		t.Fatalf("mark after reopen: %d, err %v; want 2", mark, err)
	}
	if prev, err := s.ClaimRecent(1, 3); err != nil || prev != 2 {
		t.Fatalf("claim after reopen: prev %d, err %v; want 2", prev, err)
	}
	if st, _ := s.Status(1); st.Recent != 0 {
		t.Fatalf("status after claiming all: recent %d, want 0", st.Recent)
	}
	mustVerify(t, s)
	if _, err := s.ClaimRecent(99, 1); err == nil {
		t.Fatal("claim on a missing mailbox succeeded")
	}
}
