package httpapi_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"jwtauth/internal/auth"
	"jwtauth/internal/logtest"
	"jwtauth/internal/store/storetest"
)

// A database whose storage is full (here SQLite at its max_page_count, as
// a full disk does) answers 503 JSON with Retry-After and one clear log
// line, and /readyz says unready until a row is stored again.
func TestStorageFull(t *testing.T) {
	// Room for a few dozen users and no more.
	full := storetest.OpenSmallSQLite(t, 12)
	var logs logtest.Buffer
	s := serverOn(t, full, func(o *auth.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })

	const msg = "Service temporarily unavailable, please retry."
	var refused response
	stored := 0
	for i := range 1000 {
		name := fmt.Sprintf("filler%04d", i)
		r := s.postJSON(t, "/api/auth/signup", map[string]string{
			"username": name, "email": name + "@example.com", "password": "password-1"})
		if r.status != 200 {
			refused = r
			break
		}
		stored++
	}
	if stored == 0 || refused.status == 0 {
		t.Fatalf("stored %d users; the database never filled up", stored)
	}
	wantJSON(t, refused, 503, msg)
	if refused.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if !strings.Contains(logs.String(), `msg="database storage is full"`) {
		t.Errorf("no log line says the storage is full; logs:\n%s", logs.String())
	}
	wantJSON(t, s.get(t, "/readyz", ""), 503, msg)
	// Reads still work.
	s.signIn(t, "filler0000", "password-1")

	// Make room: the next signup is stored, and the server is ready again.
	if err := full.Exec("DELETE FROM users WHERE username LIKE 'filler0%'").Error; err != nil {
		t.Fatal(err)
	}
	s.signUp(t, "roomy", "roomy@example.com", "password-1")
	if r := s.get(t, "/readyz", ""); r.status != 200 {
		t.Errorf("readyz after room was made: %d %s", r.status, r.body)
	}
}
