"""Matching: normalisation, agreement levels, the index, and canaries found in leaked text.

The round trip renders minted canaries the ways leaked lists show them (masked, cut,
re-encoded digits, other columns, free text) and requires each to be found whenever two
identifying fields (waybill number, mobile, full name of 3+ characters, full street) show.
The no-false-match test runs a million rows of strangers, some sharing a canary's name or
masked mobile, and requires zero matches.
"""

import random
import uuid
from dataclasses import dataclass, replace
from datetime import date

import pytest

from canaries.couriers import Courier
from canaries.index import CanaryIndex, entry_of
from canaries.matching import Matcher, RowMatch
from canaries.mint import LinkProfile, MintedCanary, Minter, MobilePool
from canaries.mobiles import MobileAgreement, MobileForm, compare_mobiles, normalise_mobile
from canaries.names import NameAgreement, compare_names, name_pattern
from canaries.places import parse_address, place_agreement
from canaries.scoring import THRESHOLD_BITS, Observed, score
from canaries.waybills import normalise_waybill

WINDOW = (date(2026, 10, 1), date(2026, 10, 31))
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


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


FREE = Layout(None, ())


def _mint(seed: int, count: int, courier: Courier = Courier.ZTO) -> list[MintedCanary]:
    profile = LinkProfile(courier, window=WINDOW)
    return Minter(profile, random.Random(seed), control_share=0).mint(count)


def _index(canaries: list[MintedCanary]) -> tuple[CanaryIndex, dict[bytes, MintedCanary]]:
    index = CanaryIndex()
    ids = [uuid.UUID(int=random.Random(i).getrandbits(128)) for i in range(len(canaries))]
    index.add(entry_of(c, i) for c, i in zip(canaries, ids, strict=True))
    index.merge()
    return index, {i.bytes: c for c, i in zip(canaries, ids, strict=True)}


# -- normalisation and agreement levels ----------------------------------------------------


def test_mobiles_normalise_from_the_ways_lists_write_them() -> None:
    assert normalise_mobile("+86 138-0013-8000") == "13800138000"
    assert normalise_mobile("0086 13800138000") == "13800138000"
    assert normalise_mobile("１３８＊＊＊＊８０００") == "138****8000"
    assert normalise_mobile("138xxxx8000") == "138****8000"
    assert normalise_mobile("17012345678-1234") == "17012345678转1234"


def test_mobile_agreement_levels() -> None:
    number = "13812345678"
    assert compare_mobiles("13812345678", number, number) is MobileAgreement.FULL
    assert compare_mobiles("138****5678", "138****5678", number) is MobileAgreement.MASKED
    # The right prefix and last four around another middle: a stranger's number.
    assert compare_mobiles("13899995678", "138****5678", number) is MobileAgreement.DISAGREE
    assert compare_mobiles("139****5678", "138****5678", number) is MobileAgreement.DISAGREE
    assert compare_mobiles("*******5678", "138****5678", number) is MobileAgreement.LAST_FOUR
    assert compare_mobiles("5678", "138****5678", number) is None
    # A privacy number is shared; without its extension it agrees only as far as a mask.
    privacy = "17012345678转1234"
    assert compare_mobiles("17012345678", privacy, "17012345678") is MobileAgreement.MASKED
    assert compare_mobiles(privacy, privacy, "17012345678") is MobileAgreement.FULL
    assert compare_mobiles("17012345678转9999", privacy, "17012345678") is (
        MobileAgreement.DISAGREE
    )


