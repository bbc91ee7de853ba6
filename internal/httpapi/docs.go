package httpapi

import (
	"bytes"
	"embed"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	swaggerui "github.com/swaggest/swgui/v5/static"
	"github.com/vearutop/statigz"
)

// The browsable API documentation: Swagger UI, its assets embedded in the
// binary (no CDN), rendering the OpenAPI document, with "Try it out"
// calling the server that serves the page.

//go:embed docs/index.html docs/docs.js
var docsFiles embed.FS

// docsPolicy lets the docs page run jwtauth's own scripts and nothing else;
// Swagger UI sets inline styles, and "Try it out" calls this server.
const docsPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// docsAssets are the Swagger UI files the page loads, served gzipped as
// embedded (or inflated for a client that does not take gzip).
var docsAssets = map[string]bool{
	"swagger-ui.css": true, "swagger-ui-bundle.js": true, "favicon-32x32.png": true,
}

// docs serves the page, its script and Swagger UI's assets under /docs.
func (a *api) docs() (page, asset gin.HandlerFunc) {
	index, _ := docsFiles.ReadFile("docs/index.html")
	script, _ := docsFiles.ReadFile("docs/docs.js")
	assets := statigz.FileServer(swaggerui.FS)
	page = func(c *gin.Context) {
		c.Header("Content-Security-Policy", docsPolicy)
		c.Header("X-Frame-Options", "DENY")
		c.Data(http.StatusOK, "text/html; charset=utf-8", index)
	}
	asset = func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("file"), "/")
		if name == "docs.js" {
			c.Data(http.StatusOK, "application/javascript", script)
			return
		}
		if !docsAssets[name] {
			a.handle(notFound)(c)
			return
		}
		// Versioned with the binary: a day's caching is safe, and the
		// frame's no-store is for answers that carry personal data.
		c.Header("Cache-Control", "public, max-age=86400")
		r := c.Request.Clone(c.Request.Context())
		r.URL.Path = "/" + name
		assets.ServeHTTP(c.Writer, r)
	}
	return page, asset
}

// openAPIFor returns the OpenAPI document with its servers entry set to
// the address the request reached, so that "Try it out" and an import
// into Postman call this server wherever it runs. The document is served
// as written, but for that one URL.
func openAPIFor(doc []byte) gin.HandlerFunc {
	const written = `"url": "http://localhost:8080"`
	servers := bytes.Index(doc, []byte(`"servers"`))
	at := bytes.Index(doc[max(servers, 0):], []byte(written))
	if servers < 0 || at < 0 {
		panic("openapi.json: no servers entry " + written) // embedded, and checked by the tests
	}
	before, after := doc[:servers+at], doc[servers+at+len(written):]
	return func(c *gin.Context) {
		// A proxy that terminates TLS says so; believing a client that
		// claims it only changes the document that client is sent.
		scheme := "http"
		if c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		url, _ := json.Marshal(scheme + "://" + c.Request.Host)
		body := make([]byte, 0, len(doc)+len(url))
		body = append(append(append(append(body, before...), `"url": `...), url...), after...)
		c.Data(http.StatusOK, "application/json", body)
	}
}
