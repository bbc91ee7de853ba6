package httpapi_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"jwtauth/internal/auth"
)

// chromiumPath is Debian's Chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium with a fresh profile, kept from
// reaching anything but loopback, for the length of the test. Without
// Chromium the test skips, except in CI (CI=true), where it fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", chromiumPath, err)
		}
		t.Skipf("%s is not installed (apt-get install -y chromium); the page is tested over HTTP only", chromiumPath)
	}
	// Chromium's helpers may still write to the profile for a moment after
	// it stops, which t.TempDir's cleanup would take for a failure.
	dir, err := os.MkdirTemp("", "jwtauth-chromium")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// A bound on the whole browser, so that a stuck one cannot hang the run.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(dir),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-proxy-server", true),
		// Names resolve to nothing: the test server is reached by address.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil { // start it now, so that a failure to start says so
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return bctx
}

// In a real browser: the link from the delivered mail opens the reset
// page, the form sets the new password, and the API signs in with it.
func TestResetPageInBrowser(t *testing.T) {
	bctx := browser(t)
	// Each step gets a generous bound of its own, so that a page that
	// never does what it should fails the test in good time.
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	s, smtpd := mailingServer(t, "sqlite")
	s.signUp(t, "browsing", "browsing@example.com", "password-1")
	old := s.signIn(t, "browsing", "password-1")
	wantJSON(t, forgot(t, s, "browsing@example.com"), 200, forgotAnswer)
	link := linkIn(t, s, smtpd, 1, "browsing@example.com")

	err := chromedp.Do(ctx,
		chromedp.Navigate(link.String()),
		chromedp.WaitVisible(chromedp.CSS("#password")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1"))); err != nil || heading != "Reset your password" {
		t.Fatalf("heading %q, %v", heading, err)
	}
	// A password the rules refuse first: the page says why and asks again.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#password"), "short"),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#message")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#message"))); err != nil || msg != "Failed! Password must be at least 8 characters." {
		t.Fatalf("after a short password: %q, %v", msg, err)
	}
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#password"), "password-2"),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitNotPresent(chromedp.CSS("#password")),
	)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#message")))
	if err != nil || msg != resetDone {
		t.Fatalf("after submitting: %q, %v", msg, err)
	}
	if location, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasPrefix(location, s.URL+"/reset-password") {
		t.Fatalf("after submitting the page is at %q, %v", location, err)
	}
	in := s.signIn(t, "browsing", "password-2")
	wantText(t, s.get(t, "/api/test/user", in.AccessToken), 200, "User Content.")
	wantJSON(t, s.get(t, "/api/test/user", old.AccessToken), 401, "Unauthorized!")
}

// In a real browser: the link from the delivered confirmation mail opens
// the page, which confirms the address without script; opened again (as
// when a mail scanner got there first) it says the address is confirmed
// already; and the API then shows the address confirmed.
func TestVerifyPageInBrowser(t *testing.T) {
	bctx := browser(t)
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	s, smtpd := mailingServer(t, "sqlite", verifying(auth.VerificationRequired))
	s.signUp(t, "confirming", "confirming@example.com", "password-1")
	link := verifyLinkIn(t, s, smtpd, 1, "confirming@example.com")
	wantJSON(t, s.postJSON(t, "/api/auth/signin", map[string]string{"username": "confirming", "password": "password-1"}), 403, notVerified)

	for _, want := range []string{emailConfirmed, emailAlreadyConfirmed} {
		err := chromedp.Do(ctx,
			chromedp.Navigate(link.String()),
			chromedp.WaitVisible(chromedp.CSS("#message")),
		)
		if err != nil {
			t.Fatal(err)
		}
		if heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1"))); err != nil || heading != "Confirm your email address" {
			t.Fatalf("heading %q, %v", heading, err)
		}
		if msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#message"))); err != nil || msg != want {
			t.Fatalf("page says %q, %v; want %q", msg, err, want)
		}
	}
	if !s.signInVerified(t, "confirming", "password-1") {
		t.Error("signin: the address is not confirmed after the page")
	}
	in := s.signIn(t, "confirming", "password-1")
	if me := s.me(t, in.AccessToken); !me.EmailVerified || me.Email != "confirming@example.com" {
		t.Errorf("me = %+v", me)
	}
}
