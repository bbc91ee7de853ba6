package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"jwtauth/internal/logtest"
)

// randomSecret is a JWT_SECRET as `openssl rand -base64 48` makes one, new
// for each test: the server refuses a secret written in the repository.
func randomSecret() string {
	b := make([]byte, 48)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the server as main does, on env, and waits until it answers.
func start(t *testing.T, env map[string]string) (url string, stop func() error, logs *logtest.Buffer) {
	t.Helper()
	addr := freeAddr(t)
	env["ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	logs = &logtest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"jwtauth"}, func(k string) string { return env[k] }, nil, logs, logs)
	}()
	url = "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("server exited: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not answer: %v\n%s", err, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { stop() })
	return url, stop, logs
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// userBoard calls /api/test/user with token and returns the status.
func userBoard(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/test/user", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunOnSQLite(t *testing.T) {
	env := map[string]string{
		"DB_DSN":      filepath.Join(t.TempDir(), "nested", "dir", "jwtauth.db"),
		"JWT_SECRET":  randomSecret(),
		"BCRYPT_COST": "4",
	}
	url, stop, logs := start(t, env)
	if code, body := post(t, url+"/api/auth/signup", `{"username":"first","email":"first@example.com","password":"password-1"}`); code != 200 {
		t.Fatalf("signup: %d %s", code, body)
	}
	code, body := post(t, url+"/api/auth/signin", `{"username":"first","password":"password-1"}`)
	if code != 200 {
		t.Fatalf("signin: %d %s", code, body)
	}
	var signin struct{ AccessToken string }
	if err := json.Unmarshal([]byte(body), &signin); err != nil {
		t.Fatal(err)
	}
	token := signin.AccessToken
	if err := stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	// The origins browsers may call from are said with the address: a
	// frontend on another one is refused.
	for _, want := range []string{"jwtauth listening", "addr=http://" + env["ADDR"], "database=\"sqlite ", "cors_origins=http://localhost:8081 ", "stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}

	// A restart on the same file: the account and (same secret) its token survive.
	url, _, _ = start(t, env)
	if code := userBoard(t, url, token); code != 200 {
		t.Errorf("token after restart: %d", code)
	}
	if code, body := post(t, url+"/api/auth/signup", `{"username":"FIRST","email":"x@example.com","password":"password-1"}`); code != 400 {
		t.Errorf("duplicate after restart: %d %s", code, body)
	}
}

// A stop asked for mid-request lets the request finish before run returns.
// The request is held open deterministically: it asks for 100-continue, so
// the body is sent only once the handler is reading it, and only after the
// listener is seen closed.
func TestRunFinishesInFlightRequests(t *testing.T) {
	url, stop, _ := start(t, map[string]string{
		"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "BCRYPT_COST": "4",
	})
	body, w := io.Pipe()
	reading := make(chan struct{})
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(reading) }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		"POST", url+"/api/auth/signup", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}

	type result struct {
		code int
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		resp.Body.Close()
		got <- result{code: resp.StatusCode}
	}()
	<-reading // the handler is waiting for the body

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	for { // wait until shutdown has closed the listener
		c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprint(w, `{"username":"late","email":"late@example.com","password":"password-1"}`)
	w.Close()
	if r := <-got; r.err != nil || r.code != 200 {
		t.Errorf("in-flight signup: %d %v", r.code, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run returned %v", err)
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	err := run(context.Background(), []string{"jwtauth"}, func(k string) string {
		return map[string]string{"BCRYPT_COST": "99"}[k]
	}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "BCRYPT_COST") {
		t.Errorf("run = %v, want an error naming BCRYPT_COST", err)
	}
	for driver, dsn := range map[string]string{
		"mysql":    "root:@tcp(127.0.0.1:1)/none?timeout=1s",
		"postgres": "postgres://root@127.0.0.1:1/none?connect_timeout=1",
	} {
		err = run(context.Background(), []string{"jwtauth"}, func(k string) string {
			return map[string]string{"DB_DRIVER": driver, "DB_DSN": dsn}[k]
		}, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), driver) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("unreachable %s database: %v", driver, err)
		}
	}
	err = run(context.Background(), []string{"jwtauth"}, func(k string) string {
		return map[string]string{"DB_DRIVER": "postgres", "DB_DSN": "postgres://root@127.0.0.1:5432/test?sslmode=sometimes"}[k]
	}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "postgres dsn") {
		t.Errorf("malformed postgres DSN: %v", err)
	}
}

// With JWT_SIGNING=EdDSA the key file is made on first start and reused
// after, so tokens survive a restart without any secret configured.
func TestRunWithEdDSAKeyFile(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"DB_DSN": filepath.Join(dir, "jwtauth.db"), "BCRYPT_COST": "4",
		"JWT_SIGNING": "EdDSA", "JWT_KEY_FILE": filepath.Join(dir, "keys", "signing.pem"),
	}
	url, stop, logs := start(t, env)
	post(t, url+"/api/auth/signup", `{"username":"edna","email":"edna@example.com","password":"password-1"}`)
	_, body := post(t, url+"/api/auth/signin", `{"username":"edna","password":"password-1"}`)
	var signin struct{ AccessToken string }
	json.Unmarshal([]byte(body), &signin)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "generated an Ed25519 signing key") || strings.Contains(logs.String(), "JWT_SECRET is not set") {
		t.Errorf("first start log:\n%s", logs)
	}

	url, _, logs = start(t, env)
	if code := userBoard(t, url, signin.AccessToken); code != 200 {
		t.Errorf("token after restart: %d", code)
	}
	if strings.Contains(logs.String(), "generated") {
		t.Error("a second key was generated")
	}
}

