package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"jwtauth/internal/auth"
	"jwtauth/internal/httpapi"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// allowedOrigin is the test server's one CORS origin, the tutorial
// frontends' port.
const allowedOrigin = "http://localhost:8081"

const signedOut = "You've been signed out!"

// sessionCookie is the session cookie an answer sets, or nil.
func sessionCookie(r response) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == testCookie.Name {
			return c
		}
	}
	return nil
}

// mustCookie is the session cookie an answer sets, which must be a live one.
func mustCookie(t testing.TB, r response) *http.Cookie {
	t.Helper()
	c := sessionCookie(r)
	if c == nil || c.Value == "" || c.MaxAge <= 0 {
		t.Fatalf("%d %s: no live session cookie in %q", r.status, r.body, r.header.Values("Set-Cookie"))
	}
	return c
}

// wantCleared checks that an answer tells the browser to drop the cookie.
func wantCleared(t testing.TB, r response) {
	t.Helper()
	if c := sessionCookie(r); c == nil || c.Value != "" || c.MaxAge >= 0 {
		t.Errorf("the session cookie is not cleared: %q", r.header.Values("Set-Cookie"))
	}
}

// cookieSignIn signs in as a browser of the allowed origin does and
// returns the cookie it gets, with the body.
func (s *testServer) cookieSignIn(t testing.TB, username, password string) (*http.Cookie, signInBody) {
	t.Helper()
	r := s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: "application/json",
		body:   `{"username":"` + username + `","password":"` + password + `"}`,
		header: map[string]string{"Origin": allowedOrigin}})
	if r.status != http.StatusOK {
		t.Fatalf("signin %s: %d %s", username, r.status, r.body)
	}
	var b signInBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	return mustCookie(t, r), b
}

// withCookie sends a request carrying only the session cookie (value)
// and, for a state-changing method, the allowed origin, as the cookie
// family's frontends do; header adds or overrides headers.
func (s *testServer) withCookie(t testing.TB, method, path, value, body string, header ...string) response {
	t.Helper()
	req := request{method: method, path: path, header: map[string]string{"Cookie": testCookie.Name + "=" + value}}
	if method != "GET" {
		req.header["Origin"] = allowedOrigin
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			delete(req.header, header[i])
		} else {
			req.header[header[i]] = header[i+1]
		}
	}
	if body != "" {
		req.contentType, req.body = "application/json", body
	}
	return s.do(t, req)
}

// Signin serves both families at once: the body as before, and a session
// cookie (HttpOnly, SameSite, Path=/, as long-lived as a refresh token)
// with which alone every guarded route answers as it does to the header.
func TestCookieSignIn(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "crumb", "password-1", roleUser)
		s.createUser(t, "moddy", "password-1", roleUser, roleModerator)
		c, body := s.cookieSignIn(t, "crumb", "password-1")
		if body.AccessToken == "" || body.RefreshToken == "" || body.Username != "crumb" || len(body.Roles) != 1 {
			t.Errorf("signin body %+v lacks the header family's fields", body)
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || c.Domain != "" ||
			c.MaxAge != int((24*time.Hour)/time.Second) {
			t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over HTTP, host-only, Max-Age a day", c)
		}
		// The cookie's refresh token is its own, not the one the body gave.
		if strings.Contains(c.Value, body.RefreshToken) {
			t.Error("the cookie carries the body's refresh token")
		}
		wantText(t, s.withCookie(t, "GET", "/api/test/user", c.Value, ""), 200, "User Content.")
		wantJSON(t, s.withCookie(t, "GET", "/api/test/mod", c.Value, ""), 403, "Require Moderator Role!")
		wantJSON(t, s.withCookie(t, "GET", "/api/test/admin", c.Value, ""), 403, "Require Admin Role!")
		mod, _ := s.cookieSignIn(t, "moddy", "password-1")
		wantText(t, s.withCookie(t, "GET", "/api/test/mod", mod.Value, ""), 200, "Moderator Content.")
		wantJSON(t, s.get(t, "/api/test/user", ""), 403, "No token provided!")
		// The header family is as it was.
		wantText(t, s.get(t, "/api/test/user", body.AccessToken), 200, "User Content.")

		// A cookie jwtauth did not write is no session, and is cleared.
		for _, v := range []string{"garbage", body.AccessToken, "a~b", "~" + body.RefreshToken} {
			r := s.withCookie(t, "GET", "/api/test/user", v, "")
			wantJSON(t, r, 401, "Unauthorized!")
			wantCleared(t, r)
		}
		// Signin from a page of an origin that may not call the API (a
		// hostile page signing the browser in to its own account) sets no
		// cookie; the body is the header family's as ever.
		r := s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: "application/json",
			body: `{"username":"crumb","password":"password-1"}`, header: map[string]string{"Origin": "http://evil.example"}})
		if r.status != 200 || sessionCookie(r) != nil {
			t.Errorf("signin from another origin: %d, cookie %q", r.status, r.header.Values("Set-Cookie"))
		}
	})
}

