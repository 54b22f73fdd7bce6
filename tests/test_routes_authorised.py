"""Every route in the OpenAPI schema refuses a missing key and a role that lacks its permission."""

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.auth.deps import PermissionGuard
from app.auth.permissions import roles_with
from app.main import ROUTERS
from app.models.keys import Role
from tests.conftest import KeyFactory, bearer

# Webhooks carry no API key: each checks its provider's signature (tests/test_telephony.py).
SIGNED = "/v1/webhooks/"
PUBLIC = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _guard(route: APIRoute) -> PermissionGuard | None:
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, PermissionGuard):
            return dependant.call
        pending.extend(dependant.dependencies)
    return None


def _operations(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    schema_paths: dict[str, Any] = app.openapi()["paths"]
    operations = []
    routes = [route for router in ROUTERS for route in router.routes]
    for route in routes:
        if not isinstance(route, APIRoute) or route.path in PUBLIC:
            continue
        if route.path.startswith(SIGNED):
            continue
        for method in sorted(route.methods or ()):
            assert method.lower() in schema_paths[route.path], (route.path, method)
            operations.append((method, route.path, route))
    covered = {(m.lower(), p) for m, p, _ in operations}
    for path, item in schema_paths.items():
        for method in item:
            walked = path in PUBLIC or path.startswith(SIGNED) or (method, path) in covered
            assert walked, f"{method} {path} not walked"
    return operations


def _concrete(path: str) -> str:
    return path.replace("{link_id}", str(uuid.uuid4())).replace("{key_id}", str(uuid.uuid4()))


def test_every_route_refuses_a_missing_key_and_a_wrong_role(
    app: FastAPI, client: TestClient, make_key: KeyFactory
) -> None:
    operations = _operations(app)
    assert len(operations) >= 12
    keys = {role: make_key(role) for role in Role if role is not Role.PARTNER}
    for method, path, route in operations:
        guard = _guard(route)
        assert guard is not None, f"{method} {path} has no permission guard"
        url = _concrete(path)

        missing = client.request(method, url)
        assert missing.status_code == 401, (method, path, missing.text)
        assert missing.headers["content-type"] == "application/problem+json"

        forged = client.request(method, url, headers=bearer("ht_aaaaaaaaaaaa_" + "x" * 43))
        assert forged.status_code == 401, (method, path)

        refused = [r for r in keys if r not in roles_with(guard.permission)]
        assert refused, f"{method} {path}: every role may call it; give it a narrower permission"
        for role in refused:
            response = client.request(method, url, headers=bearer(keys[role]))
            assert response.status_code == 403, (method, path, role, response.text)


@pytest.mark.parametrize("path", sorted(PUBLIC - {"/docs/oauth2-redirect"}))
def test_public_routes_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200
