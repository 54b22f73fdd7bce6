"""Canaries minted per second on one core (goal: at least 5,000/s).

Run: python benchmarks/mint_rate.py [count]
"""

import random
import sys
import time
from datetime import date

from canaries.couriers import Courier
from canaries.mint import LinkProfile, Minter

WINDOW = (date(2025, 1, 1), date(2025, 1, 31))


def rate(minter: Minter, count: int) -> float:
    start = time.perf_counter()
    minter.mint(count)
    return count / (time.perf_counter() - start)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    start = time.perf_counter()
    Minter(LinkProfile(Courier.ZTO, window=WINDOW), random.Random(0)).mint(1)
    print(f"warm-up (division table, phone segment index): {time.perf_counter() - start:.2f} s")
    cases = [
        ("national, seeded Random", None, random.Random(1)),
        ("national, SystemRandom", None, random.SystemRandom()),
        ("one district, SystemRandom", "330106", random.SystemRandom()),
    ]
    for label, area, rng in cases:
        minter = Minter(LinkProfile(Courier.SF, area=area, window=WINDOW), rng)
        print(f"{label:28} {rate(minter, count):>10,.0f} canaries/s ({count:,} minted)")


if __name__ == "__main__":
    main()
