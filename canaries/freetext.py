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
# fewer; the Python stage applies the exact pattern. A +86 or 0086 before the number is left
# out: it holds no 1, so the same numbers are found, and the key is then the first three and
# last four characters of every match.
_TEXT_MOBILE = r"1[3-9][0-9][ -]?[0-9*xX×•●]{4}[ -]?[0-9]{4}"
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
    paired = _paired(pairs.with_columns(lines.gather(pairs.get_column("at")).alias("line")))
    return lines, sorted({*words.get_column("at").to_list(), *paired.to_list()})


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
