package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"jwtauth/internal/auth"
	"jwtauth/internal/httpapi"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// limitedServer is a server whose rate limits count in memory on the
// test's clock.
func limitedServer(t *testing.T, editHTTP func(*httpapi.Options, ratelimit.Store), edit ...func(*auth.Options, ratelimit.Store)) *testServer {
	t.Helper()
	var s *testServer
	mem := ratelimit.NewMemory(func() time.Time { return s.clock.Now() })
	var authEdits []func(*auth.Options)
	for _, e := range edit {
		authEdits = append(authEdits, func(o *auth.Options) { e(o, mem) })
	}
	s = startServer(t, storetest.Open(t, "sqlite"), func(o *httpapi.Options) {
		if editHTTP != nil {
			editHTTP(o, mem)
		}
	}, authEdits...)
	return s
}

func perMinute(n int) ratelimit.Rate { return ratelimit.Rate{Count: n, Period: time.Minute} }

func wrongSignIn(t *testing.T, s *testServer, username string, header map[string]string) response {
	t.Helper()
	return s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: "application/json",
		body: `{"username":"` + username + `","password":"wrong-password"}`, header: header})
}

func TestSignInLimitPerAddress(t *testing.T) {
	s := limitedServer(t, func(o *httpapi.Options, st ratelimit.Store) {
		o.SignInLimit = ratelimit.NewRule("signin-ip", perMinute(3), st)
	})
	s.createUser(t, "someone", "password-1", roleUser)
	for range 3 {
		wantJSON(t, wrongSignIn(t, s, "someone", nil), 401, "Invalid Password!")
	}
	r := wrongSignIn(t, s, "someone", nil)
	wantJSON(t, r, 429, "Too many sign-in attempts. Please retry in 20 seconds.")
	if got := r.header.Get("Retry-After"); got != "20" {
		t.Errorf("Retry-After = %q, want 20", got)
	}
	// Another user from the same address is limited too: it is the address.
	wantJSON(t, s.postJSON(t, "/api/auth/signin", map[string]string{"username": "someone", "password": "password-1"}),
		429, "Too many sign-in attempts. Please retry in 20 seconds.")
	s.clock.Advance(20 * time.Second)
	s.signIn(t, "someone", "password-1")
	wantJSON(t, wrongSignIn(t, s, "someone", nil), 429, "Too many sign-in attempts. Please retry in 20 seconds.")
}

func TestSignInLimitPerAccount(t *testing.T) {
	var accountStore *ratelimit.Memory
	s := limitedServer(t, nil, func(o *auth.Options, st ratelimit.Store) {
		o.SignInAccountAddressLimit = ratelimit.NewRule("signin-user-ip", ratelimit.Rate{Count: 3, Period: 15 * time.Minute}, st)
		accountStore = ratelimit.NewMemory(nil)
		o.SignInAccountLimit = ratelimit.NewRule("signin-user", ratelimit.Rate{Count: 100, Period: 15 * time.Minute}, accountStore)
	})
	s.createUser(t, "victim", "password-1", roleUser)
	s.createUser(t, "bystander", "password-1", roleUser)
	for _, name := range []string{"victim", "VICTIM", "Victim"} { // one account, whatever the case
		wantJSON(t, wrongSignIn(t, s, name, nil), 401, "Invalid Password!")
	}
	const limited = "Too many sign-in attempts for this account. Please retry in 300 seconds."
	// Past the limit even the right password waits: the guesser cannot tell.
	wantJSON(t, s.postJSON(t, "/api/auth/signin", map[string]string{"username": "victim", "password": "password-1"}), 429, limited)
	s.signIn(t, "bystander", "password-1")

	// Back-off, not lockout: one attempt's worth refills after 5 minutes.
	s.clock.Advance(5 * time.Minute)
	s.signIn(t, "victim", "password-1")
	// A successful signin resets the count.
	for range 3 {
		wantJSON(t, wrongSignIn(t, s, "victim", nil), 401, "Invalid Password!")
	}
	wantJSON(t, wrongSignIn(t, s, "victim", nil), 429, limited)

	// Parallel guesses are counted before any is checked: exactly the
	// limit gets through.
	s.createUser(t, "parallel", "password-1", roleUser)
	var wg sync.WaitGroup
	statuses := make(chan int, 30)
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- wrongSignIn(t, s, "parallel", nil).status
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for st := range statuses {
		counts[st]++
	}
	if counts[401] != 3 || counts[429] != 27 {
		t.Errorf("30 parallel guesses: %v, want 3 answered 401 and 27 refused 429", counts)
	}
	// An unknown name has no account to protect and counts nothing per
	// account (signin says 404 to it anyway): a flood of invented names
	// of a kilobyte each stores no counter at all.
	before := accountStore.WeightedSize()
	for i := range 20 {
		wantJSON(t, wrongSignIn(t, s, fmt.Sprintf("ghost-%d-%s", i, strings.Repeat("\uFDFA", 300)), nil), 404, "User Not found.")
	}
	if after := accountStore.WeightedSize(); after != before {
		t.Errorf("unknown names stored counters: %d bytes before, %d after", before, after)
	}
}