def test_name_patterns_and_agreement_levels() -> None:
    assert name_pattern("肖＊辉") == "肖*辉"
    assert name_pattern("李 **") == "李**"
    assert name_pattern("***") is None
    assert name_pattern("Zhang Wei") is None
    assert compare_names("肖建辉", "肖建辉") is NameAgreement.EXACT
    assert compare_names("肖*辉", "肖建辉") is NameAgreement.MASKED
    assert compare_names("肖**辉", "肖建辉") is NameAgreement.MASKED
    assert compare_names("肖*", "肖建辉") is NameAgreement.PARTIAL
    assert compare_names("李*辉", "肖建辉") is NameAgreement.DISAGREE
    assert compare_names("肖*华", "肖建辉") is NameAgreement.DISAGREE
    # Heard on a call and written down by ear: same pinyin, other characters.
    assert compare_names("萧建辉", "肖建辉") is NameAgreement.HOMOPHONE
    assert compare_names("王建国", "肖建辉") is NameAgreement.DISAGREE


def test_waybills_normalise_width_spaces_and_jd_parcel_suffixes() -> None:
    assert normalise_waybill(" sf 1234 5678 9012 ") == "SF123456789012"
    assert normalise_waybill("JDVA00012345678-1-5-") == "JDVA00012345678"
    assert normalise_waybill("７８４４６８４４６９４３４４") == "78446844694344"


def test_addresses_read_full_and_short_division_names() -> None:
    parsed = parse_address("广西南宁市青秀区民族大道100号***")
    assert parsed.place.county == "450103"
    assert parsed.street == "民族大道100号" and parsed.cut
    parsed = parse_address("内蒙古呼和浩特市新城区新华大街1号")
    assert parsed.place.prefecture == "150100" and parsed.place.county == "150102"
    assert not parsed.cut
    # Columns for the divisions and a street that repeats them.
    parsed = parse_address("浙江省杭州市西湖区文三路90号", "浙江", "杭州市", "西湖区")
    assert parsed.place.county == "330106" and parsed.street == "文三路90号"
    assert place_agreement(parsed.place, "330106") is not None
    assert place_agreement(parsed.place, "330102") is False


def test_a_masked_mobile_and_common_name_alone_stay_below_the_threshold() -> None:
    index, _ = _index(_mint(1, 50))
    canary = index.candidates(Observed(waybill_no=_mint(1, 50)[3].waybill_no))[0]
    surname = canary.name[0]
    weak = Observed(
        mobile=canary.mobile[:3] + "****" + canary.mobile_number[7:], name=surname + "*"
    )
    assert score(weak, canary).score < THRESHOLD_BITS
    strong = Observed(waybill_no=canary.waybill_no, name=surname + "*")
    match = score(strong, canary)
    assert match.score >= THRESHOLD_BITS
    assert match.explanation()["waybill_no"]["level"] == "exact"
    assert match.explanation()["name"]["level"] == "partial"


# -- the index -----------------------------------------------------------------------------


def test_the_index_adds_once_removes_and_reports_its_size() -> None:
    canaries = _mint(2, 300)
    index, by_id = _index(canaries)
    assert len(index) == 300
    some_id = uuid.UUID(bytes=next(iter(by_id)))
    assert some_id in index
    assert index.add([entry_of(by_id[some_id.bytes], some_id)]) == 0
    assert index.remove([some_id]) == 1
    assert some_id not in index and len(index) == 299
    waybill = normalise_waybill(by_id[some_id.bytes].waybill_no)
    assert index.candidates(Observed(waybill_no=waybill)) == []
    assert 0 < index.nbytes() / len(index) < 2000


# -- the round trip ------------------------------------------------------------------------


def _masked_name(rng: random.Random, name: str) -> str:
    if len(name) >= 3:
        return rng.choice([name[0] + "*" + name[-1], name[0] + "*" * (len(name) - 1), name])
    return rng.choice([name[0] + "*", name])


def _address(rng: random.Random, c: MintedCanary, cut: bool) -> str:
    head = rng.choice([c.province + c.city + c.district, c.city + c.district])
    if not cut:
        return head + c.address
    keep = rng.randint(6, max(6, len(c.address) - 1))
    return head + c.address[:keep] + "***"


