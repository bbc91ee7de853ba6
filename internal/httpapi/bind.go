package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/gin-gonic/gin"
)

// formBody is a request body that can also arrive as a form.
type formBody interface {
	fromForm(values map[string][]string) error
}

// authForm is the body of signup and signin, in JSON or form encoding.
// Pointers tell a missing field from an empty one only for the type check;
// both count as missing.
type authForm struct {
	Username *string  `json:"username"`
	Email    *string  `json:"email"`
	Password *string  `json:"password"`
	Roles    []string `json:"roles"`
}

func (f *authForm) fromForm(values map[string][]string) error {
	fields := []struct {
		name string
		dst  **string
	}{{"username", &f.Username}, {"email", &f.Email}, {"password", &f.Password}}
	for _, field := range fields {
		if err := formString(values, field.name, field.dst); err != nil {
			return err
		}
	}
	f.Roles = append(append(f.Roles, values["roles"]...), values["roles[]"]...)
	return nil
}

// sessionForm is the body of refreshtoken and signout.
type sessionForm struct {
	RefreshToken *string `json:"refreshToken"`
	All          bool    `json:"all"`
}

func (f *sessionForm) fromForm(values map[string][]string) error {
	if err := formString(values, "refreshToken", &f.RefreshToken); err != nil {
		return err
	}
	var all *string
	if err := formString(values, "all", &all); err != nil || all == nil {
		return err
	}
	switch strings.ToLower(*all) {
	case "true", "1", "on":
		f.All = true
	case "false", "0", "off", "":
	default:
		return badRequest("Failed! all must be true or false.")
	}
	return nil
}

// passwordForm is the body of change-password and of deleting one's
// account.
type passwordForm struct {
	CurrentPassword *string `json:"currentPassword"`
	NewPassword     *string `json:"newPassword"`
	Password        *string `json:"password"`
}

func (f *passwordForm) fromForm(values map[string][]string) error {
	for name, dst := range map[string]**string{
		"currentPassword": &f.CurrentPassword, "newPassword": &f.NewPassword, "password": &f.Password,
	} {
		if err := formString(values, name, dst); err != nil {
			return err
		}
	}
	return nil
}

// formString reads a field that may be given at most once: a field given
// twice is refused rather than guessed at.
func formString(values map[string][]string, name string, dst **string) error {
	v, ok := values[name]
	switch {
	case !ok:
		return nil
	case len(v) > 1:
		return badRequest("Failed! " + fieldLabel(name) + " must be given once.")
	}
	*dst = &v[0]
	return nil
}

// fieldLabel names a field in messages, as the original's messages do.
func fieldLabel(name string) string {
	switch name {
	case "refreshToken":
		return "Refresh Token"
	case "currentPassword":
		return "Current password"
	case "newPassword":
		return "New password"
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

func (f authForm) username() string { return deref(f.Username) }
func (f authForm) email() string    { return deref(f.Email) }
func (f authForm) password() string { return deref(f.Password) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var errContentType = badRequest("Failed! Send the body as JSON (Content-Type: application/json) " +
	"or as a form (application/x-www-form-urlencoded).")

// bind reads the body into f, accepting JSON, urlencoded and multipart
// forms (what Postman's "form-data" sends), at most MaxBodyBytes. Every way
// a body can be wrong ends in a 4xx with a message saying how. How long the
// body may take is the server's decision (http.Server.ReadTimeout, a
// deadline on the whole request): a body cut off by it answers 408.
func bind(c *gin.Context, f formBody) error {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
	mediaType, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil {
		return errContentType
	}
	switch {
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		return bindJSON(c.Request.Body, f)
	case mediaType == "application/x-www-form-urlencoded":
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			return formError(err)
		}
		// curl -d '{...}' labels JSON as a form. No form field's name
		// starts with "{", so such a body can only be JSON: read it so.
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
			return bindJSON(bytes.NewReader(body), f)
		}
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return formError(err)
		}
		return f.fromForm(values)
	case mediaType == "multipart/form-data":
		if err := c.Request.ParseMultipartForm(MaxBodyBytes); err != nil {
			return formError(err)
		}
		return f.fromForm(c.Request.MultipartForm.Value)
	}
	return errContentType
}

func bindJSON(body io.Reader, f formBody) error {
	dec := json.NewDecoder(body)
	err := dec.Decode(f)
	var typeErr *json.UnmarshalTypeError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return errBodyTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errBodyTimeout
	case errors.As(err, &typeErr):
		return typeError(typeErr.Field)
	case errors.Is(err, io.EOF):
		return badRequest("Failed! Request body is empty; send a JSON object.")
	case err != nil:
		return badRequest("Failed! Request body is not valid JSON.")
	}
	// One object and nothing after it: "{...}{...}" is not a request.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.As(err, &maxErr) {
			return errBodyTooLarge
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return errBodyTimeout
		}
		return badRequest("Failed! Request body is not valid JSON.")
	}
	return nil
}

func typeError(field string) error {
	switch {
	case field == "":
		return badRequest("Failed! Request body must be a JSON object.")
	case field == "roles" || strings.HasPrefix(field, "roles."):
		return badRequest("Failed! Roles must be a list of role names.")
	case field == "all":
		return badRequest("Failed! all must be true or false.")
	}
	return badRequest("Failed! " + fieldLabel(field) + " must be a string.")
}

func formError(err error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return errBodyTooLarge
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errBodyTimeout
	}
	return badRequest("Failed! Request body is not a valid form.")
}