// A session cookie is a real session: signout, a password change, an
// admin's "sign out everywhere" and deleting the user end it at once on
// the instance answering, and the old cookie replayed is refused.
func TestCookieSessionEnds(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		id := s.createUser(t, "ender", "password-1", roleUser)
		s.createUser(t, "boss", "password-1", roleUser, roleAdmin)

		c, _ := s.cookieSignIn(t, "ender", "password-1")
		r := s.withCookie(t, "POST", "/api/auth/signout", c.Value, "")
		wantJSON(t, r, 200, signedOut)
		wantCleared(t, r)
		replayed := s.withCookie(t, "GET", "/api/test/user", c.Value, "")
		wantJSON(t, replayed, 401, "Unauthorized!")
		wantCleared(t, replayed)
		// Nor does its refresh token outlive it, once the access token has expired.
		s.clock.Advance(time.Hour + time.Second)
		wantJSON(t, s.withCookie(t, "GET", "/api/test/user", c.Value, ""), 401, "Unauthorized!")

		// Signout always answers 200 and clears the cookie: with no
		// cookie, an ended one, an unknown one, one that does not parse.
		for _, v := range []string{"", c.Value, "x~y", "garbage"} {
			req := request{method: "POST", path: "/api/auth/signout", header: map[string]string{"Origin": allowedOrigin}}
			if v != "" {
				req.header["Cookie"] = testCookie.Name + "=" + v
			}
			r := s.do(t, req)
			wantJSON(t, r, 200, signedOut)
			wantCleared(t, r)
		}

		// A password change ends the other sessions; the one that made it stays.
		here, _ := s.cookieSignIn(t, "ender", "password-1")
		there, _ := s.cookieSignIn(t, "ender", "password-1")
		r = s.withCookie(t, "POST", "/api/auth/change-password", here.Value, `{"currentPassword":"password-1","newPassword":"password-2"}`)
		if r.status != 200 {
			t.Fatalf("change password with the cookie: %d %s", r.status, r.body)
		}
		wantText(t, s.withCookie(t, "GET", "/api/test/user", here.Value, ""), 200, "User Content.")
		wantJSON(t, s.withCookie(t, "GET", "/api/test/user", there.Value, ""), 401, "Unauthorized!")

		// An admin's "sign out everywhere".
		admin := s.signIn(t, "boss", "password-1")
		r = s.as(t, admin.AccessToken, "POST", "/api/admin/users/"+strconv.FormatInt(id, 10)+"/signout", "")
		if r.status != 200 {
			t.Fatalf("admin signout: %d %s", r.status, r.body)
		}
		wantJSON(t, s.withCookie(t, "GET", "/api/test/user", here.Value, ""), 401, "Unauthorized!")

		// Deleting the user.
		last, _ := s.cookieSignIn(t, "ender", "password-2")
		wantText(t, s.withCookie(t, "GET", "/api/test/user", last.Value, ""), 200, "User Content.")
		r = s.withCookie(t, "DELETE", "/api/auth/me", last.Value, `{"password":"password-2"}`)
		if r.status != 200 {
			t.Fatalf("delete account with the cookie: %d %s", r.status, r.body)
		}
		wantCleared(t, r) // the browser holds nothing of an account that is gone
		wantJSON(t, s.withCookie(t, "GET", "/api/test/user", last.Value, ""), 401, "Unauthorized!")
	})
}

