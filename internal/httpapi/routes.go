// Package httpapi is jwtauth's HTTP face: the route table, the middleware
// that authenticates and authorizes, the handlers, and the one place where
// errors become status codes and JSON bodies.
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
)

// Options configures the HTTP API.
type Options struct {
	// CORSOrigins are the origins browsers may call from; ["*"] allows any.
	CORSOrigins []string
	// Logger receives internal errors and recovered panics.
	Logger *slog.Logger
}

// MaxBodyBytes is the largest request body read; larger ones get 413.
const MaxBodyBytes = 1 << 20

// NewHandler returns the whole API as an http.Handler.
func NewHandler(svc *auth.Service, opts Options) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &api{svc: svc, log: log}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false // see ignoreTrailingSlash
	// Client addresses come from the connection until trusted proxies are
	// configured; otherwise anyone could claim any address.
	_ = r.SetTrustedProxies(nil)
	r.Use(a.recoverPanics, corsMiddleware(opts.CORSOrigins))
	r.NoRoute(a.handle(notFound))
	r.NoMethod(a.handle(methodNotAllowed))

	r.GET("/", welcome)
	r.GET("/healthz", healthz)
	r.GET("/readyz", a.handle(a.readyz))

	authAPI := r.Group("/api/auth")
	authAPI.POST("/signup", a.handle(a.signUp))
	authAPI.POST("/signin", a.handle(a.signIn))

	test := r.Group("/api/test")
	test.GET("/all", text("Public Content."))
	signedIn := test.Group("", a.requireToken)
	signedIn.GET("/user", text("User Content."))
	signedIn.GET("/mod", a.requireRole(auth.RoleModerator), text("Moderator Content."))
	signedIn.GET("/admin", a.requireRole(auth.RoleAdmin), text("Admin Content."))

	return ignoreTrailingSlash(r)
}

// ignoreTrailingSlash serves /api/test/all/ as /api/test/all, as the
// original (Express) does, instead of Gin's redirect with an HTML body.
func ignoreTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimRight(p, "/")
			if r.URL.Path == "" {
				r.URL.Path = "/"
			}
			r.URL.RawPath = ""
		}
		next.ServeHTTP(w, r)
	})
}
