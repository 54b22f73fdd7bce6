"""How long `honeytrace --help` takes to start, beside `python -c pass` in the same run
(goal: under 0.3 s). Commands are imported only when they run (app/cli.py), so --help pays
for Python, Typer and rich; `honeytrace links --help` is shown too, as a command that loads
the database stack.

Each line is the median of `--runs` fresh processes, wall-clock, run in turn so a busy
machine slows them alike. The processes share a bytecode cache of their own (in a temporary
directory, warmed by one unmeasured run of each), as an installed package has its modules
compiled, even where PYTHONDONTWRITEBYTECODE is set: without it every run compiles the
project's modules again (about 0.1 s of a scan).

With `--scan-canaries N` it also times `honeytrace scan` of a one-row file against a fresh
SQLite database holding N minted canaries (issue 17's goal: under 1 s at 30,000, under 2 s at
1,000,000), the key table already written (by the mints, or else by one unmeasured scan),
beside what no scan can start without: importing the libraries it runs on (SQLModel and
SQLAlchemy, Polars, Typer, pydantic-settings) in a bare process.

Run: python benchmarks/cli_startup.py [--runs N] [--scan-canaries N ...] [--keep DIR]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 0.3

CASES = {
    "python -c pass (yardstick)": ["-c", "pass"],
    "honeytrace --help": ["-m", "app.cli", "--help"],
    "honeytrace --version": ["-m", "app.cli", "--version"],
    "honeytrace links --help": ["-m", "app.cli", "links", "--help"],
}


MINT_CHUNK = 100_000  # the most `honeytrace mint` takes at once


LIBRARIES = ["-c", "import sqlmodel, polars, typer, pydantic_settings"]
_BYTECODE = tempfile.TemporaryDirectory(prefix="cli-startup-pyc-")


def _compiled(env: dict[str, str] | None) -> dict[str, str]:
    """`env` (else this process's) with the shared bytecode cache (see the module)."""
    given = dict(os.environ if env is None else env)
    given.pop("PYTHONDONTWRITEBYTECODE", None)
    return given | {"PYTHONPYCACHEPREFIX": _BYTECODE.name}


def _seconds(args: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *args], cwd=ROOT, check=True, capture_output=True, env=_compiled(env)
    )
    return time.perf_counter() - started


def _world_env(folder: Path) -> dict[str, str]:
    return os.environ | {
        "HONEYTRACE_ENVIRONMENT": "development",
        "HONEYTRACE_DATABASE_URL": f"sqlite:///{folder / 'honeytrace.db'}",
        "HONEYTRACE_EVIDENCE_DIR": str(folder / "evidence"),
    }


def _scan_world(folder: Path, canaries: int) -> tuple[dict[str, str], Path]:
    """A SQLite database with `canaries` minted at one outlet, and a one-row leaked file."""
    env = _world_env(folder)
    cli = [sys.executable, "-m", "app.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*cli, "links", "add", "--name", "基准网点", "--kind", "outlet", "--region", "330106",
         "--courier", "zto"], env=env, check=True, capture_output=True,
    )  # fmt: skip
    left = canaries
    while left:
        count = min(left, MINT_CHUNK)
        subprocess.run(
            [*cli, "mint", "--link", "基准网点", "--count", str(count)],
            env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        left -= count
    leaked = folder / "one-row.csv"
    leaked.write_text("运单号,收件人,电话,地址\nZT0000000000001,王*,138****0000,浙江省杭州市\n")
    return env, leaked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--scan-canaries", type=int, nargs="*", default=[])
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep each scan's database in DIR/scan-world-N and reuse it in later runs "
        "(minting a million canaries takes about 12 minutes)",
    )
    arguments = parser.parse_args()
    runs = arguments.runs
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for args in CASES.values():
        _seconds(args)  # compiles the bytecode
    for _ in range(runs):
        for name, args in CASES.items():
            times[name].append(_seconds(args))
    yardstick = statistics.median(times["python -c pass (yardstick)"])
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"{name:<28} {median * 1000:7.0f} ms  ({median / yardstick:5.1f}x python -c pass)")
    helped = statistics.median(times["honeytrace --help"])
    verdict = "meets" if helped < GOAL_SECONDS else "misses"
    print(f"honeytrace --help {verdict} the {GOAL_SECONDS * 1000:.0f} ms goal")
    for canaries in arguments.scan_canaries:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            if arguments.keep is not None:
                folder = arguments.keep / f"scan-world-{canaries}"
            started = time.perf_counter()
            if (folder / "one-row.csv").exists():
                env, leaked = _world_env(folder), folder / "one-row.csv"
                minted = "kept from an earlier run"
            else:
                folder.mkdir(parents=True, exist_ok=True)
                env, leaked = _scan_world(folder, canaries)
                minted = f"minting them took {time.perf_counter() - started:.0f} s"
            scan = ["-m", "app.cli", "scan", str(leaked)]
            _seconds(scan, env)  # the bytecode of what a scan imports (and the first refresh)
            scans, pause, floor = [], [], []
            for _ in range(max(3, runs // 3)):
                scans.append(_seconds(scan, env))
                pause.append(_seconds(["-c", "pass"]))
                floor.append(_seconds(LIBRARIES))
        median = statistics.median(scans)
        print(
            f"honeytrace scan, one row, {canaries:,} canaries stored: {median * 1000:7.0f} ms "
            f"({median / statistics.median(pause):5.1f}x python -c pass, "
            f"{statistics.median(pause) * 1000:.0f} ms; its libraries alone "
            f"{statistics.median(floor) * 1000:.0f} ms; {minted})"
        )


if __name__ == "__main__":
    main()
