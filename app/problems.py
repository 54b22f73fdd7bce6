"""Domain errors and their one translation into RFC 9457 problem details.

Services and CLI commands raise these errors without importing FastAPI: the translation
imports it when it runs (in the service, which has it loaded already).
"""

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from app.request_context import current_request_id

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("honeytrace.http")


class DomainError(Exception):
    """An error a client can act on; its message is safe to show."""

    status = HTTPStatus.BAD_REQUEST
    problem_type = "about:blank"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFoundError(DomainError):
    status = HTTPStatus.NOT_FOUND


class ConflictError(DomainError):
    status = HTTPStatus.CONFLICT


class InvalidError(DomainError):
    """Input well-formed but unacceptable; `errors` names the fields."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY


class UnauthorizedError(DomainError):
    status = HTTPStatus.UNAUTHORIZED


class ForbiddenError(DomainError):
    status = HTTPStatus.FORBIDDEN


class PayloadTooLargeError(DomainError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaTypeError(DomainError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class ServiceUnavailableError(DomainError):
    status = HTTPStatus.SERVICE_UNAVAILABLE


class TooManyRequestsError(DomainError):
    status = HTTPStatus.TOO_MANY_REQUESTS


def field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def problem_response(
    status: int,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> "JSONResponse":
    from fastapi.responses import JSONResponse

    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: Sequence[int | str]) -> str:
    # Drop the transport part ("body", "query", ...) so the field reads as the client wrote it.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    return [field_error(_field_name(e.get("loc", ())), str(e.get("msg", ""))) for e in errors]


async def _domain_error(_request: "Request", exc: Exception) -> "JSONResponse":
    exc = cast(DomainError, exc)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, UnauthorizedError) else None
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": "1"}
    return problem_response(exc.status, exc.detail, exc.extra, headers)


async def _request_validation(_request: "Request", exc: Exception) -> "JSONResponse":
    exc = cast("RequestValidationError", exc)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(HTTPStatus.BAD_REQUEST, "The request body is not valid JSON.")
    return problem_response(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "The request has invalid fields.",
        {"errors": validation_errors(errors)},
    )


async def _http_exception(_request: "Request", exc: Exception) -> "JSONResponse":
    exc = cast("StarletteHTTPException", exc)
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(exc.status_code, str(exc.detail), headers=headers)


async def _unexpected(_request: "Request", exc: Exception) -> "JSONResponse":
    """A bug: logged with its traceback, answered as a problem that names only the request."""
    log.error("unhandled error", exc_info=exc)
    return problem_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "Something went wrong on our side; the request id names it in the service log.",
    )


def install_problem_handlers(app: "FastAPI") -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