// METRICS_ADDR moves /metrics off the API's port to a listener of its own.
func TestRunWithMetricsAddr(t *testing.T) {
	metricsAddr := freeAddr(t)
	url, _, _ := start(t, map[string]string{
		"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "METRICS_ADDR": metricsAddr,
	})
	if code, _ := get(t, url+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the API port: %d, want 404", code)
	}
	if code, body := get(t, "http://"+metricsAddr+"/metrics"); code != 200 || !strings.Contains(body, "jwtauth_http_requests_total") {
		t.Errorf("/metrics on METRICS_ADDR: %d", code)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The server logs what it runs with once, after the line saying where it
// listens: settings as resolved (HASH_QUEUE=0 stays 0, the derived
// connection cap), the secret masked.
func TestRunLogsTheConfigurationOnce(t *testing.T) {
	secret := randomSecret()
	_, stop, logs := start(t, map[string]string{
		"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "JWT_SECRET": secret,
		"HASH_QUEUE": "0", "SIGNUP_ALLOW_ROLES": "user,moderator",
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "msg=configuration "); n != 1 {
		t.Errorf("%d configuration lines, want 1:\n%s", n, out)
	}
	if listening, configuration := strings.Index(out, `msg="jwtauth listening"`), strings.Index(out, "msg=configuration "); listening < 0 || configuration < listening {
		t.Errorf("the configuration is not logged after the listening line:\n%s", out)
	}
	for _, want := range []string{"config.hash_queue=0 ", "config.signup_allow_roles=user,moderator ", "config.jwt_secret=set ",
		"config.cors_origins=http://localhost:8081 ", `config.database="sqlite `,
		"config.session_cookie_name=jwtauth_session ", "config.session_cookie_secure=auto ",
		"config.session_cookie_samesite=strict ", "config.tokens_in_body=true "} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "the session cookie is off") {
		t.Errorf("the cookie is said to be off with CORS_ORIGINS unset:\n%s", out)
	}
	if strings.Contains(out, "config.http_max_conns=0 ") {
		t.Errorf("the log shows HTTP_MAX_CONNS unresolved:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Error("the log shows JWT_SECRET")
	}
}

// The server runs on one processor more than it has hashing workers, so
// that one is always free to take a database reply from the network while
// the workers hash (config.Config.Procs), says so in its configuration
// line, and gives the process back its GOMAXPROCS when it stops.
func TestRunKeepsAProcessorFromHashing(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	workers := before + 2
	_, stop, logs := start(t, map[string]string{
		"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "JWT_SECRET": randomSecret(),
		"HASH_WORKERS": strconv.Itoa(workers),
	})
	if got := runtime.GOMAXPROCS(0); got != workers+1 {
		t.Errorf("HASH_WORKERS=%d, GOMAXPROCS %d: running with GOMAXPROCS %d, want %d", workers, before, got, workers+1)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS %d after the server stopped, want %d as before", got, before)
	}
	for _, want := range []string{fmt.Sprintf("config.hash_workers=%d ", workers), fmt.Sprintf("config.gomaxprocs=%d ", workers+1)} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

// CORS_ORIGINS="*" turns the session cookie off, and the server says so
// at start; signin then sets no cookie, and the configuration line says
// the cookie is off.
func TestAnyOriginTurnsTheCookieOff(t *testing.T) {
	url, stop, logs := start(t, map[string]string{
		"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "JWT_SECRET": randomSecret(), "CORS_ORIGINS": "*",
		"BCRYPT_COST": "4",
	})
	defer stop()
	body := `{"username":"anyone","email":"anyone@example.com","password":"password-1"}`
	if r, err := http.Post(url+"/api/auth/signup", "application/json", strings.NewReader(body)); err != nil || r.StatusCode != 200 {
		t.Fatalf("signup: %v %v", r, err)
	}
	r, err := http.Post(url+"/api/auth/signin", "application/json", strings.NewReader(`{"username":"anyone","password":"password-1"}`))
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("signin: %v %v", r, err)
	}
	r.Body.Close()
	if c := r.Header.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("signin set %q with CORS_ORIGINS=*", c)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{`level=WARN msg="CORS_ORIGINS=\"*\": the session cookie is off`, `config.session_cookie_name="off (CORS_ORIGINS=*)"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}
