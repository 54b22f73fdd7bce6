"""The free-text kernel: the lines of a whole block of text (a listing page, an SMS dump, a
call log) worth scoring, found with no Python code per line.

A block is searched whole, as its UTF-8 bytes and as its lines: an Aho-Corasick automaton
(Rust, run with the interpreter released) passes over the bytes once for every canary's
full name and for the characters that need cleaning first, while Polars' regex kernels take
the lines for alphanumeric words (waybill numbers) and mobile shapes, masked ones included,
and key them against the canaries' columns (canaries.columnar); the automaton's hits are
joined last. A line is a candidate when it shows a canary's waybill number, its mobile key
with the name's first and last characters or the street's start, or its full name with the
street's start: two identifying fragments. The few lines holding characters to clean are
cleaned and searched again, alone. canaries.matching then reads and scores the candidates
only.

The automaton is imported here only, and Polars here and in canaries.columnar, so a
process that never scans a block never loads them.
"""

from __future__ import annotations

import re
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import polars as pl
from ahocorasick_rs import BytesAhoCorasick, Implementation

from canaries.columnar import (
    FULL_WIDTH,
    HALF_WIDTH,
    TEXT_CLEAN,
    CanaryColumns,
    canary_columns,
    hashed_in,
)
from canaries.hostile import HOSTILE
from canaries.index import CanaryIndex

# Looser than canaries.matching's (Rust's regex has no look-around): more candidates, never
# fewer; the Python stage applies the exact pattern. A +86 or 0086 before the number is left
# out: it holds no 1, so the same numbers are found, and the key is then the first three and
# last four characters of every match.
_TEXT_MOBILE = r"1[3-9][0-9][ -]?[0-9*xX×•●]{4}[ -]?[0-9]{4}"
# Without look-around, a mobile-like run starting in the digits before a number can take
# that number's start (1391234-13812345678: 1391234-1381 is taken first, and 13812345678
# is lost), where canaries.matching's pattern, bounded by non-digits, finds it. Such a run
# holds the lost number's leading 1 after a non-digit (a separator or a mask: that pattern
# finds a number only after a non-digit), so the lines where a match shows a 1 so are
# searched again for numbers standing between non-digits (with their +86 or 0086), the
# bounds cut off afterwards: about one line in five of those showing a masked mobile.
_BOUNDED_MOBILE = rf"(?:^|[^0-9])(?:(?:00|\+)?86[ -]?)?{_TEXT_MOBILE}(?:[^0-9]|$)"
_MOBILE_BOUNDS = (r"^[^0-9]?(?:(?:00|\+)?86[ -]?)?", r"[^0-9]$")
_TEXT_WORD = r"[0-9A-Za-z]{8,30}"
_DFA_NAMES = 50_000
# What readable_lines rewrites: hostile characters, full-width digits and asterisks.
_ODD_TEXT = HOSTILE[:-1] + "０-９＊]"


@cache
def _odd_characters() -> tuple[bytes, ...]:
    """The UTF-8 of every character `_ODD_TEXT` matches (all in the Basic Multilingual
    Plane), as patterns for the automaton."""
    odd = re.compile(_ODD_TEXT)
    return tuple(
        chr(c).encode() for c in range(0x10000) if not 0xD800 <= c < 0xE000 and odd.match(chr(c))
    )


@dataclass(frozen=True)
class TextAutomaton:
    """The canaries' full names and then the odd characters, as one automaton's patterns."""

    automaton: BytesAhoCorasick
    names: pl.Series  # pattern number -> name, for the patterns below len(names)


_AUTOMATA: weakref.WeakKeyDictionary[CanaryIndex, tuple[int, TextAutomaton]] = (
    weakref.WeakKeyDictionary()
)


def text_automaton(index: CanaryIndex) -> TextAutomaton:
    """Built once per change of the index. Up to `_DFA_NAMES` names it is a DFA; above, a
    contiguous NFA: about 40 MB at 300,000 names, where a DFA takes 700 MB and three times
    as long to build, for a search a third faster (at 26,000 names: 40 MB, a sixth faster,
    built in a quarter of a second)."""
    cached = _AUTOMATA.get(index)
    if cached is not None and cached[0] == index.generation:
        return cached[1]
    names = pl.Series("name", canary_columns(index).name_list, dtype=pl.String)
    patterns = [*(name.encode() for name in names), *_odd_characters()]
    kind = Implementation.DFA if len(names) <= _DFA_NAMES else None
    automaton = TextAutomaton(BytesAhoCorasick(patterns, implementation=kind), names)
    _AUTOMATA[index] = (index.generation, automaton)
    return automaton


