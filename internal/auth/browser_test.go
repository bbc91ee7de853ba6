package auth

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"jwtauth/internal/store/storetest"
)

// Resume serves a browser session: a good access token as is; an expired
// one renewed through the session's refresh token (its own, which rotates
// apart from the body's); an ended session as "Unauthorized!", the one
// answer a browser gets for a session that is over.
func TestResume(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, driver string) {
		t.Parallel()
		svc, clock := newTestService(t, driver, func(o *Options) { o.BrowserSessions = true })
		ctx := context.Background()
		addUser(t, svc, "browser", "password-1")
		in, err := svc.SignIn(ctx, "browser", "password-1")
		if err != nil {
			t.Fatal(err)
		}
		if in.CookieRefreshToken == "" || in.CookieRefreshToken == in.RefreshToken || in.RefreshTTL != 24*time.Hour {
			t.Fatalf("signin tokens %+v: want a cookie refresh token of its own, a day to live", in.Tokens)
		}
		p, renewed, err := svc.Resume(ctx, in.AccessToken, in.CookieRefreshToken)
		if err != nil || p.UserID != in.ID || renewed != (Tokens{}) {
			t.Fatalf("fresh session: %+v %+v %v", p, renewed, err)
		}
		clock.Advance(time.Hour + time.Second)
		p, renewed, err = svc.Resume(ctx, in.AccessToken, in.CookieRefreshToken)
		if err != nil || p.UserID != in.ID || renewed.AccessToken == "" || renewed.RefreshToken == in.CookieRefreshToken ||
			renewed.RefreshTTL != 24*time.Hour {
			t.Fatalf("expired access token: %+v %+v %v", p, renewed, err)
		}
		// The body's refresh token was not touched by the cookie's rotation.
		if _, err := svc.Refresh(ctx, in.RefreshToken); err != nil {
			t.Fatalf("the body's refresh token after the cookie's renewal: %v", err)
		}
		if err := svc.SignOut(ctx, p, "", false); err != nil {
			t.Fatal(err)
		}
		_, _, err = svc.Resume(ctx, renewed.AccessToken, renewed.RefreshToken)
		wantErr(t, "a signed-out session", err, ErrTokenInvalid)
		clock.Advance(time.Hour + time.Second)
		_, _, err = svc.Resume(ctx, renewed.AccessToken, renewed.RefreshToken)
		wantErr(t, "a signed-out session, access expired", err, ErrTokenInvalid)
	})
}

// Two tokens are the same signin's only when both are ours and name one
// user and session; expiry does not matter, a foreign signature does.
func TestSameSignIn(t *testing.T) {
	t.Parallel()
	svc, clock := newTestService(t, "sqlite", func(o *Options) { o.BrowserSessions = true })
	ctx := context.Background()
	addUser(t, svc, "one", "password-1")
	addUser(t, svc, "two", "password-1")
	a, _ := svc.SignIn(ctx, "one", "password-1")
	b, _ := svc.SignIn(ctx, "one", "password-1")
	other, _ := svc.SignIn(ctx, "two", "password-1")
	clock.Advance(2 * time.Hour)
	renewed, err := svc.Refresh(ctx, a.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	forger := newTokenKeys(hmacKey(secret, true), nil, time.Hour, clock.Now)
	forged, err := forger.issue(a.ID, 1, clock.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		x, y string
		want bool
	}{
		{"one token", a.AccessToken, a.AccessToken, true},
		{"an expired token and its renewal", a.AccessToken, renewed.AccessToken, true},
		{"two signins of one user", a.AccessToken, b.AccessToken, false},
		{"two users", a.AccessToken, other.AccessToken, false},
		{"a forged twin", a.AccessToken, forged, false},
		{"garbage", a.AccessToken, "garbage", false},
	} {
		if got := svc.SameSignIn(tt.x, tt.y); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
