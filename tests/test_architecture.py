"""The one-way doors: attribution/, canaries/ and watchers/ are pure and never import app/."""

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

FORBIDDEN = {"app", "fastapi", "sqlmodel", "sqlalchemy", "alembic", "starlette"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


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


def test_the_check_sees_an_import_of_app(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("from app.db import make_engine\nimport sqlalchemy.orm\n")
    assert _imported_roots(sample) & FORBIDDEN == {"app", "sqlalchemy"}
