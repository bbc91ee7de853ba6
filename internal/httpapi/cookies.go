package httpapi

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
)

// CookieOptions configure the browser session cookie, which carries a
// signin's access token and a refresh token of its own, HttpOnly: the
// cookie family of frontends (the original's cookie sibling) signs in and
// calls the API with credentials and never sees a token.
type CookieOptions struct {
	// Name is the cookie's name; "" sets and reads no cookie.
	Name string
	// Domain, when set, shares the cookie with that domain's subdomains;
	// "" keeps it to the API's own host.
	Domain string
	// AlwaysSecure marks the cookie Secure on every answer; otherwise it is
	// Secure when the request came over HTTPS, directly or, per a trusted
	// proxy's X-Forwarded-Proto, to the proxy.
	AlwaysSecure bool
	// SameSite is Lax or Strict: a cookie other sites' pages may send in
	// the background is what CSRF needs.
	SameSite http.SameSite
	// TokensOutOfBody is the strict mode: signin and refreshtoken answers
	// carry no token, so no script ever holds one.
	TokensOutOfBody bool
}

// sessionCookie writes, reads and clears the session cookie, and judges
// where cookie-authenticated requests come from.
type sessionCookie struct {
	CookieOptions
	// origins are the browser origins allowed to send state-changing
	// requests on the cookie's strength (CORS_ORIGINS), besides the
	// API's own.
	origins []string
	// proxies are the trusted proxies whose X-Forwarded-Proto is believed.
	proxies []netip.Prefix
}

// newSessionCookie builds the cookie of opts. With CORS open to every
// origin ("*") there is none: credentials must not be offered to any page
// on the web, and the browser would refuse them anyway.
func newSessionCookie(opts CookieOptions, origins, trusted []string) (sessionCookie, error) {
	if slices.Equal(origins, []string{"*"}) {
		opts.Name = ""
	}
	k := sessionCookie{CookieOptions: opts, origins: origins}
	for _, p := range trusted {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return sessionCookie{}, err
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		k.proxies = append(k.proxies, prefix.Masked())
	}
	return k, nil
}

func (k *sessionCookie) enabled() bool { return k.Name != "" }

// cookieSeparator joins the access and the refresh token in the cookie's
// value: it is neither in a JWT nor in a refresh token (base64url), and is
// a cookie-octet (RFC 6265).
const cookieSeparator = "~"

// sessionPair is what a session cookie holds.
type sessionPair struct{ access, refresh string }

// read finds the session cookie: found when the request has one by that
// name; ok when it holds a pair jwtauth could have written.
func (k *sessionCookie) read(r *http.Request) (pair sessionPair, found, ok bool) {
	if !k.enabled() || len(r.Header["Cookie"]) == 0 {
		return sessionPair{}, false, false
	}
	ck, err := r.Cookie(k.Name)
	if err != nil || ck.Value == "" {
		return sessionPair{}, false, false
	}
	access, refresh, cut := strings.Cut(ck.Value, cookieSeparator)
	if !cut || access == "" || refresh == "" {
		return sessionPair{}, true, false
	}
	return sessionPair{access, refresh}, true, true
}

// set writes the session cookie for tokens: the access token with the
// refresh token that goes with it, living as long as that refresh token.
func (k *sessionCookie) set(c *gin.Context, access, refresh string, ttl time.Duration) {
	if !k.enabled() || access == "" || refresh == "" {
		return
	}
	k.write(c, access+cookieSeparator+refresh, max(1, int(ttl/time.Second)))
}

// clear tells the browser to drop the session cookie.
func (k *sessionCookie) clear(c *gin.Context) {
	if k.enabled() {
		k.write(c, "", -1)
	}
}

func (k *sessionCookie) write(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: k.Name, Value: value, Path: "/", Domain: k.Domain, MaxAge: maxAge,
		Secure: k.AlwaysSecure || k.https(c.Request), HttpOnly: true, SameSite: k.SameSite,
	})
}

// https reports whether the client reached jwtauth over HTTPS: directly,
// or to a trusted proxy that says so in X-Forwarded-Proto. Anyone else's
// X-Forwarded-Proto is ignored.
func (k *sessionCookie) https(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto := r.Header.Get("X-Forwarded-Proto")
	if proto == "" || len(k.proxies) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	peer = peer.Unmap()
	if !slices.ContainsFunc(k.proxies, func(p netip.Prefix) bool { return p.Contains(peer) }) {
		return false
	}
	first, _, _ := strings.Cut(proto, ",")
	return strings.EqualFold(strings.TrimSpace(first), "https")
}

