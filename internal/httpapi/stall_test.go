package httpapi_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"jwtauth/internal/auth"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// The routes of email verification, the account's own view, the cookie's
// silent renewal and the admin search answer a stalled database as the
// older ones do: 503 with Retry-After within the deadline, JSON for the
// API and the page's own HTML for the page; asking for another link still
// answers its one fixed 200 at once, since the lookup happens later.
func TestDatabaseStallsOnAccountRoutes(t *testing.T) {
	storetest.RunServers(t, func(t *testing.T, driver string) {
		proxy, dsn := storetest.NewProxy(t, driver, storetest.NewDSN(t, driver))
		db := storetest.OpenDSN(t, driver, dsn)
		store.SetTimeout(db, time.Second)
		// The token check is cached, so that each request gets past it and
		// stalls in its own handler's queries.
		s := serverOn(t, db, func(o *auth.Options) {
			o.AuthzCacheTTL = time.Hour
			o.EmailVerification = auth.VerificationOptional
		})
		s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		in := s.signIn(t, "boss", "password-1")
		cookie, _ := s.cookieSignIn(t, "boss", "password-1")
		first := decode[adminPage](t, s.as(t, in.AccessToken, "GET", "/api/admin/users?size=1", ""))
		if first.Next == nil {
			s.createUser(t, "other", "password-1", roleUser)
			first = decode[adminPage](t, s.as(t, in.AccessToken, "GET", "/api/admin/users?size=1", ""))
		}
		s.clock.Advance(time.Hour + time.Second) // the cookie's access token has expired: the next use renews it
		fresh := s.mustRefresh(t, in.RefreshToken).AccessToken
		s.me(t, fresh) // cached from now on

		proxy.Stall()
		defer proxy.Resume()
		const msg = "Service temporarily unavailable, please retry."
		calls := map[string]func() response{
			"verify-email": func() response { return verifyWith(t, s, strings.Repeat("a", 43)) },
			"me":           func() response { return s.get(t, "/api/auth/me", fresh) },
			"change-email": func() response {
				return s.as(t, fresh, "POST", "/api/auth/change-email", `{"email":"new@example.com","password":"password-1"}`)
			},
			"cookie renewal": func() response { return s.withCookie(t, "GET", "/api/auth/me", cookie.Value, "") },
			"admin search":   func() response { return s.as(t, fresh, "GET", "/api/admin/users?q=bo", "") },
			"admin cursor":   func() response { return s.as(t, fresh, "GET", "/api/admin/users?size=1&cursor="+*first.Next, "") },
			"delete account": func() response { return s.as(t, fresh, "DELETE", "/api/auth/me", `{"password":"password-1"}`) },
		}
		page := func() response {
			return s.do(t, request{method: "GET", path: "/verify-email?token=" + strings.Repeat("a", 43)})
		}
		var wg sync.WaitGroup
		check := func(name string, call func() response, wantStatus int, html bool) {
			defer wg.Done()
			start := time.Now()
			r := call()
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("%s took %s with the database stalled", name, took)
			}
			switch {
			case r.status != wantStatus:
				t.Errorf("%s: %d %s, want %d", name, r.status, r.body, wantStatus)
			case wantStatus == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "":
				t.Errorf("%s: 503 without Retry-After", name)
			case html && !strings.HasPrefix(r.contentType(), "text/html"):
				t.Errorf("%s: Content-Type %q, want the page", name, r.contentType())
			case !html && wantStatus == http.StatusServiceUnavailable:
				wantJSON(t, r, 503, msg)
			}
		}
		for name, call := range calls {
			wg.Add(1)
			go check(name, call, http.StatusServiceUnavailable, false)
		}
		wg.Add(2)
		go check("verify page", page, http.StatusServiceUnavailable, true)
		go check("resend-verification", func() response { return resend(t, s, "boss@example.com") }, http.StatusOK, false)
		select {
		case <-waitGroupDone(&wg):
		case <-time.After(60 * time.Second):
			proxy.Resume()
			t.Fatal("requests still hanging after 60s with the database stalled")
		}
		proxy.Resume()
		if me := s.me(t, fresh); me.Email != "boss@example.com" {
			t.Errorf("after the stall: %+v", me)
		}
	})
}
