// /api/docs/: Swagger UI over /api/openapi.json. A file, not an inline script: the CSP allows our own
// scripts only. "Try it out" runs as the page's session, so unsafe methods send the CSRF cookie's
// value as Django asks (a Bearer token, given with "Authorize", needs none).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : null;
  }

  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    // No calls to the public validator service (and none the CSP would refuse).
    validatorUrl: null,
    requestInterceptor: function (request) {
      var token = csrfToken();
      if (token && !/^(GET|HEAD|OPTIONS)$/i.test(request.method || "GET")) {
        request.headers["X-CSRFToken"] = token;
      }
      return request;
    },
  });
})();
