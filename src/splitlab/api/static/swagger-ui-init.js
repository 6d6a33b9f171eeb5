// Splitlab's API docs (/api/v1/docs): starts Swagger UI from this file rather than an inline
// script. The page names the OpenAPI document in data-openapi-url; the options are FastAPI's.
(() => {
  const root = document.getElementById("swagger-ui");
  SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
