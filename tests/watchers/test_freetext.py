"""Free text through the free-text kernel (canaries.freetext): what it finds is what the
line-by-line regular expressions find, whatever the encoding, the damage or where the
reader's blocks are cut.

The texts are listing lines and SMS as resellers and scammers write them, canaries among
strangers, some strangers sharing a canary's name or masked mobile.
"""

import io
import random
import uuid
from datetime import date

import polars as pl
import pytest

from canaries import freetext
from canaries.couriers import Courier
from canaries.index import CanaryIndex, entry_of
from canaries.matching import _MOBILE, Matcher, RowMatch
from canaries.mint import LinkProfile, MintedCanary, Minter
from watchers.dumpbase import FREE_TEXT, Block
from watchers.dumps import DumpLimits
from watchers.scan import scan_stream
from watchers.tables import TextRun

WINDOW = (date(2026, 10, 1), date(2026, 10, 31))
# Cut into a canary's name, mobile, street or waybill number; the kernel must see through.
HOSTILE = ["\x00", "\x07", "\x1b", "\x85", "\u200b", "\u202e", "\u2066", "\ufeff"]
FULL_WIDTH = str.maketrans("0123456789*", "０１２３４５６７８９＊")


def _mint(seed: int, count: int) -> list[MintedCanary]:
    profile = LinkProfile(Courier.ZTO, window=WINDOW)
    return Minter(profile, random.Random(seed), control_share=0).mint(count)


CANARIES = _mint(61, 40)
STRANGERS = _mint(62, 400)


def _index() -> tuple[CanaryIndex, dict[bytes, int]]:
    index = CanaryIndex()
    ids = [uuid.UUID(int=n + 1) for n in range(len(CANARIES))]
    index.add(entry_of(c, i) for c, i in zip(CANARIES, ids, strict=True))
    index.merge()
    return index, {i.bytes: n for n, i in enumerate(ids)}


def _line(rng: random.Random, person: MintedCanary, weak: bool = True) -> str:
    """One line showing a person the ways free text does; unless `weak`, with enough of
    the person to be matched (a masked name with a masked mobile alone is not)."""
    place = person.province + person.city + person.district
    masked = person.name[0] + "*" + person.name[-1]
    forms = [
        f"收件人 {person.name} 电话{person.mobile} 地址 {place}{person.address} "
        f"单号{person.waybill_no} 售价0.3元",
        f"出售新鲜快递单 {masked} {person.mobile} {place}{person.address[:7]}*** 0.5元/条",
        f"{person.waybill_no.lower()} 已签收 {masked}",
    ]
    if weak or len(person.name) >= 3:  # a full name of two characters anchors nothing
        street = person.address
        forms += [
            f"您好{person.name}，您的快递到了{place}{person.address}，请凭取件码取件",
            # The street's start cut by a space or a comma: found in the line cleaned.
            f"{person.name} 地址:{place}{street[:1]} {street[1:3]}，{street[3:]} 已发货",
        ]
    forms.append(f"{masked} 手机+86 {person.mobile} 0086-{person.mobile} {place}")
    if weak:
        mobile = person.mobile
        forms.append(f"客户{masked} 手机 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}")
    return rng.choice(forms)


def _damaged(rng: random.Random, line: str) -> str:
    if rng.random() < 0.5:
        at = rng.randrange(1, len(line))
        return line[:at] + rng.choice(HOSTILE) + line[at:]
    return line.translate(FULL_WIDTH)


def _text(seed: int, lines: int, damage: bool) -> tuple[list[str], dict[int, int]]:
    """Lines, and the canary (by position) planted on each 1-based row that holds one."""
    rng = random.Random(seed)
    out: list[str] = []
    planted: dict[int, int] = {}
    for row in range(1, lines + 1):
        if row % 7 == 3:
            at = rng.randrange(len(CANARIES))
            planted[row] = at
            line = _line(rng, CANARIES[at], weak=False)
        else:
            line = _line(rng, rng.choice(STRANGERS))
        out.append(_damaged(rng, line) if damage and rng.random() < 0.3 else line)
    return out, planted


def _kernel(index: CanaryIndex) -> Matcher:
    """A matcher that sends every run of free text, however short, to the kernel."""
    matcher = Matcher(index)
    matcher.short_text_bytes = 0
    return matcher


def _found(matches: list[RowMatch], ids: dict[bytes, int]) -> set[tuple[int, int]]:
    return {(m.row, ids[m.match.canary.id]) for m in matches}