// The short access-token expiry is handled behind the cookie: a request
// whose access token has expired is served, and its answer carries the
// renewed cookie. Tabs firing at once at expiry are all served, within
// the refresh reuse grace. The session stays alive while used and ends
// after a refresh lifetime of idleness. The page's own (body) refresh
// token rotates apart and is not disturbed.
func TestCookieRenewsItself(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "tabs", "password-1", roleUser)
		c, body := s.cookieSignIn(t, "tabs", "password-1")

		s.clock.Advance(time.Hour + time.Second)
		const tabs = 6
		renewed := make([]*http.Cookie, tabs)
		var wg sync.WaitGroup
		for i := range tabs {
			wg.Go(func() {
				r := s.withCookie(t, "GET", "/api/test/user", c.Value, "")
				if r.status != 200 || string(r.body) != "User Content." {
					t.Errorf("tab %d at expiry: %d %s", i, r.status, r.body)
					return
				}
				renewed[i] = sessionCookie(r)
			})
		}
		wg.Wait()
		for i, rc := range renewed {
			if rc == nil || rc.Value == "" || rc.Value == c.Value || rc.MaxAge <= 0 || !rc.HttpOnly {
				t.Fatalf("tab %d got no renewed cookie: %+v", i, rc)
			}
			wantText(t, s.withCookie(t, "GET", "/api/test/user", rc.Value, ""), 200, "User Content.")
		}
		// A renewed cookie is not renewed again while its access token is good.
		if r := s.withCookie(t, "GET", "/api/test/user", renewed[0].Value, ""); sessionCookie(r) != nil {
			t.Errorf("a fresh cookie was rewritten: %q", r.header.Values("Set-Cookie"))
		}
		// The body's refresh token still works: the two rotate apart.
		got := s.mustRefresh(t, body.RefreshToken)
		wantText(t, s.get(t, "/api/test/user", got.AccessToken), 200, "User Content.")

		// Used every hour, the session lives on past a day...
		cur := renewed[tabs-1].Value
		for range 30 {
			s.clock.Advance(time.Hour + time.Second)
			r := s.withCookie(t, "GET", "/api/test/user", cur, "")
			wantText(t, r, 200, "User Content.")
			cur = mustCookie(t, r).Value
		}
		// ...and ends after a day without use.
		s.clock.Advance(24*time.Hour + time.Second)
		r := s.withCookie(t, "GET", "/api/test/user", cur, "")
		wantJSON(t, r, 401, "Unauthorized!")
		wantCleared(t, r)
	})
}

// A state-changing request authenticated by the cookie must come from an
// allowed origin or the server's own (Origin, else Referer); otherwise
// 403, and nothing changes. Header-authenticated requests are not
// affected, nor are reads.
func TestCookieCSRF(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "target", "password-1", roleUser)
		c, _ := s.cookieSignIn(t, "target", "password-1")
		const change = `{"currentPassword":"password-1","newPassword":"password-9"}`
		const refused = "Forbidden! A request signed in by the session cookie must come from an allowed origin."
		for _, tt := range []struct {
			name   string
			header []string
		}{
			{"another origin", []string{"Origin", "http://evil.example"}},
			{"another port of the same host", []string{"Origin", "http://localhost:9999"}},
			{"an opaque origin", []string{"Origin", "null"}},
			{"no origin and no referer", []string{"Origin", ""}},
			{"a referer of another origin", []string{"Origin", "", "Referer", "http://evil.example/page"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantJSON(t, s.withCookie(t, "POST", "/api/auth/change-password", c.Value, change, tt.header...), 403, refused)
				wantJSON(t, s.withCookie(t, "POST", "/api/auth/signout", c.Value, "", tt.header...), 403, refused)
				wantJSON(t, s.withCookie(t, "DELETE", "/api/auth/me", c.Value, `{"password":"password-1"}`, tt.header...), 403, refused)
				wantJSON(t, s.withCookie(t, "POST", "/api/auth/refreshtoken", c.Value, "", tt.header...), 403, refused)
			})
		}
		// A form, which any page can post without a preflight.
		r := s.do(t, request{method: "POST", path: "/api/auth/change-password", contentType: "application/x-www-form-urlencoded",
			body:   "currentPassword=password-1&newPassword=password-9",
			header: map[string]string{"Cookie": testCookie.Name + "=" + c.Value, "Origin": "http://evil.example"}})
		wantJSON(t, r, 403, refused)
		// Nothing changed: the session lives and the password is the old one.
		wantText(t, s.withCookie(t, "GET", "/api/test/user", c.Value, "", "Origin", "http://evil.example"), 200, "User Content.")
		s.signIn(t, "target", "password-1")

		// The same request from a page of the server's own origin, or with
		// only a Referer of an allowed one, goes through.
		r = s.withCookie(t, "POST", "/api/auth/change-password", c.Value, change, "Origin", s.URL)
		if r.status != 200 {
			t.Fatalf("from the server's own origin: %d %s", r.status, r.body)
		}
		r = s.withCookie(t, "POST", "/api/auth/change-password", c.Value, `{"currentPassword":"password-9","newPassword":"password-8"}`,
			"Origin", "", "Referer", allowedOrigin+"/profile")
		if r.status != 200 {
			t.Fatalf("with a Referer of the allowed origin: %d %s", r.status, r.body)
		}
		// A header-authenticated request is not the cookie's: no origin is asked for.
		fresh := s.signIn(t, "target", "password-8")
		r = s.do(t, request{method: "POST", path: "/api/auth/change-password", contentType: "application/json",
			body:   `{"currentPassword":"password-8","newPassword":"password-7"}`,
			header: map[string]string{"x-access-token": fresh.AccessToken, "Origin": "http://evil.example"}})
		if r.status != 200 {
			t.Fatalf("header-authenticated from another origin: %d %s", r.status, r.body)
		}
	})
}

