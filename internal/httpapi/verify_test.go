package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"jwtauth/internal/auth"
	"jwtauth/internal/httpapi"
	"jwtauth/internal/mail/mailtest"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

const (
	emailConfirmed        = "Email address confirmed. Thank you!"
	emailChanged          = "Email address confirmed; the account now uses it."
	emailAlreadyConfirmed = "This email address is already confirmed; there is nothing left to do."
	verifyRequired        = "Failed! This confirmation link is invalid or has expired; please request a new one."
	resendAnswer          = "If an account has that email address and it is not confirmed yet, a new confirmation link is on its way."
	changeEmailSent       = "A confirmation link was sent to the new address; the change takes effect once it is opened."
	notVerified           = "Failed! Please confirm your email address first: open the link mailed to you, or ask for a new one."
)

var verifyLink = regexp.MustCompile(`https?://\S+/verify-email\?token=[A-Za-z0-9_-]+`)

func verifying(mode auth.Verification) func(*auth.Options) {
	return func(o *auth.Options) { o.EmailVerification = mode }
}

func verifyWith(t *testing.T, s *testServer, token string) response {
	t.Helper()
	return s.postJSON(t, "/api/auth/verify-email", map[string]string{"token": token})
}

func resend(t *testing.T, s *testServer, email string) response {
	t.Helper()
	return s.postJSON(t, "/api/auth/resend-verification", map[string]string{"email": email})
}

// verifyLinkIn waits for the n-th message (1-based), checks it is a
// confirmation mail to rcpt, and returns the link it carries, which must
// point at s's page.
func verifyLinkIn(t *testing.T, s *testServer, smtpd *mailtest.Server, n int, rcpt string) *url.URL {
	t.Helper()
	m := nthMail(t, smtpd, n, rcpt, "Confirm your email address")
	raw := verifyLink.FindString(m.Text)
	if raw == "" {
		t.Fatalf("no confirmation link in %q", m.Text)
	}
	link, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if link.Scheme+"://"+link.Host != s.URL || link.Path != "/verify-email" {
		t.Fatalf("link %s does not point at the server's page (%s)", raw, s.URL)
	}
	if token := link.Query().Get("token"); len(token) != 43 { // 256 bits, base64url
		t.Fatalf("token %q is not 256 bits", token)
	}
	return link
}

// nthMail waits for the n-th message and checks its recipient and subject.
func nthMail(t *testing.T, smtpd *mailtest.Server, n int, rcpt, subject string) mailtest.Message {
	t.Helper()
	msgs := smtpd.Wait(n, 15*time.Second)
	if len(msgs) < n {
		t.Fatalf("%d messages arrived, want %d", len(msgs), n)
	}
	m := msgs[n-1]
	if fmt.Sprint(m.RcptTo) != "["+rcpt+"]" || !strings.Contains(m.Subject, subject) {
		t.Fatalf("message %d: to %v, subject %q; want to %s, %q", n, m.RcptTo, m.Subject, rcpt, subject)
	}
	return m
}

// meBody is the answer of GET /api/auth/me.
type meBody struct {
	ID            int64     `json:"id"`
	Username      string    `json:"username"`
	Email         string    `json:"email"`
	Roles         []string  `json:"roles"`
	EmailVerified bool      `json:"emailVerified"`
	CreatedAt     time.Time `json:"createdAt"`
}

