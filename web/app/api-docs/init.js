// Swagger UI over the service's own OpenAPI document. The document is fetched from the API
// (config.json: same origin locally, the API Gateway URL on AWS), and "Try it out" sends its
// requests to the origin the document came from; "Authorize" takes an access token or API key.
(async () => {
  let api = '/api';
  try {
    const r = await fetch('/config.json', { cache: 'no-cache' });
    if (r.ok) api = String((await r.json()).api || api).replace(/\/$/, '');
  } catch {
    // Same origin.
  }
  // @ts-ignore SwaggerUIBundle is the bundle's global.
  SwaggerUIBundle({ url: `${api}/openapi.json`, dom_id: '#reference', deepLinking: true });
})();