// One request with a header token and the cookie carries one credential
// if both are the same signin's (a page that keeps its token and has the
// cookie too, even once the cookie's access token has expired), and is
// refused with 401 if they are two different ones.
func TestCookieAndHeaderTogether(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "both", "password-1", roleUser)
		s.createUser(t, "else", "password-1", roleUser)
		c, body := s.cookieSignIn(t, "both", "password-1")
		_, other := s.cookieSignIn(t, "else", "password-1")
		_, again := s.cookieSignIn(t, "both", "password-1")

		wantText(t, s.withCookie(t, "GET", "/api/test/user", c.Value, "", "x-access-token", body.AccessToken), 200, "User Content.")
		wantJSON(t, s.withCookie(t, "GET", "/api/test/user", c.Value, "", "x-access-token", other.AccessToken), 401, "Unauthorized!")
		wantJSON(t, s.withCookie(t, "GET", "/api/test/user", c.Value, "", "Authorization", "Bearer "+again.AccessToken), 401, "Unauthorized!")
		wantJSON(t, s.withCookie(t, "POST", "/api/auth/signout", c.Value, "", "x-access-token", other.AccessToken), 401, "Unauthorized!")
		// The page refreshed its token; the cookie's access token expired.
		s.clock.Advance(time.Hour + time.Second)
		fresh := s.mustRefresh(t, body.RefreshToken)
		wantText(t, s.withCookie(t, "GET", "/api/test/user", c.Value, "", "x-access-token", fresh.AccessToken), 200, "User Content.")
		// Still, the session is alive and the cookie renews by itself.
		wantText(t, s.withCookie(t, "GET", "/api/test/user", c.Value, ""), 200, "User Content.")
		// A cookie that does not parse beside a header is no credential.
		wantText(t, s.withCookie(t, "GET", "/api/test/user", "garbage", "", "x-access-token", fresh.AccessToken), 200, "User Content.")
	})
}

// The strict mode keeps tokens out of JSON bodies: signin answers the
// cookie sibling's body, the cookie does the rest, and refreshtoken
// renews the cookie without a token in sight.
func TestCookieStrictMode(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := startServer(t, storetest.Open(t, driver), func(o *httpapi.Options) { o.Cookie.TokensOutOfBody = true },
			func(o *auth.Options) { o.BrowserSessions = false })
		s.createUser(t, "strict", "password-1", roleUser)
		r := s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: "application/json",
			body: `{"username":"strict","password":"password-1"}`, header: map[string]string{"Origin": allowedOrigin}})
		c := mustCookie(t, r)
		var fields map[string]any
		if err := json.Unmarshal(r.body, &fields); err != nil {
			t.Fatal(err)
		}
		if len(fields) != 5 || fields["username"] != "strict" || fields["id"] == nil || fields["email"] == nil || fields["emailVerified"] != false {
			t.Errorf("strict signin body %s, want id, username, email, roles and emailVerified only", r.body)
		}
		if roles, ok := fields["roles"].([]any); !ok || len(roles) != 1 || roles[0] != "ROLE_USER" {
			t.Errorf("roles %v, want [ROLE_USER]", fields["roles"])
		}
		wantText(t, s.withCookie(t, "GET", "/api/test/user", c.Value, ""), 200, "User Content.")
		r = s.withCookie(t, "POST", "/api/auth/refreshtoken", c.Value, "")
		wantJSON(t, r, 200, "Session refreshed.")
		if strings.Contains(string(r.body), "Token\"") {
			t.Errorf("strict refresh body %s carries a token", r.body)
		}
		next := mustCookie(t, r)
		wantText(t, s.withCookie(t, "GET", "/api/test/user", next.Value, ""), 200, "User Content.")
		// A cookie that does not parse is an unknown refresh token, and is cleared.
		r = s.withCookie(t, "POST", "/api/auth/refreshtoken", "garbage", "")
		wantJSON(t, r, 403, msgMissing)
		wantCleared(t, r)
		var tokens int64
		s.db.Model(&store.SessionToken{}).Count(&tokens)
		if tokens != 2 { // the signin's and the refresh's
			t.Errorf("%d refresh tokens stored, want 2", tokens)
		}
	})
}

