"""The outermost layer of every request: request id, body limit, access log, metrics, and the
last-resort 500 problem (which must know the request id, so it lives here)."""

import logging
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from http import HTTPStatus

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.problems import PayloadTooLargeError, problem_response
from app.request_context import reset_request_id, set_request_id

log = logging.getLogger("honeytrace.http")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "honeytrace_http_requests_total",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "honeytrace_http_request_duration_seconds",
            "Time to serve an HTTP request",
            ["method", "route"],
            registry=registry,
        )


class _BodyTooLargeError(BaseException):
    """Raised from `receive` when a body grows past its limit. Not an Exception: FastAPI
    turns any Exception raised while it reads a body into 400 (unparseable), and this must
    reach the middleware as what it is, a 413."""


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics,
        max_body_bytes: int,
        upload_limits: Mapping[str, int],
        pattern_limits: Sequence[tuple[re.Pattern[str], int]] = (),
        streaming_path: re.Pattern[str] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # Upload routes take files larger than a JSON body: each path has its own limit
        # (by pattern for paths with a parameter in them).
        self.upload_limits = upload_limits
        self.pattern_limits = pattern_limits
        # Feeds streamed through honeytrace may be any size: memory stays flat regardless.
        self.streaming_path = streaming_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _CLIENT_REQUEST_ID.match(given) else secrets.token_hex(8)
        token = set_request_id(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        limit: float = self.upload_limits.get(scope["path"], self.max_body_bytes)
        for pattern, bytes_allowed in self.pattern_limits:
            if pattern.match(scope["path"]):
                limit = bytes_allowed
        if self.streaming_path is not None and self.streaming_path.match(scope["path"]):
            limit = float("inf")

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLargeError
            return message

        try:
            declared = _header(scope, b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _BodyTooLargeError
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLargeError:
            if not response_started:
                error = PayloadTooLargeError(
                    f"The request body is over the limit of {limit} bytes."
                )
                await problem_response(error.status, error.detail)(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error")
            if not response_started:
                response = problem_response(
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    "An internal error occurred; quote the request id when reporting it.",
                )
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_path = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route_path, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route_path).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            reset_request_id(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None
