package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"jwtauth/internal/auth"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

const (
	msgReused  = "Refresh token was already used, so its sign-in has been revoked. Please make a new signin request"
	msgRevoked = "Refresh token was revoked. Please make a new signin request"
	msgExpired = "Refresh token was expired. Please make a new signin request"
	msgMissing = "Refresh token is not in database!"
)

type tokensBody struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

func (s *testServer) refresh(t testing.TB, token string) response {
	t.Helper()
	return s.postJSON(t, "/api/auth/refreshtoken", map[string]string{"refreshToken": token})
}

// mustRefresh exchanges token and fails the test otherwise.
func (s *testServer) mustRefresh(t testing.TB, token string) tokensBody {
	t.Helper()
	r := s.refresh(t, token)
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	var b tokensBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	if b.AccessToken == "" || b.RefreshToken == "" {
		t.Fatalf("refresh body %s lacks a token", r.body)
	}
	return b
}

func (s *testServer) signOut(t testing.TB, access string, body string) response {
	t.Helper()
	req := request{method: "POST", path: "/api/auth/signout", header: map[string]string{"x-access-token": access}}
	if body != "" {
		req.contentType, req.body = "application/json", body
	}
	return s.do(t, req)
}

func TestRefreshRotatesAndCatchesReplays(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "rotor", "password-1", roleUser)
		in := s.signIn(t, "rotor", "password-1")
		if len(in.RefreshToken) < 43 {
			t.Fatalf("refresh token %q is shorter than 256 bits", in.RefreshToken)
		}

		first := s.mustRefresh(t, in.RefreshToken)
		if first.RefreshToken == in.RefreshToken {
			t.Fatal("refresh handed back the same refresh token")
		}
		wantText(t, s.get(t, "/api/test/user", first.AccessToken), 200, "User Content.")
		second := s.mustRefresh(t, first.RefreshToken)

		// The signin token, retired twice over, comes back after the grace window.
		s.clock.Advance(11 * time.Second)
		wantJSON(t, s.refresh(t, in.RefreshToken), 403, msgReused)
		// Every token of that signin is dead, including those issued after it...
		wantJSON(t, s.refresh(t, second.RefreshToken), 403, msgRevoked)
		wantJSON(t, s.refresh(t, first.RefreshToken), 403, msgRevoked)
		// ...and so are its access tokens: on this instance at once.
		wantJSON(t, s.get(t, "/api/test/user", second.AccessToken), 401, "Unauthorized!")

		// Signing in again starts afresh.
		again := s.signIn(t, "rotor", "password-1")
		s.mustRefresh(t, again.RefreshToken)
		var sessions []store.Session
		s.db.Order("id").Find(&sessions)
		if len(sessions) != 2 || sessions[0].RevokedAt == nil || *sessions[0].RevokedReason != "reuse" || sessions[1].RevokedAt != nil {
			t.Errorf("sessions = %+v", sessions)
		}
	})
}

// Two tabs refreshing with one token at nearly the same time both succeed.
func TestRefreshGraceWindow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "tabs", "password-1", roleUser)
		in := s.signIn(t, "tabs", "password-1")
		tabA := s.mustRefresh(t, in.RefreshToken)
		s.clock.Advance(9 * time.Second)
		tabB := s.mustRefresh(t, in.RefreshToken)
		if tabA.RefreshToken == tabB.RefreshToken {
			t.Fatal("both tabs got the same refresh token")
		}
		s.mustRefresh(t, tabA.RefreshToken)
		s.mustRefresh(t, tabB.RefreshToken)
		s.clock.Advance(2 * time.Second) // 11s after the first exchange
		wantJSON(t, s.refresh(t, in.RefreshToken), 403, msgReused)
	})
}

func TestRefreshErrors(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "plain", "password-1", roleUser)
		in := s.signIn(t, "plain", "password-1")
		const json = "application/json"
		tests := []struct {
			name, contentType, body string
			status                  int
			msg                     string
		}{
			{"no token", json, `{}`, 403, "Refresh Token is required!"},
			{"empty token", json, `{"refreshToken":""}`, 403, "Refresh Token is required!"},
			{"null token", json, `{"refreshToken":null}`, 403, "Refresh Token is required!"},
			{"unknown token", json, `{"refreshToken":"d2hhdGV2ZXI"}`, 403, msgMissing},
			{"an access token", json, `{"refreshToken":"` + in.AccessToken + `"}`, 403, msgMissing},
			{"numeric token", json, `{"refreshToken":12}`, 400, "Failed! Refresh Token must be a string."},
			{"malformed JSON", json, `{"refreshToken":`, 400, "Failed! Request body is not valid JSON."},
			{"token given twice in a form", "application/x-www-form-urlencoded", "refreshToken=a&refreshToken=b",
				400, "Failed! Refresh Token must be given once."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantJSON(t, s.do(t, request{method: "POST", path: "/api/auth/refreshtoken", contentType: tt.contentType, body: tt.body}), tt.status, tt.msg)
			})
		}
		// A form works, and an (expired) access token sent along is ignored.
		r := s.do(t, request{method: "POST", path: "/api/auth/refreshtoken",
			contentType: "application/x-www-form-urlencoded", body: "refreshToken=" + in.RefreshToken,
			header: map[string]string{"x-access-token": "expired.or.garbage"}})
		if r.status != 200 {
			t.Errorf("form refresh: %d %s", r.status, r.body)
		}
	})
}