// A signin refused past the account's ceiling is not charged to its
// address either: the address keeps what it had, and the Retry-After it
// was given holds.
func TestRefusedSignInIsNotCharged(t *testing.T) {
	s := limitedServer(t, nil, func(o *auth.Options, st ratelimit.Store) {
		o.SignInAccountAddressLimit = ratelimit.NewRule("signin-user-ip", ratelimit.Rate{Count: 5, Period: 50 * time.Minute}, st)
		o.SignInAccountLimit = ratelimit.NewRule("signin-user", ratelimit.Rate{Count: 2, Period: 10 * time.Minute}, st)
	})
	s.createUser(t, "victim", "password-1", roleUser)
	statuses := []int{}
	for range 5 {
		statuses = append(statuses, wrongSignIn(t, s, "victim", nil).status)
	}
	// Two within the ceiling, one past it (this address's one try), then
	// refusals that must cost the address nothing.
	if fmt.Sprint(statuses) != "[401 401 401 429 429]" {
		t.Fatalf("five wrong passwords: %v", statuses)
	}
	// The ceiling refills one attempt in 5 minutes; the address has used
	// three of its five, so the right password now gets in.
	s.clock.Advance(5 * time.Minute)
	if r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": "victim", "password": "password-1"}); r.status != 200 {
		t.Errorf("right password after the wait it was told: %d %s", r.status, r.body)
	}
}

// A name differing from an account's by surrounding spaces is another
// name on every engine (MariaDB's collation would pad it): it neither signs
// in nor counts apart from the account's own attempts.
func TestSignInNameIsExact(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver, func(o *auth.Options) {
			o.SignInAccountAddressLimit = ratelimit.NewRule("signin-user-ip", ratelimit.Rate{Count: 3, Period: 15 * time.Minute}, ratelimit.NewMemory(nil))
		})
		s.createUser(t, "zed", "password-1", roleUser)
		for _, name := range []string{"zed ", " zed", "zed\u00a0", "zed\u3000", "zed  "} {
			wantJSON(t, s.postJSON(t, "/api/auth/signin", map[string]string{"username": name, "password": "password-1"}), 404, "User Not found.")
		}
		for range 3 {
			wantJSON(t, wrongSignIn(t, s, "ZED", nil), 401, "Invalid Password!")
		}
		wantJSON(t, wrongSignIn(t, s, "zed", nil), 429, "Too many sign-in attempts for this account. Please retry in 300 seconds.")
	})
}