func (s *testServer) me(t *testing.T, token string) meBody {
	t.Helper()
	r := s.get(t, "/api/auth/me", token)
	if r.status != http.StatusOK {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	var b meBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// signInVerified signs in and returns whether the answer says the address
// is confirmed.
func (s *testServer) signInVerified(t *testing.T, username, password string) bool {
	t.Helper()
	r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": username, "password": password})
	if r.status != http.StatusOK {
		t.Fatalf("signin %s: %d %s", username, r.status, r.body)
	}
	var b struct {
		EmailVerified *bool `json:"emailVerified"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.EmailVerified == nil {
		t.Fatalf("signin body %s has no emailVerified: %v", r.body, err)
	}
	return *b.EmailVerified
}

// Off, the original's behaviour: signup sends nothing, nothing is asked
// at signin, and resend sends nothing; the API still says the address is
// not confirmed.
func TestEmailVerificationOff(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver)
		s.signUp(t, "plain", "plain@example.com", "password-1")
		if s.signInVerified(t, "plain", "password-1") {
			t.Error("signin says a never-confirmed address is confirmed")
		}
		wantJSON(t, resend(t, s, "plain@example.com"), 200, resendAnswer)
		in := s.signIn(t, "plain", "password-1")
		me := s.me(t, in.AccessToken)
		if me.Username != "plain" || me.Email != "plain@example.com" || fmt.Sprint(me.Roles) != "[ROLE_USER]" ||
			me.EmailVerified || me.ID != in.ID || me.CreatedAt.IsZero() {
			t.Errorf("me = %+v", me)
		}
		time.Sleep(300 * time.Millisecond) // a few of the sender's looks
		if n := len(smtpd.Messages()); n != 0 {
			t.Errorf("%d messages with verification off, want 0", n)
		}
	})
}

// Optional: signup mails a link (written with the account); the account
// signs in before following it; the link confirms the address once, and
// following it again (as a mail scanner makes people do) says it is
// confirmed already; signin, /me and the admin API say so.
func TestEmailVerificationOptional(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver, verifying(auth.VerificationOptional))
		s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		s.signUp(t, "opted", "opted@example.com", "password-1")
		link := verifyLinkIn(t, s, smtpd, 1, "opted@example.com")
		token := link.Query().Get("token")
		if !strings.Contains(nthMail(t, smtpd, 1, "opted@example.com", "Confirm").Text, "24 hours") {
			t.Error("the mail does not say how long the link works")
		}
		if s.signInVerified(t, "opted", "password-1") {
			t.Error("confirmed before the link was followed")
		}

		wantJSON(t, verifyWith(t, s, token), 200, emailConfirmed)
		wantJSON(t, verifyWith(t, s, token), 200, emailAlreadyConfirmed)
		if !s.signInVerified(t, "opted", "password-1") {
			t.Error("signin: not confirmed after the link was followed")
		}
		in := s.signIn(t, "opted", "password-1")
		if me := s.me(t, in.AccessToken); !me.EmailVerified {
			t.Errorf("me = %+v", me)
		}
		admin := s.signIn(t, "boss", "password-1")
		r := s.as(t, admin.AccessToken, "GET", fmt.Sprintf("/api/admin/users/%d", in.ID), "")
		if r.status != 200 || !strings.HasSuffix(string(r.body), `,"emailVerified":true}`) {
			t.Errorf("admin user: %d %s", r.status, r.body)
		}
		r = s.as(t, admin.AccessToken, "GET", fmt.Sprintf("/api/admin/users/%d", admin.ID), "")
		if r.status != 200 || !strings.HasSuffix(string(r.body), `,"emailVerified":false}`) {
			t.Errorf("admin user: %d %s", r.status, r.body)
		}

		for _, tt := range []struct {
			name, body string
			status     int
			msg        string
		}{
			{"no token", `{}`, 400, "Failed! Token is required."},
			{"unknown token", `{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, 400, verifyRequired},
			{"huge token", `{"token":"` + strings.Repeat("A", 1000) + `"}`, 400, verifyRequired},
			{"numeric token", `{"token":1}`, 400, "Failed! Token must be a string."},
		} {
			wantJSON(t, s.do(t, request{method: "POST", path: "/api/auth/verify-email", contentType: "application/json", body: tt.body}), tt.status, tt.msg)
		}
		wantJSON(t, s.do(t, request{method: "POST", path: "/api/auth/resend-verification", contentType: "application/json", body: `{}`}), 400, "Failed! Email is required.")
	})
}

// A link stops working when a newer one is sent and when it expires; a
// confirmed address gets no more links; an unknown address is answered
// the same bytes, and sent nothing.
func TestVerifyTokensExpireAndAreVoided(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver, verifying(auth.VerificationOptional))
		s.signUp(t, "slow", "slow@example.com", "password-1")
		older := verifyLinkIn(t, s, smtpd, 1, "slow@example.com").Query().Get("token")

		known, unknown := resend(t, s, "SLOW@example.com"), resend(t, s, "nobody@example.com")
		if known.status != unknown.status || string(known.body) != string(unknown.body) || known.contentType() != unknown.contentType() {
			t.Errorf("known: %d %q; unknown: %d %q", known.status, known.body, unknown.status, unknown.body)
		}
		wantJSON(t, known, 200, resendAnswer)
		newer := verifyLinkIn(t, s, smtpd, 2, "slow@example.com").Query().Get("token")
		wantJSON(t, verifyWith(t, s, older), 400, verifyRequired)

		s.clock.Advance(24*time.Hour + time.Second) // VERIFY_TOKEN_TTL is 24h
		wantJSON(t, verifyWith(t, s, newer), 400, verifyRequired)

		resend(t, s, "slow@example.com")
		last := verifyLinkIn(t, s, smtpd, 3, "slow@example.com").Query().Get("token")
		wantJSON(t, verifyWith(t, s, last), 200, emailConfirmed)
		// The voided older link, for an address now confirmed, is no error.
		wantJSON(t, verifyWith(t, s, older), 200, emailAlreadyConfirmed)
		wantJSON(t, resend(t, s, "slow@example.com"), 200, resendAnswer)
		time.Sleep(300 * time.Millisecond) // a few of the sender's looks
		if n := len(smtpd.Messages()); n != 3 {
			t.Errorf("%d messages, want 3 (none for the unknown or confirmed address)", n)
		}
	})
}