def is_utf8(data: bytes) -> bool:
    try:
        pl.Series([data], dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.PolarsError:
        return False
    return True


def readable_lines(lines: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Lines without hostile characters and with ASCII digits and asterisks, and which lines
    (at) were rewritten: only those that needed it (few do)."""
    lines = lines.fill_null("")
    odd = lines.str.contains(_ODD_TEXT).arg_true()
    if odd.is_empty():
        return lines, odd
    fixed = (
        lines.gather(odd)
        .str.replace_all(HOSTILE, "")
        .str.replace_many([*FULL_WIDTH[:10], "＊"], [*HALF_WIDTH[:10], "*"])
    )
    return lines.scatter(odd, fixed), odd


@dataclass(frozen=True)
class _Found:
    """What one pass over lines found: the lines (at) showing a canary's waybill number, the
    pairs (at, first, last, street_start, mobile) of a line and a canary whose mobile key or
    full name it shows, and whether the automaton met characters to clean."""

    waybills: pl.Series
    pairs: pl.DataFrame
    odd: bool

    def without(self, at: pl.Series) -> _Found:
        """What was found on lines other than `at`."""
        waybills = self.waybills.filter(~self.waybills.is_in(at.implode()))
        pairs = self.pairs.filter(~pl.col("at").is_in(at.implode()))
        return _Found(waybills, pairs, self.odd)

    def renumbered(self, at: pl.Series) -> _Found:
        """Found on the lines `at` searched alone: numbered as lines of the whole block."""
        pairs = self.pairs.with_columns(pl.lit(at).gather(pl.col("at")).alias("at"))
        return _Found(at.gather(self.waybills), pairs, self.odd)

    def __add__(self, other: _Found) -> _Found:
        return _Found(
            pl.concat([self.waybills, other.waybills]),
            pl.concat([self.pairs, other.pairs]),
            self.odd or other.odd,
        )


def _search(data: bytes, columns: CanaryColumns, automaton: TextAutomaton) -> tuple[
    pl.Series, _Found
]:  # fmt: skip
    """The lines of `data` and what they show. The automaton runs in a second thread while
    Polars extracts and keys the words and mobiles (both let go of the interpreter, so the
    two run on two cores); its hits are joined last."""
    with ThreadPoolExecutor(max_workers=1) as searcher:
        searching = searcher.submit(automaton.automaton.find_matches_as_indexes, data, True)
        lines = pl.Series("line", [data], dtype=pl.Binary).cast(pl.String).str.split("\n")
        lines = lines.explode()
        waybills, by_mobile = _words_and_mobiles(lines, columns)
        hits = pl.DataFrame(
            searching.result(),
            schema={"pattern": pl.UInt32, "start": pl.Int64, "end": pl.Int64},
            orient="row",
        )
    names = len(automaton.names)
    by_name = (
        _name_hits(hits.filter(pl.col("pattern") < names), lines, automaton.names)
        .join(columns.canaries, on="name")
        .select("at", "first", "last", "street_start", pl.lit(False).alias("mobile"))
    )
    odd = not hits.filter(pl.col("pattern") >= names).is_empty()
    return lines, _Found(waybills, pl.concat([by_mobile, by_name]), odd)


def _words_and_mobiles(lines: pl.Series, columns: CanaryColumns) -> tuple[
    pl.Series, pl.DataFrame
]:  # fmt: skip
    """The lines (at) showing a canary's waybill number, and the pairs of a line and a
    canary whose mobile key it shows."""
    line = pl.col("line")
    found = (
        pl.DataFrame({"line": lines})
        .with_row_index("at")
        .select(
            "at",
            line.str.extract_all(_TEXT_WORD).alias("word"),
            line.str.extract_all(_TEXT_MOBILE).alias("mobile"),
        )
    )
    words = found.select("at", "word").explode("word").drop_nulls("word")
    waybills = words.filter(hashed_in(pl.col("word").str.to_uppercase(), columns.waybills))
    mobiles = _bounded_again(found.select("at", "mobile").explode("mobile"), lines)
    by_mobile = (
        _mobile_keys(mobiles)
        .filter(hashed_in(pl.col("key"), columns.mobile_keys))
        .join(columns.canaries, left_on="key", right_on="mobile_key")
        .select("at", "first", "last", "street_start", pl.lit(True).alias("mobile"))
    )
    return waybills.get_column("at"), by_mobile


def text_candidates(data: bytes, columns: CanaryColumns, automaton: TextAutomaton) -> tuple[
    pl.Series, list[int]
]:  # fmt: skip
    """The lines of `data` (UTF-8, lines joined by newlines) made readable, and which of them
    are worth scoring, in order. The lines holding characters to clean are cleaned and
    searched again, alone: a zero-width space inside a name hides it from the first pass."""
    lines, found = _search(data, columns, automaton)
    if found.odd:
        lines, odd = readable_lines(lines)
        _, again = _search(lines.gather(odd).str.join("\n").cast(pl.Binary).item(), columns,
                           automaton)  # fmt: skip
        found = found.without(odd) + again.renumbered(odd)
    pairs = found.pairs.unique()
    paired = _paired(pairs.with_columns(lines.gather(pairs.get_column("at")).alias("line")))
    return lines, sorted({*found.waybills.to_list(), *paired.to_list()})


def _paired(pairs: pl.DataFrame) -> pl.Series:
    """The lines (at) of the pairs that hold a second fragment: a mobile key with the name's
    first and last characters, or the street's start in the line without punctuation and
    spaces. Only a line that holds the street start's first and last characters can hold it
    cleaned, so only those few are cleaned."""
    line = pl.col("line")

    def shows(fragment: pl.Expr) -> pl.Expr:
        return line.str.contains(fragment, literal=True)

    start = pl.col("street_start")
    found = (pl.col("mobile") & shows(pl.col("first")) & shows(pl.col("last"))) | shows(start)
    maybe = shows(start.str.slice(0, 1)) & shows(start.str.slice(-1))
    pairs = pairs.with_columns(found.alias("found"), maybe.alias("maybe"))
    cleaned = pairs.filter(~pl.col("found") & pl.col("maybe")).filter(
        line.str.replace_all(TEXT_CLEAN, "").str.contains(start, literal=True)
    )
    return pl.concat([pairs.filter("found").get_column("at"), cleaned.get_column("at")])


def _bounded_again(mobiles: pl.DataFrame, lines: pl.Series) -> pl.DataFrame:
    """(at, mobile): the mobiles found, and those found again between non-digits in the
    lines where a match shows a 1 after a non-digit (see _BOUNDED_MOBILE)."""
    mobile = pl.col("mobile")
    mobiles = mobiles.drop_nulls("mobile")
    suspect = mobiles.filter(mobile.str.contains(r"[^0-9]1")).get_column("at").unique()
    if suspect.is_empty():
        return mobiles
    leading, trailing = _MOBILE_BOUNDS
    again = (
        pl.DataFrame({"at": suspect, "line": lines.gather(suspect)})
        .select("at", pl.col("line").str.extract_all(_BOUNDED_MOBILE).alias("mobile"))
        .explode("mobile")
        .drop_nulls("mobile")
        .with_columns(mobile.str.replace(leading, "").str.replace(trailing, ""))
    )
    return pl.concat([mobiles, again.select(mobiles.columns)])


def _mobile_keys(mobiles: pl.DataFrame) -> pl.DataFrame:
    """(at, key): the first three and last four digits of each mobile (see _TEXT_MOBILE)."""
    mobile = pl.col("mobile")
    return mobiles.select("at", (mobile.str.slice(0, 3) + mobile.str.slice(-4)).alias("key"))


def _name_hits(hits: pl.DataFrame, lines: pl.Series, names: pl.Series) -> pl.DataFrame:
    """(at, name): the line each name hit's byte offset falls in, from the lines' starts."""
    lengths = lines.str.len_bytes().cast(pl.Int64) + 1
    starts = lengths.cum_sum() - lengths
    at = (starts.search_sorted(hits.get_column("start"), side="right") - 1).cast(pl.UInt32)
    return pl.DataFrame({"at": at, "name": names.gather(hits.get_column("pattern"))}).unique()
