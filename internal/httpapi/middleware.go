package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
	"jwtauth/internal/ratelimit"
)

// requestIDHeader carries the request id both ways.
const requestIDHeader = "X-Request-ID"

// requestIDs makes ids unique across instances and restarts without a
// random read per request: a random prefix per process and a counter.
var requestIDs = struct {
	prefix string
	n      atomic.Uint64
}{prefix: randomHex(6)}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// requestContext gives every request an id (the client's X-Request-ID when
// it is sane, a new one otherwise), echoed in the response, where reqCtx
// reads it back when something is logged.
func requestContext(c *gin.Context) {
	id := c.GetHeader(requestIDHeader)
	if !saneRequestID(id) {
		id = requestIDs.prefix + "-" + strconv.FormatUint(requestIDs.n.Add(1), 36)
	}
	c.Writer.Header()[requestIDHeader] = []string{id}
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

// observe counts every request for metrics and writes its access log line:
// method, route template, path, status, duration, client address and
// request id. Probes (/healthz, /readyz, /metrics) log at debug level.
func (a *api) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	took := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
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
		d, err := rule.Allow(c.Request.Context(), c.ClientIP())
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

// principalKey is where requireToken leaves the authenticated user.
const principalKey = "jwtauth.principal"

func setPrincipal(c *gin.Context, p auth.Principal) { c.Set(principalKey, p) }

// principal returns the user requireToken authenticated; the zero Principal
// (no roles) when the route is not behind requireToken.
func principal(c *gin.Context) auth.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(auth.Principal)
	return pr
}

// requireToken lets a request through only with a valid access token of an
// existing user, in x-access-token (the original's header) or
// Authorization: Bearer.
func (a *api) requireToken(c *gin.Context) {
	token, err := accessToken(c.Request.Header)
	if err == nil {
		var p auth.Principal
		p, err = a.svc.Authenticate(c.Request.Context(), token)
		if err == nil {
			setPrincipal(c, p)
			c.Next()
			return
		}
	}
	a.fail(c, err)
}

// accessToken finds the token. Sent twice, it must be the same token: two
// different ones is a confused or hostile client, not a choice to make.
func accessToken(h http.Header) (string, error) {
	var tokens []string
	for _, v := range h.Values("X-Access-Token") {
		// Frontends send "null" or "undefined" when no one is signed in.
		if v = strings.TrimSpace(v); v != "" && v != "null" && v != "undefined" {
			tokens = append(tokens, v)
		}
	}
	for _, v := range h.Values("Authorization") {
		scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
		if token = strings.TrimSpace(token); ok && strings.EqualFold(scheme, "Bearer") && token != "" {
			tokens = append(tokens, token)
		}
	}
	if len(tokens) == 0 {
		return "", auth.ErrNoToken
	}
	for _, t := range tokens[1:] {
		if t != tokens[0] {
			return "", auth.ErrTokenInvalid
		}
	}
	return tokens[0], nil
}

// requireRole lets through only users holding role (after requireToken).
func (a *api) requireRole(role string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !principal(c).HasRole(role) {
			a.fail(c, auth.RoleRequired(role))
			return
		}
		c.Next()
	}
}

// corsMiddleware answers browsers from the configured origins. A request
// from any other origin is served without CORS headers, as the original's
// cors package does, so the browser (not the server) refuses it and the
// server never answers a bare 403.
func corsMiddleware(origins []string) gin.HandlerFunc {
	if len(origins) == 0 {
		return func(c *gin.Context) { c.Next() } // no browser origin allowed: plain same-origin serving
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
		if origin == "" || allowAll || slices.Contains(origins, origin) {
			handle(c)
			return
		}
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}
