// The API's documentation page (/api/docs): Swagger UI 5, which reads the gateway's OpenAPI 3.1
// document, built from the npm registry with the web UI so it works offline. Started from this
// file, never an inline script, as the gateway's Content-Security-Policy demands.
import "swagger-ui-dist/swagger-ui.css";
import "./phone.css";
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-es-bundle.js";

SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  // The public validator is another site: the CSP refuses it, and offline it is not there.
  validatorUrl: null,
  deepLinking: true,
  // Tokens typed into "Authorize" survive a reload of this page only.
  persistAuthorization: false,
  tryItOutEnabled: false,
});
