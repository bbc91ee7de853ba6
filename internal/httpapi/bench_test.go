package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
)

// benchBoard measures one board through the whole middleware chain, in
// process, with the token's roles in the authorization cache (the steady
// state). Throughput over the network is for the load tool to measure.
func benchBoard(b *testing.B, path string, roleIDs ...int64) {
	s := newServer(b, "sqlite")
	req := httptest.NewRequest("GET", path, nil)
	if roleIDs != nil {
		s.createUser(b, "bench", "password-1", roleIDs...)
		req.Header.Set("x-access-token", s.signIn(b, "bench", "password-1").AccessToken)
	}
	h := s.Config.Handler
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func BenchmarkPublicBoard(b *testing.B) { benchBoard(b, "/api/test/all") }
func BenchmarkUserBoard(b *testing.B)   { benchBoard(b, "/api/test/user", roleUser) }
func BenchmarkAdminBoard(b *testing.B)  { benchBoard(b, "/api/test/admin", roleAdmin) }

// benchSignIn measures a failed signin at the default cost; an unknown
// username should cost what a wrong password does (compare the two).
func benchSignIn(b *testing.B, username string) {
	s := newServer(b, "sqlite", func(o *auth.Options) { o.BcryptCost = 10 })
	s.signUp(b, "known", "known@example.com", "password-1")
	body := `{"username":"` + username + `","password":"wrong-password"}`
	h := s.Config.Handler
	for b.Loop() {
		req := httptest.NewRequest("POST", "/api/auth/signin", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized && w.Code != http.StatusNotFound {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func BenchmarkSignInWrongPassword(b *testing.B) { benchSignIn(b, "known") }
func BenchmarkSignInUnknownUser(b *testing.B)   { benchSignIn(b, "unknown") }

// BenchmarkFloor is a bare Gin router writing a constant string: what the
// boards would cost with nothing of jwtauth around them.
func BenchmarkFloor(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/api/test/all", func(c *gin.Context) { c.String(http.StatusOK, "Public Content.") })
	req := httptest.NewRequest("GET", "/api/test/all", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
	}
}