// Required: an account created since verification became required cannot
// sign in until it follows its link, but is told so only with the right
// password; accounts from before sign in as they did.
func TestEmailVerificationRequired(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		db := storetest.Open(t, driver)
		ctx := context.Background()
		// An account from before verification was turned on.
		hash, err := bcrypt.GenerateFromPassword([]byte("password-1"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		old := store.User{Username: "veteran", Email: "veteran@example.com", Password: string(hash),
			CreatedAt: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)}
		if err := store.CreateUser(ctx, db, &old, []int64{roleUser}); err != nil {
			t.Fatal(err)
		}
		s, smtpd := mailingServerOn(t, db, verifying(auth.VerificationRequired))

		s.signUp(t, "newcomer", "newcomer@example.com", "password-1")
		link := verifyLinkIn(t, s, smtpd, 1, "newcomer@example.com")
		r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": "newcomer", "password": "wrong-password"})
		wantJSON(t, r, 401, "Invalid Password!")
		r = s.postJSON(t, "/api/auth/signin", map[string]string{"username": "newcomer", "password": "password-1"})
		wantJSON(t, r, 403, notVerified)
		if s.signInVerified(t, "veteran", "password-1") {
			t.Error("the veteran's address is said to be confirmed")
		}

		// Through the page, without any script.
		wantPage(t, s.get(t, link.RequestURI(), ""), 200, emailConfirmed)
		wantPage(t, s.get(t, link.RequestURI(), ""), 200, emailAlreadyConfirmed)
		wantPage(t, s.get(t, "/verify-email", ""), 400, verifyRequired)
		wantPage(t, s.get(t, "/verify-email?token=nope", ""), 400, verifyRequired)
		if !s.signInVerified(t, "newcomer", "password-1") {
			t.Error("signin: not confirmed after the page")
		}
	})
}

// Changing one's address takes the password; the link goes to the new
// address, which becomes the account's only when it is followed (checked
// again for uniqueness then); the old address is told, and reset links
// sent to it stop working.
func TestChangeEmail(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver)
		s.signUp(t, "mover", "mover@example.com", "password-1")
		s.signUp(t, "neighbour", "neighbour@example.com", "password-1")
		in := s.signIn(t, "mover", "password-1")
		change := func(email, password string) response {
			return s.as(t, in.AccessToken, "POST", "/api/auth/change-email", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
		}
		for _, tt := range []struct {
			email, password string
			status          int
			msg             string
		}{
			{"moved@example.com", "password-9", 401, "Invalid Password!"},
			{"moved@example.com", "", 400, "Failed! Password is required."},
			{"not an address", "password-1", 400, "Failed! Email is not a valid address."},
			{"", "password-1", 400, "Failed! Email is required."},
			{"Mover@Example.com", "password-1", 400, "Failed! The new email must differ from the current one."},
			{"NEIGHBOUR@example.com", "password-1", 400, "Failed! Email is already in use!"},
		} {
			wantJSON(t, change(tt.email, tt.password), tt.status, tt.msg)
		}
		wantJSON(t, s.as(t, "", "POST", "/api/auth/change-email", `{"email":"a@example.com","password":"b"}`), 403, "No token provided!")

		wantJSON(t, forgot(t, s, "mover@example.com"), 200, forgotAnswer)
		reset := linkIn(t, s, smtpd, 1, "mover@example.com").Query().Get("token")
		wantJSON(t, change("moved@example.com", "password-1"), 200, changeEmailSent)
		link := verifyLinkIn(t, s, smtpd, 2, "moved@example.com")
		if me := s.me(t, in.AccessToken); me.Email != "mover@example.com" || me.EmailVerified {
			t.Errorf("before the link: %+v", me)
		}

		wantJSON(t, verifyWith(t, s, link.Query().Get("token")), 200, emailChanged)
		if me := s.me(t, in.AccessToken); me.Email != "moved@example.com" || !me.EmailVerified {
			t.Errorf("after the link: %+v", me)
		}
		told := nthMail(t, smtpd, 3, "mover@example.com", "email address was changed")
		if !strings.Contains(told.Text, "moved@example.com") {
			t.Errorf("the old address is not told the new one: %q", told.Text)
		}
		wantJSON(t, resetWith(t, s, reset, "password-2"), 400, resetRequired)
		wantJSON(t, forgot(t, s, "mover@example.com"), 200, forgotAnswer)
		wantJSON(t, forgot(t, s, "moved@example.com"), 200, forgotAnswer)
		linkIn(t, s, smtpd, 4, "moved@example.com")

		// Taken between the request and the link: the link is refused.
		wantJSON(t, change("contested@example.com", "password-1"), 200, changeEmailSent)
		contested := verifyLinkIn(t, s, smtpd, 5, "contested@example.com").Query().Get("token")
		s.signUp(t, "quicker", "Contested@example.com", "password-1")
		wantJSON(t, verifyWith(t, s, contested), 400, "Failed! Email is already in use!")
		if me := s.me(t, in.AccessToken); me.Email != "moved@example.com" {
			t.Errorf("after a refused link: %+v", me)
		}
		time.Sleep(300 * time.Millisecond) // a few of the sender's looks
		if n := len(smtpd.Messages()); n != 5 {
			t.Errorf("%d messages, want 5 (no reset mail for the old address)", n)
		}
	})
}

