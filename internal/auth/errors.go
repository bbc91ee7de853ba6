package auth

import (
	"errors"
	"fmt"
	"strings"

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
	// KindUnavailable: a dependency is down; retrying later may work.
	KindUnavailable
)

// Error is a failure whose Message may be shown to the client as is. Any
// other error is internal and must not be.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

// The errors of the original's contract, with its exact messages.
var (
	ErrUserNotFound    = &Error{KindNotFound, "User Not found."}
	ErrInvalidPassword = &Error{KindUnauthenticated, "Invalid Password!"}
	ErrUsernameTaken   = &Error{KindInvalid, "Failed! Username is already in use!"}
	ErrEmailTaken      = &Error{KindInvalid, "Failed! Email is already in use!"}
	ErrNoToken         = &Error{KindForbidden, "No token provided!"}
	ErrTokenInvalid    = &Error{KindUnauthenticated, "Unauthorized!"}
	ErrTokenExpired    = &Error{KindUnauthenticated, "Unauthorized! Access Token was expired!"}
	ErrUnavailable     = &Error{KindUnavailable, "Service temporarily unavailable, please retry."}
)

// The errors of refresh tokens; the first three are the original
// refresh-token variant's exact messages.
var (
	ErrRefreshRequired = &Error{KindForbidden, "Refresh Token is required!"}
	ErrRefreshNotFound = &Error{KindForbidden, "Refresh token is not in database!"}
	ErrRefreshExpired  = &Error{KindForbidden, "Refresh token was expired. Please make a new signin request"}
	ErrRefreshRevoked  = &Error{KindForbidden, "Refresh token was revoked. Please make a new signin request"}
	ErrRefreshReused   = &Error{KindForbidden, "Refresh token was already used, so its sign-in has been revoked. Please make a new signin request"}
)

var errUnstorable = &Error{KindInvalid, "Failed! Username or email has characters this database cannot store."}

// Invalid returns a KindInvalid error with msg as the client's message.
func Invalid(msg string) error { return &Error{KindInvalid, msg} }

func roleDoesNotExist(name string) error {
	return &Error{KindInvalid, "Failed! Role does not exist = " + name}
}

func roleNotSelfAssignable(name string) error {
	return &Error{KindForbidden, fmt.Sprintf("Failed! Role '%s' cannot be self-assigned.", name)}
}

// RoleRequired is the error for a signed-in user who lacks role, in the
// original's words ("Require Moderator Role!").
func RoleRequired(role string) error {
	return &Error{KindForbidden, "Require " + titleCase(role) + " Role!"}
}

// dbError gives the store failures a client can be told about their
// answer (retry later; characters the database cannot hold), keeping the
// cause for the log. Anything else stays internal.
func dbError(err error) error {
	switch {
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