def _rows(rng: random.Random, c: MintedCanary) -> list[tuple[str, Layout, str]]:
    """(text, layout, how) for each way a list shows this canary with 2+ identifying fields."""
    mobile = c.mobile
    name = c.name
    rows = [
        (
            ",".join((_masked_name(rng, name), mobile, _address(rng, c, True), c.waybill_no)),
            Layout(",", ("name", "mobile", "address", "waybill_no")),
            "masked csv",
        ),
        (
            "\t".join(
                (
                    c.waybill_no.translate(FULL_WIDTH),
                    c.province,
                    c.city,
                    c.district,
                    c.address[:6] + "**",
                    mobile[:3] + " " + mobile[3:7] + " " + mobile[7:],
                )
            ),
            Layout("\t", ("waybill_no", "province", "city", "district", "address", "mobile")),
            "full-width tsv",
        ),
        (
            '"' + '","'.join((_masked_name(rng, name), mobile, c.waybill_no)) + '"',
            Layout(",", ("name", "mobile", "waybill_no")),
            "every cell quoted",
        ),
        (
            f'{mobile},"{_address(rng, c, True)}, 门口",{c.waybill_no}',
            Layout(",", ("mobile", "address", "waybill_no")),
            "a delimiter inside a quoted cell",
        ),
        (
            "----".join((c.waybill_no, _masked_name(rng, name))),
            Layout("----", ("waybill_no", "name")),
            "waybill and a masked name",
        ),
        (
            f"出售新鲜快递单 {_masked_name(rng, name)} {mobile} {_address(rng, c, False)} "
            f"单号{c.waybill_no} 0.3元/条",
            FREE,
            "listing text",
        ),
    ]
    if len(name) >= 3:
        rows.append(
            (
                ",".join((name, _address(rng, c, False))),
                Layout(",", ("name", "address")),
                "full name and full street",
            )
        )
        rows.append((f"您好{name}，您的快递到了{_address(rng, c, False)}", FREE, "sms"))
    return rows


@pytest.mark.parametrize("seed", range(8))
def test_every_canary_rendered_as_leaked_is_found(seed: int) -> None:
    courier = list(Courier)[seed % len(Courier)]
    canaries = _mint(seed, 150, courier)
    decoys = _mint(seed + 1000, 1500, courier)
    index, by_id = _index(canaries)
    matcher = Matcher(index)
    rng = random.Random(seed)
    missed: list[str] = []
    for canary in canaries:
        for text, layout, how in _rows(rng, canary):
            filler = [
                ",".join((d.name, d.mobile, d.province + d.city + d.district + d.address))
                for d in rng.sample(decoys, 3)
            ]
            lines = [*filler[:2], text, filler[2]] if layout.delimiter != "," else [text]
            found = matcher.scan(Block("", 7, "\n".join(lines), layout))
            mine = [m for m in found if by_id[m.match.canary.id] is canary]
            if not mine or mine[0].row != 7 + lines.index(text):
                missed.append(f"{how}: {text}")
    assert missed == []


def test_full_mobiles_from_the_pool_match_in_any_spelling() -> None:
    numbers = [f"1700000{i:04d}" for i in range(40)]
    profile = LinkProfile(
        Courier.SF, window=WINDOW, mobile_form=MobileForm.FULL, pool=MobilePool(numbers)
    )
    canaries = Minter(profile, random.Random(5), control_share=0).mint(40)
    index, by_id = _index(canaries)
    matcher = Matcher(index)
    for canary in canaries:
        spelled = "+86 " + canary.mobile[:3] + "-" + canary.mobile[3:7] + "-" + canary.mobile[7:]
        block = Block("x.csv", 1, f"{spelled},{canary.name}", Layout(",", ("mobile", "name")))
        found = matcher.scan(block)
        assert [by_id[m.match.canary.id] for m in found] == [canary]
        assert found[0].match.explanation()["mobile"]["level"] == "full"