// The cookie's attributes follow the settings: Secure always, or when the
// request came over HTTPS per a trusted proxy (and only a trusted one);
// SameSite=Lax; a Domain. CORS answers an allowed origin with credentials;
// with "*" there are no credentials and no cookie.
func TestCookieSettings(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	s := startServer(t, db, func(o *httpapi.Options) {
		o.TrustedProxies = []string{"127.0.0.1"}
		o.Cookie.SameSite = http.SameSiteLaxMode
		o.Cookie.Domain = "example.com"
	})
	s.createUser(t, "setter", "password-1", roleUser)
	signIn := func(s *testServer, header map[string]string) *http.Cookie {
		r := s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: "application/json",
			body: `{"username":"setter","password":"password-1"}`, header: header})
		if r.status != 200 {
			t.Fatalf("signin: %d %s", r.status, r.body)
		}
		return sessionCookie(r)
	}
	c := signIn(s, nil)
	if c == nil || c.Secure || c.SameSite != http.SameSiteLaxMode || c.Domain != "example.com" {
		t.Errorf("cookie %+v: want not Secure, SameSite=Lax, Domain=example.com", c)
	}
	if c := signIn(s, map[string]string{"X-Forwarded-Proto": "https"}); c == nil || !c.Secure {
		t.Errorf("behind a trusted proxy saying https: %+v, want Secure", c)
	}
	untrusted := startServer(t, db, nil)
	if c := signIn(untrusted, map[string]string{"X-Forwarded-Proto": "https"}); c == nil || c.Secure {
		t.Errorf("X-Forwarded-Proto from an untrusted peer: %+v, want not Secure", c)
	}
	always := startServer(t, db, func(o *httpapi.Options) { o.Cookie.AlwaysSecure = true })
	if c := signIn(always, nil); c == nil || !c.Secure {
		t.Errorf("with Secure forced: %+v", c)
	}

	r := s.do(t, request{method: "OPTIONS", path: "/api/auth/signin", header: map[string]string{
		"Origin": allowedOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}})
	if r.header.Get("Access-Control-Allow-Origin") != allowedOrigin || r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight from the allowed origin: %d %v", r.status, r.header)
	}
	anyOrigin := startServer(t, db, func(o *httpapi.Options) { o.CORSOrigins = []string{"*"} })
	if c := signIn(anyOrigin, map[string]string{"Origin": "http://anywhere.example"}); c != nil {
		t.Errorf("with CORS_ORIGINS=* signin set %+v", c)
	}
	r = anyOrigin.do(t, request{method: "GET", path: "/api/test/all", header: map[string]string{"Origin": "http://anywhere.example"}})
	if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("with CORS_ORIGINS=*: %v", r.header)
	}
	// Nor is a cookie read: it would be one that an earlier configuration set.
	wantJSON(t, anyOrigin.withCookie(t, "GET", "/api/test/user", c.Value, ""), 403, "No token provided!")
}

// In the strict mode a refresh by a token in the body answers with the
// cookie: from a page of an unlisted origin that would sign the browser
// in to an account of the page's choosing (its author's refresh token,
// posted by a form), which signin refuses. It is refused before the token
// is spent; without an origin (curl) or from an allowed one it works.
func TestCookieStrictModeRefreshFromAnotherOrigin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := startServer(t, storetest.Open(t, driver), func(o *httpapi.Options) { o.Cookie.TokensOutOfBody = true })
		s.createUser(t, "mallory", "password-1", roleUser)
		r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": "mallory", "password": "password-1"})
		_, refresh, _ := strings.Cut(mustCookie(t, r).Value, "~")
		post := func(token string, header map[string]string) response {
			return s.do(t, request{method: "POST", path: "/api/auth/refreshtoken", contentType: "application/x-www-form-urlencoded",
				body: "refreshToken=" + token, header: header})
		}
		for _, origin := range []map[string]string{
			{"Origin": "http://evil.example"},
			{"Origin": "null"},
			{"Referer": "http://evil.example/login-me"},
		} {
			r = post(refresh, origin)
			wantJSON(t, r, 403, "Forbidden! A request that sets the session cookie must come from an allowed origin.")
			if c := sessionCookie(r); c != nil {
				t.Errorf("%v: the answer sets a session cookie %q", origin, c.Value)
			}
		}
		// The token was not spent: it is still good where it may be used.
		r = post(refresh, map[string]string{"Origin": allowedOrigin})
		wantJSON(t, r, 200, "Session refreshed.")
		_, next, _ := strings.Cut(mustCookie(t, r).Value, "~")
		mustCookie(t, post(next, nil))
	})
}
