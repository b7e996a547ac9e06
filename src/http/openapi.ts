/** The REST API described as OpenAPI 3.1; hand-written, served at /openapi.json. */
export function openApiDocument(): Record<string, unknown> {
  return { openapi: "3.1.0", info: { title: "chuk-artifacts", version: "0.1.0" }, paths: {} };
}
