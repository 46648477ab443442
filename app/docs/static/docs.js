// Starts the vendored Swagger UI on this server's /openapi.json (no inline script: the page's CSP forbids it).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.ui = window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,          // never send the document to an outside validator
    persistAuthorization: false, // the token stays in this tab's memory only
    tryItOutEnabled: false,
    defaultModelsExpandDepth: 0,
    docExpansion: "list"
  });
});