// fromAllowedOrigin reports whether a browser request comes from a page of
// an allowed origin (CORS_ORIGINS) or of jwtauth's own: by Origin, or by
// Referer when Origin is absent. A request that says neither is not
// trusted: every browser sends Origin on a cross-origin POST, and a page
// that hides its Referer gets no benefit of the doubt.
func (k *sessionCookie) fromAllowedOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		u, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || u.Scheme == "" || u.Host == "" {
			return false
		}
		origin = u.Scheme + "://" + u.Host
	}
	for _, o := range k.origins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	scheme := "http://"
	if k.https(r) {
		scheme = "https://"
	}
	return strings.EqualFold(origin, scheme+r.Host)
}

// sendsNoOrigin reports whether a request names no page it comes from
// (curl, a server, a test), as opposed to one that names another.
func sendsNoOrigin(r *http.Request) bool {
	return r.Header.Get("Origin") == "" && r.Header.Get("Referer") == ""
}

// safeMethod reports whether a method only reads (RFC 9110 9.2.1): such
// requests need no proof of where they come from.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// errCrossSite refuses a state-changing request that the session cookie
// alone authenticates and that comes from a page of another origin: the
// browser sent the cookie, the user may not have meant to.
var errCrossSite = &auth.Error{Kind: auth.KindForbidden,
	Message: "Forbidden! A request signed in by the session cookie must come from an allowed origin."}

// errCrossSiteSignIn refuses a request that would set the session cookie
// and names a page of another origin: the browser would be signed in to an
// account of that page's choosing.
var errCrossSiteSignIn = &auth.Error{Kind: auth.KindForbidden,
	Message: "Forbidden! A request that sets the session cookie must come from an allowed origin."}

// maySetCookie reports whether an answer to r may set the session cookie:
// r names no page (curl, a server) or a page of an allowed origin.
func (k *sessionCookie) maySetCookie(r *http.Request) bool {
	return sendsNoOrigin(r) || k.fromAllowedOrigin(r)
}

// credential says how a request was authenticated.
type credential int

const (
	noCredential credential = iota
	headerCredential
	cookieCredential
)

// authenticate finds the request's credential and checks it. It is the
// access token in x-access-token or Authorization: Bearer; else the
// session cookie, whose expired access token is renewed behind the
// frontend's back (auth.Resume; the new cookie is set on this answer) and
// which, on a state-changing request, must come from an allowed origin. A
// request may carry both a header and the cookie only if they are the
// same signin's (a page that keeps its token and also has the cookie);
// two different ones are a confused or hostile client, as with two
// different headers. A cookie whose session has ended is cleared.
func (a *api) authenticate(c *gin.Context) (auth.Principal, credential, error) {
	r := c.Request
	token, err := accessToken(r.Header)
	pair, found, ok := a.cookie.read(r)
	switch {
	case !found || (err == nil && !ok): // an unreadable cookie next to a header is no credential
		if err != nil {
			return auth.Principal{}, noCredential, err
		}
		p, err := a.svc.Authenticate(r.Context(), token)
		return p, headerCredential, err
	case err == nil:
		if !a.svc.SameSignIn(token, pair.access) {
			return auth.Principal{}, headerCredential, auth.ErrTokenInvalid
		}
		p, err := a.svc.Authenticate(r.Context(), token)
		return p, headerCredential, err
	case !errors.Is(err, auth.ErrNoToken):
		return auth.Principal{}, headerCredential, err
	}
	if !safeMethod(r.Method) && !a.cookie.fromAllowedOrigin(r) {
		return auth.Principal{}, cookieCredential, errCrossSite
	}
	if !ok {
		a.cookie.clear(c)
		return auth.Principal{}, cookieCredential, auth.ErrTokenInvalid
	}
	p, renewed, err := a.svc.Resume(r.Context(), pair.access, pair.refresh)
	switch {
	case renewed.AccessToken != "":
		a.cookie.set(c, renewed.AccessToken, renewed.RefreshToken, renewed.RefreshTTL)
	case errors.Is(err, auth.ErrTokenInvalid):
		a.cookie.clear(c)
	}
	return p, cookieCredential, err
}
