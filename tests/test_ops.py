"""Health, readiness, metrics, request ids, JSON logs, and no stack trace to a client."""

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.db import Database, make_engine
from app.main import create_app
from app.models.keys import Role
from app.ops.logs import JsonFormatter
from app.settings import Settings
from tests.conftest import KeyFactory, bearer, secret_part


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    yield engine
    engine.dispose()


def test_not_ready_before_migrations(empty_engine: Engine) -> None:
    settings = Settings(database_url=str(empty_engine.url))
    with TestClient(create_app(settings, Database(empty_engine))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "honeytrace db upgrade" in response.json()["detail"]


def test_not_ready_when_the_database_does_not_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    engine = make_engine(url)
    with TestClient(create_app(Settings(database_url=url), Database(engine))) as client:
        response = client.get("/readyz")
    assert (
        response.status_code == 503 and response.json()["detail"] == "The database does not answer."
    )


def test_metrics_count_requests_by_route(client: TestClient, make_key: KeyFactory) -> None:
    key = bearer(make_key(Role.INTEGRATION))
    client.get("/healthz")
    body = client.get("/metrics", headers=key).text
    assert 'honeytrace_http_requests_total{method="GET",route="/healthz",status="200"}' in body
    assert "honeytrace_http_request_duration_seconds_bucket" in body


def test_request_id_is_echoed_and_quoted_in_problems(client: TestClient) -> None:
    response = client.get("/v1/links", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"
    generated = client.get("/v1/links", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"
    assert len(generated.headers["x-request-id"]) == 16


def test_unhandled_errors_give_a_problem_without_a_stack_trace(app: FastAPI) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    app.add_api_route("/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/explode")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_logs_are_json_with_request_id_and_no_key(client: TestClient, make_key: KeyFactory) -> None:
    key = make_key(Role.ADMIN)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("honeytrace.http")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        client.get("/v1/links?secret=ignored", headers={**bearer(key), "X-Request-ID": "r-1"})
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    entry = next(e for e in lines if e["msg"] == "request")
    assert entry["request_id"] == "r-1" and entry["status"] == 200
    assert entry["path"] == "/v1/links" and entry["duration_ms"] >= 0
    assert key not in stream.getvalue() and secret_part(key) not in stream.getvalue()
    assert "ignored" not in stream.getvalue()