// An attacker hammering an account from many addresses cannot keep its
// owner out: each address has its own allowance on the account, and past
// the account's ceiling an address that has not been failing still gets
// its attempt, so the owner's right password gets in.
func TestVictimSignsInWhileAttacked(t *testing.T) {
	s := limitedServer(t, func(o *httpapi.Options, st ratelimit.Store) {
		o.TrustedProxies = []string{"127.0.0.1", "::1"}
	}, func(o *auth.Options, st ratelimit.Store) {
		o.SignInAccountAddressLimit = ratelimit.NewRule("signin-user-ip", ratelimit.Rate{Count: 3, Period: 15 * time.Minute}, st)
		o.SignInAccountLimit = ratelimit.NewRule("signin-user", ratelimit.Rate{Count: 10, Period: 15 * time.Minute}, st)
	})
	s.createUser(t, "victim", "password-1", roleUser)
	from := func(addr string) map[string]string { return map[string]string{"X-Forwarded-For": addr} }
	right := func(addr string) response {
		return s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: "application/json",
			body: `{"username":"victim","password":"password-1"}`, header: from(addr)})
	}
	// Ten attacker addresses use their three attempts each, and keep
	// trying once a second for a minute: the ceiling is long gone.
	attacks := map[int]int{}
	for round := range 60 {
		for i := range 10 {
			attacks[wrongSignIn(t, s, "victim", from(fmt.Sprintf("203.0.113.%d", i+1))).status]++
		}
		if round%10 == 0 {
			s.clock.Advance(time.Second)
		}
	}
	// The ceiling's 10, then one each past it: 20 checks in 15 minutes,
	// where the ten addresses alone would have had 30.
	if attacks[401] > 20 {
		t.Errorf("attackers got %d password checks, want at most 20: %v", attacks[401], attacks)
	}
	// The owner, from an address of their own, gets in at the first try.
	if r := right("198.51.100.7"); r.status != 200 {
		t.Fatalf("owner's right password while attacked: %d %s", r.status, r.body)
	}
	// A new attacker address past the ceiling gets one attempt, then waits.
	wantJSON(t, wrongSignIn(t, s, "victim", from("192.0.2.99")), 401, "Invalid Password!")
	if r := wrongSignIn(t, s, "victim", from("192.0.2.99")); r.status != 429 {
		t.Errorf("second attempt from one address past the ceiling: %d %s", r.status, r.body)
	}
	// Addresses in one IPv6 /64 count as one.
	s.createUser(t, "six", "password-1", roleUser)
	for i := range 3 {
		wantJSON(t, wrongSignIn(t, s, "six", from(fmt.Sprintf("2001:db8:7:7::%x", i+1))), 401, "Invalid Password!")
	}
	if r := wrongSignIn(t, s, "six", from("2001:db8:7:7::ffff")); r.status != 429 {
		t.Errorf("fourth attempt from the same /64: %d %s", r.status, r.body)
	}
}

func TestSignUpAndRefreshLimits(t *testing.T) {
	s := limitedServer(t, func(o *httpapi.Options, st ratelimit.Store) {
		o.SignUpLimit = ratelimit.NewRule("signup-ip", ratelimit.Rate{Count: 2, Period: time.Hour}, st)
		o.RefreshLimit = ratelimit.NewRule("refresh-ip", perMinute(2), st)
	})
	s.signUp(t, "first", "first@example.com", "password-1")
	s.signUp(t, "second", "second@example.com", "password-1")
	wantJSON(t, s.postJSON(t, "/api/auth/signup", map[string]string{"username": "third", "email": "third@example.com", "password": "password-1"}),
		429, "Too many signups. Please retry in 1800 seconds.")

	in := s.signIn(t, "first", "password-1")
	next := s.mustRefresh(t, in.RefreshToken)
	s.mustRefresh(t, next.RefreshToken)
	wantJSON(t, s.refresh(t, "anything"), 429, "Too many refresh requests. Please retry in 30 seconds.")
}

