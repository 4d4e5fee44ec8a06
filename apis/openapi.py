"""The OpenAPI description, made to tell the truth about what the API sends.

Litestar describes each route from its signature; what the gateway adds around every route it
cannot know. `document()` completes the generated schema once, before it is first served:

- the error model as sent (`{"error": {"status", "message", "detail"?}}`, `apis/errors.py`), as
  the `Error` component, for every error status an operation can answer with;
- those statuses derived from what the route is, not written per route: every operation may be
  refused as malformed (400, the input hygiene) or while a backing service is down (503, unless
  it is a liveness route); rate-limited ones answer 429 with Retry-After; authenticated ones 401,
  403 and 404 (the policy, and a resource the request names); writes 409 (a conflicting state)
  and, with a body, 413 (the size cap);
- `security` only on operations that need a bearer token (`opt["public"]` routes have none);
- bodies and media types a handler reads or writes itself: `opt["body_type"]` with
  `opt["body_media_types"]` (the items import: JSON or CSV) and `opt["response_media_types"]` with
  `opt["response_type"]` (the items export).

A handler's own `responses={…}` (e.g. /ready's 503 body) are kept as declared.

xAPI routes (`opt["xapi"]`, apis/lrs) read and write their bodies themselves, as the xAPI
specification defines them (statements as JSON or multipart/mixed, documents of any media type):
`xapi_operation` describes them as such, with HTTP Basic or a bearer token, the required
`X-Experience-API-Version` header, and the statuses the specification gives them (204 for
stored documents and PUT statements, 412 for failed preconditions).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.routes import HTTPRoute

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REF = "#/components/schemas/{name}"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every 4xx and 5xx answer has this shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "message": {
                    "type": "string",
                    "description": "What is wrong, for a person: names the field if one is at fault.",
                },
                "detail": {"description": "Structured detail, when there is any."},
            },
        }
    },
}

_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("The request is malformed: a field is missing, of the wrong type or out of range, "
          "a string holds a NUL, the body is not UTF-8 or nested too deeply.", {}),
    401: ("No valid access token (missing, expired, revoked), or wrong credentials.",
          {"WWW-Authenticate": {"description": "`Bearer` when a token is needed.",
                                "schema": {"type": "string"}}}),
    403: ("The policy does not permit this for the caller.", {}),
    404: ("A resource the request names does not exist (or is not visible to the caller).", {}),
    409: ("The request conflicts with the current state (a duplicate, a finished attempt, "
          "a stale version).", {}),
    412: ("A precondition (If-Match / If-None-Match) failed: the document changed.", {}),
    413: ("The body is larger than the route accepts.", {}),
    429: ("Too many requests: retry after the given number of seconds.",
          {"Retry-After": {**_RETRY_AFTER, "required": True}}),
    503: ("A backing service (PostgreSQL, Redis, the policy engine) is unavailable; retry shortly.",
          {"Retry-After": _RETRY_AFTER}),
}  # fmt: skip


def error_statuses(handler: HTTPRouteHandler, method: str, has_path_params: bool) -> set[int]:
    """The error statuses the gateway and the route's kind can produce for one operation."""
    opt = handler.opt
    public = bool(opt.get("public"))
    write = method in WRITES
    statuses = {400}
    if not opt.get("always_available"):
        statuses.add(503)
    if not opt.get("no_rate_limit"):
        statuses.add(429)
    if not public:
        statuses |= {401, 403, 404}
    elif has_path_params:
        statuses.add(404)
    if write:
        # Public writes are the credential routes: wrong credentials, a refused or existing
        # account.
        statuses |= {401, 403, 409}
    return statuses


def _operations(app: Litestar) -> Iterator[tuple[HTTPRoute, HTTPRouteHandler, str]]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods:
                if method not in ("HEAD", "OPTIONS"):
                    yield route, handler, method


