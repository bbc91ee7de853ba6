package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"jwtauth/internal/httpapi"
	"jwtauth/internal/store/storetest"
)

// frontendPage is a cookie-family frontend in miniature: it calls the API
// with credentials on every call, as the sibling's frontends do with
// withCredentials, and never handles a token.
const frontendPage = `<!doctype html><meta charset="utf-8"><title>frontend</title>
<script>
const api = %q;
async function call(method, path, body) {
  const init = {method, credentials: "include"};
  if (body) {
    init.headers = {"Content-Type": "application/json"};
    init.body = JSON.stringify(body);
  }
  const r = await fetch(api + path, init);
  return {status: r.status, body: await r.text()};
}
</script>`

// hostilePage posts a form to the API as soon as it opens: a page of an
// origin the API does not list, trying to change the password of whoever
// is signed in. A form needs no preflight, and the browser sends the
// session cookie with it (same site: another port of the same host).
const hostilePage = `<!doctype html><meta charset="utf-8"><title>hostile</title>
<form id="f" method="post" action="%s/api/auth/change-password">
<input name="currentPassword" value="password-1"><input name="newPassword" value="stolen-password-1">
</form><script>document.getElementById("f").submit()</script>`

// page serves one HTML page, made once the API's address is known.
func page(t *testing.T, html func() string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, html())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fetched is what the frontend page's call returns.
type fetched struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// In a real browser: a page of a second origin signs in with fetch and
// credentials, reads the user board with the cookie alone, cannot see the
// cookie from script, and signs out, after which the old cookie, replayed,
// is refused. A page of a third, unlisted origin posting a form to a
// state-changing route is refused and changes nothing.
func TestCookieSessionInBrowser(t *testing.T) {
	bctx := browser(t)
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	var apiURL atomic.Value
	apiURL.Store("")
	frontend := page(t, func() string { return fmt.Sprintf(frontendPage, apiURL.Load().(string)) })
	hostile := page(t, func() string { return fmt.Sprintf(hostilePage, apiURL.Load().(string)) })
	s := startServer(t, storetest.Open(t, "sqlite"), func(o *httpapi.Options) {
		o.CORSOrigins = []string{"http://localhost:8081", frontend.URL}
	})
	apiURL.Store(s.URL)
	s.createUser(t, "browser", "password-1", roleUser)

	call := func(method, path, body string) fetched {
		t.Helper()
		expr := fmt.Sprintf("call(%q, %q, %s)", method, path, body)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[fetched](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return got
	}
	apiCookie := func() *network.Cookie {
		t.Helper()
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.URL + "/"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Cookies {
			if c.Name == testCookie.Name {
				return c
			}
		}
		return nil
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(frontend.URL)); err != nil {
		t.Fatal(err)
	}
	in := call("POST", "/api/auth/signin", `{username: "browser", password: "password-1"}`)
	if in.Status != 200 || !strings.Contains(in.Body, `"roles":["ROLE_USER"]`) {
		t.Fatalf("signin from the page: %+v", in)
	}
	// The frontend keeps the signin body in sessionStorage; its roles are a list.
	roles, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(
		`sessionStorage.setItem("user", %q); JSON.parse(sessionStorage.getItem("user")).roles.length`, in.Body)))
	if err != nil || roles != 1 {
		t.Fatalf("roles kept in sessionStorage: %d, %v", roles, err)
	}
	if got := call("GET", "/api/test/user", "null"); got.Status != 200 || got.Body != "User Content." {
		t.Fatalf("user board with the cookie: %+v", got)
	}
	visible, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(visible, testCookie.Name) {
		t.Fatalf("document.cookie shows the session: %q", visible)
	}
	session := apiCookie()
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("the browser holds %+v, want an HttpOnly, SameSite=Strict session cookie", session)
	}

	// The hostile page posts its form with the browser's cookie: refused,
	// and nothing changes.
	if err := chromedp.Do(ctx, chromedp.Navigate(hostile.URL)); err != nil {
		t.Fatal(err)
	}
	var answer string
	for deadline := time.Now().Add(20 * time.Second); ; {
		location, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(location, s.URL) {
			if answer, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the form never reached the API (page at %s)", location)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(answer, "must come from an allowed origin") {
		t.Errorf("the hostile form got %q", answer)
	}
	s.signIn(t, "browser", "password-1") // the password is unchanged
	if err := chromedp.Do(ctx, chromedp.Navigate(frontend.URL)); err != nil {
		t.Fatal(err)
	}
	if got := call("GET", "/api/test/user", "null"); got.Status != 200 {
		t.Fatalf("after the hostile form the session is gone: %+v", got)
	}

	// Signout, then the old cookie replayed.
	if got := call("POST", "/api/auth/signout", "null"); got.Status != 200 || got.Body != `{"message":"You've been signed out!"}` {
		t.Fatalf("signout from the page: %+v", got)
	}
	if c := apiCookie(); c != nil {
		t.Errorf("the browser still holds %+v after signout", c)
	}
	if got := call("GET", "/api/test/user", "null"); got.Status != 403 {
		t.Errorf("user board after signout: %+v", got)
	}
	wantJSON(t, s.withCookie(t, "GET", "/api/test/user", session.Value, ""), 401, "Unauthorized!")
}
