package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"jwtauth/internal/auth"
	"jwtauth/internal/httpapi"
	"jwtauth/internal/logtest"
	"jwtauth/internal/mail/mailtest"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

const (
	forgotAnswer  = "If an account has that email address, a link to reset its password is on its way."
	resetDone     = "Password reset; every session was signed out. Sign in with the new password."
	resetRequired = "Failed! This reset link is invalid or has expired; please request a new one."
)

var resetLink = regexp.MustCompile(`https?://\S+/reset-password\?token=[A-Za-z0-9_-]+`)

func forgot(t *testing.T, s *testServer, email string) response {
	t.Helper()
	return s.postJSON(t, "/api/auth/forgot-password", map[string]string{"email": email})
}

func resetWith(t *testing.T, s *testServer, token, password string) response {
	t.Helper()
	return s.postJSON(t, "/api/auth/reset-password", map[string]string{"token": token, "password": password})
}

// linkIn waits for the n-th message (1-based), checks it is a reset mail to
// rcpt, and returns the link it carries, which must point at s.
func linkIn(t *testing.T, s *testServer, smtpd *mailtest.Server, n int, rcpt string) *url.URL {
	t.Helper()
	msgs := smtpd.Wait(n, 15*time.Second)
	if len(msgs) < n {
		t.Fatalf("%d messages arrived, want %d", len(msgs), n)
	}
	m := msgs[n-1]
	if fmt.Sprint(m.RcptTo) != "["+rcpt+"]" || !strings.Contains(m.Subject, "Reset your password") {
		t.Fatalf("message %d: to %v, subject %q", n, m.RcptTo, m.Subject)
	}
	raw := resetLink.FindString(m.Text)
	if raw == "" {
		t.Fatalf("no reset link in %q", m.Text)
	}
	link, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if link.Scheme+"://"+link.Host != s.URL || link.Path != "/reset-password" {
		t.Fatalf("link %s does not point at the server's page (%s)", raw, s.URL)
	}
	if token := link.Query().Get("token"); len(token) != 43 { // 256 bits, base64url
		t.Fatalf("token %q is not 256 bits", token)
	}
	return link
}

// A user who forgot the password asks for a link, receives it by mail,
// and sets a new password with it: every session ends, the old password
// stops working, the user is told, and the link works only once.
func TestResetPassword(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver)
		s.signUp(t, "forgetful", "forgetful@example.com", "password-1")
		a := s.signIn(t, "forgetful", "password-1")
		b := s.signIn(t, "forgetful", "password-1")

		wantJSON(t, forgot(t, s, "Forgetful@Example.COM"), 200, forgotAnswer) // the address as the user types it
		link := linkIn(t, s, smtpd, 1, "forgetful@example.com")
		token := link.Query().Get("token")

		wantJSON(t, resetWith(t, s, token, "short"), 400, "Failed! Password must be at least 8 characters.")
		wantJSON(t, resetWith(t, s, token, "password-2"), 200, resetDone)
		for _, tok := range []signInBody{a, b} {
			wantJSON(t, s.get(t, "/api/test/user", tok.AccessToken), 401, "Unauthorized!")
			wantJSON(t, s.refresh(t, tok.RefreshToken), 403, "Refresh token was revoked. Please make a new signin request")
		}
		r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": "forgetful", "password": "password-1"})
		if r.status != http.StatusUnauthorized {
			t.Errorf("the old password: %d %s", r.status, r.body)
		}
		in := s.signIn(t, "forgetful", "password-2")
		wantText(t, s.get(t, "/api/test/user", in.AccessToken), 200, "User Content.")

		// Used once, the link is spent.
		wantJSON(t, resetWith(t, s, token, "password-3"), 400, resetRequired)
		s.signIn(t, "forgetful", "password-2")

		msgs := smtpd.Wait(2, 15*time.Second)
		if len(msgs) != 2 || !strings.Contains(msgs[1].Subject, "password was changed") {
			t.Fatalf("the second mail: %+v", msgs)
		}

		for _, tt := range []struct {
			name, body string
			status     int
			msg        string
		}{
			{"no token", `{"password":"password-3"}`, 400, "Failed! Token is required."},
			{"unknown token", `{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","password":"password-3"}`, 400, resetRequired},
			{"huge token", `{"token":"` + strings.Repeat("A", 1000) + `","password":"password-3"}`, 400, resetRequired},
			{"numeric token", `{"token":1,"password":"password-3"}`, 400, "Failed! Token must be a string."},
			{"no email", `{}`, 400, "Failed! Email is required."},
		} {
			path := "/api/auth/reset-password"
			if tt.name == "no email" {
				path = "/api/auth/forgot-password"
			}
			wantJSON(t, s.do(t, request{method: "POST", path: path, contentType: "application/json", body: tt.body}), tt.status, tt.msg)
		}
	})
}

