package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"jwtauth/internal/store"
)

// Kind classifies an Error the way a transport needs to answer it.
type Kind int

// The kinds of Error.
const (
	// KindInvalid: the request itself is wrong (bad or conflicting input).
	KindInvalid Kind = iota + 1
	// KindNotFound: the account asked for does not exist.
	KindNotFound
	// KindUnauthenticated: credentials or token are missing their mark.
	KindUnauthenticated
	// KindForbidden: the caller is known but not allowed.
	KindForbidden
	// KindUnavailable: a dependency is down or the server is saturated;
	// retrying later may work.
	KindUnavailable
	// KindTooMany: the client went past a rate limit.
	KindTooMany
	// KindConflict: the change would break a rule about the state as a
	// whole (such as leaving no admin).
	KindConflict
)

// Error is a failure whose Message may be shown to the client as is. Any
// other error is internal and must not be.
type Error struct {
	Kind    Kind
	Message string
	// RetryAfter, when set, is how long the client should wait; a
	// transport says it with RetryAfterSeconds.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up (0 when
// unset): what a Retry-After header carries, and what TooMany's message
// says, computed in this one place so that the two always agree.
func (e *Error) RetryAfterSeconds() int { return retrySeconds(e.RetryAfter) }

func retrySeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// The errors of the original's contract, with its exact messages.
var (
	ErrUserNotFound    = &Error{Kind: KindNotFound, Message: "User Not found."}
	ErrInvalidPassword = &Error{Kind: KindUnauthenticated, Message: "Invalid Password!"}
	ErrUsernameTaken   = &Error{Kind: KindInvalid, Message: "Failed! Username is already in use!"}
	ErrEmailTaken      = &Error{Kind: KindInvalid, Message: "Failed! Email is already in use!"}
	ErrNoToken         = &Error{Kind: KindForbidden, Message: "No token provided!"}
	ErrTokenInvalid    = &Error{Kind: KindUnauthenticated, Message: "Unauthorized!"}
	ErrTokenExpired    = &Error{Kind: KindUnauthenticated, Message: "Unauthorized! Access Token was expired!"}
)

// Errors of a server that cannot serve now.
var (
	ErrUnavailable = &Error{Kind: KindUnavailable, Message: "Service temporarily unavailable, please retry.", RetryAfter: time.Second}
	// ErrStorageFull: the database has no room for a write. Clients get
	// ErrUnavailable's answer; the log says what is wrong.
	ErrStorageFull = &Error{Kind: KindUnavailable, Message: ErrUnavailable.Message, RetryAfter: time.Second}
	// ErrBusy: the password hashing pool is full.
	ErrBusy = &Error{Kind: KindUnavailable, Message: "Server is busy, please retry in a moment.", RetryAfter: time.Second}
	// ErrCanceled: the caller's context ended while it waited for a
	// hashing slot, as when the client disconnects. It is no sign of
	// saturation, so nothing counts or logs it as busy; the answer (if the
	// client is still there to read it) is a plain retry later.
	ErrCanceled = &Error{Kind: KindUnavailable, Message: "Request cancelled before it could be served.", RetryAfter: time.Second}
)

// The errors of refresh tokens; the first three are the original
// refresh-token variant's exact messages.
var (
	ErrRefreshRequired = &Error{Kind: KindForbidden, Message: "Refresh Token is required!"}
	ErrRefreshNotFound = &Error{Kind: KindForbidden, Message: "Refresh token is not in database!"}
	ErrRefreshExpired  = &Error{Kind: KindForbidden, Message: "Refresh token was expired. Please make a new signin request"}
	ErrRefreshRevoked  = &Error{Kind: KindForbidden, Message: "Refresh token was revoked. Please make a new signin request"}
	ErrRefreshReused   = &Error{Kind: KindForbidden, Message: "Refresh token was already used, so its sign-in has been revoked. Please make a new signin request"}
)

var errUnstorable = &Error{Kind: KindInvalid, Message: "Failed! Username or email has characters this database cannot store."}

// Invalid returns a KindInvalid error with msg as the client's message.
func Invalid(msg string) error { return &Error{Kind: KindInvalid, Message: msg} }

func roleDoesNotExist(name string) error {
	return &Error{Kind: KindInvalid, Message: "Failed! Role does not exist = " + name}
}

func roleNotSelfAssignable(name string) error {
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf("Failed! Role '%s' cannot be self-assigned.", name)}
}

// RoleRequired is the error for a signed-in user who lacks role, in the
// original's words ("Require Moderator Role!").
func RoleRequired(role string) error {
	return &Error{Kind: KindForbidden, Message: "Require " + titleCase(role) + " Role!"}
}

// TooMany is the error for a client past a rate limit: what was limited,
// and when to come back (at least a second; the message and Retry-After
// both say RetryAfterSeconds).
func TooMany(what string, retryAfter time.Duration) error {
	e := &Error{Kind: KindTooMany, RetryAfter: max(retryAfter, time.Second)}
	secs := e.RetryAfterSeconds()
	unit := "seconds"
	if secs == 1 {
		unit = "second"
	}
	e.Message = fmt.Sprintf("Too many %s. Please retry in %d %s.", what, secs, unit)
	return e
}

// dbError gives the store failures a client can be told about their
// answer (retry later; characters the database cannot hold), keeping the
// cause for the log. Anything else stays internal.
func dbError(err error) error {
	switch {
	case errors.Is(err, store.ErrStorageFull):
		return fmt.Errorf("%w: %w: %w", ErrStorageFull, ErrUnavailable, err)
	case errors.Is(err, store.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, store.ErrUnstorable):
		return fmt.Errorf("%w: %w", errUnstorable, err)
	}
	return err
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
