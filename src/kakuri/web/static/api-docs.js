// The interactive API page (/docs): Swagger UI on our own OpenAPI document. "Try it out" uses the
// session cookie; posts carry the page's CSRF token, as the console's forms do.
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  window.SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    requestInterceptor: function (request) {
      if (request.method && request.method.toUpperCase() !== "GET") {
        request.headers["X-CSRF-Token"] = csrf;
      }
      return request;
    },
  });
})();