// A link stops working when it expires, when a newer one is sent, and
// when the password changes.
func TestResetTokensExpireAndAreVoided(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver)
		s.signUp(t, "voided", "voided@example.com", "password-1")

		forgot(t, s, "voided@example.com")
		older := linkIn(t, s, smtpd, 1, "voided@example.com").Query().Get("token")
		forgot(t, s, "voided@example.com")
		newer := linkIn(t, s, smtpd, 2, "voided@example.com").Query().Get("token")
		wantJSON(t, resetWith(t, s, older, "password-2"), 400, resetRequired)

		s.clock.Advance(30*time.Minute + time.Second) // RESET_TOKEN_TTL is 30m
		wantJSON(t, resetWith(t, s, newer, "password-2"), 400, resetRequired)

		forgot(t, s, "voided@example.com")
		pending := linkIn(t, s, smtpd, 3, "voided@example.com").Query().Get("token")
		in := s.signIn(t, "voided", "password-1")
		wantJSON(t, changePassword(t, s, in.AccessToken, "password-1", "password-2"), 200,
			"Password changed; every other session was signed out.")
		wantJSON(t, resetWith(t, s, pending, "password-3"), 400, resetRequired)
		s.signIn(t, "voided", "password-2")

		// An admin's SetPassword voids them too.
		forgot(t, s, "voided@example.com")
		last := linkIn(t, s, smtpd, 5, "voided@example.com").Query().Get("token") // 4th: password changed
		u, err := store.FindUserByUsername(context.Background(), s.db, "voided")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.svc.SetPassword(context.Background(), u.ID, "password-4"); err != nil {
			t.Fatal(err)
		}
		wantJSON(t, resetWith(t, s, last, "password-5"), 400, resetRequired)
		s.signIn(t, "voided", "password-4")
	})
}

// Asking for an address nobody has gets the same bytes as asking for one
// that exists, and no mail is sent for it.
func TestForgotPasswordUnknownEmail(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver)
		s.signUp(t, "known", "known@example.com", "password-1")

		unknown := forgot(t, s, "nobody@example.com")
		known := forgot(t, s, "known@example.com")
		if unknown.status != known.status || string(unknown.body) != string(known.body) ||
			unknown.contentType() != known.contentType() {
			t.Errorf("unknown: %d %q %s; known: %d %q %s", unknown.status, unknown.body, unknown.contentType(),
				known.status, known.body, known.contentType())
		}
		wantJSON(t, unknown, 200, forgotAnswer)
		linkIn(t, s, smtpd, 1, "known@example.com")
		time.Sleep(300 * time.Millisecond) // a few of the sender's looks
		if n := len(smtpd.Messages()); n != 1 {
			t.Errorf("%d messages, want 1 (none for the unknown address)", n)
		}
	})
}

// One address is sent at most ForgotEmailLimit links, however many are
// asked for, and the answer never changes; one client address is refused
// past ForgotLimit.
func TestForgotPasswordLimits(t *testing.T) {
	mem := ratelimit.NewMemory(nil)
	s, smtpd := mailingServer(t, "sqlite", func(o *auth.Options) {
		o.ForgotEmailLimit = ratelimit.NewRule("forgot-email", ratelimit.Rate{Count: 2, Period: time.Hour}, mem)
	})
	s.signUp(t, "flooded", "flooded@example.com", "password-1")
	for i := range 4 {
		wantJSON(t, forgot(t, s, "flooded@example.com"), 200, forgotAnswer)
		if i < 2 {
			linkIn(t, s, smtpd, i+1, "flooded@example.com")
		}
	}
	time.Sleep(300 * time.Millisecond) // a few of the sender's looks
	if n := len(smtpd.Messages()); n != 2 {
		t.Errorf("%d reset mails for one address, want 2 (the limit)", n)
	}

	limited := limitedServer(t, func(o *httpapi.Options, st ratelimit.Store) {
		o.ForgotLimit = ratelimit.NewRule("forgot-ip", perMinute(2), st)
	})
	for range 2 {
		wantJSON(t, forgot(t, limited, "someone@example.com"), 200, forgotAnswer)
	}
	r := forgot(t, limited, "someone-else@example.com")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("a third request past the limit of two: %d %s", r.status, r.body)
	}
}

