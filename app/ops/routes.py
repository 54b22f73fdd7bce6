"""Liveness, readiness and Prometheus metrics."""

from http import HTTPStatus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.db import current_revision, head_revision
from app.deps import MetricsReader
from app.problems import problem_response

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive; says nothing of the database."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration."""
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = current_revision(connection)
    except SQLAlchemyError:
        return problem_response(HTTPStatus.SERVICE_UNAVAILABLE, "The database does not answer.")
    head = head_revision()
    if current != head:
        return problem_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            f"The database schema is at {current}, not {head}; run `honeytrace db upgrade`.",
        )
    return JSONResponse({"status": "ready", "schema": current})


@router.get("/metrics", response_class=Response)
def metrics(request: Request, _actor: MetricsReader) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
