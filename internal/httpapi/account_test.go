package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/auth"
	"jwtauth/internal/mail"
	"jwtauth/internal/mail/mailtest"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store/storetest"
)

// mailingServer is a server whose mail is delivered, through a real sender
// and SMTP conversation, to a test SMTP server.
func mailingServer(t *testing.T, driver string, edit ...func(*auth.Options)) (*testServer, *mailtest.Server) {
	t.Helper()
	return mailingServerOn(t, storetest.Open(t, driver), edit...)
}

// mailingServerOn is mailingServer on a database the test prepared.
func mailingServerOn(t *testing.T, db *gorm.DB, edit ...func(*auth.Options)) (*testServer, *mailtest.Server) {
	t.Helper()
	smtpd := mailtest.NewServer(t, mailtest.Options{})
	templates, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	deliverer, err := mail.NewSMTP(mail.Server{Host: smtpd.Host(), Port: smtpd.Port(), TLS: mail.TLSOff},
		mail.SMTPOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSender(db, deliverer, mail.SenderOptions{
		From: "jwtauth <no-reply@example.com>", PollInterval: 50 * time.Millisecond, Lease: time.Minute,
		Batch: 10, Retry: mail.Retry, KeepSent: time.Hour, Now: time.Now, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sender.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	edit = append([]func(*auth.Options){func(o *auth.Options) { o.Templates, o.MailWritten = templates, sender.Wake }}, edit...)
	s := serverOn(t, db, edit...)
	return s, smtpd
}

func changePassword(t *testing.T, s *testServer, token, current, next string) response {
	t.Helper()
	return s.as(t, token, "POST", "/api/auth/change-password",
		fmt.Sprintf(`{"currentPassword":%q,"newPassword":%q}`, current, next))
}

// Changing one's password takes the current one, ends every other session
// (and the tokens without one) but not this one, and tells the user by
// mail; the old password no longer signs in.
func TestChangePassword(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver)
		s.signUp(t, "changer", "changer@example.com", "password-1")
		here := s.signIn(t, "changer", "password-1")
		elsewhere := s.signIn(t, "changer", "password-1")

		r := changePassword(t, s, here.AccessToken, "password-1", "password-2")
		wantJSON(t, r, 200, "Password changed; every other session was signed out.")
		wantText(t, s.get(t, "/api/test/user", here.AccessToken), 200, "User Content.")
		s.mustRefresh(t, here.RefreshToken)
		wantJSON(t, s.get(t, "/api/test/user", elsewhere.AccessToken), 401, "Unauthorized!")
		wantJSON(t, s.refresh(t, elsewhere.RefreshToken), 403, "Refresh token was revoked. Please make a new signin request")
		r = s.postJSON(t, "/api/auth/signin", map[string]string{"username": "changer", "password": "password-1"})
		if r.status != http.StatusUnauthorized {
			t.Errorf("the old password: %d %s", r.status, r.body)
		}
		s.signIn(t, "changer", "password-2")

		msgs := smtpd.Wait(1, 15*time.Second)
		if len(msgs) != 1 || fmt.Sprint(msgs[0].RcptTo) != "[changer@example.com]" || !strings.Contains(msgs[0].Subject, "password was changed") ||
			!strings.Contains(msgs[0].Text, "changer") {
			t.Fatalf("mail: %+v", msgs)
		}

		for _, tt := range []struct {
			name, body string
			status     int
			msg        string
		}{
			{"wrong current password", `{"currentPassword":"password-9","newPassword":"password-3"}`, 401, "Invalid Password!"},
			{"no current password", `{"newPassword":"password-3"}`, 400, "Failed! Current password is required."},
			{"short new password", `{"currentPassword":"password-2","newPassword":"short"}`, 400, "Failed! Password must be at least 8 characters."},
			{"same password", `{"currentPassword":"password-2","newPassword":"password-2"}`, 400, "Failed! The new password must differ from the current one."},
			{"common password", `{"currentPassword":"password-2","newPassword":"password"}`, 400, "Failed! This password is too common; please choose another."},
			{"numeric field", `{"currentPassword":1,"newPassword":"password-3"}`, 400, "Failed! Current password must be a string."},
		} {
			r := s.as(t, here.AccessToken, "POST", "/api/auth/change-password", tt.body)
			wantJSON(t, r, tt.status, tt.msg)
		}
		wantJSON(t, s.as(t, "", "POST", "/api/auth/change-password", `{"currentPassword":"a","newPassword":"b"}`), 403, "No token provided!")
		// Nothing above changed the password, and only one mail was sent.
		s.signIn(t, "changer", "password-2")
		time.Sleep(200 * time.Millisecond) // a few of the sender's looks
		if n := len(smtpd.Messages()); n != 1 {
			t.Errorf("%d mails after refused changes, want 1", n)
		}
	})
}

// Deleting one's account takes its password; the account, its sessions
// and its tokens are gone; the last admin cannot leave.
func TestDeleteAccount(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.signUp(t, "leaver", "leaver@example.com", "password-1")
		in := s.signIn(t, "leaver", "password-1")
		other := s.signIn(t, "leaver", "password-1")
		wantJSON(t, s.as(t, in.AccessToken, "DELETE", "/api/auth/me", `{"password":"password-9"}`), 401, "Invalid Password!")
		wantJSON(t, s.as(t, in.AccessToken, "DELETE", "/api/auth/me", `{}`), 400, "Failed! Password is required.")
		wantJSON(t, s.as(t, in.AccessToken, "DELETE", "/api/auth/me", `{"password":"password-1"}`), 200, "Account deleted.")
		wantJSON(t, s.get(t, "/api/test/user", in.AccessToken), 401, "Unauthorized!")
		wantJSON(t, s.get(t, "/api/test/user", other.AccessToken), 401, "Unauthorized!")
		wantJSON(t, s.refresh(t, other.RefreshToken), 403, "Refresh token is not in database!")
		wantJSON(t, s.postJSON(t, "/api/auth/signin", map[string]string{"username": "leaver", "password": "password-1"}), 404, "User Not found.")
		s.signUp(t, "leaver", "leaver@example.com", "password-1") // the name is free again

		s.createUser(t, "only-admin", "password-1", roleUser, roleAdmin)
		admin := s.signIn(t, "only-admin", "password-1")
		wantJSON(t, s.as(t, admin.AccessToken, "DELETE", "/api/auth/me", `{"password":"password-1"}`),
			409, "Failed! That would leave no admin: make another user admin first.")
		s.signIn(t, "only-admin", "password-1")
	})
}

// Proving the password here is a signin attempt like any other: guesses
// count against the account's limits.
func TestAccountPasswordChecksAreLimited(t *testing.T) {
	s := limitedServer(t, nil, func(o *auth.Options, st ratelimit.Store) {
		o.SignInAccountAddressLimit = ratelimit.NewRule("signin-user-ip", ratelimit.Rate{Count: 2, Period: time.Hour}, st)
	})
	s.createUser(t, "guarded", "password-1", roleUser)
	in := s.signIn(t, "guarded", "password-1")
	wantJSON(t, changePassword(t, s, in.AccessToken, "guess-1", "password-2"), 401, "Invalid Password!")
	wantJSON(t, s.as(t, in.AccessToken, "DELETE", "/api/auth/me", `{"password":"guess-2"}`), 401, "Invalid Password!")
	if r := changePassword(t, s, in.AccessToken, "password-1", "password-2"); r.status != http.StatusTooManyRequests {
		t.Errorf("a third check past the limit of two: %d %s", r.status, r.body)
	}
}