func TestRefreshExpiry(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver, func(o *auth.Options) {
			o.RefreshTokenTTL = 30 * time.Minute
			o.SessionMaxAge = time.Hour
		})
		s.createUser(t, "mortal", "password-1", roleUser)

		idle := s.signIn(t, "mortal", "password-1")
		s.clock.Advance(30 * time.Minute)
		wantJSON(t, s.refresh(t, idle.RefreshToken), 403, msgExpired)

		// Refreshed often, a session still ends at its maximum age.
		busy := s.signIn(t, "mortal", "password-1").RefreshToken
		for range 2 {
			s.clock.Advance(25 * time.Minute)
			busy = s.mustRefresh(t, busy).RefreshToken
		}
		s.clock.Advance(10 * time.Minute) // 60 minutes after signin
		wantJSON(t, s.refresh(t, busy), 403, msgExpired)
	})
}

// Twenty refreshes of one token at once: no error, and all of them continue
// one session (the grace window), which a replay later revokes as a whole.
func TestConcurrentRefreshesOfOneToken(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		id := s.createUser(t, "racer", "password-1", roleUser)
		in := s.signIn(t, "racer", "password-1")
		const n = 20
		results := make([]response, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = s.refresh(t, in.RefreshToken)
			}()
		}
		close(start)
		wg.Wait()
		seen := map[string]bool{}
		for _, r := range results {
			if r.status != http.StatusOK {
				t.Fatalf("refresh: %d %s", r.status, r.body)
			}
			var b tokensBody
			json.Unmarshal(r.body, &b)
			if seen[b.RefreshToken] {
				t.Error("two refreshes got the same new token")
			}
			seen[b.RefreshToken] = true
		}
		var sessions, tokens int64
		if err := s.db.Model(&store.Session{}).Where(map[string]any{"userId": id}).Count(&sessions).Error; err != nil {
			t.Fatal(err)
		}
		s.db.Model(&store.SessionToken{}).Count(&tokens)
		// The signin's two (the body's and the session cookie's) and one per refresh.
		if sessions != 1 || tokens != n+2 {
			t.Errorf("%d sessions with %d tokens, want 1 with %d", sessions, tokens, n+2)
		}
		s.clock.Advance(11 * time.Second)
		wantJSON(t, s.refresh(t, in.RefreshToken), 403, msgReused)
		for tok := range seen {
			wantJSON(t, s.refresh(t, tok), 403, msgRevoked)
		}
	})
}

