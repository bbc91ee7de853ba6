// Package httpapi is jwtauth's HTTP face, everything Gin: the route table
// (the original's auth and board routes, sessions, the admin API, probes,
// metrics, JWKS and the OpenAPI document), the middleware (request ids,
// security headers, CORS, per-address rate limits, access logs, token and
// role checks), the handlers and how they read bodies, and the one place
// where errors become status codes and JSON bodies.
package httpapi

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
	"jwtauth/internal/metrics"
	"jwtauth/internal/ratelimit"
)

// Options configures the HTTP API.
type Options struct {
	// CORSOrigins are the origins browsers may call from; ["*"] allows any
	// (and turns the session cookie off).
	CORSOrigins []string
	// Cookie configures the browser session cookie.
	Cookie CookieOptions
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose
	// X-Forwarded-For names the client. Empty: the connection's address is
	// the client, whatever headers say.
	TrustedProxies []string
	// Per-client-address limits; the zero Rule does not limit.
	SignInLimit, SignUpLimit, RefreshLimit ratelimit.Rule
	// ForgotLimit limits password-reset requests per client address;
	// ResendLimit, requests for another confirmation link.
	ForgotLimit, ResendLimit ratelimit.Rule
	// Logger receives access logs, internal errors and recovered panics.
	Logger *slog.Logger
	// AccessLog writes one line per request to Logger (probes at debug level).
	AccessLog bool
	// RedisPing, when set, is asked by /readyz whether Redis answers: if it
	// does not, the instance is still ready (rate limits count locally)
	// but says it is degraded.
	RedisPing func(context.Context) error
	// Metrics, when set, counts every request; MetricsRoute also serves
	// them at GET /metrics (false when they have a listener of their own).
	Metrics      *metrics.Metrics
	MetricsRoute bool
}

// MaxBodyBytes is the largest request body read; larger ones get 413.
const MaxBodyBytes = 1 << 20

// Handler is the whole API.
type Handler struct {
	http.Handler
	engine *gin.Engine
}

// Routes lists the routes as "METHOD /path", with path parameters written
// {id} as OpenAPI writes them.
func (h *Handler) Routes() []string {
	var out []string
	for _, r := range h.engine.Routes() {
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		out = append(out, r.Method+" "+strings.Join(parts, "/"))
	}
	return out
}

// openAPI is the document describing every route, served as is.
//
//go:embed openapi.json
var openAPI []byte

// NewHandler returns the whole API. It fails only on TrustedProxies that
// are not addresses or CIDRs.
func NewHandler(svc *auth.Service, opts Options) (*Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &api{svc: svc, log: log, metrics: opts.Metrics, accessLog: opts.AccessLog, redisPing: opts.RedisPing}
	var err error
	if a.cookie, err = newSessionCookie(opts.Cookie, opts.CORSOrigins, opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted proxies: %w", err)
	}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false // see ignoreTrailingSlash
	// Client addresses come from the connection unless a trusted proxy
	// forwards them; otherwise anyone could claim any address.
	if err := r.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted proxies: %w", err)
	}
	// One header names the client: X-Forwarded-For, which every proxy
	// writes. Believing X-Real-IP as well would let a client behind a
	// proxy that passes it through unchanged choose its own address.
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	r.Use(a.frame, corsMiddleware(opts.CORSOrigins, log))
	r.NoRoute(a.handle(notFound))
	r.NoMethod(a.handle(methodNotAllowed))

	r.GET("/", welcome)
	r.GET("/healthz", healthz)
	r.GET("/readyz", a.handle(a.readyz))
	r.GET("/.well-known/jwks.json", a.jwks)
	r.GET("/reset-password", a.showResetPage)
	r.POST("/reset-password", a.submitResetPage)
	r.GET("/verify-email", a.showVerifyPage)
	r.GET("/api/openapi.json", openAPIFor(openAPI))
	docsPage, docsAsset := a.docs()
	r.GET("/docs", docsPage)
	r.GET("/docs/*file", docsAsset)
	if opts.Metrics != nil && opts.MetricsRoute {
		r.GET("/metrics", gin.WrapH(opts.Metrics.Handler()))
	}

	authAPI := r.Group("/api/auth")
	authAPI.POST("/signup", a.limit(opts.SignUpLimit, "signups"), a.handle(a.signUp))
	authAPI.POST("/signin", a.limit(opts.SignInLimit, "sign-in attempts"), a.handle(a.signIn))
	authAPI.POST("/refreshtoken", a.limit(opts.RefreshLimit, "refresh requests"), a.handle(a.refreshToken))
	authAPI.POST("/signout", a.allowAnyone(), a.handle(a.signOut))
	authAPI.POST("/change-password", a.requireToken(), a.limit(opts.SignInLimit, "sign-in attempts"), a.handle(a.changePassword))
	authAPI.POST("/forgot-password", a.limit(opts.ForgotLimit, "password reset requests"), a.handle(a.forgotPassword))
	authAPI.POST("/reset-password", a.handle(a.resetPassword))
	authAPI.POST("/verify-email", a.handle(a.verifyEmail))
	authAPI.POST("/resend-verification", a.limit(opts.ResendLimit, "verification requests"), a.handle(a.resendVerification))
	authAPI.GET("/me", a.requireToken(), a.handle(a.me))
	authAPI.POST("/change-email", a.requireToken(), a.limit(opts.SignInLimit, "sign-in attempts"), a.handle(a.changeEmail))
	authAPI.DELETE("/me", a.requireToken(), a.limit(opts.SignInLimit, "sign-in attempts"), a.handle(a.deleteAccount))

	test := r.Group("/api/test")
	test.GET("/all", text("Public Content."))
	test.GET("/user", a.board("", "User Content."))
	test.GET("/mod", a.board(auth.RoleModerator, "Moderator Content."))
	test.GET("/admin", a.board(auth.RoleAdmin, "Admin Content."))

	admin := r.Group("/api/admin", a.requireRole(auth.RoleAdmin))
	admin.GET("/users", a.handle(a.listUsers))
	admin.GET("/users/:id", a.handle(a.getUser))
	admin.PUT("/users/:id/roles", a.handle(a.setRoles))
	admin.DELETE("/users/:id", a.handle(a.deleteUser))
	admin.POST("/users/:id/signout", a.handle(a.signOutUser))
	admin.POST("/users/:id/password-reset", a.handle(a.sendPasswordReset))

	return &Handler{Handler: expressPaths(r), engine: r}, nil
}

// expressPaths matches paths the way the original (Express) does: ignoring
// case and a trailing slash, so /API/Auth/refreshToken/ is
// /api/auth/refreshtoken. Every route above is lower case.
func expressPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) > 1 && strings.HasSuffix(p, "/") {
			p = strings.TrimRight(p, "/")
			if p == "" {
				p = "/"
			}
		}
		if p != r.URL.Path || strings.ToLower(p) != p {
			r.URL.Path, r.URL.RawPath = strings.ToLower(p), ""
		}
		next.ServeHTTP(w, r)
	})
}
