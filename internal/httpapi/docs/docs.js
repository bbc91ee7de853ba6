// Renders /api/openapi.json with Swagger UI. A file of its own, not an
// inline script, so that the page's Content-Security-Policy allows only
// scripts from jwtauth itself.
window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#ui",
  deepLinking: true,
  tryItOutEnabled: true,
  validatorUrl: null,
});
