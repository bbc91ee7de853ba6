package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"jwtauth/internal/auth"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

func TestSignIn(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.signUp(t, "Alice", "Alice@Example.com", "password-1")

		t.Run("the original's body", func(t *testing.T) {
			r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": "Alice", "password": "password-1"})
			if r.status != 200 || !strings.HasPrefix(r.contentType(), "application/json") {
				t.Fatalf("got %d %s %s", r.status, r.contentType(), r.body)
			}
			// Field names and order as the original sends them.
			prefix := `{"id":1,"username":"Alice","email":"Alice@Example.com","roles":["ROLE_USER"],"accessToken":"`
			if !strings.HasPrefix(string(r.body), prefix) {
				t.Errorf("body = %s, want it to start %s", r.body, prefix)
			}
		})
		t.Run("username in another case, form encoded", func(t *testing.T) {
			r := s.postForm(t, "/api/auth/signin", url.Values{"username": {"aLiCe"}, "password": {"password-1"}})
			if r.status != 200 || !strings.Contains(string(r.body), `"username":"Alice"`) {
				t.Errorf("got %d %s", r.status, r.body)
			}
		})
		t.Run("wrong password", func(t *testing.T) {
			r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": "alice", "password": "password-2"})
			if r.status != 401 || string(r.body) != `{"accessToken":null,"message":"Invalid Password!"}` {
				t.Errorf("got %d %s", r.status, r.body)
			}
			if !strings.HasPrefix(r.contentType(), "application/json") {
				t.Errorf("Content-Type = %q", r.contentType())
			}
		})

		const json = "application/json"
		tests := []struct {
			name, contentType, body string
			status                  int
			msg                     string
		}{
			{"unknown user", json, `{"username":"nobody","password":"password-1"}`, 404, "User Not found."},
			{"very long unknown user", json, `{"username":"` + strings.Repeat("n", 5000) + `","password":"password-1"}`, 404, "User Not found."},
			{"username not UTF-8", "application/x-www-form-urlencoded", "username=%ff%fe&password=password-1", 404, "User Not found."},
			{"username with a NUL byte", json, `{"username":"ali\u0000ce","password":"password-1"}`, 404, "User Not found."},
			{"missing username", json, `{"password":"password-1"}`, 400, "Failed! Username is required."},
			{"missing password", json, `{"username":"alice"}`, 400, "Failed! Password is required."},
			{"numeric username", json, `{"username":1,"password":"password-1"}`, 400, "Failed! Username must be a string."},
			{"array password", json, `{"username":"alice","password":["a"]}`, 400, "Failed! Password must be a string."},
			{"password over 72 bytes", json, `{"username":"alice","password":"` + strings.Repeat("p", 73) + `"}`,
				400, "Failed! Password must be at most 72 bytes."},
			{"malformed JSON", json, `{"username":`, 400, "Failed! Request body is not valid JSON."},
			{"no body", "", "", 400, "Failed! Send the body as JSON (Content-Type: application/json) or as a form (application/x-www-form-urlencoded)."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: tt.contentType, body: tt.body})
				wantJSON(t, r, tt.status, tt.msg)
			})
		}
	})
}

// A hash cheaper than the configured cost (the original's cost 8) is
// replaced on a successful signin, once.
func TestSignInUpgradesCheapHashes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver, func(o *auth.Options) { o.BcryptCost = bcrypt.MinCost + 1 })
		id := s.createUser(t, "legacy", "legacy-password") // cost MinCost
		hashOf := func() string {
			var u store.User
			if err := s.db.First(&u, id).Error; err != nil {
				t.Fatal(err)
			}
			return u.Password
		}
		before := hashOf()

		s.postJSON(t, "/api/auth/signin", map[string]string{"username": "legacy", "password": "wrong-password"})
		if hashOf() != before {
			t.Fatal("a failed signin changed the hash")
		}
		s.signIn(t, "legacy", "legacy-password")
		upgraded := hashOf()
		if cost, _ := bcrypt.Cost([]byte(upgraded)); cost != bcrypt.MinCost+1 {
			t.Fatalf("cost after signin = %d, want %d", cost, bcrypt.MinCost+1)
		}
		s.signIn(t, "legacy", "legacy-password")
		if hashOf() != upgraded {
			t.Error("a hash at the configured cost was rehashed again")
		}
	})
}

// A user left with no role (roles removed by hand) still signs in, with an
// empty list rather than null.
func TestSignInWithoutRoles(t *testing.T) {
	s := newServer(t, "sqlite")
	s.createUser(t, "roleless", "password-1")
	r := s.postJSON(t, "/api/auth/signin", map[string]string{"username": "roleless", "password": "password-1"})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"roles":[]`) {
		t.Errorf("got %d %s", r.status, r.body)
	}
	if err := store.Ping(context.Background(), s.db); err != nil {
		t.Fatal(err)
	}
}

// On a MySQL table made with the 3-byte utf8 charset, characters it cannot
// hold are a 400, not a database error leaking out as a 500.
func TestMySQLUnstorableCharactersOnUTF8MB3(t *testing.T) {
	storetest.RequireMySQL(t)
	dsn := storetest.NewDSN(t, store.DriverMySQL)
	storetest.LoadMySQLDump(t, dsn, "../store/testdata/seed-schema.sql")
	db := storetest.OpenRaw(t, store.DriverMySQL, dsn)
	if err := db.Exec("ALTER TABLE users CONVERT TO CHARACTER SET utf8mb3").Error; err != nil {
		t.Fatal(err)
	}
	s := serverOn(t, storetest.OpenDSN(t, store.DriverMySQL, dsn))
	r := s.postJSON(t, "/api/auth/signup", map[string]string{"username": "fox 🦊", "email": "fox@example.com", "password": "password-1"})
	wantJSON(t, r, 400, "Failed! Username or email has characters this database cannot store.")
	r = s.postJSON(t, "/api/auth/signin", map[string]string{"username": "fox 🦊", "password": "password-1"})
	wantJSON(t, r, 404, "User Not found.")
	s.signUp(t, "fox", "fox@example.com", "password-1")
}
