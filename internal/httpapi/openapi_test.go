package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"jwtauth/internal/auth"
	"jwtauth/internal/httpapi"
	"jwtauth/internal/metrics"
	"jwtauth/internal/store/storetest"
)

// loadOpenAPI reads and checks the served document once.
var loadOpenAPI = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromFile("openapi.json")
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	// The pages answer HTML, checked as the text it is.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	// And so are the docs page's assets.
	openapi3filter.RegisterBodyDecoder("text/css", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/javascript", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("image/png", openapi3filter.FileBodyDecoder)
	return doc, nil
})

var openAPIRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := loadOpenAPI()
	if err != nil {
		return nil, err
	}
	local := *doc
	local.Servers = nil // match whatever host the test server has
	return gorillamux.NewRouter(&local)
})

// validating checks every response h gives against the OpenAPI document:
// with it around the test server, the whole test suite is a check that the
// document tells the truth.
func validating(t *testing.T, h http.Handler) http.Handler {
	router, err := openAPIRouter()
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if route, params, err := router.FindRoute(r); err == nil {
			in := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: &openapi3filter.RequestValidationInput{
					Request: r, PathParams: params, Route: route,
					Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
				},
				Status:  rec.Code,
				Header:  rec.Header(),
				Options: &openapi3filter.Options{IncludeResponseStatus: true},
			}
			in.SetBodyBytes(rec.Body.Bytes())
			if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
				t.Errorf("%s %s answered %d, which the OpenAPI document does not describe: %v", r.Method, r.URL.Path, rec.Code, err)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// The document lists exactly the routes the router serves.
func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	svc, err := auth.New(storetest.Open(t, "sqlite"), defaultOptions(newClock()))
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.NewHandler(svc, httpapi.Options{Metrics: metrics.New(), MetricsRoute: true})
	if err != nil {
		t.Fatal(err)
	}
	served := h.Routes()
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("documented and served routes differ\ndocumented: %s\nserved:     %s",
			strings.Join(documented, ", "), strings.Join(served, ", "))
	}

	// And the server serves the document.
	s := newServer(t, "sqlite")
	r := s.get(t, "/api/openapi.json", "")
	var document struct {
		OpenAPI string `json:"openapi"`
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
	}
	if r.status != 200 || !strings.HasPrefix(r.contentType(), "application/json") || json.Unmarshal(r.body, &document) != nil || document.OpenAPI != "3.0.3" {
		t.Errorf("/api/openapi.json: %d %s", r.status, r.contentType())
	}
	// Its servers entry is the address the request reached, so that "Try
	// it out" and an import into Postman call this server.
	if len(document.Servers) != 1 || document.Servers[0].URL != s.URL {
		t.Errorf("servers = %+v, want the one this server has, %s", document.Servers, s.URL)
	}
}

// Every route that takes an access token takes the session cookie in its
// place (the cookie family's frontends send nothing else), and the
// document says so for each: the security scheme, and the Set-Cookie its
// answers may carry when the cookie renews itself.
func TestOpenAPICookieRoutes(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, "sqlite")
	s.createUser(t, "boss", "password-1", roleUser, roleAdmin, roleModerator)
	c, _ := s.cookieSignIn(t, "boss", "password-1")
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security == nil {
				continue
			}
			schemes := map[string]bool{}
			for _, req := range *op.Security {
				for name := range req {
					schemes[name] = true
				}
			}
			if !schemes["accessToken"] {
				continue
			}
			route := method + " " + path
			// The route takes the cookie: neither "No token provided!" nor
			// 401 (signout, which would end the session, is left out).
			if path != "/api/auth/signout" {
				r := s.withCookie(t, method, strings.ReplaceAll(path, "{id}", "999999"), c.Value, "{}")
				if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden && r.message(t) == "No token provided!" {
					t.Errorf("%s: the session cookie is not taken: %d %s", route, r.status, r.body)
				}
			}
			if !schemes["sessionCookie"] {
				t.Errorf("%s takes the session cookie, but the document does not say so", route)
			}
			for status, resp := range op.Responses.Map() {
				if resp.Value.Headers["Set-Cookie"] == nil {
					t.Errorf("%s %s: no Set-Cookie header documented for the cookie's renewal", route, status)
				}
			}
		}
	}
}