def test_a_row_whose_fields_disagree_is_not_matched_even_with_the_mobile() -> None:
    canaries = _mint(11, 200)
    decoys = _mint(12, 200)
    index, _ = _index(canaries)
    lines = []
    for canary, stranger in zip(canaries, decoys, strict=True):
        # Same masked mobile, everything else a stranger's.
        lines.append(
            ",".join((stranger.name, canary.mobile,
                      stranger.province + stranger.city + stranger.district + stranger.address,
                      stranger.waybill_no))
        )  # fmt: skip
    layout = Layout(",", ("name", "mobile", "address", "waybill_no"))
    assert Matcher(index).scan(Block("", 1, "\n".join(lines), layout)) == []


# -- no false match ------------------------------------------------------------------------


def test_a_million_strangers_make_no_match() -> None:
    """Strangers' rows: 1 in 50 sharing a canary's name, 1 in 50 its masked mobile, 1 in
    200 both, living in another province (the prefilter lets those through: the scorer must
    refuse them), and 1 in 100 its full name in its own district at another street."""
    canaries = _mint(21, 2000)
    index, _ = _index(canaries)
    people = _mint(22, 20_000)
    rng = random.Random(23)
    layout = Layout(",", ("name", "mobile", "address", "waybill_no", "item"))
    matcher = Matcher(index)
    found: list[RowMatch] = []
    rows = both = 0
    for _block in range(20):
        lines = []
        for _ in range(50_000):
            a, b, c, d = (rng.choice(people) for _ in range(4))
            name, mobile = a.name, b.mobile
            share = rng.random()
            if share < 0.02:
                name = rng.choice(canaries).name
            elif share < 0.04:
                mobile = rng.choice(canaries).mobile
            elif share < 0.045:
                shared = rng.choice(canaries)
                name, mobile = shared.name, shared.mobile
                while c.province == shared.province:
                    c = rng.choice(people)
                both += 1
            elif share < 0.055:
                # The canary's full name in its own district, at a stranger's street.
                shared = rng.choice(canaries)
                name = shared.name
                address = shared.province + shared.city + shared.district + c.address
                lines.append(f"{name},{mobile},{address},{d.waybill_no},{d.item}")
                continue
            address = c.province + c.city + c.district + c.address
            lines.append(f"{name},{mobile},{address},{d.waybill_no},{d.item}")
        rows += len(lines)
        found.extend(matcher.scan(Block("", rows - len(lines) + 1, "\n".join(lines), layout)))
    assert rows == 1_000_000
    assert found == []
    assert matcher.rows_scored >= both > 4000  # looked at, and refused


# -- brushing orders -------------------------------------------------------------------------


def _order(c: MintedCanary, mobile: str, address: str | None = None) -> dict[str, str]:
    return {
        "name": c.name,
        "address": c.province + c.city + c.district + (address or c.address),
        "province": c.province,
        "city": c.city,
        "district": c.district,
        "mobile": mobile,
    }


def test_a_brushing_order_with_the_full_name_and_street_and_its_own_mobile_is_found() -> None:
    canaries = [c for c in _mint(31, 400) if len(c.name) == 3]
    index, by_id = _index(canaries)
    matcher = Matcher(index)
    orders = [_order(c, f"139{n:08d}") for n, c in enumerate(canaries)]
    # Without the keyword a differing mobile is a stranger's: the screen stays silent.
    assert matcher.match_records(orders) == []
    found = matcher.match_records(orders, orderer_mobile=True)
    assert [by_id[m.canary.id] for _, m in found] == canaries
    assert [row for row, _ in found] == list(range(len(canaries)))
    for _, match in found:
        levels = {f: e["level"] for f, e in match.explanation().items()}
        assert levels.pop("place") != "disagree"
        assert levels == {"name": "exact", "street": "exact"}
        assert match.score >= THRESHOLD_BITS


