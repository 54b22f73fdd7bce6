"""The API documentation pages work without internet: /docs and /redoc load Swagger UI and
ReDoc from the service itself (the fastapi-offline package ships the assets), and /docs
renders its operations in chromium with every request to anything but loopback refused
(the only such request is ReDoc's decorative vendor logo).

The browser test skips without chromium unless HONEYTRACE_REQUIRE_BROWSER=1.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Route, sync_playwright

from app.main import create_app
from app.settings import Settings
from tests.loopback import serving

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_REQUIRED = os.environ.get("HONEYTRACE_REQUIRE_BROWSER") == "1"
REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*'([^']+)'|spec-url=["']([^"']+)""")


@pytest.fixture
def docs_app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'docs.db'}",
        evidence_dir=str(tmp_path / "evidence"),
        index_path=str(tmp_path / "canaries.keys"),
    )
    return create_app(settings, jobs=False)


@pytest.fixture
def docs_client(docs_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(docs_app) as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_assets(docs_client: TestClient, page: str) -> None:
    answer = docs_client.get(page)
    assert answer.status_code == 200
    html = answer.text
    assert "http://" not in html and "https://" not in html, "a CDN URL in " + page
    references = {next(g for g in match if g) for match in REFERENCE.findall(html)}
    scripts = {r for r in references if r.endswith(".js")}
    assert scripts, f"{page} references no script"
    assert "/openapi.json" in references
    for reference in references:
        assert reference.startswith("/"), reference
        asset = docs_client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 0, reference
    # The scripts are the real bundles, not stubs.
    for script in scripts:
        assert len(docs_client.get(script).content) > 100_000, script


def test_docs_render_the_operations_with_only_loopback_reachable(docs_app: FastAPI) -> None:
    if not CHROMIUM.exists():
        message = f"chromium is not installed at {CHROMIUM}"
        if BROWSER_REQUIRED:
            pytest.fail(message + "; HONEYTRACE_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(message)
    refused: list[tuple[str, str]] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append((route.request.resource_type, route.request.url))
            route.abort()

    with serving(docs_app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.route("**/*", loopback_only)
            page.goto(base + "/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            assert any("/v1/links" in path for path in paths), paths[:5]
            assert len(paths) >= 30

            page.goto(base + "/redoc")
            page.wait_for_selector("[role=menuitem]", timeout=30_000)
            assert page.get_by_text("/v1/links").count() > 0
        finally:
            browser.close()
    # ReDoc's bundle shows its vendor's logo from the vendor's site; that image is the only
    # request for anything off the machine, and nothing the pages need to work.
    assert [url for kind, url in refused if kind != "image"] == [], refused
