"""The wheel (what the Dockerfile installs) carries the division table and the migrations."""

import subprocess
import sys
import zipfile
from pathlib import Path

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
