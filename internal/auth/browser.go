package auth

import (
	"context"
	"errors"
)

// Resume authenticates a browser session, which holds an access token and
// a refresh token of one signin (the session cookie). While the access
// token is good it is all that is checked, through the same cache as a
// header's. Once it has expired, the refresh token is exchanged (Refresh:
// rotation, reuse detection, and the grace that lets several tabs refresh
// the same token at once) and the new pair is returned for the browser to
// keep; the frontend never sees the access token expire. renewed is the
// zero Tokens when nothing changed.
//
// A session that has ended (signed out, revoked, expired, replayed, its
// user deleted) is ErrTokenInvalid, the original's "Unauthorized!": to a
// browser the session is one thing, and the refresh token's own messages
// would speak of a token it never saw.
func (s *Service) Resume(ctx context.Context, access, refresh string) (p Principal, renewed Tokens, err error) {
	p, err = s.Authenticate(ctx, access)
	if !errors.Is(err, ErrTokenExpired) {
		return p, Tokens{}, err
	}
	renewed, err = s.Refresh(ctx, refresh)
	if err != nil {
		var authErr *Error
		if errors.As(err, &authErr) && authErr.Kind == KindForbidden {
			return Principal{}, Tokens{}, ErrTokenInvalid
		}
		return Principal{}, Tokens{}, err
	}
	if p, err = s.Authenticate(ctx, renewed.AccessToken); err != nil {
		return Principal{}, Tokens{}, err
	}
	return p, renewed, nil
}

// SameSignIn reports whether two access tokens, checked by signature only
// (either may have expired), belong to the same user and session: one
// request carrying both, in a header and in the session cookie, then
// carries one credential, not two.
func (s *Service) SameSignIn(a, b string) bool {
	if a == b {
		return true
	}
	ua, sa, okA := s.tokens.identify(a)
	ub, sb, okB := s.tokens.identify(b)
	return okA && okB && ua == ub && sa == sb
}
