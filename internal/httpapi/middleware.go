package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
	"jwtauth/internal/ratelimit"
)

// requestIDHeader carries the request id both ways (X-Request-ID), in the
// canonical form the header maps use, so it is read and written without
// canonicalizing on every request.
const requestIDHeader = "X-Request-Id"

// The security headers of every answer, shared: the header map keeps the
// slice, so no request allocates one.
var (
	noStore    = []string{"no-store"}
	noSniff    = []string{"nosniff"}
	noReferrer = []string{"no-referrer"}
	denyAll    = []string{"default-src 'none'; frame-ancestors 'none'"}
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// frame is the first middleware of every request, in one function because
// every call on the hot path costs: it gives the request an id (the
// client's X-Request-ID when it is sane, a new one otherwise), echoed in
// the response, where reqCtx reads it back when something is logged; it
// turns a panic into a 500; and it counts the request for metrics and the
// access log.
func (a *api) frame(c *gin.Context) {
	start := time.Now()
	h := c.Writer.Header()
	if ids := c.Request.Header[requestIDHeader]; len(ids) == 1 && saneRequestID(ids[0]) {
		h[requestIDHeader] = ids
	} else {
		h[requestIDHeader] = requestIDs.next()
	}
	// Answers carry tokens and personal data: no cache keeps them, no
	// browser sniffs them into something executable, frames them, or leaks
	// the URL onward. A handler with something public to say (the JWKS)
	// sets its own Cache-Control.
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	h["Referrer-Policy"] = noReferrer
	h["Content-Security-Policy"] = denyAll
	defer a.observe(c, start)
	defer a.recover(c)
	c.Next()
}

// reqCtx is the request's context carrying who sent it, for the events the
// service logs. It is built only for the handlers that may log one, so the
// hot paths (token checks, boards) do not pay for it.
func reqCtx(c *gin.Context) context.Context {
	return auth.WithClient(c.Request.Context(), auth.Client{IP: c.ClientIP(), RequestID: requestID(c)})
}

func requestID(c *gin.Context) string {
	if v := c.Writer.Header()[requestIDHeader]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// observe counts a request for metrics and writes its access log line:
// method, route template, path, status, duration, client address and
// request id. Probes (/healthz, /readyz, /metrics) log at debug level.
func (a *api) observe(c *gin.Context, start time.Time) {
	if a.metrics == nil && !a.accessLog {
		return
	}
	took := time.Since(start)
	route := routeOf(c)
	method := c.Request.Method
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
	default:
		method = "OTHER" // keep the label set small whatever clients send
	}
	status := c.Writer.Status()
	if a.metrics != nil {
		a.metrics.ObserveRequest(route, method, status, took)
	}
	if !a.accessLog {
		return
	}
	level := slog.LevelInfo
	if route == "/healthz" || route == "/readyz" || route == "/metrics" {
		level = slog.LevelDebug
	}
	a.log.LogAttrs(c.Request.Context(), level, "request",
		slog.String("method", method), slog.String("route", route), slog.String("path", c.Request.URL.Path),
		slog.Int("status", status), slog.Duration("duration", took),
		slog.String("ip", c.ClientIP()), slog.String("request_id", requestID(c)))
}

// routeOf is the request's route template (/api/admin/users/:id), or
// "unmatched" when no route took it: a label that stays a small set
// whatever paths clients send.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// saneRequestID accepts ids a log can carry safely: 1-64 characters of
// letters, digits and -_.:
func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return false
		}
	}
	return true
}

// limit counts the request against rule by client address and refuses it
// past the limit with 429 and Retry-After.
func (a *api) limit(rule ratelimit.Rule, what string) gin.HandlerFunc {
	return func(c *gin.Context) {
		d, err := rule.Allow(c.Request.Context(), ratelimit.AddressKey(c.ClientIP()))
		if err != nil {
			a.log.Warn("rate limit check failed; request let through", "rule", rule.Name(), "error", err.Error())
		}
		if err == nil && !d.Allowed {
			a.svc.LogEvent(reqCtx(c), slog.LevelWarn, auth.EventRateLimited, slog.String("rule", rule.Name()))
			a.fail(c, auth.TooMany(what, d.RetryAfter))
			return
		}
		c.Next()
	}
}

// principalKey is where requireToken and requireRole leave the caller
// for the handler; principal reads it back, typed.
type principalKey struct{}

func setPrincipal(c *gin.Context, p auth.Principal) { c.Set(principalKey{}, p) }

// principal returns the caller requireToken or requireRole let through;
// the zero Principal (no user, no roles) on a route without either.
func principal(c *gin.Context) auth.Principal {
	p, _ := c.Get(principalKey{})
	pr, _ := p.(auth.Principal)
	return pr
}

// requireToken lets a request through only with a valid access token of
// an existing user, and leaves that user for the handler (principal).
func (a *api) requireToken() gin.HandlerFunc { return a.require("") }

// requireRole lets a request through only with a valid access token of a
// user holding role, authenticated and checked in this one handler, and
// leaves that user for the handler (principal).
func (a *api) requireRole(role string) gin.HandlerFunc { return a.require(role) }

func (a *api) require(role string) gin.HandlerFunc {
	lacksRole := roleError(role)
	return func(c *gin.Context) {
		p, ok := a.authorize(c, role, lacksRole)
		if !ok {
			return
		}
		setPrincipal(c, p)
		c.Next()
	}
}

