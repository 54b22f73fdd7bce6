"""The OpenAPI document as the service answers: every error a problem document, and links
from what creates a resource to what uses it.

FastAPI documents its own `{"detail": [...]}` validation error for every operation; the
service answers RFC 9457 problem details (`application/problem+json`, app.problems) for
every error instead. This rewrites each operation's error responses from what the route
can answer: 401 and 403 behind a key, 404 with path parameters, 409 for writes, 400, 413
and 422 with a body or parameters, the codes a route declares itself (429 where it is
rate-limited), and any other error (503 when something it needs is not configured, 500 if
all else fails) as the default.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For invalid input: each field refused and why.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_REASONS = {
    "400": "The body is not well-formed (JSON that does not parse, a form that is not one).",
    "401": "No valid API key (`Authorization: Bearer ht_...`).",
    "403": "The key's role may not do this, or a webhook's signature does not verify.",
    "404": "Not found, or outside the caller's scope.",
    "409": "In conflict with what is stored.",
    "413": "The body is over the size limit.",
    "422": "Some fields are invalid: `errors` names each.",
    "429": "Over the key's rate; retry after `Retry-After` seconds.",
    "503": "Not ready: the database does not answer or its schema is behind.",
    "default": "Any other error (503 when something the route needs is not configured).",
}
_WRITES = {"post", "put", "patch", "delete"}


def _problem(code: str, declared: dict[str, Any] | None = None) -> dict[str, Any]:
    reference = {"$ref": "#/components/schemas/Problem"}
    description = (declared or {}).get("description") or _REASONS[code]
    return {"description": description, "content": {PROBLEM_JSON: {"schema": reference}}}


def _codes(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    codes = [code for code in operation.get("responses", {}) if code[0] in "45"]
    if operation.get("security"):
        codes += ["401", "403"]
    elif path.startswith("/v1/webhooks/"):
        codes.append("403")
    if "{" in path:
        codes.append("404")
    if method in _WRITES:
        codes.append("409")
    if "requestBody" in operation:
        codes += ["400", "413", "422"]
    elif operation.get("parameters"):
        codes.append("422")
    return [*sorted(set(codes)), "default"]


def _links(document: dict[str, Any]) -> None:
    """OpenAPI links from each operation that creates something (a 201 or 202 whose body has
    an `id`) to every operation on what it created (`/v1/sites` -> `/v1/sites/{site_id}/...`),
    so a client (and the fuzzer's stateful run) can follow one to the next."""
    schemas = document.get("components", {}).get("schemas", {})
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    for collection, operations in paths.items():
        create = operations.get("post", {})
        for code in ("201", "202"):
            answer = create.get("responses", {}).get(code, {})
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            name = schema.get("$ref", "").rsplit("/", 1)[-1]
            if "id" not in schemas.get(name, {}).get("properties", {}):
                continue
            links: dict[str, Any] = {}
            for path, targets in paths.items():
                if not path.startswith(collection + "/{"):
                    continue
                parameter = path[len(collection) + 2 : path.index("}", len(collection))]
                for method, target in targets.items():
                    links[target["operationId"]] = {
                        "operationId": target["operationId"],
                        "parameters": {parameter: "$response.body#/id"},
                        "description": f"{method.upper()} {path} on what was created.",
                    }
            if links:
                answer["links"] = links


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with its errors as they are answered (cached)."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            responses.pop("422", None)
            for code in _codes(path, method, operation):
                responses[code] = _problem(code, responses.get(code))
    _links(document)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for fastapi_own in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_own, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    app.openapi_schema = document
    return document


def install_problem_openapi(app: FastAPI) -> None:
    app.openapi = lambda: problem_openapi(app)  # type: ignore[method-assign]
