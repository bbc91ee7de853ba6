package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// binary is jwtauth built once for the tests that drive it as a subprocess.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jwtauth-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "jwtauth")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build jwtauth: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// jwtauth runs the binary with env (and nothing else of the test's
// environment but PATH and HOME) and stdin.
func jwtauth(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	return jwtauthIn(t, "", env, stdin, args...)
}

// jwtauthIn is jwtauth run in the directory dir ("": the test's).
func jwtauthIn(t *testing.T, dir string, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errOut.String()}
}

func TestCreateAdminThenSignIn(t *testing.T) {
	env := map[string]string{"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "BCRYPT_COST": "4"}

	r := jwtauth(t, env, "Adm1n-password-9\n", "create-admin", "--username", "chief", "--email", "chief@example.com")
	if r.code != 0 || r.stdout != "created admin \"chief\" (id 1)\n" || r.stderr != "" {
		t.Fatalf("create-admin: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "Adm1n-password-9") {
		t.Error("create-admin printed the password")
	}
	// The same name again, in another case: refused, exit 1.
	r = jwtauth(t, env, "Adm1n-password-9\n", "create-admin", "--username", "CHIEF", "--email", "x@example.com")
	if want := "jwtauth: create-admin: the username \"CHIEF\" is already in use\n"; r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("duplicate create-admin: exit %d\nstdout: %s\nstderr: %s\nwant exit 1 and only %q", r.code, r.stdout, r.stderr, want)
	}
	r = jwtauth(t, env, "Adm1n-password-9\n", "create-admin", "--username", "deputy", "--email", "CHIEF@example.com")
	if want := "jwtauth: create-admin: the email \"CHIEF@example.com\" is already in use\n"; r.code != 1 || r.stderr != want {
		t.Errorf("create-admin with a taken email: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
	// The password may come from ADMIN_PASSWORD; bad input is refused with a message.
	env["ADMIN_PASSWORD"] = "short"
	r = jwtauth(t, env, "", "create-admin", "--username", "deputy", "--email", "deputy@example.com")
	if r.code != 1 || !strings.Contains(r.stderr, "Password must be at least 8 characters") {
		t.Errorf("short ADMIN_PASSWORD: exit %d, stderr %s", r.code, r.stderr)
	}
	delete(env, "ADMIN_PASSWORD")

	// Sign in as that admin on the server and use the admin API.
	url, _, _ := start(t, env)
	code, body := post(t, url+"/api/auth/signin", `{"username":"chief","password":"Adm1n-password-9"}`)
	if code != 200 || !strings.Contains(body, `"roles":["ROLE_USER","ROLE_ADMIN"]`) {
		t.Fatalf("signin as the new admin: %d %s", code, body)
	}
}

func TestCommandLine(t *testing.T) {
	env := map[string]string{"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db")}
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     string
		stdin      string
		env        map[string]string
		noDatabase bool
	}{
		{name: "help", args: []string{"--help"}, stdout: "Usage:", noDatabase: true},
		{name: "help command", args: []string{"help"}, stdout: "create-admin --username U --email E", noDatabase: true},
		{name: "create-admin help", args: []string{"create-admin", "--help"}, stdout: "-username", noDatabase: true},
		{name: "serve help", args: []string{"serve", "-h"}, stdout: "Runs the server", noDatabase: true},
		{name: "version", args: []string{"version"}, stdout: "jwtauth ", noDatabase: true},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate" (see jwtauth --help)`, noDatabase: true},
		{name: "unknown flag", args: []string{"migrate", "--force"}, code: 2, stderr: "flag provided but not defined: -force (see jwtauth migrate --help)", noDatabase: true},
		{name: "no password flag", args: []string{"create-admin", "--username", "u", "--email", "e@x.io", "--password", "p"}, code: 2,
			stderr: "flag provided but not defined: -password", noDatabase: true},
		{name: "create-admin without email", args: []string{"create-admin", "--username", "chief"}, code: 2,
			stderr: "--username and --email are required (see jwtauth create-admin --help)", noDatabase: true},
		{name: "create-admin without a password", args: []string{"create-admin", "--username", "chief", "--email", "c@x.io"}, code: 1,
			stderr: "no password", noDatabase: true},
		{name: "bad configuration", args: []string{"migrate"}, env: map[string]string{"BCRYPT_COST": "99"}, code: 1,
			stderr: "BCRYPT_COST", noDatabase: true},
		{name: "migrate", args: []string{"migrate"}, stdout: "migrated: sqlite"},
		{name: "migrate again", args: []string{"migrate"}, stdout: "migrated: sqlite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for k, v := range tt.env {
				e[k] = v
			}
			if tt.noDatabase {
				e["DB_DSN"] = filepath.Join(t.TempDir(), "untouched", "jwtauth.db")
			}
			r := jwtauth(t, e, tt.stdin, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.noDatabase {
				if _, err := os.Stat(e["DB_DSN"]); err == nil {
					t.Error("a command that failed early created the database")
				}
			}
		})
	}
}

// countingListener is a loopback address that counts the connections
// made to it (and closes them), so that "not contacted" is observed, not
// inferred from a quiet log.
func countingListener(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var contacts atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			contacts.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), &contacts
}

