"""The free-text kernel: the lines of a whole block of text (a listing page, an SMS dump, a
call log) worth scoring, found with no Python code per line.

A block is searched whole, as its UTF-8 bytes and as its lines: an Aho-Corasick automaton
(Rust, run with the interpreter released) passes over the bytes once for every canary's
full name and for the characters that need cleaning first, while Polars' regex kernels take
the lines for alphanumeric words (waybill numbers) and mobile shapes, masked ones included.
Each kind of hit is joined against the canaries' columns (canaries.columnar) in one step. A
line is a candidate when it shows a canary's waybill number, its mobile key with the name's
first and last characters or the street's start, or its full name with the street's start:
two identifying fragments. canaries.matching then reads and scores the candidates only.

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
from ahocorasick_rs import BytesAhoCorasick

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
# fewer; the Python stage applies the exact pattern.
_TEXT_MOBILE = r"(?:(?:00|\+)?86[ -]?)?1[3-9][0-9][ -]?[0-9*xX×•●]{4}[ -]?[0-9]{4}"
_TEXT_WORD = r"[0-9A-Za-z]{8,30}"
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
    """Built once per change of the index. Its default kind for many patterns is a
    contiguous NFA: about 40 MB at 300,000 names, where a DFA takes 700 MB and three times
    as long to build, for a search a third faster."""
    cached = _AUTOMATA.get(index)
    if cached is not None and cached[0] == index.generation:
        return cached[1]
    names = pl.Series("name", canary_columns(index).name_list, dtype=pl.String)
    automaton = TextAutomaton(
        BytesAhoCorasick([*(name.encode() for name in names), *_odd_characters()]), names
    )
    _AUTOMATA[index] = (index.generation, automaton)
    return automaton


def is_utf8(data: bytes) -> bool:
    try:
        pl.Series([data], dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.PolarsError:
        return False
    return True


def readable_lines(lines: pl.Series) -> pl.Series:
    """Lines without hostile characters and with ASCII digits and asterisks, rewriting only
    the lines that need it (few do)."""
    lines = lines.fill_null("")
    odd = lines.str.contains(_ODD_TEXT).arg_true()
    if odd.is_empty():
        return lines
    fixed = (
        lines.gather(odd)
        .str.replace_all(HOSTILE, "")
        .str.replace_many([*FULL_WIDTH[:10], "＊"], [*HALF_WIDTH[:10], "*"])
    )
    return lines.scatter(odd, fixed)


@dataclass(frozen=True)
class _Found:
    """What one pass over a block found: its lines, the automaton's hits (pattern, byte
    offset) and the words and mobiles of each line (at, word or mobile)."""

    lines: pl.Series
    hits: pl.DataFrame
    words: pl.DataFrame
    mobiles: pl.DataFrame


def _search(data: bytes, automaton: TextAutomaton) -> _Found:
    """The automaton in a second thread while Polars extracts the words and mobiles (both
    let go of the interpreter, so the two run on two cores)."""
    with ThreadPoolExecutor(max_workers=1) as searcher:
        searching = searcher.submit(automaton.automaton.find_matches_as_indexes, data, True)
        lines = pl.Series("line", [data], dtype=pl.Binary).cast(pl.String).str.split("\n")
        lines = lines.explode()
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
        hits = pl.DataFrame(
            searching.result(),
            schema={"pattern": pl.UInt32, "start": pl.Int64, "end": pl.Int64},
            orient="row",
        )
    words = found.select("at", "word").explode("word").drop_nulls("word")
    mobiles = found.select("at", "mobile").explode("mobile").drop_nulls("mobile")
    return _Found(lines, hits.drop("end"), words, mobiles)


def text_candidates(data: bytes, columns: CanaryColumns, automaton: TextAutomaton) -> tuple[
    pl.Series, list[int]
]:  # fmt: skip
    """The lines of `data` (UTF-8, lines joined by newlines) made readable, and which of them
    are worth scoring, in order. A block holding characters to clean is cleaned and searched
    again: a zero-width space inside a name hides it from the first pass."""
    found = _search(data, automaton)
    names = len(automaton.names)
    if not found.hits.filter(pl.col("pattern") >= names).is_empty():
        lines = readable_lines(found.lines)
        found = _search(lines.str.join("\n").cast(pl.Binary).item(), automaton)
    lines = found.lines
    canaries = columns.canaries
    words = found.words.filter(hashed_in(pl.col("word").str.to_uppercase(), columns.waybills))
    by_mobile = (
        _mobile_keys(found.mobiles)
        .filter(hashed_in(pl.col("key"), columns.mobile_keys))
        .join(canaries, left_on="key", right_on="mobile_key")
        .select("at", "first", "last", "street_start", pl.lit(True).alias("mobile"))
    )
    by_name = (
        _name_hits(found.hits.filter(pl.col("pattern") < names), lines, automaton.names)
        .join(canaries, on="name")
        .select("at", "first", "last", "street_start", pl.lit(False).alias("mobile"))
    )
    pairs = pl.concat([by_mobile, by_name]).unique()
    # A mobile key with the name's first and last characters or the street's start; a full
    # name with the street's start. Each line is cleaned once, however many pairs it has.
    at = pairs.get_column("at").unique()
    shown = pl.DataFrame({"at": at, "line": lines.gather(at)})
    line = pl.col("line")
    shown = shown.with_columns(line.str.replace_all(TEXT_CLEAN, "").alias("clean"))
    shows_name = line.str.contains(pl.col("first"), literal=True) & line.str.contains(
        pl.col("last"), literal=True
    )
    street = pl.col("clean").str.contains(pl.col("street_start"), literal=True)
    paired = pairs.join(shown, on="at").filter(street | (pl.col("mobile") & shows_name))
    return lines, sorted({*words.get_column("at").to_list(), *paired.get_column("at").to_list()})


def _mobile_keys(mobiles: pl.DataFrame) -> pl.DataFrame:
    """(at, key): the first three and last four digits of each mobile. What _TEXT_MOBILE
    lets through is a +86 or 0086, digits, masks, spaces and dashes: less the spaces and
    dashes, its last eleven characters are the number. Most are the number alone, eleven
    bytes, and are sliced without a rewrite."""
    mobile = pl.col("mobile")
    plain = mobile.str.len_bytes() == 11
    number = mobile.str.replace_many([" ", "-"], ["", ""])
    return pl.concat(
        [
            mobiles.filter(plain).select("at", mobile.str.slice(0, 3) + mobile.str.slice(7)),
            mobiles.filter(~plain).select("at", number.str.slice(-11, 3) + number.str.slice(-4)),
        ]
    ).rename({"mobile": "key"})


def _name_hits(hits: pl.DataFrame, lines: pl.Series, names: pl.Series) -> pl.DataFrame:
    """(at, name): the line each name hit's byte offset falls in, from the lines' starts."""
    lengths = lines.str.len_bytes().cast(pl.Int64) + 1
    starts = lengths.cum_sum() - lengths
    at = (starts.search_sorted(hits.get_column("start"), side="right") - 1).cast(pl.UInt32)
    return pl.DataFrame({"at": at, "name": names.gather(hits.get_column("pattern"))}).unique()
