package httpapi

import (
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
)

// Email verification and the account's own view of itself: following a
// confirmation link (through the API, or through the page jwtauth serves
// when there is no frontend), asking for another link, reading one's
// account, and changing one's address.

// The answers of the verification flow, the same through the API and the
// page.
const (
	emailConfirmed        = "Email address confirmed. Thank you!"
	emailChanged          = "Email address confirmed; the account now uses it."
	emailAlreadyConfirmed = "This email address is already confirmed; there is nothing left to do."
	// resendAnswer is the whole answer to resend-verification, whatever
	// the address: it must not tell whether an account has it.
	resendAnswer    = "If an account has that email address and it is not confirmed yet, a new confirmation link is on its way."
	changeEmailSent = "A confirmation link was sent to the new address; the change takes effect once it is opened."
	verifyPageError = "Something went wrong; please open the link again in a moment."
)

// verifyMessage is what a result of auth.VerifyEmail says.
var verifyMessage = map[auth.VerifyResult]string{
	auth.EmailConfirmed:        emailConfirmed,
	auth.EmailChanged:          emailChanged,
	auth.EmailAlreadyConfirmed: emailAlreadyConfirmed,
}

// verifyEmail serves POST /api/auth/verify-email.
func (a *api) verifyEmail(c *gin.Context) error {
	var f resetForm
	if err := bind(c, &f); err != nil {
		return err
	}
	result, err := a.svc.VerifyEmail(reqCtx(c), deref(f.Token))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, message{verifyMessage[result]})
	return nil
}

// resendVerification serves POST /api/auth/resend-verification: the same
// answer, at once, whatever the address (see auth.ResendVerification).
func (a *api) resendVerification(c *gin.Context) error {
	var f resetForm
	if err := bind(c, &f); err != nil {
		return err
	}
	if err := a.svc.ResendVerification(reqCtx(c), deref(f.Email)); err != nil {
		return err
	}
	c.JSON(http.StatusOK, message{resendAnswer})
	return nil
}

// meResponse is the signed-in user's account, with role names as signin
// writes them.
type meResponse struct {
	ID            int64     `json:"id"`
	Username      string    `json:"username"`
	Email         string    `json:"email"`
	Roles         []string  `json:"roles"`
	EmailVerified bool      `json:"emailVerified"`
	CreatedAt     time.Time `json:"createdAt"`
}

// me serves GET /api/auth/me.
func (a *api) me(c *gin.Context) error {
	u, err := a.svc.Me(reqCtx(c), principal(c))
	if err != nil {
		return err
	}
	authorities := make([]string, len(u.Roles))
	for i, r := range u.Roles {
		authorities[i] = "ROLE_" + strings.ToUpper(r)
	}
	c.JSON(http.StatusOK, meResponse{ID: u.ID, Username: u.Username, Email: u.Email, Roles: authorities,
		EmailVerified: u.EmailVerified, CreatedAt: u.CreatedAt.UTC()})
	return nil
}

// changeEmail serves POST /api/auth/change-email: the link goes to the
// new address; the account keeps the old one until it is followed.
func (a *api) changeEmail(c *gin.Context) error {
	var f resetForm
	if err := bind(c, &f); err != nil {
		return err
	}
	if err := a.svc.ChangeEmail(reqCtx(c), principal(c), deref(f.Email), deref(f.Password)); err != nil {
		return err
	}
	c.JSON(http.StatusOK, message{changeEmailSent})
	return nil
}

var verifyPage = template.Must(template.ParseFS(pageFiles, "pages/verify-email.html"))

// verifyPageData is what the verification page shows.
type verifyPageData struct {
	Message string
	Failed  bool
}

// showVerifyPage serves GET /verify-email?token=...: it follows the link
// at once (there is nothing to fill in) and shows the API's answer. A
// link a mail scanner followed first shows the address already confirmed.
func (a *api) showVerifyPage(c *gin.Context) {
	result, err := a.svc.VerifyEmail(reqCtx(c), c.Query("token"))
	var authErr *auth.Error
	switch {
	case err == nil:
		a.renderVerifyPage(c, http.StatusOK, verifyPageData{Message: verifyMessage[result]})
	case errors.As(err, &authErr) && authErr.Kind != auth.KindUnavailable:
		msg := authErr.Message
		if c.Query("token") == "" {
			msg = auth.ErrVerifyTokenInvalid.Message
		}
		a.renderVerifyPage(c, kindStatus[authErr.Kind], verifyPageData{Message: msg, Failed: true})
	default:
		status := http.StatusInternalServerError
		if errors.As(err, &authErr) {
			status = http.StatusServiceUnavailable
			if secs := authErr.RetryAfterSeconds(); secs > 0 {
				c.Header("Retry-After", strconv.Itoa(secs))
			}
		}
		a.logRequest(c, slog.LevelError, "verify page failed", slog.String("error", err.Error()))
		a.renderVerifyPage(c, status, verifyPageData{Message: verifyPageError, Failed: true})
	}
}

func (a *api) renderVerifyPage(c *gin.Context, status int, d verifyPageData) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", pagePolicy)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	c.Status(status)
	if err := verifyPage.Execute(c.Writer, d); err != nil {
		a.logRequest(c, slog.LevelError, "render verify page", slog.String("error", err.Error()))
	}
}