// An admin can mail a user a reset link; the page the link opens sets the
// password without any script.
func TestAdminPasswordResetAndPage(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver)
		s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		id := s.createUser(t, "locked", "password-1", roleUser)
		admin := s.signIn(t, "boss", "password-1")
		user := s.signIn(t, "locked", "password-1")

		path := fmt.Sprintf("/api/admin/users/%d/password-reset", id)
		wantJSON(t, s.as(t, user.AccessToken, "POST", path, ""), 403, "Require Admin Role!")
		wantJSON(t, s.as(t, admin.AccessToken, "POST", "/api/admin/users/999999/password-reset", ""), 404, "User Not found.")
		wantJSON(t, s.as(t, admin.AccessToken, "POST", path, ""), 200, "A password reset link was sent to the user.")
		link := linkIn(t, s, smtpd, 1, "locked@example.com")
		token := link.Query().Get("token")

		// The page: a form, under a policy that allows nothing but itself.
		page := s.get(t, link.RequestURI(), "")
		wantPage(t, page, 200, `name="token" value="`+token+`"`)
		if !strings.Contains(string(page.body), `<meta name="viewport"`) || !strings.Contains(string(page.body), `<form method="post">`) {
			t.Errorf("page: %s", page.body)
		}

		// A password the rules refuse: the form again, with the API's message.
		r := s.postForm(t, link.RequestURI(), url.Values{"token": {token}, "password": {"short"}})
		wantPage(t, r, 400, "Failed! Password must be at least 8 characters.")
		if !strings.Contains(string(r.body), `name="token" value="`+token+`"`) {
			t.Errorf("the form is not shown again: %s", r.body)
		}
		r = s.postForm(t, "/reset-password", url.Values{"token": {token}, "password": {"password-2"}})
		wantPage(t, r, 200, resetDone)
		wantJSON(t, s.get(t, "/api/test/user", user.AccessToken), 401, "Unauthorized!")
		s.signIn(t, "locked", "password-2")

		r = s.postForm(t, "/reset-password", url.Values{"token": {token}, "password": {"password-3"}})
		wantPage(t, r, 400, resetRequired)
		if strings.Contains(string(r.body), "<form") {
			t.Errorf("a spent link shows the form: %s", r.body)
		}
		wantPage(t, s.get(t, "/reset-password", ""), 400, resetRequired)
	})
}

// wantPage checks an HTML answer of a page: status, type, its own strict
// policy, and that the body holds want (HTML-escaped as the page writes it).
func wantPage(t *testing.T, r response, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.contentType(); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "script-src") || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("policy %q, Cache-Control %q", csp, r.header.Get("Cache-Control"))
	}
	body := strings.ReplaceAll(string(r.body), "&#39;", "'")
	if !strings.Contains(body, want) {
		t.Errorf("page lacks %q: %s", want, r.body)
	}
}

// The events of work done in the background for a request (the lookup
// behind forgot-password and resend-verification) carry that request's
// client address and id, like every other authentication event.
func TestBackgroundEventsNameTheirRequest(t *testing.T) {
	var logs logtest.Buffer
	s := serverOn(t, storetest.Open(t, "sqlite"), func(o *auth.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		o.EmailVerification = auth.VerificationOptional
	})
	for _, path := range []string{"/api/auth/forgot-password", "/api/auth/resend-verification"} {
		r := s.do(t, request{method: "POST", path: path, contentType: "application/json",
			body: `{"email":"nobody@example.com"}`, header: map[string]string{"X-Request-ID": "req-" + strings.TrimPrefix(path, "/api/auth/")}})
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
	for _, want := range []string{
		`event=password_reset_requested ip=127.0.0.1 request_id=req-forgot-password`,
		`event=email_verification_requested ip=127.0.0.1 request_id=req-resend-verification`,
	} {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", want, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