// board serves one of the original's boards: body, as plain text, to a
// user holding role ("" for any signed-in user). It checks as
// requireRole does but in the same handler as the answer, and keeps
// nothing: leaving the caller in the context costs allocations, and these
// are the hottest routes.
func (a *api) board(role, body string) gin.HandlerFunc {
	lacksRole := roleError(role)
	return func(c *gin.Context) {
		if _, ok := a.authorize(c, role, lacksRole); ok {
			c.String(http.StatusOK, body)
		}
	}
}

// roleError is the refusal of a user who lacks role, built once per route.
func roleError(role string) error {
	if role == "" {
		return nil
	}
	return auth.RoleRequired(role)
}

// allowAnyone lets every request through, leaving the caller for the
// handler when one is signed in (principal): signout answers 200 even to a
// browser whose session cookie is gone, expired or unknown, as the cookie
// sibling does (its frontends clear their state only when signout
// succeeds). A header token that fails is still refused as today: a
// client that sends one is told its token is no good.
func (a *api) allowAnyone() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, cred, err := a.authenticate(c)
		switch {
		case err == nil:
			setPrincipal(c, p)
		case errors.Is(err, auth.ErrNoToken):
		case cred == cookieCredential && (errors.Is(err, auth.ErrTokenInvalid) || errors.Is(err, auth.ErrTokenExpired)):
		default:
			a.fail(c, err)
			return
		}
		c.Next()
	}
}

// authorize authenticates the request (see authenticate: an access token
// in x-access-token, the original's header, or Authorization: Bearer, or
// the session cookie) and, when role is set, checks that its user holds
// role. When it says no, it has answered.
func (a *api) authorize(c *gin.Context, role string, lacksRole error) (auth.Principal, bool) {
	p, _, err := a.authenticate(c)
	switch {
	case err != nil:
		a.fail(c, err)
		return auth.Principal{}, false
	case role != "" && !p.HasRole(role):
		a.fail(c, lacksRole)
		return auth.Principal{}, false
	}
	return p, true
}

// accessToken finds the token. Sent twice, it must be the same token: two
// different ones is a confused or hostile client, not a choice to make.
// (Incoming header names are canonical, so the map is read directly.)
func accessToken(h http.Header) (string, error) {
	var found string
	for _, v := range h["X-Access-Token"] {
		// Frontends send "null" or "undefined" when no one is signed in.
		if v = strings.TrimSpace(v); v == "" || v == "null" || v == "undefined" {
			continue
		}
		if found != "" && v != found {
			return "", auth.ErrTokenInvalid
		}
		found = v
	}
	for _, v := range h["Authorization"] {
		scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
		if token = strings.TrimSpace(token); !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			continue
		}
		if found != "" && token != found {
			return "", auth.ErrTokenInvalid
		}
		found = token
	}
	if found == "" {
		return "", auth.ErrNoToken
	}
	return found, nil
}

// corsMiddleware answers browsers from the configured origins. A request
// from any other origin is served without CORS headers, as the original's
// cors package does, so the browser (not the server) refuses it and the
// server never answers a bare 403.
func corsMiddleware(origins []string, log *slog.Logger) gin.HandlerFunc {
	refused := &refusedOrigins{log: log, allowed: strings.Join(origins, ","), seen: map[string]bool{}}
	if len(origins) == 0 {
		// No browser origin allowed: plain same-origin serving.
		return func(c *gin.Context) {
			if origin := c.GetHeader("Origin"); origin != "" {
				refused.note(c, origin)
			}
		}
	}
	cfg := cors.Config{
		AllowMethods: []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"},
		AllowHeaders: []string{"x-access-token", "Origin", "Content-Type", "Accept", "Authorization"},
		MaxAge:       12 * time.Hour,
	}
	allowAll := slices.Equal(origins, []string{"*"})
	if allowAll {
		cfg.AllowAllOrigins = true
	} else {
		cfg.AllowOrigins = origins
		cfg.AllowCredentials = true
	}
	handle := cors.New(cfg)
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin == "" {
			return // not a cross-origin request
		}
		if allowAll || slices.Contains(origins, origin) {
			handle(c)
			return
		}
		refused.note(c, origin)
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

// refusedOrigins says in the log, once per origin, that a browser origin
// was refused and which CORS_ORIGINS would allow it: the browser only
// says "blocked by CORS policy" to the page's own console.
type refusedOrigins struct {
	log     *slog.Logger
	allowed string // CORS_ORIGINS as it is
	mu      sync.Mutex
	seen    map[string]bool
}

// maxRefusedOrigins bounds what refusedOrigins remembers: origins are the
// client's to choose, and a hostile one could name endlessly many.
const maxRefusedOrigins = 100

func (r *refusedOrigins) note(c *gin.Context, origin string) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || len(origin) > 200 {
		return // "null" (a file or sandboxed page), or not an origin at all
	}
	if u.Host == c.Request.Host {
		return // the server's own pages: not cross-origin
	}
	r.mu.Lock()
	if r.seen[origin] || len(r.seen) > maxRefusedOrigins {
		r.mu.Unlock()
		return
	}
	r.seen[origin] = true
	last := len(r.seen) > maxRefusedOrigins
	r.mu.Unlock()
	if last {
		r.log.Warn("browser origins refused: no more are logged until a restart", "count", maxRefusedOrigins)
		return
	}
	allow := origin
	if r.allowed != "" {
		allow = r.allowed + "," + origin
	}
	r.log.Warn("browser origin refused: not in CORS_ORIGINS", "origin", origin, "allow_with", "CORS_ORIGINS="+allow)
}
