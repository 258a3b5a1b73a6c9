package imapfront

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/fsm"
)

// cachedPasswords is Passwords over a verified-login cache alone, as a
// node without LDAP has it; checks counts the checks asked for.
type cachedPasswords struct {
	cache  *auth.LoginCache
	checks atomic.Int64
	down   atomic.Bool // every check fails as a source that is down
}

func (p *cachedPasswords) Check(_ context.Context, _ string, u *fsm.User, pw string) (bool, error) {
	p.checks.Add(1)
	if p.down.Load() {
		return false, fmt.Errorf("%w: test source down", ErrPasswordsUnavailable)
	}
	return p.cache.CheckPassword(u.Name, u.PasswordHash, pw, time.Minute), nil
}

func (p *cachedPasswords) Provision(context.Context, string, string) (*fsm.User, error) {
	if p.down.Load() {
		return nil, fmt.Errorf("%w: test source down", ErrPasswordsUnavailable)
	}
	return nil, fsm.ErrNoUser
}

// Passwords decides every login; a change of password ends what the cache
// remembered of the old one; a source that cannot tell gets NO
// [UNAVAILABLE], not AUTHENTICATIONFAILED, and no failed-login penalty.
func TestPasswordsHook(t *testing.T) {
	dir := newLocalDirectory()
	dir.addUser(t, "alice", "old-pw")
	pw := &cachedPasswords{cache: auth.NewLoginCache(100)}
	cfg := testConfig(t, dir)
	cfg.Passwords = pw
	cfg.LoginPenaltyBase, cfg.LoginPenaltyMax = time.Hour, time.Hour // a penalty would stall the test
	addr, _ := startFrontend(t, cfg)
	loginWith := func(user, pass string) error {
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Login(user, pass).Wait()
	}
	if err := loginWith("alice", "old-pw"); err != nil {
		t.Fatal(err)
	}
	if !pw.cache.Verified("alice", mustUser(t, dir, "alice").PasswordHash, "old-pw") || pw.checks.Load() != 1 {
		t.Fatalf("the login went past the hook (%d checks)", pw.checks.Load())
	}
	h, _ := auth.HashPasswordCost("new-pw", 4)
	dir.mustApply(t, fsm.UserPasswd{Name: "alice", PasswordHash: h})
	if err := loginWith("alice", "new-pw"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	pw.down.Store(true)
	for _, user := range []string{"alice", "nobody"} {
		err := loginWith(user, "new-pw")
		if err == nil || !strings.Contains(err.Error(), "UNAVAILABLE") {
			t.Fatalf("%s with the source down: %v, want NO [UNAVAILABLE]", user, err)
		}
	}
	pw.down.Store(false)
	// The unavailable logins left no penalty: this one is not delayed
	// by an hour.
	if err := loginWith("alice", "new-pw"); err != nil {
		t.Fatal(err)
	}
	// Only now a wrong one, after which the penalty would hold.
	if err := loginWith("alice", "old-pw"); err == nil {
		t.Fatal("the old password still logs in")
	}
}

func mustUser(t *testing.T, dir *localDirectory, name string) *fsm.User {
	u, ok := dir.f.User(name)
	if !ok {
		t.Fatalf("no user %s", name)
	}
	return u
}

// BenchmarkLoginThroughFrontend is logins a second through a frontend
// over TCP, each on a new connection, with the stored hash at bcrypt's
// default cost (as `admin user add` makes it), without and with the
// verified-login cache; 10 clients at once.
func BenchmarkLoginThroughFrontend(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			dir := newLocalDirectory()
			h, err := auth.HashPassword("s3cret-pw")
			if err != nil {
				b.Fatal(err)
			}
			dir.mustApply(b, fsm.UserAdd{Name: "alice", PasswordHash: h, At: 1})
			cfg := testConfig(b, dir)
			cfg.MaxConnsPerUser = 1000
			if cached {
				cfg.Passwords = &cachedPasswords{cache: auth.NewLoginCache(100)}
			}
			addr, _ := startFrontend(b, cfg)
			var next atomic.Int64
			began := time.Now()
			var wg sync.WaitGroup
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						c, err := imapclient.DialInsecure(addr, nil)
						if err != nil {
							b.Error(err)
							return
						}
						if err := c.Login("alice", "s3cret-pw").Wait(); err != nil {
							b.Error(err)
						}
						c.Logout().Wait()
						c.Close()
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "logins/s")
		})
	}
}
