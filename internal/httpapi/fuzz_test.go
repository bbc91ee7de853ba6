package httpapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// The content types a fuzzed body is sent as, chosen by the fuzzer.
var fuzzContentTypes = []string{
	"application/json",
	"application/x-www-form-urlencoded",
	"multipart/form-data; boundary=XyZ",
	"text/plain",
	"",
	"application/json; charset=utf-16",
}

// fuzzEndpoint sends arbitrary bodies to path through the real router and
// database: whatever arrives, the answer is never a 5xx, and an error is
// JSON with a message.
func fuzzEndpoint(f *testing.F, path string) {
	s := newServer(f, "sqlite")
	s.createUser(f, "fuzzer", "password-1", roleUser)
	in := s.signIn(f, "fuzzer", "password-1")
	for _, seed := range []string{
		`{"username":"fuzzer","password":"password-1"}`,
		`{"username":"new1","email":"new1@example.com","password":"password-1","roles":["user"]}`,
		`{"refreshToken":"` + in.RefreshToken + `"}`,
		`{"all":true}`,
		"username=fuzzer&password=password-1&roles[]=user",
		"--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nfuzzer\r\n--XyZ--\r\n",
		`{"username":1,"password":null}`,
		`[]`,
	} {
		for kind := range fuzzContentTypes {
			f.Add(uint8(kind), seed)
		}
	}
	h := s.Config.Handler
	f.Fuzz(func(t *testing.T, kind uint8, body string) {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		if ct := fuzzContentTypes[int(kind)%len(fuzzContentTypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("x-access-token", in.AccessToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s answered %d to %q: %s", path, w.Code, body, w.Body)
		}
		if w.Code >= 400 {
			var m struct{ Message string }
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m.Message == "" {
				t.Fatalf("%s answered %d without a JSON message: %q", path, w.Code, w.Body)
			}
		}
	})
}

func FuzzSignUp(f *testing.F)       { fuzzEndpoint(f, "/api/auth/signup") }
func FuzzSignIn(f *testing.F)       { fuzzEndpoint(f, "/api/auth/signin") }
func FuzzRefreshToken(f *testing.F) { fuzzEndpoint(f, "/api/auth/refreshtoken") }
func FuzzSignOut(f *testing.F)      { fuzzEndpoint(f, "/api/auth/signout") }
