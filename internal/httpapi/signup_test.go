package httpapi_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"jwtauth/internal/auth"
	"jwtauth/internal/store/storetest"
)

func TestSignUp(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.signUp(t, "taken", "taken@example.com", "password-1")

		const json = "application/json"
		const form = "application/x-www-form-urlencoded"
		tests := []struct {
			name        string
			contentType string
			body        string
			status      int
			msg         string
		}{
			{"json", json, `{"username":"alice","email":"alice@example.com","password":"password-1"}`,
				200, "User registered successfully!"},
			{"json with charset and extra fields", "application/json; charset=utf-8",
				`{"username":"alice2","email":"alice2@example.com","password":"password-1","confirm":"x"}`,
				200, "User registered successfully!"},
			{"urlencoded", form, "username=bob&email=bob%40example.com&password=password-1",
				200, "User registered successfully!"},
			{"explicit user role", json, `{"username":"carol","email":"carol@example.com","password":"password-1","roles":["user"]}`,
				200, "User registered successfully!"},
			{"empty roles", json, `{"username":"dave","email":"dave@example.com","password":"password-1","roles":[]}`,
				200, "User registered successfully!"},
			{"null roles", json, `{"username":"erin","email":"erin@example.com","password":"password-1","roles":null}`,
				200, "User registered successfully!"},
			{"password of exactly 72 bytes", json, `{"username":"frank","email":"frank@example.com","password":"` + strings.Repeat("p", 72) + `"}`,
				200, "User registered successfully!"},
			{"unicode username", json, `{"username":"Zoë Ölçer 🦊","email":"zoe@example.com","password":"password-1"}`,
				200, "User registered successfully!"},

			{"username taken", json, `{"username":"taken","email":"other@example.com","password":"password-1"}`,
				400, "Failed! Username is already in use!"},
			{"username taken in another case", json, `{"username":"TaKeN","email":"other@example.com","password":"password-1"}`,
				400, "Failed! Username is already in use!"},
			{"email taken in another case", json, `{"username":"other","email":"TAKEN@Example.com","password":"password-1"}`,
				400, "Failed! Email is already in use!"},
			{"both taken: username first", json, `{"username":"taken","email":"taken@example.com","password":"password-1"}`,
				400, "Failed! Username is already in use!"},
			{"unknown role", json, `{"username":"gina","email":"gina@example.com","password":"password-1","roles":["user","superuser"]}`,
				400, "Failed! Role does not exist = superuser"},
			{"role names are exact", json, `{"username":"gina","email":"gina@example.com","password":"password-1","roles":["User"]}`,
				400, "Failed! Role does not exist = User"},
			{"admin not self-assignable", json, `{"username":"mallory","email":"mallory@example.com","password":"password-1","roles":["admin"]}`,
				403, "Failed! Role 'admin' cannot be self-assigned."},
			{"moderator not self-assignable", json, `{"username":"mallory","email":"mallory@example.com","password":"password-1","roles":["user","moderator"]}`,
				403, "Failed! Role 'moderator' cannot be self-assigned."},

			{"missing username", json, `{"email":"x@example.com","password":"password-1"}`, 400, "Failed! Username is required."},
			{"null username", json, `{"username":null,"email":"x@example.com","password":"password-1"}`, 400, "Failed! Username is required."},
			{"missing email", json, `{"username":"xavier","password":"password-1"}`, 400, "Failed! Email is required."},
			{"missing password", json, `{"username":"xavier","email":"x@example.com"}`, 400, "Failed! Password is required."},
			{"numeric username", json, `{"username":12345,"email":"x@example.com","password":"password-1"}`, 400, "Failed! Username must be a string."},
			{"object email", json, `{"username":"xavier","email":{"a":1},"password":"password-1"}`, 400, "Failed! Email must be a string."},
			{"boolean password", json, `{"username":"xavier","email":"x@example.com","password":true}`, 400, "Failed! Password must be a string."},
			{"roles as a string", json, `{"username":"xavier","email":"x@example.com","password":"password-1","roles":"admin"}`,
				400, "Failed! Roles must be a list of role names."},
			{"roles with a number", json, `{"username":"xavier","email":"x@example.com","password":"password-1","roles":[1]}`,
				400, "Failed! Roles must be a list of role names."},
			{"username too short", json, `{"username":"ab","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must be 3 to 64 characters."},
			{"username too long", json, `{"username":"` + strings.Repeat("u", 65) + `","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must be 3 to 64 characters."},
			{"username with a control character", json, `{"username":"bad\u0000name","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain control characters."},
			{"username with a newline", json, `{"username":"bad\nname","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain control characters."},
			{"username with a trailing space", json, `{"username":"spacey ","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not start or end with spaces."},
			{"username with a zero-width space", json, `{"username":"in\u200bvisible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username with a soft hyphen", json, `{"username":"in\u00advisible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username with a word joiner", json, `{"username":"in\u2060visible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username with a byte order mark", json, `{"username":"in\ufeffvisible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username with a right-to-left override", json, `{"username":"in\u202evisible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username with a Hangul filler", json, `{"username":"in\u3164visible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username with a variation selector", json, `{"username":"in\ufe0fvisible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username with a no-break space", json, `{"username":"in\u00a0visible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username with a ideographic space", json, `{"username":"in\u3000visible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username with a line separator", json, `{"username":"in\u2028visible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username with a private use", json, `{"username":"in\ue000visible","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username of invisible characters only", json, `{"username":"\u200b\u2060\u3164\u200b","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain invisible or formatting characters."},
			{"username starting with a combining mark", json, `{"username":"\u0301abc","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not start with a combining mark."},
			{"username with two spaces in a row", json, `{"username":"two  spaces","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Username must not contain two spaces in a row."},
			{"invalid email", json, `{"username":"xavier","email":"not-an-email","password":"password-1"}`,
				400, "Failed! Email is not a valid address."},
			{"email with a display name", json, `{"username":"xavier","email":"X <x@example.com>","password":"password-1"}`,
				400, "Failed! Email is not a valid address."},
			{"email too long", json, `{"username":"xavier","email":"` + strings.Repeat("e", 250) + `@example.com","password":"password-1"}`,
				400, "Failed! Email must be at most 254 characters."},
			{"password too short", json, `{"username":"xavier","email":"x@example.com","password":"short"}`,
				400, "Failed! Password must be at least 8 characters."},
			{"password of 73 bytes", json, `{"username":"xavier","email":"x@example.com","password":"` + strings.Repeat("p", 73) + `"}`,
				400, "Failed! Password must be at most 72 bytes."},
			{"password of 72 bytes in 36 characters over the limit", json, `{"username":"xavier","email":"x@example.com","password":"` + strings.Repeat("é", 37) + `"}`,
				400, "Failed! Password must be at most 72 bytes."},

			{"malformed JSON", json, `{"username":"xavier",`, 400, "Failed! Request body is not valid JSON."},
			{"two JSON objects", json, `{"username":"xavier"}{"username":"yves"}`, 400, "Failed! Request body is not valid JSON."},
			{"JSON array", json, `[{"username":"xavier"}]`, 400, "Failed! Request body must be a JSON object."},
			{"JSON string", json, `"xavier"`, 400, "Failed! Request body must be a JSON object."},
			{"empty JSON body", json, ``, 400, "Failed! Request body is empty; send a JSON object."},
			{"text/plain body", "text/plain", `{"username":"xavier","email":"x@example.com","password":"password-1"}`,
				400, "Failed! Send the body as JSON (Content-Type: application/json) or as a form (application/x-www-form-urlencoded)."},
			{"no content type", "", `{"username":"xavier"}`,
				400, "Failed! Send the body as JSON (Content-Type: application/json) or as a form (application/x-www-form-urlencoded)."},
			{"form field given twice", form, "username=a1a&username=b2b&email=x%40example.com&password=password-1",
				400, "Failed! Username must be given once."},
			{"form with bad escape", form, "username=%zz", 400, "Failed! Request body is not a valid form."},
			{"username not UTF-8", form, "username=ab%ff%fe&email=x%40example.com&password=password-1",
				400, "Failed! Username must be valid UTF-8."},
			{"email not UTF-8", form, "username=xavier&email=x%ff%40example.com&password=password-1",
				400, "Failed! Email is not a valid address."},
			{"a huge roles list", json, `{"username":"xavier","email":"x@example.com","password":"password-1","roles":[` +
				strings.Repeat(`"user",`, 70000) + `"nope"]}`, 400, "Failed! Role does not exist = nope"},
			{"JSON body over 1 MiB", json, `{"username":"` + strings.Repeat("a", 1<<20) + `"}`,
				413, "Failed! Request body is larger than 1 MiB."},
			{"form body over 1 MiB", form, "username=" + strings.Repeat("a", 1<<20),
				413, "Failed! Request body is larger than 1 MiB."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.do(t, request{method: "POST", path: "/api/auth/signup", contentType: tt.contentType, body: tt.body})
				wantJSON(t, r, tt.status, tt.msg)
			})
		}

		// Nothing refused left a row behind; everything accepted is there once.
		if n := countUsers(t, s.db, ""); n != 9 {
			t.Errorf("users = %d, want 9 (taken + 8 accepted)", n)
		}
		for _, name := range []string{"carol", "dave", "erin"} {
			if got := s.signIn(t, name, "password-1").Roles; fmt.Sprint(got) != "[ROLE_USER]" {
				t.Errorf("%s roles = %v, want [ROLE_USER]", name, got)
			}
		}
	})
}

func TestSignUpMultipart(t *testing.T) {
	s := newServer(t, "sqlite")
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"username": "postman", "email": "postman@example.com", "password": "password-1"} {
		w.WriteField(k, v)
	}
	w.Close()
	r := s.do(t, request{method: "POST", path: "/api/auth/signup", contentType: w.FormDataContentType(), body: buf.String()})
	wantJSON(t, r, 200, "User registered successfully!")
	s.signIn(t, "postman", "password-1")
}

// curl -d '{...}' without a Content-Type sends JSON labelled as a form:
// it is read as the JSON it is, not as a form with one odd field name
// (which answered "Username is required." though a username was sent).
func TestJSONSentAsForm(t *testing.T) {
	s := newServer(t, "sqlite")
	form := "application/x-www-form-urlencoded"
	r := s.do(t, request{method: "POST", path: "/api/auth/signup", contentType: form,
		body: ` {"username":"curly","email":"curly@example.com","password":"password-1"}`})
	wantJSON(t, r, 200, "User registered successfully!")
	r = s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: form,
		body: `{"username":"curly","password":"password-1"}`})
	if r.status != 200 {
		t.Fatalf("signin with JSON sent as a form: %d %s", r.status, r.body)
	}
	r = s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: form, body: `{"username":"curly",`})
	wantJSON(t, r, 400, "Failed! Request body is not valid JSON.")
	// A real form still reads as one.
	r = s.do(t, request{method: "POST", path: "/api/auth/signin", contentType: form, body: "username=curly&password=password-1"})
	if r.status != 200 {
		t.Fatalf("signin with a form: %d %s", r.status, r.body)
	}
}

// With every role self-assignable, as the tutorial had it, roles arrive
// from JSON and from both form spellings, and signin lists them by id.
func TestSignUpAllRolesAllowed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver, func(o *auth.Options) { o.SignupAllowRoles = []string{"user", "moderator", "admin"} })
		s.signUp(t, "everything", "everything@example.com", "password-1", "admin", "user", "moderator", "admin")
		r := s.postForm(t, "/api/auth/signup", url.Values{"username": {"formmod"}, "email": {"formmod@example.com"},
			"password": {"password-1"}, "roles": {"moderator", "user"}})
		wantJSON(t, r, 200, "User registered successfully!")
		r = s.postForm(t, "/api/auth/signup", url.Values{"username": {"brackets"}, "email": {"brackets@example.com"},
			"password": {"password-1"}, "roles[]": {"admin"}})
		wantJSON(t, r, 200, "User registered successfully!")

		for name, want := range map[string]string{
			"everything": "[ROLE_USER ROLE_MODERATOR ROLE_ADMIN]",
			"formmod":    "[ROLE_USER ROLE_MODERATOR]",
			"brackets":   "[ROLE_ADMIN]",
		} {
			if got := fmt.Sprint(s.signIn(t, name, "password-1").Roles); got != want {
				t.Errorf("%s roles = %s, want %s", name, got, want)
			}
		}
		r = s.postJSON(t, "/api/auth/signup", map[string]any{"username": "nobody", "email": "nobody@example.com",
			"password": "password-1", "roles": []string{"moderator", "root"}})
		wantJSON(t, r, 400, "Failed! Role does not exist = root")
	})
}

// Twenty signups of one name at once, in several letter cases: the unique
// index lets exactly one through; the others get the original's 400.
func TestConcurrentSignUpsOfOneName(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		const n = 20
		var wg sync.WaitGroup
		results := make([]response, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := "racer"
				if i%2 == 1 {
					name = "RACER"
				}
				<-start
				results[i] = s.postJSON(t, "/api/auth/signup", map[string]string{
					"username": name, "email": fmt.Sprintf("racer%d@example.com", i), "password": "password-1"})
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, r := range results {
			switch r.status {
			case http.StatusOK:
				ok++
			case http.StatusBadRequest:
				if m := r.message(t); m != "Failed! Username is already in use!" {
					t.Errorf("loser message = %q", m)
				}
			default:
				t.Errorf("status %d: %s", r.status, r.body)
			}
		}
		if ok != 1 {
			t.Errorf("%d signups succeeded, want 1", ok)
		}
		if got := countUsers(t, s.db, ""); got != 1 {
			t.Errorf("%d accounts created, want 1", got)
		}
		// The same race on an email.
		results = make([]response, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = s.postJSON(t, "/api/auth/signup", map[string]string{
					"username": fmt.Sprintf("mailer%d", i), "email": "Shared@Example.com", "password": "password-1"})
			}()
		}
		wg.Wait()
		ok = 0
		for _, r := range results {
			if r.status == http.StatusOK {
				ok++
			} else {
				wantJSON(t, r, 400, "Failed! Email is already in use!")
			}
		}
		if ok != 1 || countUsers(t, s.db, "") != 2 {
			t.Errorf("email race: %d succeeded, %d accounts; want 1 and 2", ok, countUsers(t, s.db, ""))
		}
	})
}
