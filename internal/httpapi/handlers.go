package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
)

func welcome(c *gin.Context) {
	c.JSON(http.StatusOK, message{"Welcome to jwtauth."})
}

// text answers a fixed plain-text body, as the original's boards do.
func text(body string) gin.HandlerFunc {
	return func(c *gin.Context) { c.String(http.StatusOK, body) }
}

// healthz says the process is up; it touches nothing else.
func healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz says whether the process can serve: the database must answer.
// Redis, when configured, only makes it "degraded": the rate limits then
// count in process.
func (a *api) readyz(c *gin.Context) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := a.svc.Ready(ctx); err != nil {
		return err
	}
	body := gin.H{"status": "ready"}
	if a.redisPing != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 500*time.Millisecond)
		defer cancel()
		body["redis"] = "ok"
		if err := a.redisPing(ctx); err != nil {
			body["redis"] = "degraded"
		}
	}
	c.JSON(http.StatusOK, body)
	return nil
}

func (a *api) signUp(c *gin.Context) error {
	var f authForm
	if err := bind(c, &f); err != nil {
		return err
	}
	err := a.svc.SignUp(reqCtx(c), auth.SignUpInput{
		Username: f.username(), Email: f.email(), Password: f.password(), Roles: f.Roles,
	})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, message{"User registered successfully!"})
	return nil
}

// signInResponse is the signin body of the original's refresh-token
// variant, field for field; in the strict mode, without the tokens, it is
// the cookie sibling's.
type signInResponse struct {
	ID           int64    `json:"id"`
	Username     string   `json:"username"`
	Email        string   `json:"email"`
	Roles        []string `json:"roles"`
	AccessToken  string   `json:"accessToken,omitempty"`
	RefreshToken string   `json:"refreshToken,omitempty"`
	// EmailVerified is jwtauth's addition, after the original's fields.
	EmailVerified bool `json:"emailVerified"`
}

func (a *api) signIn(c *gin.Context) error {
	var f authForm
	if err := bind(c, &f); err != nil {
		return err
	}
	acct, err := a.svc.SignIn(reqCtx(c), f.username(), f.password())
	if err != nil {
		return err
	}
	authorities := make([]string, len(acct.Roles))
	for i, r := range acct.Roles {
		authorities[i] = "ROLE_" + strings.ToUpper(r)
	}
	body := signInResponse{
		ID: acct.ID, Username: acct.Username, Email: acct.Email,
		Roles: authorities, AccessToken: acct.AccessToken, RefreshToken: acct.RefreshToken,
		EmailVerified: acct.EmailVerified,
	}
	// The session cookie, for the cookie family, unless the request names
	// a page of an origin that may not use it (a hostile page signing the
	// browser in to an account of its choosing).
	if a.cookie.maySetCookie(c.Request) {
		cookieRefresh := acct.CookieRefreshToken
		if cookieRefresh == "" {
			cookieRefresh = acct.RefreshToken
		}
		a.cookie.set(c, acct.AccessToken, cookieRefresh, acct.RefreshTTL)
	}
	if a.cookie.TokensOutOfBody {
		body.AccessToken, body.RefreshToken = "", ""
	}
	c.JSON(http.StatusOK, body)
	return nil
}

// tokensResponse is the refreshtoken body.
type tokensResponse struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

// refreshToken exchanges a refresh token. It needs no access token (the
// one a client sends along is usually the expired one) and every refusal
// is a 403, which the original's frontends take as "sign in again".
//
// Without a refreshToken in the body, the session cookie's is exchanged
// (from an allowed origin only: it changes state) and the new pair goes
// back in the cookie, never in the body: the cookie's tokens are not the
// page's. In the strict mode the body's exchange also answers with the
// cookie only, and so, like signin, not to a page of an unlisted origin.
func (a *api) refreshToken(c *gin.Context) error {
	var f sessionForm
	pair, found, ok := a.cookie.read(c.Request)
	if c.Request.ContentLength != 0 || !found {
		if err := bind(c, &f); err != nil {
			return err
		}
	}
	presented, fromCookie := deref(f.RefreshToken), false
	if presented == "" && found {
		if !a.cookie.fromAllowedOrigin(c.Request) {
			return errCrossSite
		}
		presented, fromCookie = pair.refresh, true
		if !ok {
			presented = "-" // unreadable: answered as an unknown token, and cleared
		}
	}
	// In the strict mode the body's exchange answers with the cookie: from
	// a page that may not set it, refused before the token is spent.
	if !fromCookie && a.cookie.TokensOutOfBody && a.cookie.enabled() && !a.cookie.maySetCookie(c.Request) {
		return errCrossSiteSignIn
	}
	tokens, err := a.svc.Refresh(reqCtx(c), presented)
	if err != nil {
		if fromCookie {
			a.cookie.clear(c)
		}
		return err
	}
	if fromCookie || a.cookie.TokensOutOfBody {
		a.cookie.set(c, tokens.AccessToken, tokens.RefreshToken, tokens.RefreshTTL)
		c.JSON(http.StatusOK, message{"Session refreshed."})
		return nil
	}
	c.JSON(http.StatusOK, tokensResponse{AccessToken: tokens.AccessToken, RefreshToken: tokens.RefreshToken})
	return nil
}

// signOut ends the session of the refresh token in the body, every session
// of the user with "all": true, or, with an empty body, the session of the
// access token or of the session cookie, and clears the cookie. With no
// one signed in it ends the session of the refresh token in the body, if
// any, and answers the same 200 (see allowAnyone).
func (a *api) signOut(c *gin.Context) error {
	var f sessionForm
	if c.Request.ContentLength != 0 {
		if err := bind(c, &f); err != nil {
			return err
		}
	}
	if err := a.svc.SignOut(reqCtx(c), principal(c), deref(f.RefreshToken), f.All); err != nil {
		return err
	}
	a.cookie.clear(c)
	c.JSON(http.StatusOK, message{"You've been signed out!"})
	return nil
}

// changePassword sets the signed-in user's password, proven with the
// current one; the other sessions end, this one stays.
func (a *api) changePassword(c *gin.Context) error {
	var f passwordForm
	if err := bind(c, &f); err != nil {
		return err
	}
	if err := a.svc.ChangePassword(reqCtx(c), principal(c), deref(f.CurrentPassword), deref(f.NewPassword)); err != nil {
		return err
	}
	c.JSON(http.StatusOK, message{"Password changed; every other session was signed out."})
	return nil
}

// deleteAccount deletes the signed-in user's account, proven with its
// password, and clears the session cookie.
func (a *api) deleteAccount(c *gin.Context) error {
	var f passwordForm
	if err := bind(c, &f); err != nil {
		return err
	}
	if err := a.svc.DeleteAccount(reqCtx(c), principal(c), deref(f.Password)); err != nil {
		return err
	}
	a.cookie.clear(c) // its session is gone with the account
	c.JSON(http.StatusOK, message{"Account deleted."})
	return nil
}

// jwks publishes the public keys that verify access tokens (RFC 7517).
func (a *api) jwks(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, gin.H{"keys": a.svc.JWKS()})
}