// behindProxy is a server behind a trusted proxy on loopback, allowing two
// signins a minute per client address.
func behindProxy(t *testing.T) *testServer {
	return limitedServer(t, func(o *httpapi.Options, st ratelimit.Store) {
		o.SignInLimit = ratelimit.NewRule("signin-ip", perMinute(2), st)
		o.TrustedProxies = []string{"127.0.0.1", "::1"}
	})
}

// X-Forwarded-For names the client only when a trusted proxy sent it.
func TestForwardedForNeedsATrustedProxy(t *testing.T) {
	spoofed := func(i int) map[string]string {
		return map[string]string{"X-Forwarded-For": "203.0.113." + string(rune('1'+i))}
	}
	t.Run("untrusted: the header is ignored", func(t *testing.T) {
		s := limitedServer(t, func(o *httpapi.Options, st ratelimit.Store) {
			o.SignInLimit = ratelimit.NewRule("signin-ip", perMinute(2), st)
		})
		wantJSON(t, wrongSignIn(t, s, "x", spoofed(0)), 404, "User Not found.")
		wantJSON(t, wrongSignIn(t, s, "x", spoofed(1)), 404, "User Not found.")
		wantJSON(t, wrongSignIn(t, s, "x", spoofed(2)), 429, "Too many sign-in attempts. Please retry in 30 seconds.")
	})
	t.Run("trusted: each forwarded client counts alone", func(t *testing.T) {
		s := behindProxy(t)
		for i := range 4 {
			wantJSON(t, wrongSignIn(t, s, "x", spoofed(i)), 404, "User Not found.")
		}
		wantJSON(t, wrongSignIn(t, s, "x", spoofed(0)), 404, "User Not found.")
		wantJSON(t, wrongSignIn(t, s, "x", spoofed(0)), 429, "Too many sign-in attempts. Please retry in 30 seconds.")
	})
	t.Run("trusted: X-Real-IP is not believed", func(t *testing.T) {
		s := behindProxy(t)
		realIP := func(i int) map[string]string {
			return map[string]string{"X-Real-IP": "203.0.113." + string(rune('1'+i))}
		}
		wantJSON(t, wrongSignIn(t, s, "x", realIP(0)), 404, "User Not found.")
		wantJSON(t, wrongSignIn(t, s, "x", realIP(1)), 404, "User Not found.")
		wantJSON(t, wrongSignIn(t, s, "x", realIP(2)), 429, "Too many sign-in attempts. Please retry in 30 seconds.")
	})
	t.Run("IPv6 clients count by /64", func(t *testing.T) {
		s := behindProxy(t)
		from := func(addr string) map[string]string { return map[string]string{"X-Forwarded-For": addr} }
		wantJSON(t, wrongSignIn(t, s, "x", from("2001:db8:1:2::1")), 404, "User Not found.")
		wantJSON(t, wrongSignIn(t, s, "x", from("2001:db8:1:2::2")), 404, "User Not found.")
		wantJSON(t, wrongSignIn(t, s, "x", from("2001:db8:1:2:ffff::3")), 429, "Too many sign-in attempts. Please retry in 30 seconds.")
		wantJSON(t, wrongSignIn(t, s, "x", from("2001:db8:1:3::1")), 404, "User Not found.")
	})
}

