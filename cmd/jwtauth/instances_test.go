package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// instance is a jwtauth process of the built binary.
type instance struct {
	url string
	cmd *exec.Cmd
}

// startInstances starts n processes on env at once (each on its own
// port) and waits until all answer.
func startInstances(t *testing.T, n int, env map[string]string) []*instance {
	t.Helper()
	out := make([]*instance, n)
	for i := range out {
		addr := freeAddr(t)
		cmd := exec.Command(binary)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ADDR=" + addr}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		logs, err := os.Create(fmt.Sprintf("%s/instance%d.log", t.TempDir(), i))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		out[i] = &instance{url: "http://" + addr, cmd: cmd}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	for i, in := range out {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if resp, err := http.Get(in.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				logs, _ := os.ReadFile(in.cmd.Stdout.(*os.File).Name())
				t.Fatalf("instance %d did not become ready:\n%s", i, logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("x-access-token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func field(t *testing.T, body, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	v, _ := m[name].(string)
	return v
}

// eventually retries check until it is true or the deadline passes: for
// what other instances see within AUTHZ_CACHE_TTL.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !check(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

// Three instances share one database (MariaDB, or PostgreSQL) and one
// Redis, and nothing else.
func TestThreeInstances(t *testing.T) {
	storetest.RunServers(t, testThreeInstances)
}

func testThreeInstances(t *testing.T, driver string) {
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		t.Skip("TEST_REDIS_URL not set: multi-instance test skipped")
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	tag := hex.EncodeToString(suffix) // Redis counts outlive a run: fresh names
	env := map[string]string{
		"DB_DRIVER": driver, "DB_DSN": storetest.NewDSN(t, driver), "REDIS_URL": redisURL,
		"JWT_SECRET": randomSecret(), "BCRYPT_COST": "4", "AUTHZ_CACHE_TTL": "1s",
		"REFRESH_REUSE_GRACE": "1s", "RATE_LIMIT_SIGNIN_USER": "5/1h", "RATE_LIMIT_SIGNIN_IP": "off",
		"RATE_LIMIT_SIGNUP_IP": "off",
	}
	nodes := startInstances(t, 3, env) // started together: the migrations race too
	a, b, c := nodes[0], nodes[1], nodes[2]
	user := "member_" + tag

	// A token from A works on B and C.
	code, body := call(t, "POST", a.url+"/api/auth/signup", "", fmt.Sprintf(`{"username":%q,"email":"%s@example.com","password":"password-1x"}`, user, user))
	if code != 200 {
		t.Fatalf("signup on A: %d %s", code, body)
	}
	_, body = call(t, "POST", a.url+"/api/auth/signin", "", fmt.Sprintf(`{"username":%q,"password":"password-1x"}`, user))
	token, refresh := field(t, body, "accessToken"), field(t, body, "refreshToken")
	for _, n := range []*instance{b, c} {
		if code, body := call(t, "GET", n.url+"/api/test/user", token, ""); code != 200 {
			t.Errorf("A's token on another instance: %d %s", code, body)
		}
	}

	// Refresh on A; the old token replayed on C revokes the family everywhere.
	_, body = call(t, "POST", a.url+"/api/auth/refreshtoken", "", fmt.Sprintf(`{"refreshToken":%q}`, refresh))
	next := field(t, body, "refreshToken")
	if next == "" {
		t.Fatalf("refresh on A: %s", body)
	}
	time.Sleep(1100 * time.Millisecond) // past REFRESH_REUSE_GRACE
	if code, body := call(t, "POST", c.url+"/api/auth/refreshtoken", "", fmt.Sprintf(`{"refreshToken":%q}`, refresh)); code != 403 || !strings.Contains(body, "already used") {
		t.Errorf("replay on C: %d %s", code, body)
	}
	if code, body := call(t, "POST", b.url+"/api/auth/refreshtoken", "", fmt.Sprintf(`{"refreshToken":%q}`, next)); code != 403 || !strings.Contains(body, "revoked") {
		t.Errorf("the family's newest token on B: %d %s", code, body)
	}
	eventually(t, "the revoked session's access token refused on A", func() bool {
		code, _ := call(t, "GET", a.url+"/api/test/user", token, "")
		return code == 401
	})

	// An admin on B grants moderator; A enforces it within the TTL.
	r := exec.Command(binary, "create-admin", "--username", "chief_"+tag, "--email", "chief_"+tag+"@example.com")
	r.Env = []string{"PATH=" + os.Getenv("PATH"), "DB_DRIVER=" + driver, "DB_DSN=" + env["DB_DSN"], "ADMIN_PASSWORD=Adm1n-password"}
	if out, err := r.CombinedOutput(); err != nil {
		t.Fatalf("create-admin: %v\n%s", err, out)
	}
	_, body = call(t, "POST", b.url+"/api/auth/signin", "", fmt.Sprintf(`{"username":"chief_%s","password":"Adm1n-password"}`, tag))
	admin := field(t, body, "accessToken")
	_, body = call(t, "POST", a.url+"/api/auth/signin", "", fmt.Sprintf(`{"username":%q,"password":"password-1x"}`, user))
	token = field(t, body, "accessToken")
	var id int64
	fmt.Sscanf(body[strings.Index(body, `"id":`)+5:], "%d", &id)
	if code, _ := call(t, "GET", a.url+"/api/test/mod", token, ""); code != 403 {
		t.Fatalf("moderator board before the grant: %d", code)
	}
	if code, body := call(t, "PUT", fmt.Sprintf("%s/api/admin/users/%d/roles", b.url, id), admin, `{"roles":["user","moderator"]}`); code != 200 {
		t.Fatalf("grant on B: %d %s", code, body)
	}
	eventually(t, "the grant made on B enforced on A", func() bool {
		code, _ := call(t, "GET", a.url+"/api/test/mod", token, "")
		return code == 200
	})

	// The signin limit is one count across the three.
	target := "limited_" + tag
	call(t, "POST", a.url+"/api/auth/signup", "", fmt.Sprintf(`{"username":%q,"email":"%s@example.com","password":"password-1x"}`, target, target))
	for i := range 5 {
		n := nodes[i%3]
		if code, body := call(t, "POST", n.url+"/api/auth/signin", "", fmt.Sprintf(`{"username":%q,"password":"wrong-pass"}`, target)); code != 401 {
			t.Fatalf("attempt %d: %d %s", i+1, code, body)
		}
	}
	for _, n := range nodes {
		if code, body := call(t, "POST", n.url+"/api/auth/signin", "", fmt.Sprintf(`{"username":%q,"password":"password-1x"}`, target)); code != 429 {
			t.Errorf("6th attempt, after five spread over the instances: %d %s", code, body)
		}
	}

	// One instance killed mid-load: every signup that got a 200 is there, once.
	var mu sync.Mutex
	ok := map[string]bool{}
	var wg sync.WaitGroup
	for i := range 90 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("load_%s_%d", tag, i)
			n := nodes[i%3]
			if code, _ := call(t, "POST", n.url+"/api/auth/signup", "", fmt.Sprintf(`{"username":%q,"email":"%s@example.com","password":"password-1x"}`, name, name)); code == 200 {
				mu.Lock()
				ok[name] = true
				mu.Unlock()
			}
		}()
		if i == 45 {
			c.cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	wg.Wait()
	db := storetest.OpenRaw(t, driver, env["DB_DSN"])
	var names []string
	if err := db.Model(&store.User{}).Where("username LIKE ?", "load\\_"+tag+"\\_%").Pluck("username", &names).Error; err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	for name := range ok {
		if seen[name] != 1 {
			t.Errorf("%s got 200 but is stored %d times", name, seen[name])
		}
	}
	if len(ok) < 60 {
		t.Errorf("only %d of 90 signups succeeded with two of three instances up", len(ok))
	}
	// The survivors keep answering.
	for _, n := range []*instance{a, b} {
		if code, _ := call(t, "GET", n.url+"/api/test/user", token, ""); code != 200 {
			t.Errorf("a surviving instance: %d", code)
		}
	}
}

// Ten instances migrating an empty database at once: all succeed, three roles.
func TestTenInstancesStartTogether(t *testing.T) {
	storetest.RunServers(t, testTenInstancesStartTogether)
}

func testTenInstancesStartTogether(t *testing.T, driver string) {
	dsn := storetest.NewDSN(t, driver)
	var wg sync.WaitGroup
	errs := make([]error, 10)
	outs := make([][]byte, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(binary, "migrate")
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DB_DRIVER=" + driver, "DB_DSN=" + dsn}
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v\n%s", i, err, outs[i])
		}
	}
	db := storetest.OpenRaw(t, driver, dsn)
	var roles []string
	db.Model(&store.Role{}).Order("id").Pluck("name", &roles)
	if fmt.Sprint(roles) != "[user moderator admin]" {
		t.Errorf("roles = %v, want exactly [user moderator admin]", roles)
	}
}