// One address is sent at most ResendEmailLimit links, however many are
// asked for, and the answer never changes; one client address is refused
// past ResendLimit.
func TestResendVerificationLimits(t *testing.T) {
	mem := ratelimit.NewMemory(nil)
	s, smtpd := mailingServer(t, "sqlite", verifying(auth.VerificationOptional), func(o *auth.Options) {
		o.ResendEmailLimit = ratelimit.NewRule("resend-email", ratelimit.Rate{Count: 2, Period: time.Hour}, mem)
	})
	s.signUp(t, "pushy", "pushy@example.com", "password-1")
	verifyLinkIn(t, s, smtpd, 1, "pushy@example.com")
	for i := range 4 {
		wantJSON(t, resend(t, s, "pushy@example.com"), 200, resendAnswer)
		if i < 2 {
			verifyLinkIn(t, s, smtpd, i+2, "pushy@example.com")
		}
	}
	time.Sleep(300 * time.Millisecond) // a few of the sender's looks
	if n := len(smtpd.Messages()); n != 3 {
		t.Errorf("%d mails for one address, want 3 (signup's and the limit of 2)", n)
	}

	limited := limitedServer(t, func(o *httpapi.Options, st ratelimit.Store) {
		o.ResendLimit = ratelimit.NewRule("resend-ip", perMinute(2), st)
	})
	for range 2 {
		wantJSON(t, resend(t, limited, "someone@example.com"), 200, resendAnswer)
	}
	r := resend(t, limited, "someone-else@example.com")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("a third request past the limit of two: %d %s", r.status, r.body)
	}
}

