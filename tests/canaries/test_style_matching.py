"""Canaries minted in a learned style are still found when they surface: spaces, full-width
digits, parentheses and repeated divisions in the street are what normalisation drops."""

import random
import uuid
from dataclasses import dataclass
from datetime import date

from canaries.couriers import Courier
from canaries.index import CanaryIndex, entry_of
from canaries.matching import Matcher
from canaries.mint import LinkProfile, Minter
from canaries.style import DivisionStyle, StyleProfile, address_line, mask_name

STYLE = StyleProfile(
    forms={
        "T R N C B栋 U M室": 0.3,
        "R N P（C": 0.2,
        "T V G组 N": 0.2,
        "I工业园 R N O有限公司": 0.3,
    },
    divisions=DivisionStyle(repeat=0.6, full_names=0.7, spaced=0.3),
    spaced=0.5,
    space_between=0.6,
    full_width_digits=0.3,
    mobile_prefixes={"139": 0.5, "186": 0.5},
    hours={9: 0.5, 15: 0.5},
)


@dataclass(frozen=True)
class Layout:
    delimiter: str | None
    fields: tuple[str | None, ...]


@dataclass(frozen=True)
class Block:
    member: str
    first_row: int
    text: str
    layout: Layout


def test_canaries_of_a_learned_style_are_found_as_their_feed_shows_them() -> None:
    profile = LinkProfile(
        Courier.YTO, area="330100", window=(date(2026, 10, 1), date(2026, 10, 31)), style=STYLE
    )
    canaries = Minter(profile, random.Random(4), control_share=0).mint(300)
    assert {c.mobile[:3] for c in canaries} <= {"139", "186"}
    assert {c.created_at.hour for c in canaries} <= {9, 15}
    assert any(" " in c.address for c in canaries) and any("（" in c.address for c in canaries)
    index = CanaryIndex()
    ids = [uuid.UUID(int=i + 1) for i in range(len(canaries))]
    index.add(entry_of(c, i) for c, i in zip(canaries, ids, strict=True))
    index.merge()
    matcher = Matcher(index)
    layout = Layout(",", ("name", "mobile", "province", "city", "district", "address"))
    missed = []
    for canary, canary_id in zip(canaries, ids, strict=True):
        line = address_line(
            (canary.province, canary.city, canary.district),
            canary.address,
            STYLE,
            canary.waybill_no,
        )
        row = ",".join(
            (mask_name(canary.name, "middle"), canary.mobile, canary.province, canary.city,
             canary.district, line)
        )  # fmt: skip
        found = matcher.scan(Block("", 1, row, layout))
        if not any(m.match.canary.id == canary_id.bytes for m in found):
            missed.append(row)
    assert missed == []
