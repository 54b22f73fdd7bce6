"""What the image is built from: the wheel carries the division table and the migrations,
every module the product imports is a declared dependency, and the lock file the Dockerfile
installs pins every one of them."""

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT


def test_wheel_contains_data_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("honeytrace-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "canaries/data/gbt2260.tsv",
        "migrations/env.py",
        "migrations/script.py.mako",
        "app/main.py",
        "watchers/__init__.py",
        "attribution/model.py",
    }
    assert expected <= names
    versions = {n for n in names if n.startswith("migrations/versions/") and n.endswith(".py")}
    on_disk = {f"migrations/versions/{p.name}" for p in (ROOT / "migrations/versions").glob("*.py")}
    assert versions == on_disk
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "honeytrace = app.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


PRODUCT = ("app", "canaries", "watchers", "attribution", "migrations")
LOCK = ROOT / "requirements.lock"


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def _imported_top_levels() -> dict[str, str]:
    """Each top-level module the shipped code imports (anywhere, even inside a function),
    with one file that imports it."""
    found: dict[str, str] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.partition(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_module_the_product_imports_comes_from_a_declared_dependency() -> None:
    declared = {canonicalize_name(r.name) for r in _declared()}
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, where in _imported_top_levels().items():
        if module in sys.stdlib_module_names or module in PRODUCT:
            continue
        owners = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert owners, f"{module} (imported in {where}) comes from no installed distribution"
        if not owners & declared:
            undeclared[module] = (where, sorted(owners))
    assert undeclared == {}


def test_no_runtime_dependency_is_left_unimported() -> None:
    """A runtime dependency is imported by the product, or is an extra a declared one needs
    (uvicorn's server stack, psycopg's driver, the zone database): `faker`, imported by
    nothing, is not shipped."""
    distributions = importlib.metadata.packages_distributions()
    imported = {
        canonicalize_name(d)
        for module in _imported_top_levels()
        for d in distributions.get(module, [])
    }
    unimported = {canonicalize_name(r.name) for r in _declared()} - imported
    assert unimported == {"tzdata", "python-multipart"}
    assert "faker" not in {canonicalize_name(r.name) for r in _declared()}
