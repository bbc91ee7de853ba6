package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"jwtauth/internal/auth"
	"jwtauth/internal/httpapi"
	"jwtauth/internal/store/storetest"
)

// An internal error and a recovered panic answer 500 without details, and
// their log records carry what finds the request again: its id (the one
// the client sent, as in the access log), the route template, the method
// and the path.
func TestInternalErrorsLogRequestAndRoute(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s := startServer(t, storetest.Open(t, "sqlite"), func(o *httpapi.Options) {
		o.RedisPing = func(context.Context) error { panic("redis client bug") }
	}, func(o *auth.Options) { o.Logger = log })
	// A schema the code does not expect: no error the store knows.
	if err := s.db.Exec("ALTER TABLE users RENAME TO users_elsewhere").Error; err != nil {
		t.Fatal(err)
	}

	wantJSON(t, s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: "application/json",
		body: `{"username":"someone","password":"password-1"}`, header: map[string]string{"X-Request-ID": "trace-500"}}),
		500, "Internal server error.")
	wantJSON(t, s.do(t, request{method: "GET", path: "/readyz", header: map[string]string{"X-Request-ID": "trace-panic"}}),
		500, "Internal server error.")

	records := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := rec["msg"].(string); msg == "internal error" || msg == "panic" {
			records[msg] = rec
		}
	}
	for msg, want := range map[string]map[string]string{
		"internal error": {"request_id": "trace-500", "route": "/api/auth/signin", "method": "POST", "path": "/api/auth/signin"},
		"panic":          {"request_id": "trace-panic", "route": "/readyz", "method": "GET", "path": "/readyz"},
	} {
		rec, ok := records[msg]
		if !ok {
			t.Errorf("no %q record in the log:\n%s", msg, logs.String())
			continue
		}
		for k, v := range want {
			if rec[k] != v {
				t.Errorf("%q record: %s = %v, want %q", msg, k, rec[k], v)
			}
		}
	}
}
