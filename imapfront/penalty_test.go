package imapfront

import (
	"fmt"
	"testing"
	"time"
)

// The delay doubles with each failure from an address or for a user, up to
// the maximum; a success clears both, and failures expire.
func TestLoginPenaltyGrows(t *testing.T) {
	p := newLoginPenalty(10*time.Millisecond, 50*time.Millisecond, time.Hour)
	want := []time.Duration{0, 10, 20, 40, 50, 50}
	for i, w := range want {
		if d := p.delay("10.0.0.1", "alice"); d != w*time.Millisecond {
			t.Fatalf("after %d failures: delay %v, want %v", i, d, w*time.Millisecond)
		}
		p.note(PenaltyHint{Addr: "10.0.0.1", User: "alice", Failed: true})
	}
	if d := p.delay("10.0.0.2", "alice"); d != 50*time.Millisecond {
		t.Fatalf("alice from another address: %v, want the user's penalty", d)
	}
	if d := p.delay("10.0.0.1", "bob"); d != 50*time.Millisecond {
		t.Fatalf("bob from the failing address: %v, want the address's penalty", d)
	}
	if d := p.delay("10.0.0.2", "bob"); d != 0 {
		t.Fatalf("bob from elsewhere: %v, want none", d)
	}
	p.note(PenaltyHint{Addr: "10.0.0.1", User: "alice"})
	if d := p.delay("10.0.0.1", "alice"); d != 0 {
		t.Fatalf("after a success: %v", d)
	}
	short := newLoginPenalty(time.Millisecond, time.Millisecond, -1)
	short.note(PenaltyHint{Addr: "10.0.0.1", Failed: true})
	if d := short.delay("10.0.0.1", ""); d != 0 {
		t.Fatalf("an expired failure still delays: %v", d)
	}
}

// Failed logins from one address never lock the real user out: after
// more failures than the old lock-out allowed, the right password logs in
// (after the bounded delay), and the penalty for that address is cleared.
func TestFailedLoginsNeverLockOut(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "secret")
	cfg := testConfig(t, dir)
	addr, _, srv := startServer(t, cfg)
	rc := dialRaw(t, addr)
	for i := range 15 {
		rc.send(fmt.Sprintf("f%d LOGIN alice wrong\r\n", i))
		rc.expect(fmt.Sprintf("f%d NO [AUTHENTICATIONFAILED]", i), "wrong password")
	}
	if d := srv.LoginDelay("127.0.0.1", "alice"); d != cfg.LoginPenaltyMax {
		t.Fatalf("delay after 15 failures %v, want the maximum %v", d, cfg.LoginPenaltyMax)
	}
	if d := srv.LoginDelay("192.0.2.1", "ALICE"); d != cfg.LoginPenaltyMax {
		t.Fatalf("delay for alice from elsewhere %v, want the user's penalty", d)
	}
	rc.send("ok LOGIN alice secret\r\n")
	rc.expect("ok OK", "the right password after failures")
	if d := srv.LoginDelay("127.0.0.1", "alice"); d != 0 {
		t.Fatalf("delay after a successful login %v", d)
	}
}
