"""The one-way doors: the pure libraries never import app/, and app/ is built in layers.

attribution/, canaries/ and watchers/ are pure (no app, no web framework, no database). In
app/, every package sits on a layer (LAYERS, bottom first, as the README's layout states):
a module imports only from its own package or from packages on lower layers, so no import
runs back up and no two packages import each other. Imports inside functions count too.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

FORBIDDEN = {"app", "fastapi", "sqlmodel", "sqlalchemy", "alembic", "starlette"}

# Bottom first. Packages on one layer do not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("attribution", "canaries"),  # pure libraries: the leak model; minting and matching
    ("watchers",),  # pure: the outside world as observations
    ("app.request_context", "app.csvsafe", "app.text", "app.localtime"),
    ("app.problems", "app.paging"),  # errors as problem documents; the paging envelope
    ("app.settings",),
    ("app.db", "app.queueing"),  # sessions and units of work; job queues
    ("app.resources",),  # typed lifespan resources for routes, and their aliases
    ("app.console",),  # what every CLI command shares
    ("app.models",),  # the schema
    # keys, actors, permission guards; ids as typed in the CLI; the canary key table; the
    # life cycle of the jobs whose rows report progress (scans, big mints)
    ("app.auth", "app.identifiers", "app.canary_index", "app.progress_jobs"),
    ("app.evidence",),  # the evidence chain, which the audit log is appended to
    ("app.audit", "app.ops", "app.ratelimit", "app.sightings", "app.coverage"),
    ("app.links", "app.keys", "app.alerts"),
    ("app.numbers",),
    ("app.planting",),
    ("app.incidents",),
    ("app.intake",),  # the one way in
    ("app.scans", "app.reports", "app.screening", "app.telephony", "app.sites", "app.web"),
    ("app.jobs", "app.openapi"),  # the job table, naming every domain's jobs; the API document
    ("app.main",),
    ("app.demo",),
    ("app.cli", "app.serve"),  # the command registry; serve and db upgrade
)


def _imported(path: Path) -> Iterator[str]:
    """Every module `path` imports, at any depth of its code, as dotted names."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def _imported_roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imported(path)}


def _module(path: Path) -> str:
    """The dotted name of a module of the repository."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _place(module: str) -> tuple[int, str] | None:
    """(layer, package) of a module of ours, by its longest listed prefix."""
    best: tuple[int, str] | None = None
    for layer, packages in enumerate(LAYERS):
        for package in packages:
            ours = module == package or module.startswith(package + ".")
            if ours and (best is None or len(package) > len(best[1])):
                best = (layer, package)
    return best


def _violations(modules: list[tuple[str, Path]]) -> list[str]:
    found = []
    for module, path in modules:
        mine = _place(module)
        assert mine is not None, f"{module} is on no layer: add it to LAYERS"
        for name in _imported(path):
            theirs = _place(name)
            if theirs is None or theirs[1] == mine[1]:
                continue
            if theirs[0] >= mine[0]:
                found.append(f"{module} (layer {mine[0]}) imports {name} (layer {theirs[0]})")
    return found


@pytest.mark.parametrize("package", ["attribution", "canaries", "watchers"])
def test_pure_packages_import_neither_app_nor_storage(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    offenders = {
        str(f.relative_to(ROOT)): sorted(_imported_roots(f) & FORBIDDEN)
        for f in files
        if _imported_roots(f) & FORBIDDEN
    }
    assert offenders == {}


def test_app_imports_only_from_its_own_package_or_below() -> None:
    files = [*(ROOT / "app").rglob("*.py"), *(ROOT / "watchers").rglob("*.py")]
    assert len(files) > 100
    modules = [(_module(f), f) for f in sorted(files) if _module(f) != "app"]  # app/__init__
    assert _violations(modules) == []


def test_the_checks_see_an_import_of_app_and_an_import_running_back_up(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("from app.db import make_engine\nimport sqlalchemy.orm\n")
    assert _imported_roots(sample) & FORBIDDEN == {"app", "sqlalchemy"}

    upward, sideways = tmp_path / "upward.py", tmp_path / "sideways.py"
    upward.write_text("def late() -> None:\n    from app.intake.pipeline import Intake\n")
    sideways.write_text("from app.alerts.service import notify\n")
    probes = [("app.models.upward", upward), ("app.links.sideways", sideways)]
    assert _violations(probes) == [
        "app.models.upward (layer 8) imports app.intake.pipeline (layer 16)",
        "app.links.sideways (layer 12) imports app.alerts.service (layer 12)",
    ]