def test_strangers_sharing_the_name_and_district_are_not_brushing_hits() -> None:
    canaries = [c for c in _mint(32, 300) if len(c.name) == 3]
    strangers = _mint(33, 3000)
    index, _ = _index(canaries)
    matcher = Matcher(index)
    rng = random.Random(34)
    orders = []
    for n in range(20_000):
        c = rng.choice(canaries)
        other = rng.choice(strangers)
        if n % 2:
            # The same name and district, another street (the neighbour down the road).
            orders.append(_order(c, f"139{n:08d}", other.address))
        else:
            # The same name and street, in another county.
            orders.append(
                {
                    "name": c.name,
                    "address": other.province + other.city + other.district + c.address,
                    "province": other.province,
                    "city": other.city,
                    "district": other.district,
                    "mobile": f"139{n:08d}",
                }
            )
        if orders[-1]["district"] == c.district and orders[-1]["address"].endswith(c.address):
            orders.pop()
    assert matcher.match_records(orders, orderer_mobile=True) == []
    assert matcher.rows_scored >= len(orders) // 2


# -- hostile characters --------------------------------------------------------------------


HOSTILE = ["\x00", "\x07", "\x1b", "\x85", "\u200b", "\u202e", "\u2066", "\ufeff"]


@pytest.mark.parametrize("rows", [1, 3000])
def test_control_and_bidi_characters_inside_a_row_do_not_stop_its_match(rows: int) -> None:
    canaries = _mint(35, 60)
    decoys = _mint(36, 600)
    index, by_id = _index(canaries)
    rng = random.Random(37)
    layout = Layout(",", ("name", "mobile", "address", "waybill_no"))
    lines: list[str] = []
    planted: dict[int, MintedCanary] = {}
    for n in range(rows):
        c = canaries[n % len(canaries)] if n % 50 == 0 else rng.choice(decoys)
        cells = [
            c.name[0] + "*" + c.name[-1],
            c.mobile,
            c.province + c.city + c.district + c.address,
            c.waybill_no,
        ]
        column = rng.randrange(4)
        at = rng.randrange(1, len(cells[column]))
        cells[column] = cells[column][:at] + rng.choice(HOSTILE) + cells[column][at:]
        lines.append(",".join(cells))
        if n % 50 == 0:
            planted[n + 1] = c
    found = Matcher(index).scan(Block("", 1, "\n".join(lines), layout))
    assert {m.row: by_id[m.match.canary.id] for m in found} == planted
    assert all(not set(m.line) & set("".join(HOSTILE)) for m in found)
    text = "\n".join(
        f"收件人 {c.name}\u202e 电话{c.mobile[:5]}\x00{c.mobile[5:]} 单号{c.waybill_no}"
        for c in canaries[:3]
    )
    assert {by_id[m.canary.id] for _, m in Matcher(index).match_text(text)} == set(canaries[:3])


def test_a_name_added_after_a_matcher_ran_is_searched_by_the_next_one() -> None:
    """Each request makes its own matcher; the names' first characters and lengths it
    searches by are kept on the index as canaries are added, a new surname included."""
    canaries = [c for c in _mint(32, 200) if len(c.name) == 3]
    index, _ = _index(canaries)

    def listing(c: MintedCanary) -> str:
        return f"收件人 {c.name} 地址 {c.province}{c.city}{c.district}{c.address} 电话 13912345678"

    found = Matcher(index).match_text(listing(canaries[0]))
    assert [m.canary.name for _, m in found] == [canaries[0].name]
    firsts = {c.name[0] for c in canaries}
    surname = next(s for s in "欧司诸上端皇" if s not in firsts)
    newcomer = replace(_mint(33, 1)[0], name=surname + "阳晓峰")  # a first and a length new
    index.add([entry_of(newcomer, uuid.UUID(int=7))])
    found = Matcher(index).match_text(listing(newcomer))
    assert [m.canary.name for _, m in found] == [newcomer.name]