// mailTo waits for the n-th message (1-based) to rcpt whose subject has
// subject, whatever else arrives around it, and returns it.
func mailTo(t *testing.T, smtpd *mailtest.Server, n int, rcpt, subject string) mailtest.Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		seen := 0
		for _, m := range smtpd.Messages() {
			if fmt.Sprint(m.RcptTo) == "["+rcpt+"]" && strings.Contains(m.Subject, subject) {
				if seen++; seen == n {
					return m
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message %d to %s about %q among %d", n, rcpt, subject, len(smtpd.Messages()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tokenIn is the confirmation token of a message.
func tokenIn(t *testing.T, m mailtest.Message) string {
	t.Helper()
	raw := verifyLink.FindString(m.Text)
	link, err := url.Parse(raw)
	if raw == "" || err != nil {
		t.Fatalf("no confirmation link in %q", m.Text)
	}
	return link.Query().Get("token")
}

// A pending change of address rests on the password that asked for it:
// whoever took a session and the password for a moment, and asked for
// the account's address to become theirs, must not be able to finish
// the change after the owner has changed or reset the password (the
// account would follow the thief's mailbox, and the next reset link
// with it). A link confirming the address the account has is not such
// a change and still works.
func TestEmailChangeEndsWithPassword(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver, verifying(auth.VerificationOptional))
		s.signUp(t, "owner", "owner@example.com", "password-1")
		mailTo(t, smtpd, 1, "owner@example.com", "Confirm your email address")
		in := s.signIn(t, "owner", "password-1")
		change := func(token, email, password string) string {
			t.Helper()
			wantJSON(t, s.as(t, token, "POST", "/api/auth/change-email", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)),
				200, changeEmailSent)
			return tokenIn(t, mailTo(t, smtpd, 1, email, "Confirm your email address"))
		}

		// The owner changes the password: the thief's link is void.
		stolen := change(in.AccessToken, "thief@example.com", "password-1")
		if r := changePassword(t, s, in.AccessToken, "password-1", "password-2"); r.status != 200 {
			t.Fatalf("change password: %d %s", r.status, r.body)
		}
		wantJSON(t, verifyWith(t, s, stolen), 400, verifyRequired)
		if me := s.me(t, in.AccessToken); me.Email != "owner@example.com" {
			t.Fatalf("after a password change, a change of address asked for before it went through: %+v", me)
		}

		// The owner resets the password from a link: the same.
		again := change(in.AccessToken, "thief2@example.com", "password-2")
		wantJSON(t, forgot(t, s, "owner@example.com"), 200, forgotAnswer)
		reset, err := url.Parse(resetLink.FindString(mailTo(t, smtpd, 1, "owner@example.com", "Reset your password").Text))
		if err != nil {
			t.Fatal(err)
		}
		wantJSON(t, resetWith(t, s, reset.Query().Get("token"), "password-3"), 200, resetDone)
		wantJSON(t, verifyWith(t, s, again), 400, verifyRequired)
		in = s.signIn(t, "owner", "password-3")
		if me := s.me(t, in.AccessToken); me.Email != "owner@example.com" {
			t.Fatalf("after a password reset, a change of address asked for before it went through: %+v", me)
		}

		// A link for the address the account has is no change: a password
		// change leaves it working.
		s.signUp(t, "fresh", "fresh@example.com", "password-1")
		confirm := tokenIn(t, mailTo(t, smtpd, 1, "fresh@example.com", "Confirm your email address"))
		fresh := s.signIn(t, "fresh", "password-1")
		if r := changePassword(t, s, fresh.AccessToken, "password-1", "password-2"); r.status != 200 {
			t.Fatalf("change password: %d %s", r.status, r.body)
		}
		wantJSON(t, verifyWith(t, s, confirm), 200, emailConfirmed)
	})
}

// Asking for another confirmation link for the account's own address
// leaves a pending change of address alone: anyone who knows the address
// may ask for one, and must not be able to cancel the owner's change. A
// second change request still voids the first.
func TestResendLeavesAPendingChange(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s, smtpd := mailingServer(t, driver, verifying(auth.VerificationOptional))
		s.signUp(t, "stayer", "stayer@example.com", "password-1")
		first := verifyLinkIn(t, s, smtpd, 1, "stayer@example.com")
		in := s.signIn(t, "stayer", "password-1")
		change := func(email string) response {
			return s.as(t, in.AccessToken, "POST", "/api/auth/change-email", fmt.Sprintf(`{"email":%q,"password":"password-1"}`, email))
		}
		wantJSON(t, change("first-move@example.com"), 200, changeEmailSent)
		firstMove := verifyLinkIn(t, s, smtpd, 2, "first-move@example.com")
		wantJSON(t, change("goer@example.com"), 200, changeEmailSent)
		move := verifyLinkIn(t, s, smtpd, 3, "goer@example.com")
		wantJSON(t, resend(t, s, "stayer@example.com"), 200, resendAnswer)
		again := verifyLinkIn(t, s, smtpd, 4, "stayer@example.com")

		wantJSON(t, verifyWith(t, s, first.Query().Get("token")), 400, verifyRequired)
		wantJSON(t, verifyWith(t, s, firstMove.Query().Get("token")), 400, verifyRequired)
		wantJSON(t, verifyWith(t, s, again.Query().Get("token")), 200, emailConfirmed)
		wantJSON(t, verifyWith(t, s, move.Query().Get("token")), 200, emailChanged)
		if me := s.me(t, in.AccessToken); me.Email != "goer@example.com" || !me.EmailVerified {
			t.Errorf("after the change's link: %+v", me)
		}
	})
}
