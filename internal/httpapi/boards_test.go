package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

const (
	roleUser      = 1
	roleModerator = 2
	roleAdmin     = 3
)

func TestBoards(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "plain", "password-1", roleUser)
		s.createUser(t, "mod", "password-1", roleUser, roleModerator)
		s.createUser(t, "boss", "password-1", roleAdmin)
		user := s.signIn(t, "plain", "password-1").AccessToken
		mod := s.signIn(t, "mod", "password-1").AccessToken
		admin := s.signIn(t, "boss", "password-1").AccessToken

		wantText(t, s.get(t, "/api/test/all", ""), 200, "Public Content.")
		wantText(t, s.get(t, "/api/test/all", "garbage"), 200, "Public Content.")

		tests := []struct {
			path, token string
			status      int
			body        string // text on success, message on failure
		}{
			{"/api/test/user", "", 403, "No token provided!"},
			{"/api/test/user", "not.a.token", 401, "Unauthorized!"},
			{"/api/test/user", user, 200, "User Content."},
			{"/api/test/user", mod, 200, "User Content."},
			{"/api/test/user", admin, 200, "User Content."},
			{"/api/test/mod", "", 403, "No token provided!"},
			{"/api/test/mod", "not.a.token", 401, "Unauthorized!"},
			{"/api/test/mod", user, 403, "Require Moderator Role!"},
			{"/api/test/mod", admin, 403, "Require Moderator Role!"}, // admin alone is not enough, as in the original
			{"/api/test/mod", mod, 200, "Moderator Content."},
			{"/api/test/admin", "", 403, "No token provided!"},
			{"/api/test/admin", "not.a.token", 401, "Unauthorized!"},
			{"/api/test/admin", user, 403, "Require Admin Role!"},
			{"/api/test/admin", mod, 403, "Require Admin Role!"},
			{"/api/test/admin", admin, 200, "Admin Content."},
		}
		for _, tt := range tests {
			r := s.get(t, tt.path, tt.token)
			if tt.status == 200 {
				wantText(t, r, 200, tt.body)
			} else {
				wantJSON(t, r, tt.status, tt.body)
			}
		}
	})
}

func TestTokenHeaders(t *testing.T) {
	s := newServer(t, "sqlite")
	s.createUser(t, "plain", "password-1", roleUser)
	s.createUser(t, "other", "password-1", roleUser)
	token := s.signIn(t, "plain", "password-1").AccessToken
	other := s.signIn(t, "other", "password-1").AccessToken

	tests := []struct {
		name   string
		header map[string]string
		status int
		msg    string
	}{
		{"x-access-token", map[string]string{"x-access-token": token}, 200, ""},
		{"Authorization: Bearer", map[string]string{"Authorization": "Bearer " + token}, 200, ""},
		{"lower-case bearer", map[string]string{"Authorization": "bearer " + token}, 200, ""},
		{"both headers, same token", map[string]string{"x-access-token": token, "Authorization": "Bearer " + token}, 200, ""},
		{"both headers, different tokens", map[string]string{"x-access-token": token, "Authorization": "Bearer " + other}, 401, "Unauthorized!"},
		{"Basic credentials are not a token", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, 403, "No token provided!"},
		{"empty Bearer", map[string]string{"Authorization": "Bearer "}, 403, "No token provided!"},
		{"empty Authorization", map[string]string{"Authorization": ""}, 403, "No token provided!"},
		{`x-access-token "null" from a signed-out frontend`, map[string]string{"x-access-token": "null"}, 403, "No token provided!"},
		{`x-access-token "undefined"`, map[string]string{"x-access-token": "undefined"}, 403, "No token provided!"},
		{"oversized token", map[string]string{"x-access-token": strings.Repeat("a", 10000)}, 401, "Unauthorized!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, request{method: "GET", path: "/api/test/user", header: tt.header})
			if tt.status == 200 {
				wantText(t, r, 200, "User Content.")
			} else {
				wantJSON(t, r, tt.status, tt.msg)
			}
		})
	}
}

// Role checks follow the database within the cache TTL: a role taken away
// or a user deleted stops working once the cached entry expires.
func TestAuthorizationFollowsTheDatabase(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver) // AuthzCacheTTL 5s on the test clock
		id := s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		token := s.signIn(t, "boss", "password-1").AccessToken
		wantText(t, s.get(t, "/api/test/admin", token), 200, "Admin Content.")

		if err := s.db.Where(map[string]any{"userId": id, "roleId": roleAdmin}).Delete(&store.UserRole{}).Error; err != nil {
			t.Fatal(err)
		}
		// Within the TTL the cached roles may still be served...
		s.clock.Advance(4 * time.Second)
		wantText(t, s.get(t, "/api/test/admin", token), 200, "Admin Content.")
		// ...after it, the database decides.
		s.clock.Advance(2 * time.Second)
		wantJSON(t, s.get(t, "/api/test/admin", token), 403, "Require Admin Role!")
		wantText(t, s.get(t, "/api/test/user", token), 200, "User Content.")

		if err := store.DeleteUser(context.Background(), s.db, id); err != nil {
			t.Fatal(err)
		}
		s.clock.Advance(6 * time.Second)
		for _, path := range []string{"/api/test/user", "/api/test/mod", "/api/test/admin"} {
			wantJSON(t, s.get(t, path, token), http.StatusUnauthorized, "Unauthorized!")
		}
	})
}
