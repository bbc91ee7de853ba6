package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
)

// authForm is the body of signup and signin, in JSON or form encoding.
// Pointers tell a missing field from an empty one only for the type check;
// both count as missing.
type authForm struct {
	Username *string  `json:"username"`
	Email    *string  `json:"email"`
	Password *string  `json:"password"`
	Roles    []string `json:"roles"`
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

var errContentType = auth.Invalid("Failed! Send the body as JSON (Content-Type: application/json) " +
	"or as a form (application/x-www-form-urlencoded).")

// bindAuthForm reads the body into f, accepting JSON, urlencoded and
// multipart forms (what Postman's "form-data" sends), at most MaxBodyBytes.
// Every way a body can be wrong ends in a 4xx with a message saying how.
func bindAuthForm(c *gin.Context, f *authForm) error {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
	mediaType, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil {
		return errContentType
	}
	switch {
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		return bindJSON(c.Request.Body, f)
	case mediaType == "application/x-www-form-urlencoded":
		if err := c.Request.ParseForm(); err != nil {
			return formError(err)
		}
		return bindValues(c.Request.PostForm, f)
	case mediaType == "multipart/form-data":
		if err := c.Request.ParseMultipartForm(MaxBodyBytes); err != nil {
			return formError(err)
		}
		return bindValues(c.Request.MultipartForm.Value, f)
	}
	return errContentType
}

func bindJSON(body io.Reader, f *authForm) error {
	dec := json.NewDecoder(body)
	err := dec.Decode(f)
	var typeErr *json.UnmarshalTypeError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return errBodyTooLarge
	case errors.As(err, &typeErr):
		return typeError(typeErr.Field)
	case errors.Is(err, io.EOF):
		return auth.Invalid("Failed! Request body is empty; send a JSON object.")
	case err != nil:
		return auth.Invalid("Failed! Request body is not valid JSON.")
	}
	// One object and nothing after it: "{...}{...}" is not a request.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.As(err, &maxErr) {
			return errBodyTooLarge
		}
		return auth.Invalid("Failed! Request body is not valid JSON.")
	}
	return nil
}

func typeError(field string) error {
	switch {
	case field == "":
		return auth.Invalid("Failed! Request body must be a JSON object.")
	case field == "roles" || strings.HasPrefix(field, "roles."):
		return auth.Invalid("Failed! Roles must be a list of role names.")
	}
	return auth.Invalid("Failed! " + strings.ToUpper(field[:1]) + field[1:] + " must be a string.")
}

func formError(err error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return errBodyTooLarge
	}
	return auth.Invalid("Failed! Request body is not a valid form.")
}

// bindValues reads form fields. A field given twice is refused rather than
// guessed at; roles may repeat, as "roles" or "roles[]".
func bindValues(values map[string][]string, f *authForm) error {
	for _, name := range []string{"username", "email", "password"} {
		v, ok := values[name]
		if !ok {
			continue
		}
		if len(v) > 1 {
			return auth.Invalid("Failed! " + strings.ToUpper(name[:1]) + name[1:] + " must be given once.")
		}
		switch name {
		case "username":
			f.Username = &v[0]
		case "email":
			f.Email = &v[0]
		case "password":
			f.Password = &v[0]
		}
	}
	f.Roles = append(append(f.Roles, values["roles"]...), values["roles[]"]...)
	return nil
}
