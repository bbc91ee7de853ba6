package httpapi

import (
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
)

// Password resets: asking for a link, using it (through the API, or
// through the page jwtauth serves when there is no frontend), and an admin
// sending one.

// resetForm is the body of forgot-password and reset-password.
type resetForm struct {
	Email    *string `json:"email"`
	Token    *string `json:"token"`
	Password *string `json:"password"`
}

func (f *resetForm) fromForm(values map[string][]string) error {
	for name, dst := range map[string]**string{"email": &f.Email, "token": &f.Token, "password": &f.Password} {
		if err := formString(values, name, dst); err != nil {
			return err
		}
	}
	return nil
}

// The answers of the reset flow, the same through the API and the page.
const (
	// forgotAnswer is the whole answer to forgot-password, whatever the
	// address: it must not tell whether an account has it.
	forgotAnswer   = "If an account has that email address, a link to reset its password is on its way."
	resetDone      = "Password reset; every session was signed out. Sign in with the new password."
	resetSent      = "A password reset link was sent to the user."
	resetPageError = "Something went wrong; please try again in a moment."
)

// forgotPassword serves POST /api/auth/forgot-password: the same answer,
// at once, whether or not the address has an account (see
// auth.RequestPasswordReset).
func (a *api) forgotPassword(c *gin.Context) error {
	var f resetForm
	if err := bind(c, &f); err != nil {
		return err
	}
	if err := a.svc.RequestPasswordReset(reqCtx(c), deref(f.Email)); err != nil {
		return err
	}
	c.JSON(http.StatusOK, message{forgotAnswer})
	return nil
}

// resetPassword serves POST /api/auth/reset-password.
func (a *api) resetPassword(c *gin.Context) error {
	var f resetForm
	if err := bind(c, &f); err != nil {
		return err
	}
	if err := a.svc.ResetPassword(reqCtx(c), deref(f.Token), deref(f.Password)); err != nil {
		return err
	}
	c.JSON(http.StatusOK, message{resetDone})
	return nil
}

// sendPasswordReset serves POST /api/admin/users/{id}/password-reset.
func (a *api) sendPasswordReset(c *gin.Context) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	if err := a.svc.SendPasswordReset(reqCtx(c), principal(c), id); err != nil {
		return err
	}
	c.JSON(http.StatusOK, message{resetSent})
	return nil
}

// pageFiles are the pages jwtauth serves for links in mail when no
// APP_URL frontend does.
//
//go:embed pages/reset-password.html pages/verify-email.html
var pageFiles embed.FS

var resetPage = template.Must(template.ParseFS(pageFiles, "pages/reset-password.html"))

// pagePolicy lets a page show its own inline styles and post its form to
// itself, and nothing else: no script, no other origin, no framing.
const pagePolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// resetPageData is what the reset page shows.
type resetPageData struct {
	Message string
	Failed  bool
	Form    bool
	Token   string
}

// showResetPage serves GET /reset-password?token=...: the form that sets
// a new password, for a link when no APP_URL frontend serves one. Whether
// the token works is told once the form is sent, as the API tells it.
func (a *api) showResetPage(c *gin.Context) {
	token := c.Query("token")
	if token == "" {
		a.renderResetPage(c, http.StatusBadRequest, resetPageData{Message: auth.ErrResetTokenInvalid.Message, Failed: true})
		return
	}
	a.renderResetPage(c, http.StatusOK, resetPageData{Form: true, Token: token})
}

// submitResetPage serves the page's form (POST /reset-password): the same
// reset as the API, its answer shown on the page with the API's message.
// A password the rules refuse shows the form again.
func (a *api) submitResetPage(c *gin.Context) {
	var f resetForm
	err := bind(c, &f)
	if err == nil {
		err = a.svc.ResetPassword(reqCtx(c), deref(f.Token), deref(f.Password))
	}
	var authErr *auth.Error
	var httpErr *httpError
	switch {
	case err == nil:
		a.renderResetPage(c, http.StatusOK, resetPageData{Message: resetDone})
	case errors.As(err, &httpErr):
		a.renderResetPage(c, httpErr.status, resetPageData{Message: httpErr.msg, Failed: true, Form: f.Token != nil, Token: deref(f.Token)})
	case errors.As(err, &authErr) && authErr.Kind != auth.KindUnavailable:
		again := !errors.Is(err, auth.ErrResetTokenInvalid) && deref(f.Token) != ""
		a.renderResetPage(c, kindStatus[authErr.Kind], resetPageData{Message: authErr.Message, Failed: true, Form: again, Token: deref(f.Token)})
	default:
		status := http.StatusInternalServerError
		if errors.As(err, &authErr) {
			status = http.StatusServiceUnavailable
			if secs := authErr.RetryAfterSeconds(); secs > 0 {
				c.Header("Retry-After", strconv.Itoa(secs))
			}
		}
		a.logRequest(c, slog.LevelError, "reset page failed", slog.String("error", err.Error()))
		a.renderResetPage(c, status, resetPageData{Message: resetPageError, Failed: true, Form: true, Token: deref(f.Token)})
	}
}

func (a *api) renderResetPage(c *gin.Context, status int, d resetPageData) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", pagePolicy)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	c.Status(status)
	if err := resetPage.Execute(c.Writer, d); err != nil {
		a.logRequest(c, slog.LevelError, "render reset page", slog.String("error", err.Error()))
	}
}
