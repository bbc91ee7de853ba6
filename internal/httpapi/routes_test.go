package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"jwtauth/internal/auth"
	"jwtauth/internal/logtest"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

func TestRoutes(t *testing.T) {
	s := newServer(t, "sqlite")

	r := s.get(t, "/", "")
	wantJSON(t, r, 200, "Welcome to jwtauth.")

	wantJSON(t, s.get(t, "/api/nothing-here", ""), 404, "Not found.")
	// Paths match as in Express: a trailing slash and letter case are ignored.
	wantText(t, s.get(t, "/api/test/all/", ""), 200, "Public Content.")
	wantText(t, s.get(t, "/API/Test/All", ""), 200, "Public Content.")
	wantJSON(t, s.postJSON(t, "/api/auth/refreshToken", map[string]string{}), 403, "Refresh Token is required!")
	wantJSON(t, s.postJSON(t, "/api/auth/signin/", map[string]string{"username": "nobody", "password": "password-1"}), 404, "User Not found.")
	wantJSON(t, s.do(t, request{method: "POST", path: "/api/auth/nothing"}), 404, "Not found.")

	r = s.get(t, "/api/auth/signin", "")
	wantJSON(t, r, 405, "Method not allowed.")
	if allow := r.header.Get("Allow"); allow != "POST" {
		t.Errorf("Allow = %q, want POST", allow)
	}
	wantJSON(t, s.do(t, request{method: "DELETE", path: "/api/test/all"}), 405, "Method not allowed.")

	if r := s.get(t, "/healthz", ""); r.status != 200 || string(r.body) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", r.status, r.body)
	}
	if r := s.get(t, "/readyz", ""); r.status != 200 || string(r.body) != `{"status":"ready"}` {
		t.Errorf("readyz: %d %s", r.status, r.body)
	}
}