@pytest.mark.parametrize("automaton", ["DFA", "NFA"])
@pytest.mark.parametrize("damage", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_kernel_finds_what_the_line_by_line_expressions_find(
    seed: int, damage: bool, automaton: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The automaton is a DFA for few names and a contiguous NFA for many: both find alike."""
    if automaton == "NFA":
        monkeypatch.setattr(freetext, "_DFA_NAMES", 0)
    index, ids = _index()
    lines, planted = _text(seed, 700, damage)
    text = "\n".join(lines)
    assert len(text) < 64 << 10  # read by the regular expressions, line by line
    by_lines = Matcher(index).scan(Block("", 5, text, FREE_TEXT))
    by_kernel = _kernel(index).scan_text(TextRun("", 5, text.encode(), len(lines)))
    assert _found(by_kernel, ids) == _found(by_lines, ids)
    assert {(row + 4, at) for row, at in planted.items()} <= _found(by_kernel, ids)
    assert sorted((m.row, m.line) for m in by_kernel) == sorted((m.row, m.line) for m in by_lines)
    assert not any(set(m.line) & set("".join(HOSTILE)) for m in by_kernel)


def test_a_long_decoded_text_goes_through_the_kernel_with_the_same_finds() -> None:
    """A text Block (a web page's text, a JSON dump's, lines decoded one by one) as long as
    a block goes to the kernel; read in short pieces it goes line by line. A lone surrogate
    (a JSON escape) cannot be UTF-8 and must not stop it."""
    index, ids = _index()
    lines, planted = _text(4, 3000, damage=True)
    lines[10] += "\ud800"
    whole = Matcher(index).scan(Block("", 1, "\n".join(lines), FREE_TEXT))
    pieces: list[RowMatch] = []
    for start in range(0, len(lines), 500):
        text = "\n".join(lines[start : start + 500])
        assert len(text) < 64 << 10 < len("\n".join(lines))
        pieces += Matcher(index).scan(Block("", start + 1, text, FREE_TEXT))
    assert _found(whole, ids) == _found(pieces, ids) >= set(planted.items())


def test_lines_to_clean_are_searched_again_alone_and_found_at_their_rows() -> None:
    """Canaries whose name or mobile is cut by a hostile character on the first, a middle
    and the last line, among clean lines (canaries and strangers), and a block of such
    lines only."""
    index, ids = _index()
    rng = random.Random(13)

    def cut(line: str) -> str:
        return line[:1] + "\u200b" + line[1:6] + "\ufeff" + line[6:]  # the name, the mobile

    def listing(canary: MintedCanary) -> str:
        return f"{canary.name}{canary.mobile} {canary.province}{canary.city}{canary.address}"

    lines = [_line(rng, rng.choice(STRANGERS)) for _ in range(30)]
    for row in (0, 7, 8, 29):
        lines[row] = cut(listing(CANARIES[row]))
    lines[15] = listing(CANARIES[15])
    text = "\n".join(lines)
    by_lines = Matcher(index).scan(Block("", 1, text, FREE_TEXT))
    by_kernel = _kernel(index).scan_text(TextRun("", 1, text.encode(), len(lines)))
    assert (
        _found(by_kernel, ids)
        == _found(by_lines, ids)
        == {(row + 1, row) for row in (0, 7, 8, 15, 29)}
    )
    only_cut = "\n".join(cut(listing(canary)) for canary in CANARIES[:5])
    by_kernel = _kernel(index).scan_text(TextRun("", 1, only_cut.encode(), 5))
    assert _found(by_kernel, ids) == {(row + 1, row) for row in range(5)}


def test_an_empty_block_and_blank_lines() -> None:
    index, ids = _index()
    assert _kernel(index).scan_text(TextRun("", 1, b"", 1)) == []
    canary = CANARIES[0]
    line = f"收件人 {canary.name} 电话{canary.mobile} 单号{canary.waybill_no}"
    data = f"\n\n{line}\n\n".encode()
    assert _found(_kernel(index).scan_text(TextRun("", 1, data, 5)), ids) == {(3, 0)}
    assert _found(Matcher(index).scan_text(TextRun("", 1, data, 5)), ids) == {(3, 0)}


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16", "utf-8-sig"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_a_scan_of_free_text_finds_each_canary_at_its_row_across_block_cuts(
    encoding: str, line_end: str
) -> None:
    """With 1 KiB blocks the reader cuts the file every few lines; a canary's line is put
    across each cut, and must be found whole at its row."""
    index, ids = _index()
    limits = DumpLimits(block_bytes=1024)
    lines, planted = _text(7, 1500, damage=True)
    data = line_end.join(lines).encode(encoding)
    result = scan_stream(io.BytesIO(data), "leak.txt", Matcher(index), limits)
    assert result.error is None
    assert result.report.rows == len(lines)
    found = _found(result.matches, ids)
    assert set(planted.items()) <= found
    # Strangers are not matched; a line is found only where a canary was planted.
    assert {row for row, _at in found} == set(planted)


def test_a_canary_straddling_the_cut_of_a_run_is_read_in_the_next_run() -> None:
    """The free-text reader reads runs of four blocks; the canary's line begins before the
    byte where the first run would end and ends after it."""
    index, ids = _index()
    limits = DumpLimits(block_bytes=4096)
    run = 4 * limits.block_bytes
    rng = random.Random(9)
    canary = CANARIES[5]
    target = f"收件人 {canary.name} 电话{canary.mobile} 单号{canary.waybill_no}"
    begin = run - len(target.encode()) // 2  # where the canary's line is to begin
    lines: list[str] = []
    size = 0
    while size + 300 < begin:
        lines.append(_line(rng, rng.choice(STRANGERS)))
        size += len(lines[-1].encode()) + 1
    lines[-1] = "x" * (begin - (size - len(lines[-1].encode())) - 1)
    lines.append(target)
    lines += [_line(rng, rng.choice(STRANGERS)) for _ in range(50)]
    data = "\n".join(lines).encode()
    start = data.index(target.encode())
    assert start < run < start + len(target.encode())
    result = scan_stream(io.BytesIO(data), "sms.txt", Matcher(index), limits)
    assert result.error is None and result.report.rows == len(lines)
    assert _found(result.matches, ids) == {(len(lines) - 50, 5)}


def test_bytes_that_are_not_utf8_are_read_line_by_line_and_counted() -> None:
    index, ids = _index()
    lines, planted = _text(11, 400, damage=False)
    data = b"\n".join(
        line.encode() + (b" \xff\xfe" if row % 50 == 0 else b"")
        for row, line in enumerate(lines, start=1)
    )
    result = scan_stream(io.BytesIO(data), "leak.txt", Matcher(index), DumpLimits())
    assert result.error is None and result.report.rows == len(lines)
    assert result.report.skipped["line with undecodable bytes"] == len(lines) // 50
    assert set(planted.items()) <= _found(result.matches, ids)


@pytest.mark.parametrize("glue", ["1391234-", "1391234 ", "139123x", "+86 1391234-", "139*234-"])
def test_a_number_behind_a_mobile_like_run_of_digits_is_still_found(glue: str) -> None:
    """Without look-around, 1391234-13812345678 is read as 1391234-1381 first and the number
    after it lost; the line-by-line expressions, bounded by non-digits, find it."""
    index, ids = _index()
    lines = [
        f"收件人 {canary.name} 电话 {glue}{canary.mobile_number} 留言" for canary in CANARIES[:12]
    ]
    text = "\n".join(lines)
    by_lines = Matcher(index).scan(Block("", 1, text, FREE_TEXT))
    by_kernel = _kernel(index).scan_text(TextRun("", 1, text.encode(), len(lines)))
    assert _found(by_kernel, ids) == _found(by_lines, ids) == {(n + 1, n) for n in range(12)}


def test_every_mobile_key_the_line_by_line_expression_finds_is_found_in_digit_soup() -> None:
    """20,000 lines of digits, separators, masks, +86 and 00: every (line, key) that
    canaries.matching's bounded pattern finds, the kernel's extraction finds too."""
    rng = random.Random(17)
    alphabet = "0123456789" * 3 + "13" * 5 + " -*x文+" + "86" * 3 + "00"
    lines = ["".join(rng.choices(alphabet, k=rng.randint(11, 40))) for _ in range(20_000)]
    wanted = {(at, a + b) for at, line in enumerate(lines) for a, b in _MOBILE.findall(line)}
    first = pl.DataFrame({"line": lines}).with_row_index("at")
    first = first.select(
        "at", pl.col("line").str.extract_all(freetext._TEXT_MOBILE).alias("mobile")
    )
    keys = freetext._mobile_keys(freetext._bounded_again(first.explode("mobile"), pl.Series(lines)))
    found = set(keys.iter_rows())
    assert len(wanted) > 200
    assert wanted <= found