// migrate and create-admin open the database and nothing else: with
// JWT_SIGNING=EdDSA they make no key file (only a server signs tokens),
// they never contact REDIS_URL (only a server counts rate limits), and
// they send no mail, even with a message waiting in the outbox (only a
// server runs the mail sender).
func TestCommandsOpenOnlyTheDatabase(t *testing.T) {
	redis, contacts := countingListener(t)
	smtpAddr, smtpContacts := countingListener(t)
	dir := t.TempDir()
	env := map[string]string{
		"DB_DSN": filepath.Join(dir, "jwtauth.db"), "BCRYPT_COST": "4", "JWT_SIGNING": "EdDSA",
		"REDIS_URL": "redis://" + redis + "/0", "LOG_LEVEL": "debug",
		"SMTP_URL": "smtp://" + smtpAddr + "?starttls=off",
	}
	var waiting store.OutboxMail
	for _, c := range []struct {
		args   []string
		stdin  string
		stdout string
	}{
		{[]string{"migrate"}, "", "migrated: sqlite"},
		{[]string{"create-admin", "--username", "chief", "--email", "chief@example.com"}, "Adm1n-password-9\n", `created admin "chief"`},
	} {
		keyFile := filepath.Join(dir, c.args[0], "signing.pem")
		env["JWT_KEY_FILE"] = keyFile
		r := jwtauth(t, env, c.stdin, c.args...)
		if r.code != 0 || !strings.Contains(r.stdout, c.stdout) {
			t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", c.args[0], r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s made the signing key file (stat: %v)", c.args[0], err)
		}
		if out := strings.ToLower(r.stdout + r.stderr); strings.Contains(out, "redis") || strings.Contains(out, "smtp") {
			t.Errorf("%s spoke of Redis or SMTP:\nstdout: %s\nstderr: %s", c.args[0], r.stdout, r.stderr)
		}
		if waiting.ID == 0 {
			waiting = enqueueMail(t, env["DB_DSN"], "ann@example.com")
		}
	}
	if n := contacts.Load(); n > 0 {
		t.Errorf("REDIS_URL was contacted %d times", n)
	}
	if n := smtpContacts.Load(); n > 0 {
		t.Errorf("SMTP_URL was contacted %d times", n)
	}
	db := storetest.OpenRaw(t, store.DriverSQLite, env["DB_DSN"])
	if err := db.Take(&waiting, waiting.ID).Error; err != nil || waiting.SentAt != nil || waiting.ClaimedBy != nil || waiting.Attempts != 0 {
		t.Errorf("the waiting message was touched: %+v, %v", waiting, err)
	}
}

// An admin locked out gets back in from the command line: reset-password
// sets the password and signs every session out; the old password and
// the old tokens stop working.
func TestResetPasswordFromTheCommandLine(t *testing.T) {
	env := map[string]string{"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "BCRYPT_COST": "4", "JWT_SECRET": randomSecret()}
	if r := jwtauth(t, env, "Adm1n-password-9\n", "create-admin", "--username", "chief", "--email", "chief@example.com"); r.code != 0 {
		t.Fatalf("create-admin: exit %d: %s", r.code, r.stderr)
	}
	url, stop, _ := start(t, env)
	code, body := post(t, url+"/api/auth/signin", `{"username":"chief","password":"Adm1n-password-9"}`)
	if code != 200 {
		t.Fatalf("signin: %d %s", code, body)
	}
	token := field(t, body, "accessToken")

	r := jwtauth(t, env, "N3w-admin-password\n", "reset-password", "--username", "CHIEF")
	if r.code != 0 || !strings.Contains(r.stdout, `password of "CHIEF" (id 1) reset`) {
		t.Fatalf("reset-password: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "N3w-admin-password") {
		t.Error("reset-password printed the password")
	}
	// The running server sees the reset once its cache lets go (5s).
	deadline := time.Now().Add(15 * time.Second)
	for userBoard(t, url, token) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the old token still works 15s after the reset")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := post(t, url+"/api/auth/signin", `{"username":"chief","password":"Adm1n-password-9"}`); code != 401 {
		t.Errorf("the old password: %d", code)
	}
	if code, body := post(t, url+"/api/auth/signin", `{"username":"chief","password":"N3w-admin-password"}`); code != 200 {
		t.Errorf("the new password: %d %s", code, body)
	}
	stop()

	for _, tt := range []struct {
		name, stdin string
		env         map[string]string
		args        []string
		says        string
	}{
		{"unknown user", "N3w-admin-password\n", nil, []string{"--username", "nobody"}, "User Not found."},
		{"short password", "", map[string]string{"NEW_PASSWORD": "short"}, []string{"--username", "chief"}, "Password must be at least 8 characters"},
		{"no password", "", nil, []string{"--username", "chief"}, "reset-password: no password: set NEW_PASSWORD or pipe it on standard input"},
		{"no username", "x\n", nil, nil, "reset-password: --username is required"},
	} {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range tt.env {
			e[k] = v
		}
		r := jwtauth(t, e, tt.stdin, append([]string{"reset-password"}, tt.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.says) {
			t.Errorf("%s: exit %d, stderr %q, want it to say %q", tt.name, r.code, r.stderr, tt.says)
		}
	}
}
