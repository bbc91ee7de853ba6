package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"jwtauth/internal/auth"
	"jwtauth/internal/httpapi"
	"jwtauth/internal/metrics"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store/storetest"
)

func TestMetrics(t *testing.T) {
	m := metrics.New()
	mem := ratelimit.NewMemory(nil)
	s := startServer(t, storetest.Open(t, "sqlite"), func(o *httpapi.Options) {
		o.Metrics, o.MetricsRoute = m, true
		o.SignInLimit = ratelimit.NewRule("signin-ip", perMinute(4), mem)
	}, func(o *auth.Options) { o.CountEvent = m.CountEvent })
	m.WatchDB(mustSQLDB(t, s), "sqlite")
	m.WatchHashPool(s.svc.HashPoolStats)

	s.createUser(t, "measured", "password-1", roleUser)
	in := s.signIn(t, "measured", "password-1")
	wrongSignIn(t, s, "measured", nil)
	wrongSignIn(t, s, "nobody", nil)
	s.mustRefresh(t, in.RefreshToken)
	s.get(t, "/api/test/user", in.AccessToken)
	s.get(t, "/api/admin/users/12", in.AccessToken)
	s.get(t, "/no/such/thing", "")
	wrongSignIn(t, s, "measured", nil)
	wrongSignIn(t, s, "measured", nil) // the 5th from this address: limited

	r := s.get(t, "/metrics", "")
	if r.status != 200 || !strings.HasPrefix(r.contentType(), "text/plain") {
		t.Fatalf("/metrics: %d %s", r.status, r.contentType())
	}
	scrape := string(r.body)
	for _, want := range []string{
		`jwtauth_http_requests_total{method="POST",route="/api/auth/signin",status="200"} 1`,
		`jwtauth_http_requests_total{method="POST",route="/api/auth/signin",status="401"} 2`,
		`jwtauth_http_requests_total{method="POST",route="/api/auth/signin",status="429"} 1`,
		`jwtauth_http_requests_total{method="GET",route="/api/admin/users/:id",status="403"} 1`,
		`jwtauth_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`jwtauth_http_request_duration_seconds_count{method="GET",route="/api/test/user"} 1`,
		`jwtauth_auth_events_total{detail="",event="signin"} 1`,
		`jwtauth_auth_events_total{detail="wrong password",event="signin_failed"} 2`,
		`jwtauth_auth_events_total{detail="unknown user",event="signin_failed"} 1`,
		`jwtauth_auth_events_total{detail="",event="refresh"} 1`,
		`jwtauth_auth_events_total{detail="signin-ip",event="rate_limited"} 1`,
		`jwtauth_hash_pool_running 0`,
		`jwtauth_hash_pool_waiting 0`,
		`go_sql_max_open_connections{db_name="sqlite"} 10`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
}

func TestAccessLog(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := startServer(t, storetest.Open(t, "sqlite"), func(o *httpapi.Options) { o.AccessLog = true },
		func(o *auth.Options) { o.Logger = log })
	s.createUser(t, "walker", "password-1", roleUser)
	s.do(t, request{method: "GET", path: "/api/test/all", header: map[string]string{"X-Request-ID": "trace-1"}})
	s.get(t, "/api/admin/users/7", s.signIn(t, "walker", "password-1").AccessToken)
	s.get(t, "/healthz", "")

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		json.Unmarshal([]byte(l), &rec)
		if rec["msg"] == "request" {
			lines = append(lines, rec)
		}
	}
	if len(lines) != 3 { // all, signin, admin; not the probe
		t.Fatalf("%d access log lines, want 3:\n%s", len(lines), logs.String())
	}
	first := lines[0]
	if first["method"] != "GET" || first["route"] != "/api/test/all" || first["status"] != float64(200) ||
		first["request_id"] != "trace-1" || first["ip"] != "127.0.0.1" || first["duration"] == nil {
		t.Errorf("access log line = %v", first)
	}
	if last := lines[2]; last["route"] != "/api/admin/users/:id" || last["path"] != "/api/admin/users/7" || last["status"] != float64(403) {
		t.Errorf("access log line = %v", last)
	}
}

// Redis down leaves the instance ready, saying it is degraded.
func TestReadyzReportsRedis(t *testing.T) {
	for _, tt := range []struct {
		ping error
		want string
	}{{nil, `{"redis":"ok","status":"ready"}`}, {errors.New("connection refused"), `{"redis":"degraded","status":"ready"}`}} {
		s := startServer(t, storetest.Open(t, "sqlite"), func(o *httpapi.Options) {
			o.RedisPing = func(context.Context) error { return tt.ping }
		})
		if r := s.get(t, "/readyz", ""); r.status != 200 || string(r.body) != tt.want {
			t.Errorf("readyz: %d %s, want 200 %s", r.status, r.body, tt.want)
		}
	}
}
