package httpapi_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"jwtauth/internal/auth"
	"jwtauth/internal/httpapi"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

const testSecret = "test-secret-0123456789-0123456789-abcdef"

// clock is a settable time source shared by the service and its cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testServer is the real router on a real database behind httptest.
type testServer struct {
	*httptest.Server
	db    *gorm.DB
	svc   *auth.Service
	clock *clock
}

// defaultOptions are the server's defaults, but for a cheap bcrypt cost.
func defaultOptions(c *clock) auth.Options {
	return auth.Options{
		Secret:            []byte(testSecret),
		AccessTokenTTL:    time.Hour,
		RefreshTokenTTL:   24 * time.Hour,
		SessionMaxAge:     30 * 24 * time.Hour,
		RefreshReuseGrace: 10 * time.Second,
		BcryptCost:        bcrypt.MinCost,
		PasswordMinLength: 8,
		SignupAllowRoles:  []string{"user"},
		AuthzCacheTTL:     5 * time.Second,
		HashWorkers:       runtime.GOMAXPROCS(0),
		HashQueue:         64,
		HashMaxWait:       3 * time.Second,
		ResetTokenTTL:     30 * time.Minute,
		VerifyTokenTTL:    24 * time.Hour,
		BrowserSessions:   true,
		Now:               c.Now,
	}
}

// newServer starts jwtauth on a fresh database of driver; edit adjusts the
// options before the service is built.
func newServer(t testing.TB, driver string, edit ...func(*auth.Options)) *testServer {
	t.Helper()
	return serverOn(t, storetest.Open(t, driver), edit...)
}

func serverOn(t testing.TB, db *gorm.DB, edit ...func(*auth.Options)) *testServer {
	t.Helper()
	return startServer(t, db, nil, edit...)
}

// startServer is serverOn with the HTTP options adjustable too.
func startServer(t testing.TB, db *gorm.DB, editHTTP func(*httpapi.Options), edit ...func(*auth.Options)) *testServer {
	t.Helper()
	c := newClock()
	opts := defaultOptions(c)
	// The server's address is known before it serves, so that the links in
	// its mail point at it.
	srv := httptest.NewUnstartedServer(nil)
	opts.ResetURL = "http://" + srv.Listener.Addr().String() + "/reset-password"
	opts.VerifyURL = "http://" + srv.Listener.Addr().String() + "/verify-email"
	for _, e := range edit {
		e(&opts)
	}
	svc, err := auth.New(db, opts)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(svc.Close) // before the database closes
	if err := svc.PrepareVerification(context.Background()); err != nil {
		t.Fatal(err)
	}
	httpOpts := httpapi.Options{CORSOrigins: []string{"http://localhost:8081"}, Logger: opts.Logger, Cookie: testCookie}
	if editHTTP != nil {
		editHTTP(&httpOpts)
	}
	h, err := httpapi.NewHandler(svc, httpOpts)
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler = h
	if tt, ok := t.(*testing.T); ok {
		handler = validating(tt, h) // every response of every test is checked against the OpenAPI document
	}
	srv.Config.Handler = handler
	srv.Start()
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, db: db, svc: svc, clock: c}
}

// testCookie is the server's default session cookie.
var testCookie = httpapi.CookieOptions{Name: "jwtauth_session", SameSite: http.SameSiteStrictMode}

// response is what a test looks at in an answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) contentType() string { return r.header.Get("Content-Type") }

// message is the "message" field of a JSON body ("" if none).
func (r response) message(t testing.TB) string {
	t.Helper()
	var m struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return m.Message
}

// request describes a call; body is sent as is with contentType.
type request struct {
	method      string
	path        string
	contentType string
	body        string
	header      map[string]string
}

func (s *testServer) do(t testing.TB, req request) response {
	t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r, err := http.NewRequest(req.method, s.URL+req.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (s *testServer) postJSON(t testing.TB, path string, v any) response {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return s.do(t, request{method: "POST", path: path, contentType: "application/json", body: string(b)})
}

func (s *testServer) postForm(t testing.TB, path string, v url.Values) response {
	t.Helper()
	return s.do(t, request{method: "POST", path: path, contentType: "application/x-www-form-urlencoded", body: v.Encode()})
}

func (s *testServer) get(t testing.TB, path, token string) response {
	t.Helper()
	req := request{method: "GET", path: path}
	if token != "" {
		req.header = map[string]string{"x-access-token": token}
	}
	return s.do(t, req)
}

// signUp registers a user through the API and fails the test otherwise.
func (s *testServer) signUp(t testing.TB, username, email, password string, roles ...string) {
	t.Helper()
	body := map[string]any{"username": username, "email": email, "password": password}
	if roles != nil {
		body["roles"] = roles
	}
	if r := s.postJSON(t, "/api/auth/signup", body); r.status != http.StatusOK {
		t.Fatalf("signup %s: %d %s", username, r.status, r.body)
	}
}

// signInBody is the signin answer.
type signInBody struct {
	ID           int64    `json:"id"`
	Username     string   `json:"username"`
	Email        string   `json:"email"`
	Roles        []string `json:"roles"`
	AccessToken  string   `json:"accessToken"`
	RefreshToken string   `json:"refreshToken"`
}

func (s *testServer) signIn(t testing.TB, username, password string) signInBody {
	t.Helper()
	r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": username, "password": password})
	if r.status != http.StatusOK {
		t.Fatalf("signin %s: %d %s", username, r.status, r.body)
	}
	var b signInBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// createUser inserts a user with the given roles straight into the
// database, as an administrator would; signup cannot grant admin.
func (s *testServer) createUser(t testing.TB, username, password string, roleIDs ...int64) int64 {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u := store.User{Username: username, Email: username + "@example.com", Password: string(hash)}
	if err := store.CreateUser(context.Background(), s.db, &u, roleIDs); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// wantJSON checks an error answer: status, JSON content type, exact message.
func wantJSON(t testing.TB, r response, status int, msg string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.contentType(); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if got := r.message(t); got != msg {
		t.Errorf("message = %q, want %q", got, msg)
	}
}

// wantText checks a plain-text answer.
func wantText(t testing.TB, r response, status int, body string) {
	t.Helper()
	if r.status != status || string(r.body) != body {
		t.Errorf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
	if ct := r.contentType(); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
}

func countUsers(t testing.TB, db *gorm.DB, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := db.Model(&store.User{})
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func mustSQLDB(t testing.TB, s *testServer) *sql.DB {
	t.Helper()
	db, err := s.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	return db
}
