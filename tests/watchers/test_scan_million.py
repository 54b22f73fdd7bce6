"""A million-row leak, as the benchmark makes it: every planted canary found at its row and
no false match, in UTF-8, in GB18030, and in free text (benchmarks/match_rate.py prints the
speeds; no timing is asserted here)."""

import uuid
from pathlib import Path

import pytest

from benchmarks.match_rate import _mint, scan, write_files
from canaries.index import CanaryIndex, entry_of


@pytest.mark.slow
def test_a_million_rows_in_utf8_gb18030_and_free_text_find_each_planted_canary(
    tmp_path: Path,
) -> None:
    canaries = _mint(1, 30_000)
    index = CanaryIndex()
    ids = [uuid.uuid4() for _ in canaries]
    index.add(entry_of(c, i) for c, i in zip(canaries, ids, strict=True))
    position = {canary_id.bytes: at for at, canary_id in enumerate(ids)}
    csv_path, text_path, csv_planted, text_planted = write_files(
        tmp_path, 1_000_000, 200_000, canaries
    )
    gb_path = tmp_path / "leak-gb18030.csv"
    gb_path.write_bytes(csv_path.read_text(encoding="utf-8").encode("gb18030"))
    for path, planted, rows in (
        (csv_path, csv_planted, 1_000_000),
        (gb_path, csv_planted, 1_000_000),
        (text_path, text_planted, 200_000),
    ):
        _seconds, scanned, found = scan(path, index, position)
        assert scanned == rows
        assert found == planted, path.name
