"""What the image is built from: the wheel carries the division table and the migrations,
every module the product imports is a declared dependency, and the lock file the Dockerfile
installs pins every one of them."""

import ast
import importlib.metadata
import json
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
        "app/web/locale/zh/LC_MESSAGES/messages.po",
        "app/web/locale/en/LC_MESSAGES/messages.po",
        "app/web/templates/dashboard.html",
        "attribution/locale/zh/LC_MESSAGES/attribution.po",
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


def _locked() -> dict[str, list[Requirement]]:
    """The lock file's pins by name (a name may have one pin per marker)."""
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, list[Requirement]] = {}
    for line in text.splitlines():
        line = line.partition("#")[0].strip()
        if not line:
            continue
        spec, _, hashes = line.partition(" --hash=")
        assert hashes.startswith("sha256:"), f"no hash for {spec}"
        pin = Requirement(spec)
        (clause,) = pin.specifier
        assert clause.operator == "==", f"{spec} is not pinned with =="
        pins.setdefault(canonicalize_name(pin.name), []).append(pin)
    return pins


def _closure(requirements: list[Requirement]) -> set[str]:
    """The distributions these requirements pull in here (extras followed), from the
    installed metadata."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for line in importlib.metadata.requires(name) or []:
            needed = Requirement(line)
            wanted = needed.marker is None or any(
                needed.marker.evaluate({"extra": extra}) for extra in {"", *extras}
            )
            if wanted:
                todo.append((needed, frozenset(needed.extras)))
    return {key.partition("[")[0] for key in seen}


def test_the_lock_file_pins_every_declared_dependency_within_its_range() -> None:
    locked = _locked()
    for requirement in _declared():
        pins = locked.get(canonicalize_name(requirement.name))
        assert pins, f"{requirement.name} is declared but not in requirements.lock"
        for pin in pins:
            (clause,) = pin.specifier
            assert requirement.specifier.contains(clause.version, prereleases=True), (
                f"requirements.lock pins {pin} outside pyproject.toml's {requirement}"
            )


def test_the_lock_file_holds_everything_the_declared_dependencies_pull_in() -> None:
    """Extras included (uvicorn[standard], psycopg[binary]): an image installed from the lock
    alone, the project with --no-deps, lacks nothing."""
    missing = _closure(_declared()) - set(_locked())
    assert missing == set()


def healthcheck() -> list[str]:
    """The Dockerfile's HEALTHCHECK command (tests/test_production.py runs it)."""
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    (line,) = [line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK")]
    command: list[str] = json.loads(line.partition(" CMD ")[2])
    return command


def test_the_image_installs_the_lock_file_and_checks_readiness() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "--no-deps ." in dockerfile
    assert "/readyz" in " ".join(healthcheck())