func TestCORS(t *testing.T) {
	s := newServer(t, "sqlite")
	const allowed = "http://localhost:8081"

	t.Run("preflight from the frontend", func(t *testing.T) {
		r := s.do(t, request{method: "OPTIONS", path: "/api/auth/signin", header: map[string]string{
			"Origin": allowed, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "content-type,x-access-token",
		}})
		if r.status != http.StatusNoContent {
			t.Errorf("status = %d, want 204", r.status)
		}
		if got := r.header.Get("Access-Control-Allow-Origin"); got != allowed {
			t.Errorf("Allow-Origin = %q", got)
		}
		headers := strings.ToLower(r.header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"x-access-token", "origin", "content-type", "accept", "authorization"} {
			if !strings.Contains(headers, h) {
				t.Errorf("Allow-Headers %q lacks %s", headers, h)
			}
		}
	})
	t.Run("request from the frontend", func(t *testing.T) {
		r := s.do(t, request{method: "GET", path: "/api/test/all", header: map[string]string{"Origin": allowed}})
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != allowed {
			t.Errorf("got %d, Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("other origins get no CORS headers", func(t *testing.T) {
		r := s.do(t, request{method: "GET", path: "/api/test/all", header: map[string]string{"Origin": "http://evil.example"}})
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("got %d, Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
		r = s.do(t, request{method: "OPTIONS", path: "/api/auth/signin", header: map[string]string{
			"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}})
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight: %d, Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
	})
}

// Every answer carries the security headers, and none may be cached: the
// signin and refresh bodies hold tokens.
func TestSecurityHeaders(t *testing.T) {
	s := newServer(t, "sqlite")
	s.createUser(t, "headers", "password-1", roleUser)
	in := s.signIn(t, "headers", "password-1")
	for name, r := range map[string]response{
		"signin":  s.postJSON(t, "/api/auth/signin", map[string]string{"username": "headers", "password": "password-1"}),
		"refresh": s.refresh(t, in.RefreshToken),
		"board":   s.get(t, "/api/test/user", in.AccessToken),
		"public":  s.get(t, "/api/test/all", ""),
		"404":     s.get(t, "/nowhere", ""),
		"401":     s.get(t, "/api/test/user", "bad"),
	} {
		for header, want := range map[string]string{
			"Cache-Control":           "no-store",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		} {
			if got := r.header.Get(header); got != want {
				t.Errorf("%s: %s = %q, want %q", name, header, got, want)
			}
		}
	}
	if got := s.get(t, "/.well-known/jwks.json", "").header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("jwks: Cache-Control = %q, want it cacheable", got)
	}
}

// With the database gone, requests that need it answer 503 JSON at once;
// those that do not keep answering.
func TestDatabaseDown(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "plain", "password-1", roleUser)
		token := s.signIn(t, "plain", "password-1").AccessToken
		wantText(t, s.get(t, "/api/test/user", token), 200, "User Content.") // caches the roles
		store.Close(s.db)

		const msg = "Service temporarily unavailable, please retry."
		r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": "plain", "password": "password-1"})
		wantJSON(t, r, 503, msg)
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		wantJSON(t, s.postJSON(t, "/api/auth/signup", map[string]string{
			"username": "newbie", "email": "newbie@example.com", "password": "password-1"}), 503, msg)
		wantJSON(t, s.get(t, "/readyz", ""), 503, msg)
		if r := s.get(t, "/healthz", ""); r.status != 200 {
			t.Errorf("healthz: %d", r.status)
		}
		// Roles already cached keep serving within the TTL; a cold user gets 503.
		wantText(t, s.get(t, "/api/test/user", token), 200, "User Content.")
		s.clock.Advance(10 * time.Second)
		wantJSON(t, s.get(t, "/api/test/user", token), 503, msg)
		wantText(t, s.get(t, "/api/test/all", ""), 200, "Public Content.")
	})
}

// When the server drops every connection (a restart, a failover), the pool
// reconnects by itself: no 500, and signin works again.
func TestConnectionsKilled(t *testing.T) {
	storetest.RunServers(t, testConnectionsKilled)
}

func testConnectionsKilled(t *testing.T, driver string) {
	dsn := storetest.NewDSN(t, driver)
	s := serverOn(t, storetest.OpenDSN(t, driver, dsn))
	s.signUp(t, "survivor", "survivor@example.com", "password-1")
	s.signIn(t, "survivor", "password-1")

	if n := storetest.KillConnections(t, driver, dsn); n == 0 {
		t.Fatal("no connections to kill")
	}
	ok := false
	for range 5 {
		r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": "survivor", "password": "password-1"})
		if r.status == 200 {
			ok = true
			break
		}
		wantJSON(t, r, 503, "Service temporarily unavailable, please retry.")
	}
	if !ok {
		t.Fatal("signin did not recover after the connections were killed")
	}
	if err := store.Ping(context.Background(), s.db); err != nil {
		t.Fatal(err)
	}
}

// Connections cut while signups are in flight (a failover, a proxy
// restart): every answer is 200 or 503 JSON with Retry-After, never a 500,
// although some of the 503s may in fact have been stored (the cut came
// after the server ran the COMMIT, before its reply arrived). Retrying a
// 503 once then gives 200 or "already in use", and never a second account.
func TestConnectionsCutDuringSignups(t *testing.T) {
	storetest.RunServers(t, testConnectionsCutDuringSignups)
}

func testConnectionsCutDuringSignups(t *testing.T, driver string) {
	proxy, dsn := storetest.NewProxy(t, driver, storetest.NewDSN(t, driver))
	db := storetest.OpenDSN(t, driver, dsn)
	if driver == store.DriverPostgres {
		// Slow COMMITs down (a deferred trigger runs at COMMIT), so that
		// cuts land while the server is committing, as under a slow disk.
		for _, stmt := range []string{
			"CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$",
			"CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON users DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()",
		} {
			if err := db.Exec(stmt).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	s := serverOn(t, db)
	const (
		rounds   = 6
		inFlight = 20
		msg      = "Service temporarily unavailable, please retry."
	)
	isUnavailable := func(r response) bool {
		t.Helper()
		if r.status != 503 {
			return false
		}
		wantJSON(t, r, 503, msg)
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		return true
	}
	var retried, storedAnyway int
	for round := range rounds {
		names := make([]string, inFlight)
		answers := make([]response, inFlight)
		var wg sync.WaitGroup
		for i := range inFlight {
			names[i] = fmt.Sprintf("cut%d_%d", round, i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = s.postJSON(t, "/api/auth/signup", map[string]string{
					"username": names[i], "email": names[i] + "@example.com", "password": "password-1"})
			}()
		}
		// Cut at a different point of the signups' work each round, the
		// server's last replies held back so that some COMMITs it ran
		// are never acknowledged.
		time.Sleep(time.Duration(20+round*10) * time.Millisecond)
		proxy.StallReplies()
		time.Sleep(60 * time.Millisecond)
		proxy.Down()
		proxy.Up()
		wg.Wait()
		for i, r := range answers {
			switch {
			case r.status == 200:
			case isUnavailable(r):
				retried++
				again := s.postJSON(t, "/api/auth/signup", map[string]string{
					"username": names[i], "email": names[i] + "@example.com", "password": "password-1"})
				if again.status != 200 {
					// The first attempt was stored after all.
					wantJSON(t, again, 400, "Failed! Username is already in use!")
					storedAnyway++
				}
			default:
				t.Errorf("signup %s: %d %s, want 200 or 503", names[i], r.status, r.body)
			}
		}
	}
	for round := range rounds {
		for i := range inFlight {
			name := fmt.Sprintf("cut%d_%d", round, i)
			if n := countUsers(t, s.db, "username = ?", name); n != 1 {
				t.Errorf("%s: %d accounts, want exactly 1", name, n)
			}
		}
	}
	t.Logf("%d signups answered 503 and were retried; %d of them had been stored", retried, storedAnyway)
}

// The database goes away under a running server and comes back: requests
// that need it get 503 meanwhile (never a 500, never a hang), /readyz says
// unready, and the server recovers by itself.
func TestOutageAndRecovery(t *testing.T) {
	storetest.RunServers(t, testOutageAndRecovery)
}

func testOutageAndRecovery(t *testing.T, driver string) {
	proxy, dsn := storetest.NewProxy(t, driver, storetest.NewDSN(t, driver))
	s := serverOn(t, storetest.OpenDSN(t, driver, dsn))
	s.signUp(t, "steady", "steady@example.com", "password-1")
	s.signIn(t, "steady", "password-1")

	proxy.Down()
	const msg = "Service temporarily unavailable, please retry."
	wantJSON(t, s.postJSON(t, "/api/auth/signin", map[string]string{"username": "steady", "password": "password-1"}), 503, msg)
	wantJSON(t, s.postJSON(t, "/api/auth/signup", map[string]string{
		"username": "during", "email": "during@example.com", "password": "password-1"}), 503, msg)
	wantJSON(t, s.get(t, "/readyz", ""), 503, msg)

	proxy.Up()
	recovered := false
	for range 5 {
		r := s.get(t, "/readyz", "")
		if r.status == 200 {
			recovered = true
			break
		}
		wantJSON(t, r, 503, msg)
	}
	if !recovered {
		t.Fatal("/readyz did not recover once the database was back")
	}
	s.signIn(t, "steady", "password-1")
	s.signUp(t, "during", "during@example.com", "password-1")
	if n := countUsers(t, s.db, ""); n != 2 {
		t.Errorf("users = %d, want 2: nothing lost or doubled by the outage", n)
	}
}

// A database that stops answering (a stopped process, not a dead one)
// costs a request its deadline, then a 503 with Retry-After: signups,
// signins, token checks, refreshes and admin calls alike; and the server
// serves again by itself once the database does.
func TestDatabaseStalls(t *testing.T) {
	storetest.RunServers(t, func(t *testing.T, driver string) {
		proxy, dsn := storetest.NewProxy(t, driver, storetest.NewDSN(t, driver))
		db := storetest.OpenDSN(t, driver, dsn)
		store.SetTimeout(db, time.Second)
		s := serverOn(t, db, func(o *auth.Options) { o.AuthzCacheTTL = 0 })
		s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		in := s.signIn(t, "boss", "password-1")

		proxy.Stall()
		defer proxy.Resume()
		const msg = "Service temporarily unavailable, please retry."
		calls := map[string]func() response{
			"signup": func() response {
				return s.postJSON(t, "/api/auth/signup", map[string]string{"username": "late", "email": "late@example.com", "password": "password-1"})
			},
			"signin": func() response {
				return s.postJSON(t, "/api/auth/signin", map[string]string{"username": "boss", "password": "password-1"})
			},
			"board":   func() response { return s.get(t, "/api/test/user", in.AccessToken) },
			"refresh": func() response { return s.refresh(t, in.RefreshToken) },
			"admin":   func() response { return s.as(t, in.AccessToken, "GET", "/api/admin/users", "") },
		}
		var wg sync.WaitGroup
		for name, call := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				r := call()
				// A generous bound that only says "did not hang": the
				// deadline is 1s, a request makes a few calls.
				if took := time.Since(start); took > 15*time.Second {
					t.Errorf("%s took %s with the database stalled", name, took)
				}
				if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
					t.Errorf("%s: %d %s (Retry-After %q), want 503 with Retry-After", name, r.status, r.body, r.header.Get("Retry-After"))
					return
				}
				wantJSON(t, r, 503, msg)
			}()
		}
		select {
		case <-waitGroupDone(&wg):
		case <-time.After(60 * time.Second):
			proxy.Resume()
			t.Fatal("requests still hanging after 60s with the database stalled")
		}
		proxy.Resume()
		s.signIn(t, "boss", "password-1")
	})
}

// A browser origin that is refused is said in the log, once, with the
// setting that would allow it: otherwise a frontend on a port nobody
// listed gets a 204 preflight without CORS headers and nothing says why.
func TestRefusedOriginIsLoggedOnce(t *testing.T) {
	var logs logtest.Buffer
	s := serverOn(t, storetest.Open(t, "sqlite"), func(o *auth.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	const frontend = "http://localhost:5173"
	for range 3 {
		s.do(t, request{method: "OPTIONS", path: "/api/auth/signin", header: map[string]string{
			"Origin": frontend, "Access-Control-Request-Method": "POST"}})
		s.do(t, request{method: "GET", path: "/api/test/all", header: map[string]string{"Origin": frontend}})
	}
	// Neither an allowed origin nor the server's own (a form on its own
	// pages sends that) is a refusal.
	s.do(t, request{method: "GET", path: "/api/test/all", header: map[string]string{"Origin": "http://localhost:8081"}})
	s.do(t, request{method: "POST", path: "/api/auth/signin", header: map[string]string{"Origin": s.URL}})
	// Nor is something that is not an origin at all worth a line.
	s.do(t, request{method: "GET", path: "/api/test/all", header: map[string]string{"Origin": "null"}})

	want := `level=WARN msg="browser origin refused: not in CORS_ORIGINS" origin=http://localhost:5173 allow_with="CORS_ORIGINS=http://localhost:8081,http://localhost:5173"`
	out := logs.String()
	if n := strings.Count(out, "browser origin refused"); n != 1 || !strings.Contains(out, want) {
		t.Errorf("%d refusal lines, want 1 saying\n%s\nlog:\n%s", n, want, out)
	}
}
