package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"jwtauth/internal/mail/mailtest"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// enqueueMail puts a message into the outbox of the SQLite database at
// path, as another instance would, and returns its row.
func enqueueMail(t *testing.T, path, to string) store.OutboxMail {
	t.Helper()
	db := storetest.OpenRaw(t, store.DriverSQLite, path)
	m := store.OutboxMail{Recipient: to, Subject: "Reset your password",
		TextBody: "Open http://localhost:8080/reset-password?token=abc to choose a new password.\n"}
	if err := store.EnqueueMail(context.Background(), db, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitSent waits until the outbox row id of the database at path is sent.
func waitSent(t *testing.T, path string, id int64) {
	t.Helper()
	db := storetest.OpenRaw(t, store.DriverSQLite, path)
	for deadline := time.Now().Add(30 * time.Second); ; {
		var m store.OutboxMail
		if err := db.Take(&m, id).Error; err != nil {
			t.Fatal(err)
		}
		if m.SentAt != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %d not sent after 30s: %+v", id, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serve delivers the outbox to SMTP_URL, From MAIL_FROM, and stops
// sending when it stops.
func TestServeSendsTheOutbox(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	env := map[string]string{
		"DB_DSN": path, "JWT_SECRET": randomSecret(), "BCRYPT_COST": "4",
		"SMTP_URL":  "smtp://" + srv.Host() + ":" + strconv.Itoa(srv.Port()) + "?starttls=off",
		"MAIL_FROM": "Accounts <accounts@auth.example.com>",
	}
	_, stop, logs := start(t, env)
	m := enqueueMail(t, path, "ann@example.com")
	got := srv.Wait(1, 30*time.Second)[0]
	waitSent(t, path, m.ID)
	if got.MailFrom != "accounts@auth.example.com" || got.RcptTo[0] != "ann@example.com" ||
		got.MessageID != m.MessageID+"@auth.example.com" || !strings.Contains(got.Text, "reset-password?token=abc") {
		t.Errorf("delivered %+v", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "SMTP_URL is not set") {
		t.Errorf("warned of a missing SMTP_URL that is set:\n%s", logs)
	}
	for _, want := range []string{`config.smtp_url="smtp://127.0.0.1:`, "starttls=off", `config.mail_from="Accounts <accounts@auth.example.com>"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	// Stopped: a message enqueued now waits for the next start.
	late := enqueueMail(t, path, "bob@example.com")
	start(t, env)
	srv.Wait(2, 30*time.Second)
	waitSent(t, path, late.ID)
	if n := srv.CountByMessageID()[m.MessageID+"@auth.example.com"]; n != 1 {
		t.Errorf("the first message arrived %d times", n)
	}
}

// Without SMTP_URL the server says once, at start, that mail goes to the
// log, and writes each message there with its link.
func TestServeWithoutSMTPLogsMail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	_, stop, logs := start(t, map[string]string{"DB_DSN": path, "JWT_SECRET": randomSecret(), "BCRYPT_COST": "4"})
	m := enqueueMail(t, path, "ann@example.com")
	waitSent(t, path, m.ID)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "SMTP_URL is not set: mail is written to the log, not sent; for development only"); n != 1 {
		t.Errorf("%d warnings about SMTP_URL, want 1:\n%s", n, out)
	}
	for _, want := range []string{"level=WARN", "to=ann@example.com", `subject="Reset your password"`, "reset-password?token=abc"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// A MAIL_TEMPLATES_DIR that is missing or holds a mistake stops the
// server at start, named.
func TestServeRefusesBadMailTemplates(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reset-pasword.txt"), []byte("Subject: x\n\nbody"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, templates := range []string{dir, filepath.Join(dir, "missing")} {
		env := map[string]string{"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "MAIL_TEMPLATES_DIR": templates, "ADDR": freeAddr(t)}
		// Bounded: a server that starts anyway stops after it, and fails.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, []string{"jwtauth"}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "MAIL_TEMPLATES_DIR") {
			t.Errorf("MAIL_TEMPLATES_DIR=%s: run = %v", templates, err)
		}
	}
}

// A reset or confirmation link the server writes points at jwtauth's own
// page, at the address it listens on, unless APP_URL names a frontend; the
// development log shows it, ready to paste. Stopping the server waits for
// the reset requests still being handled.
func TestServeResetLinks(t *testing.T) {
	for _, tt := range []struct {
		name, appURL string
	}{{"own page", ""}, {"frontend", "https://app.example.com"}} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "JWT_SECRET": randomSecret(), "BCRYPT_COST": "4",
				"EMAIL_VERIFICATION": "optional"}
			if tt.appURL != "" {
				env["APP_URL"] = tt.appURL
			}
			url, stop, logs := start(t, env)
			if code, body := call(t, "POST", url+"/api/auth/signup", "", `{"username":"ann","email":"ann@example.com","password":"password-1x"}`); code != 200 {
				t.Fatalf("signup: %d %s", code, body)
			}
			if code, body := call(t, "POST", url+"/api/auth/forgot-password", "", `{"email":"ann@example.com"}`); code != 200 {
				t.Fatalf("forgot-password: %d %s", code, body)
			}
			base := url
			if tt.appURL != "" {
				base = tt.appURL
			}
			for _, want := range []string{base + "/verify-email?token=", base + "/reset-password?token="} {
				for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), want); {
					if time.Now().After(deadline) {
						t.Fatalf("no link %s... in the log:\n%s", want, logs)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"config.public_url=" + url, "config.email_verification=optional", "config.verify_token_ttl=24h0m0s"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("the configuration line lacks %s:\n%s", want, logs)
				}
			}
		})
	}
}

// The first start with EMAIL_VERIFICATION=required records when it began,
// and later ones keep that moment; a start in another mode clears it.
func TestServeRecordsWhenVerificationBecameRequired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	since := func() []string {
		db := storetest.OpenRaw(t, store.DriverSQLite, path)
		var values []string
		if err := db.Table("jwtauthSettings").Where("name = ?", "emailVerificationRequiredSince").Pluck("value", &values).Error; err != nil {
			t.Fatal(err)
		}
		return values
	}
	var first []string
	for i, mode := range []string{"required", "required", "optional", "required"} {
		_, stop, logs := start(t, map[string]string{"DB_DSN": path, "JWT_SECRET": randomSecret(), "EMAIL_VERIFICATION": mode})
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		got := since()
		switch {
		case mode != "required":
			if len(got) != 0 {
				t.Errorf("start %d (%s): the moment is still recorded: %v", i+1, mode, got)
			}
		case i == 0:
			first = got
			if len(got) != 1 || !strings.Contains(logs.String(), "email verification is required of accounts created since") {
				t.Errorf("start %d: recorded %v; log:\n%s", i+1, got, logs)
			}
		case i == 1:
			if len(got) != 1 || got[0] != first[0] {
				t.Errorf("start %d: recorded %v, want the first start's %v", i+1, got, first)
			}
		default:
			if len(got) != 1 {
				t.Errorf("start %d: recorded %v, want a new moment", i+1, got)
			}
		}
	}
}

// Settings that open the server to anyone are said at start, as warnings.
func TestServeWarnsOfOpenSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	_, stop, logs := start(t, map[string]string{"DB_DSN": path, "JWT_SECRET": randomSecret(), "BCRYPT_COST": "4",
		"SIGNUP_ALLOW_ROLES": "user,moderator,admin"})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := `level=WARN msg="SIGNUP_ALLOW_ROLES lets anyone sign up as admin: for demos only"`
	if n := strings.Count(logs.String(), want); n != 1 {
		t.Errorf("%d warnings about SIGNUP_ALLOW_ROLES, want 1:\n%s", n, logs.String())
	}
}