// A signin flood fills the hashing pool: the overflow is turned away with
// 503 and Retry-After at once, and token checks keep answering meanwhile.
func TestHashingPoolShedsLoad(t *testing.T) {
	s := newServer(t, "sqlite", func(o *auth.Options) {
		o.BcryptCost = 10 // a hash takes longer than HashMaxWait
		o.HashWorkers, o.HashQueue, o.HashMaxWait = 1, 2, 20*time.Millisecond
	})
	s.createUser(t, "flooded", "password-1", roleUser)
	token := s.signIn(t, "flooded", "password-1").AccessToken

	const flood = 24
	var wg sync.WaitGroup
	results := make(chan response, flood)
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- wrongSignIn(t, s, "flooded", nil)
		}()
	}
	boards := 0
	finished := waitGroupDone(&wg)
	for done := false; !done; {
		wantText(t, s.get(t, "/api/test/user", token), 200, "User Content.")
		boards++
		select {
		case <-finished:
			done = true
		default:
		}
	}
	close(results)
	counts := map[int]int{}
	for r := range results {
		counts[r.status]++
		if r.status == 503 {
			wantJSON(t, r, 503, "Server is busy, please retry in a moment.")
			if r.header.Get("Retry-After") != "1" {
				t.Errorf("503 Retry-After = %q", r.header.Get("Retry-After"))
			}
		}
	}
	if counts[503] == 0 || counts[401] == 0 || counts[401]+counts[503] != flood {
		t.Errorf("flood of %d: %v; want some 401 (hashed) and some 503 (shed), nothing else", flood, counts)
	}
	t.Logf("flood: %v; %d board requests answered 200 meanwhile", counts, boards)
}

func waitGroupDone(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ch
}

func TestCommonPasswordsRejected(t *testing.T) {
	s := newServer(t, "sqlite")
	for _, pw := range []string{"password123", "Password123", "12345678", "qwertyuiop", "iloveyou1"} {
		r := s.postJSON(t, "/api/auth/signup", map[string]string{"username": "common", "email": "common@example.com", "password": pw})
		wantJSON(t, r, 400, "Failed! This password is too common; please choose another.")
	}
	s.signUp(t, "common", "common@example.com", "correct horse battery")

	lax := newServer(t, "sqlite", func(o *auth.Options) { o.AllowCommonPasswords = true })
	lax.signUp(t, "common", "common@example.com", "password123")
}

// Every authentication event is logged with who and from where, and no
// password, hash or token ever reaches the log.
func TestEventsLogNoSecrets(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := limitedServer(t, func(o *httpapi.Options, st ratelimit.Store) {
		o.SignInLimit = ratelimit.NewRule("signin-ip", perMinute(4), st)
	}, func(o *auth.Options, _ ratelimit.Store) { o.Logger = log })

	const password = "S3cret-Passw0rd!"
	s.signUp(t, "logged", "logged@example.com", password)
	in := s.signIn(t, "logged", password)
	wrongSignIn(t, s, "logged", map[string]string{"X-Request-ID": "req-42"})
	wrongSignIn(t, s, "nobody", nil)
	next := s.mustRefresh(t, in.RefreshToken)
	s.clock.Advance(11 * time.Second)
	s.refresh(t, in.RefreshToken) // replay
	again := s.signIn(t, "logged", password)
	s.signOut(t, again.AccessToken, `{"refreshToken":"`+again.RefreshToken+`"}`)
	wrongSignIn(t, s, "logged", nil) // the 5th signin from this address
	if err := s.svc.SetPassword(context.Background(), in.ID, "An0ther-Passw0rd!"); err != nil {
		t.Fatal(err)
	}

	var u store.User
	s.db.First(&u, in.ID)
	out := logs.String()
	for _, secret := range []string{password, "wrong-password", "An0ther-Passw0rd!", u.Password, u.Password[7:29],
		in.AccessToken, in.RefreshToken, next.AccessToken, next.RefreshToken, again.RefreshToken,
		strings.Split(in.AccessToken, ".")[2]} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains a secret (%.12s...)", secret)
		}
	}
	events := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if ev, ok := rec["event"].(string); ok {
			if _, seen := events[ev]; !seen || ev == auth.EventSignInFailed && rec["request_id"] == "req-42" {
				events[ev] = rec
			}
		}
	}
	if _, ok := events[auth.EventPasswordChanged]; !ok {
		t.Error("no password_changed event logged")
	}
	for _, ev := range []string{auth.EventSignUp, auth.EventSignIn, auth.EventSignInFailed, auth.EventRefresh,
		auth.EventRefreshReplayed, auth.EventSignOut, auth.EventRateLimited} {
		rec, ok := events[ev]
		if !ok {
			t.Errorf("no %s event logged", ev)
			continue
		}
		if ip, _ := rec["ip"].(string); ip != "127.0.0.1" && ip != "::1" {
			t.Errorf("%s event ip = %v", ev, rec["ip"])
		}
		if id, _ := rec["request_id"].(string); id == "" {
			t.Errorf("%s event has no request id", ev)
		}
	}
	if rec := events[auth.EventSignInFailed]; rec["request_id"] != "req-42" || rec["user_id"] != float64(in.ID) {
		t.Errorf("signin_failed event = %v, want the client's request id and the user id", rec)
	}
}

