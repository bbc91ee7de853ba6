package httpapi_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"jwtauth/internal/store/storetest"
)

// originalToken is a token as the Node.js original signs it with the same
// secret: {id, iat, exp}, 24 hours, no session and no kid.
func (s *testServer) originalToken(t *testing.T, id int64) string {
	t.Helper()
	now := s.clock.Now()
	return sign(t, jwt.SigningMethodHS256, []byte(testSecret),
		jwt.MapClaims{"id": id, "iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix()}, nil)
}

// Tokens without a session (the original's, on a drop-in database) keep
// working, but signing out everywhere, a password change and an admin's
// signout end them too, as they end the user's sessions; a new signin then
// works as before.
func TestSessionlessTokensEndWithTheSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		id := s.createUser(t, "legacy", "password-1", roleUser)
		s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		admin := s.signIn(t, "boss", "password-1").AccessToken
		password := "password-1"

		actions := []struct {
			name string
			end  func(t *testing.T, session string)
		}{
			{"sign out everywhere", func(t *testing.T, session string) {
				if r := s.signOut(t, session, `{"all":true}`); r.status != 200 {
					t.Fatalf("signout: %d %s", r.status, r.body)
				}
			}},
			{"password change", func(t *testing.T, _ string) {
				password = "password-2"
				if err := s.svc.SetPassword(context.Background(), id, password); err != nil {
					t.Fatal(err)
				}
			}},
			{"admin signout", func(t *testing.T, _ string) {
				if r := s.as(t, admin, "POST", "/api/admin/users/"+strconv.FormatInt(id, 10)+"/signout", ""); r.status != 200 {
					t.Fatalf("admin signout: %d %s", r.status, r.body)
				}
			}},
		}
		for _, a := range actions {
			t.Run(a.name, func(t *testing.T) {
				s.clock.Advance(time.Minute) // past the previous action's second
				legacy := s.originalToken(t, id)
				session := s.signIn(t, "legacy", password).AccessToken
				wantText(t, s.get(t, "/api/test/user", legacy), 200, "User Content.")
				wantText(t, s.get(t, "/api/test/user", session), 200, "User Content.")

				a.end(t, session)
				wantJSON(t, s.get(t, "/api/test/user", legacy), 401, "Unauthorized!")
				wantJSON(t, s.get(t, "/api/test/user", session), 401, "Unauthorized!")
				// Past the cache's TTL too: the database says so, not only
				// this instance's memory.
				s.clock.Advance(6 * time.Second)
				wantJSON(t, s.get(t, "/api/test/user", legacy), 401, "Unauthorized!")

				// A new signin works; so does a token the original issues later.
				wantText(t, s.get(t, "/api/test/user", s.signIn(t, "legacy", password).AccessToken), 200, "User Content.")
				wantText(t, s.get(t, "/api/test/user", s.originalToken(t, id)), 200, "User Content.")
			})
		}
	})
}
