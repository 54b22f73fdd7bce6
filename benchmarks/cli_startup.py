"""How long `honeytrace --help` takes to start, beside `python -c pass` in the same run
(goal: under 0.3 s). Commands are imported only when they run (app/cli.py), so --help pays
for Python, Typer and rich; `honeytrace links --help` is shown too, as a command that loads
the database stack.

Each line is the median of `--runs` fresh processes, wall-clock, run in turn so a busy
machine slows them alike.

Run: python benchmarks/cli_startup.py [--runs N]
"""

import argparse
import statistics
import subprocess
import sys
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


def _seconds(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    times: dict[str, list[float]] = {name: [] for name in CASES}
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


if __name__ == "__main__":
    main()