func TestRequestIDs(t *testing.T) {
	s := newServer(t, "sqlite")
	r := s.do(t, request{method: "GET", path: "/api/test/all", header: map[string]string{"X-Request-ID": "abc-123"}})
	if got := r.header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("X-Request-ID = %q, want the client's", got)
	}
	generated := regexp.MustCompile(`^[0-9a-f]{12}-[0-9a-z]+$`)
	r = s.do(t, request{method: "GET", path: "/api/test/all", header: map[string]string{"X-Request-ID": "<script>"}})
	first := r.header.Get("X-Request-ID")
	if !generated.MatchString(first) {
		t.Errorf("X-Request-ID = %q, want a fresh one for an unsafe id", first)
	}
	if second := s.get(t, "/api/test/all", "").header.Get("X-Request-ID"); !generated.MatchString(second) || second == first {
		t.Errorf("two requests got ids %q and %q", first, second)
	}
}

// Two instances on one Redis share one count: attempts spread over them
// trip the limit at the global count. Redis down: limits still apply.
func TestLimitsSharedThroughRedis(t *testing.T) {
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		t.Skip("TEST_REDIS_URL not set: Redis test skipped")
	}
	db := storetest.Open(t, "sqlite")
	suffix := make([]byte, 6)
	rand.Read(suffix)
	rule := "signin-user-" + hex.EncodeToString(suffix) // no count left over from another run
	instance := func() *testServer {
		rdb, err := ratelimit.NewRedis(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		return serverOn(t, db, func(o *auth.Options) {
			o.SignInAccountAddressLimit = ratelimit.NewRule(rule, ratelimit.Rate{Count: 4, Period: time.Hour}, rdb)
		})
	}
	a, b := instance(), instance()
	a.createUser(t, "shared", "password-1", roleUser)
	for _, s := range []*testServer{a, b, a, b} {
		wantJSON(t, wrongSignIn(t, s, "shared", nil), 401, "Invalid Password!")
	}
	r := wrongSignIn(t, a, "shared", nil)
	if r.status != 429 {
		t.Fatalf("5th attempt, spread over two instances: %d %s", r.status, r.body)
	}
	wantJSON(t, wrongSignIn(t, b, "shared", nil), 429, r.message(t))

	ratelimit.LogRedisTo(slog.New(slog.DiscardHandler)) // the client's dial errors are expected here
	down, _ := ratelimit.NewRedis("redis://127.0.0.1:1/0")
	t.Cleanup(func() { down.Close() })
	fallback := ratelimit.NewFallback(down, ratelimit.NewMemory(nil), slog.New(slog.DiscardHandler))
	c := serverOn(t, db, func(o *auth.Options) {
		o.SignInAccountAddressLimit = ratelimit.NewRule(rule, ratelimit.Rate{Count: 1, Period: time.Hour}, fallback)
	})
	wantJSON(t, wrongSignIn(t, c, "shared", nil), 401, "Invalid Password!")
	if r := wrongSignIn(t, c, "shared", nil); r.status != http.StatusTooManyRequests {
		t.Errorf("with Redis down: %d %s, want the in-process limit", r.status, r.body)
	}
}
