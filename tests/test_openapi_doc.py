"""The OpenAPI document tells an integrator what each operation does and every error it can
answer: each operation described, its errors as problem+json (401/403 behind a key, 404 with
path parameters, 409 for writes, 413/422 with a body, 429 where rate-limited), the feed's
bodies and header documented, examples on the main request bodies, one paging envelope."""

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.main import ROUTERS, create_app
from app.problems import PROBLEM_JSON
from app.ratelimit import RateLimited
from app.settings import Settings

WRITES = {"post", "put", "patch", "delete"}
PULL = "/v1/links/{link_id}/feed/pull"
INTERLEAVE = "/v1/links/{link_id}/feed/interleave"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'doc.db'}",
        evidence_dir=str(tmp / "evidence"),
        index_path=str(tmp / "canaries.keys"),
    )
    return create_app(settings, jobs=False)


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _schema(document: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    name = reference["$ref"].rsplit("/", 1)[-1]
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


def test_every_operation_is_described(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 60
    bare = [f"{m.upper()} {p}" for p, m, op in operations if not op.get("description", "").strip()]
    assert bare == []


def test_every_operation_documents_the_errors_it_can_answer(document: dict[str, Any]) -> None:
    limited = {
        (method.lower(), route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        and any(d.dependency is RateLimited.dependency for d in route.dependencies)
        for method in route.methods or ()
    }
    assert len(limited) >= 3
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        expected = {"default"}
        if operation.get("security"):
            expected |= {"401", "403"}
        if "{" in path:
            expected.add("404")
        if method in WRITES:
            expected.add("409")
        if "requestBody" in operation:
            expected |= {"413", "422"}
        if operation.get("parameters"):
            expected.add("422")
        if (method, path) in limited:
            expected.add("429")
        missing = expected - set(responses)
        assert not missing, (method, path, missing)
        for code, response in responses.items():
            if code[0] in "45" or code == "default":
                content = response["content"]
                assert list(content) == [PROBLEM_JSON], (method, path, code)
                assert content[PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
    # FastAPI's own error shape, which the service never answers, is gone.
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_feed_routes_document_their_bodies_and_header(document: dict[str, Any]) -> None:
    pulled = document["paths"][PULL]["post"]["responses"]["200"]
    as_json = pulled["content"]["application/json"]["schema"]
    assert as_json != {}
    assert {"batch_id", "link_id", "records"} <= set(_schema(document, as_json)["properties"])
    assert "text/csv" in pulled["content"]
    header = pulled["headers"]["X-Batch-Id"]
    assert header["schema"] == {"type": "string", "format": "uuid"} and header["description"]

    interleave = document["paths"][INTERLEAVE]["post"]
    body = interleave["requestBody"]
    assert body["required"] is True and body["description"]
    assert set(body["content"]) == {"text/csv", "application/x-ndjson"}
    assert all(media.get("example") for media in body["content"].values())
    assert set(interleave["responses"]["200"]["content"]) == {"text/csv", "application/x-ndjson"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/links"),
        ("post", "/v1/links/{link_id}/canaries"),
        ("post", PULL),
        ("post", "/v1/feed/batches/{batch_id}/ack"),
        ("post", "/v1/keys"),
        ("post", "/v1/sightings"),
        ("post", "/v1/screen"),
    ],
)
def test_the_main_request_bodies_carry_examples(
    document: dict[str, Any], method: str, path: str
) -> None:
    body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
    examples = _schema(document, body["schema"]).get("examples")
    assert examples, (method, path)


@pytest.mark.parametrize("path", ["/v1/audit", "/v1/keys", "/v1/numbers", "/v1/sites"])
def test_lists_share_the_paging_envelope(document: dict[str, Any], path: str) -> None:
    operation = document["paths"][path]["get"]
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["$ref"].startswith("#/components/schemas/Page_")
    assert set(_schema(document, page)["required"]) == {"items", "total", "limit", "offset"}
    parameters = {p["name"] for p in operation["parameters"]}
    assert {"limit", "offset"} <= parameters
