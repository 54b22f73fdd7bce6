"""Liveness, readiness and Prometheus metrics."""

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.auth.deps import MetricsReader
from app.db import current_revision, head_revision
from app.problems import problem_response
from app.resources import DatabaseDep, resource

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive; says nothing of the database."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
def readyz(database: DatabaseDep) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration."""
    try:
        with database.engine.connect() as connection:
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
def metrics(
    registry: Annotated[CollectorRegistry, Depends(resource(CollectorRegistry))],
    _actor: MetricsReader,
) -> Response:
    """The service's Prometheus metrics (requests, latencies, intake and job counters) in the text
    exposition format."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
