"""The realism audit against references built from public place names (no real export may
live here): canaries minted nationally and for one outlet, masked as the reference is.

    python -m benchmarks.realism_audit package/dist

Three references from `benchmarks.public_reference`, each 6,000 records and drawn with seeds
the default style was not learned from: national, one outlet (杭州西湖区), and the same
outlet's records with a style of their own learned from a separate 3,000-record sample of
that outlet (the `PUT /style-sample` path). Prints the naive Bayes AUCs of
`canaries.realism.classifier_auc`, overall and per feature group.
"""

import io
import random
import sys
from datetime import date, datetime
from pathlib import Path

from benchmarks.public_reference import export
from canaries.couriers import Courier
from canaries.items import CHINA_STANDARD_TIME
from canaries.mint import LinkProfile, Minter
from canaries.realism import BUYER_VISIBLE, classifier_auc
from canaries.reference import read_reference, style_of

TODAY = date(2026, 11, 30)
SIZE = 6_000


def _row(label: str, report_auc: float, groups: dict[str, float]) -> str:
    names = (BUYER_VISIBLE, "name", "mobile_prefix", "address_length", "address_tokens")
    cells = [f"{groups.get(g, float('nan')):.3f}" for g in names]
    return f"| {label} | {report_auc:.3f} | " + " | ".join(cells) + " |"


def main(dist: Path) -> None:
    now = datetime.combine(TODAY, datetime.max.time(), tzinfo=CHINA_STANDARD_TIME)
    print("| canaries vs reference | every field | buyer-visible | name | mobile prefix |"
          " address length | address tokens |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    cases: list[tuple[str, str | None, bool]] = [
        ("national, default style", None, False),
        ("outlet 330106, default style", "330106", False),
        ("outlet 330106, learned style", "330106", True),
    ]
    future = 0
    for label, area, learn in cases:
        reference = list(read_reference(io.BytesIO(export(dist, SIZE, 101, area, TODAY))))
        style = style_of(io.BytesIO(export(dist, 3_000, 202, area, TODAY))) if learn else None
        profile = LinkProfile(Courier.ZTO, area=area, style=style)
        canaries = Minter(profile, random.Random(7), clock=lambda: now).mint(SIZE)
        future += sum(c.created_at > now for c in canaries)
        report = classifier_auc(canaries, reference)
        print(_row(label, report.auc, report.group_aucs))
        top = ", ".join(f"{k} {v:.3f}" for k, v in list(report.feature_aucs.items())[:6])
        print(f"|   top features: {top} | | | | | | |", file=sys.stderr)
    print(f"\nfuture-dated canaries: {future} of {SIZE * len(cases)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