def _components(types: Iterable[Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """JSON schemas of msgspec types; their components join `schemas` (existing names kept)."""
    out, components = msgspec.json.schema_components(list(types), ref_template=REF)
    for name, component in components.items():
        schemas.setdefault(name, component)
    return dict(zip(types, out, strict=True))


def _media(schema: dict[str, Any], media_type: str) -> dict[str, Any]:
    if media_type == "text/event-stream":
        # Each Server-Sent Event, as clients parse it: `data` carries the JSON body in `schema`.
        event = {
            "type": "object",
            "properties": {
                "event": {"type": "string"},
                "id": {"type": "string"},
                "retry": {"type": "integer"},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": schema,
                },
            },
        }
        return {"schema": event}
    if media_type.startswith("text/"):
        return {"schema": {"type": "string"}}
    return {"schema": schema}


def _body_type(handler: HTTPRouteHandler) -> tuple[Any, bool] | None:
    """(type, required) of the JSON body a handler reads, if it reads one."""
    if "body_type" in handler.opt:
        return handler.opt["body_type"], True
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return None
    return data.annotation, not (data.is_optional or data.has_default)


def _request_schemas(schemas: dict[str, Any], body_types: list[Any]) -> dict[Any, Any]:
    """Request bodies described by msgspec itself, from the very types the gateway decodes them
    with (strictly): every constraint, inner ones too (`options[*]` non-empty, `b` a non-empty
    list), and `additionalProperties: false` where unknown fields are refused -- Litestar's
    generator drops some of these. Same-named components are replaced, so responses that share
    a struct (MediaRef) share the stricter description, which they meet."""
    tops, generated = msgspec.json.schema_components(body_types, ref_template=REF)
    schemas.update(generated)
    return dict(zip(body_types, tops, strict=True))


def document(schema: dict[str, Any], app: Litestar) -> None:
    """Complete the generated schema in place (idempotent)."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    if "Error" in schemas:
        return
    schemas["Error"] = ERROR_SCHEMA
    error_ref = {"$ref": REF.format(name="Error")}
    components["responses"] = {
        f"Error{code}": {
            "description": description,
            **({"headers": headers} if headers else {}),
            "content": {"application/json": {"schema": error_ref}},
        }
        for code, (description, headers) in ERRORS.items()
    }
    schema.pop("security", None)
    paths: dict[str, Any] = schema.get("paths", {})
    bodies = {h: b for _, h, _ in _operations(app) if (b := _body_type(h)) is not None}
    body_schemas = _request_schemas(schemas, list({t: None for t, _ in bodies.values()}))
    for route, handler, method in _operations(app):
        operation = paths.get(route.path_format or "/", {}).get(method.lower())
        if operation is None:
            continue
        opt = handler.opt
        if opt.get("xapi") or route.path.startswith("/xapi"):
            xapi_operation(operation, handler, method, route.path)
            continue
        operation["security"] = [] if opt.get("public") else [{"bearer": []}]
        if handler in bodies:
            body_type, required = bodies[handler]
            media_types = opt.get("body_media_types", ("application/json",))
            operation["requestBody"] = {
                "required": required,
                "content": {m: _media(body_schemas[body_type], m) for m in media_types},
            }
        responses: dict[str, Any] = operation.setdefault("responses", {})
        if "response_media_types" in opt:
            success = next(code for code in responses if code.startswith("2"))
            body = _components([opt["response_type"]], schemas)[opt["response_type"]]
            responses[success]["content"] = {
                m: _media(body, m) for m in opt["response_media_types"]
            }
        declared = {str(code) for code in (handler.responses or {})}
        for code in [c for c in responses if c[0] in "45" and c not in declared]:
            del responses[code]  # Litestar's own 400 model is not what is sent
        has_body = "requestBody" in operation
        statuses = error_statuses(handler, method, bool(route.path_parameters))
        if has_body:
            statuses.add(413)
        for status in sorted(statuses):
            if str(status) not in declared:
                responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}


XAPI_VERSION_PARAMETER: dict[str, Any] = {
    "name": "X-Experience-API-Version",
    "in": "header",
    "required": True,
    "description": "The xAPI version of the request (1.0.x); answered with 1.0.3.",
    "schema": {"type": "string"},
}
ANY_BODY: dict[str, Any] = {"*/*": {"schema": {}}}


def xapi_operation(
    operation: dict[str, Any], handler: HTTPRouteHandler, method: str, path: str
) -> None:
    """Describe one xAPI operation (bodies and media types are the specification's)."""
    operation["security"] = [] if handler.opt.get("public") else [{"basic": []}, {"bearer": []}]
    responses: dict[str, Any] = {}
    if handler.opt.get("public"):
        operation["parameters"] = []
        responses["200"] = {"description": "The answer.", "content": ANY_BODY}
        statuses = {400, 503}
    else:
        operation["parameters"] = [XAPI_VERSION_PARAMETER]
        no_content = method in ("PUT", "DELETE") or (
            method == "POST" and path != "/xapi/statements"
        )
        if no_content or method == "POST":
            responses["204"] = {"description": "Stored (no content)."}
        if not no_content:
            responses["200"] = {"description": "The answer.", "content": ANY_BODY}
        if method in WRITES and method != "DELETE":
            operation["requestBody"] = {"required": False, "content": ANY_BODY}
        statuses = {400, 401, 403, 404, 409, 412, 413, 429, 503}
    operation["responses"] = responses
    for code in sorted(statuses):
        responses[str(code)] = {"$ref": f"#/components/responses/Error{code}"}


class _Documented(OpenAPIRenderPlugin):
    """Render plugins that complete the schema before the first render (a mixin placed before
    Litestar's plugin, whose `render` the `super()` call reaches)."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        document(openapi_schema, request.app)
        # the MRO puts Litestar's concrete plugin next, so this never reaches the abstract one
        return super().render(request, openapi_schema)  # type: ignore[safe-super]


class DocumentedJson(_Documented, JsonRenderPlugin):
    pass


class DocumentedYaml(_Documented, YamlRenderPlugin):
    pass


class OfflineSwaggerUI(_Documented, SwaggerRenderPlugin):
    """Swagger UI 5 (OpenAPI 3.1) from the swagger-ui-bundle-v2 wheel, served by the API itself:
    no CDN, no online validator, no request leaves the page's origin."""

    def __init__(self, assets: str, spec_url: str, path: str = "/docs") -> None:
        self.spec_url = spec_url
        super().__init__(
            path=path,
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        document(openapi_schema, request.app)
        title = html.escape(str(openapi_schema["info"]["title"]))
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  {self.favicon}
  <link rel="stylesheet" href="{self.css_url}">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{self.js_url}"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: {json.dumps(self.spec_url)},
      dom_id: "#swagger-ui",
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      deepLinking: true,
      persistAuthorization: true,
      validatorUrl: null,
    }});
  </script>
</body>
</html>
""".encode()