func TestSignOut(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "leaver", "password-1", roleUser)
		s.createUser(t, "other", "password-1", roleUser)
		laptop := s.signIn(t, "leaver", "password-1")
		phone := s.signIn(t, "leaver", "password-1")
		other := s.signIn(t, "other", "password-1")

		r := s.signOut(t, laptop.AccessToken, `{"refreshToken":"`+laptop.RefreshToken+`"}`)
		wantJSON(t, r, 200, "You've been signed out!")
		wantJSON(t, s.refresh(t, laptop.RefreshToken), 403, msgRevoked)
		wantJSON(t, s.get(t, "/api/test/user", laptop.AccessToken), 401, "Unauthorized!")
		phone = tokensOrFail(t, s.mustRefresh(t, phone.RefreshToken), phone)
		wantText(t, s.get(t, "/api/test/user", phone.AccessToken), 200, "User Content.")

		// Someone else's refresh token is left alone; the answer is the same.
		wantJSON(t, s.signOut(t, phone.AccessToken, `{"refreshToken":"`+other.RefreshToken+`"}`), 200, "You've been signed out!")
		s.mustRefresh(t, other.RefreshToken)

		// Signing out twice, or of an unknown token, is fine.
		wantJSON(t, s.signOut(t, phone.AccessToken, `{"refreshToken":"`+laptop.RefreshToken+`"}`), 200, "You've been signed out!")
		wantJSON(t, s.signOut(t, phone.AccessToken, `{"refreshToken":"nothing"}`), 200, "You've been signed out!")

		// Every session at once.
		tablet := s.signIn(t, "leaver", "password-1")
		wantJSON(t, s.signOut(t, phone.AccessToken, `{"all":true}`), 200, "You've been signed out!")
		wantJSON(t, s.refresh(t, phone.RefreshToken), 403, msgRevoked)
		wantJSON(t, s.refresh(t, tablet.RefreshToken), 403, msgRevoked)
		s.clock.Advance(6 * time.Second) // other instances' caches
		wantJSON(t, s.get(t, "/api/test/user", tablet.AccessToken), 401, "Unauthorized!")

		// With no body, the session of the access token ends.
		desk := s.signIn(t, "leaver", "password-1")
		wantJSON(t, s.signOut(t, desk.AccessToken, ""), 200, "You've been signed out!")
		wantJSON(t, s.refresh(t, desk.RefreshToken), 403, msgRevoked)

		// No credential at all: nothing to end, and the same 200, which the
		// cookie family's frontends wait for before they forget the user.
		wantJSON(t, s.signOut(t, "", `{"all":true}`), 200, "You've been signed out!")
		// A header token that fails is refused, as on any route.
		wantJSON(t, s.signOut(t, "garbage", ""), 401, "Unauthorized!")
		// A refresh token alone proves the session it ends.
		held := s.signIn(t, "leaver", "password-1")
		wantJSON(t, s.signOut(t, "", `{"refreshToken":"`+held.RefreshToken+`"}`), 200, "You've been signed out!")
		wantJSON(t, s.refresh(t, held.RefreshToken), 403, msgRevoked)
		fresh := s.signIn(t, "leaver", "password-1")
		wantJSON(t, s.signOut(t, fresh.AccessToken, `{"all":"yes"}`), 400, "Failed! all must be true or false.")
		r = s.do(t, request{method: "POST", path: "/api/auth/signout", contentType: "application/x-www-form-urlencoded",
			body: "all=true", header: map[string]string{"Authorization": "Bearer " + fresh.AccessToken}})
		wantJSON(t, r, 200, "You've been signed out!")
		wantJSON(t, s.refresh(t, fresh.RefreshToken), 403, msgRevoked)
	})
}

func tokensOrFail(t *testing.T, b tokensBody, in signInBody) signInBody {
	t.Helper()
	in.AccessToken, in.RefreshToken = b.AccessToken, b.RefreshToken
	return in
}

// A deleted user, or one whose password changed, keeps no session.
func TestSessionsEndWithTheAccount(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		gone := s.createUser(t, "gone", "password-1", roleUser)
		goneIn := s.signIn(t, "gone", "password-1")
		if err := store.DeleteUser(context.Background(), s.db, gone); err != nil {
			t.Fatal(err)
		}
		wantJSON(t, s.refresh(t, goneIn.RefreshToken), 403, msgMissing)

		moved := s.createUser(t, "moved", "password-1", roleUser)
		a := s.signIn(t, "moved", "password-1")
		b := s.signIn(t, "moved", "password-1")
		if err := s.svc.SetPassword(context.Background(), moved, "password-2"); err != nil {
			t.Fatal(err)
		}
		wantJSON(t, s.refresh(t, a.RefreshToken), 403, msgRevoked)
		wantJSON(t, s.refresh(t, b.RefreshToken), 403, msgRevoked)
		wantJSON(t, s.postJSON(t, "/api/auth/signin", map[string]string{"username": "moved", "password": "password-1"}),
			401, "Invalid Password!")
		s.signIn(t, "moved", "password-2")
		if err := s.svc.SetPassword(context.Background(), moved, "short"); err == nil {
			t.Error("SetPassword accepted a short password")
		}
	})
}

// With rotation off, a refresh hands back the token it was given, which
// stays good until it expires: the original variant's frontends keep the
// first refresh token and present it on every refresh.
func TestRefreshWithoutRotation(t *testing.T) {
	s := newServer(t, "sqlite", func(o *auth.Options) { o.KeepRefreshToken = true })
	s.createUser(t, "keeper", "password-1", roleUser)
	in := s.signIn(t, "keeper", "password-1")
	for range 3 {
		got := s.mustRefresh(t, in.RefreshToken)
		if got.RefreshToken != in.RefreshToken {
			t.Fatal("the refresh token changed with rotation off")
		}
		wantText(t, s.get(t, "/api/test/user", got.AccessToken), 200, "User Content.")
		s.clock.Advance(time.Hour)
	}
	s.clock.Advance(21 * time.Hour)
	wantJSON(t, s.refresh(t, in.RefreshToken), 403, msgExpired)
	var n int64
	s.db.Model(&store.SessionToken{}).Count(&n)
	if n != 2 { // the body's and the session cookie's
		t.Errorf("%d refresh tokens stored, want 2", n)
	}
}
