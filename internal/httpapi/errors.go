package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
	"jwtauth/internal/metrics"
)

// api holds what the handlers share.
type api struct {
	svc       *auth.Service
	log       *slog.Logger
	metrics   *metrics.Metrics
	accessLog bool
	redisPing func(context.Context) error
	cookie    sessionCookie
}

// message is the body of every error response, as in the original.
type message struct {
	Message string `json:"message"`
}

// httpError is a failure of the HTTP exchange itself, as opposed to one of
// auth's rules: no such route or method, a body too large, too slow or not
// in a shape bind reads, a query or path parameter that is not what the
// route takes, and the 500 that hides an internal error. It is the one
// type for them; fail answers it as it is.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// badRequest is the 400 of a request this layer cannot read.
func badRequest(msg string) error { return &httpError{http.StatusBadRequest, msg} }

var (
	errNotFound         = &httpError{http.StatusNotFound, "Not found."}
	errMethodNotAllowed = &httpError{http.StatusMethodNotAllowed, "Method not allowed."}
	errBodyTooLarge     = &httpError{http.StatusRequestEntityTooLarge, "Failed! Request body is larger than 1 MiB."}
	errBodyTimeout      = &httpError{http.StatusRequestTimeout, "Failed! Request body did not arrive in time; send it at once."}
	// errInternal is the whole answer to an internal error or a panic:
	// the details go to the log, never to the client.
	errInternal = &httpError{http.StatusInternalServerError, "Internal server error."}
)

var kindStatus = map[auth.Kind]int{
	auth.KindInvalid:         http.StatusBadRequest,
	auth.KindNotFound:        http.StatusNotFound,
	auth.KindUnauthenticated: http.StatusUnauthorized,
	auth.KindForbidden:       http.StatusForbidden,
	auth.KindUnavailable:     http.StatusServiceUnavailable,
	auth.KindTooMany:         http.StatusTooManyRequests,
	auth.KindConflict:        http.StatusConflict,
}

// handle adapts a handler that returns an error to gin, so that every
// error takes the one path below.
func (a *api) handle(h func(*gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			a.fail(c, err)
		}
	}
}

// fail answers err and stops the chain. Errors the client may see carry
// their own message; anything else is logged and answered 500 without
// details.
func (a *api) fail(c *gin.Context, err error) {
	var authErr *auth.Error
	var httpErr *httpError
	switch {
	case errors.As(err, &httpErr):
		c.AbortWithStatusJSON(httpErr.status, message{httpErr.msg})
	case errors.Is(err, auth.ErrInvalidPassword):
		// The original's exact shape, which its frontends read.
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"accessToken": nil, "message": auth.ErrInvalidPassword.Message})
	case errors.As(err, &authErr):
		// Busy is counted where the pool turns a caller away; a caller that
		// gave up waiting is no one's fault.
		if authErr.Kind == auth.KindUnavailable && !errors.Is(err, auth.ErrBusy) && !errors.Is(err, auth.ErrCanceled) {
			level, msg := slog.LevelWarn, "dependency unavailable"
			if errors.Is(err, auth.ErrStorageFull) {
				level, msg = slog.LevelError, "database storage is full"
			}
			a.logRequest(c, level, msg, slog.String("error", err.Error()))
		}
		if secs := authErr.RetryAfterSeconds(); secs > 0 {
			c.Header("Retry-After", strconv.Itoa(secs))
		}
		c.AbortWithStatusJSON(kindStatus[authErr.Kind], message{authErr.Message})
	default:
		a.logRequest(c, slog.LevelError, "internal error", slog.String("error", err.Error()))
		a.fail(c, errInternal)
	}
}

// recover turns a panic into a logged 500 JSON answer instead of a dropped
// connection and a stack trace on the client's screen. It is deferred by
// frame.
func (a *api) recover(c *gin.Context) {
	rec := recover()
	if rec == nil {
		return
	}
	if rec == http.ErrAbortHandler {
		panic(rec)
	}
	a.logRequest(c, slog.LevelError, "panic", slog.Any("panic", rec), slog.String("stack", string(debug.Stack())))
	if !c.Writer.Written() {
		a.fail(c, errInternal)
	}
}

// logRequest writes a record about the request c, with what finds it
// again: the request id (as in the access log and the response header),
// the route template, the method and the path.
func (a *api) logRequest(c *gin.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	attrs = append(attrs,
		slog.String("request_id", requestID(c)), slog.String("route", routeOf(c)),
		slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path))
	a.log.LogAttrs(c.Request.Context(), level, msg, attrs...)
}

func notFound(*gin.Context) error         { return errNotFound }
func methodNotAllowed(*gin.Context) error { return errMethodNotAllowed }
