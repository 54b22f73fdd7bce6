"""GB18030 through the C library's iconv: the same UTF-8 as Python's codec or no answer, over
every two-byte code, every four-byte code of the Basic Multilingual Plane, supplementary
characters, broken bytes and threads; and the scan's GB18030 runs actually take that road.
"""

import random
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from watchers import tables, transcode
from watchers.transcode import native_utf8


def _python(data: bytes) -> bytes | None:
    try:
        return data.decode("gb18030").encode()
    except UnicodeDecodeError:
        return None


def _codes() -> list[bytes]:
    """Every two-byte code, and every four-byte code from 0x81308130 to 0x8439FE39 (U+0080
    to U+FFFF, where the editions differ)."""
    trails = [*range(0x40, 0x7F), *range(0x80, 0xFF)]
    two = [bytes((lead, trail)) for lead in range(0x81, 0xFF) for trail in trails]
    four = [
        bytes((a, b, c, d))
        for a in range(0x81, 0x85)
        for b in range(0x30, 0x3A)
        for c in range(0x81, 0xFF)
        for d in range(0x30, 0x3A)
    ]
    return two + four


def test_iconv_is_there_on_linux() -> None:
    """The road this file tests exists on the machines the product runs on (glibc)."""
    if sys.platform != "linux":
        pytest.skip("glibc's iconv is what CI and the image run; elsewhere Python's codec is")
    assert transcode._iconv() is not None


def test_every_code_gives_pythons_answer_or_none() -> None:
    """Each code alone between ASCII: iconv's answer, when given, is Python's; the codes the
    editions map apart (and only a few dozen codes in all) get none."""
    apart = []
    for code in _codes():
        data = b"a," + code + b",z\n"
        native = native_utf8(data)
        if native is None:
            apart.append(code)
        else:
            assert native == _python(data), code.hex()
    known = {"a6d9", "a6da", "a6db", "a6dc", "a6dd", "a6de", "a6df", "a6ec", "a6ed", "a6f3"}
    known |= {"a8bc", "fe51", "fe52", "fe53", "fe59", "fe61", "fe66", "fe67", "fe6c", "fe6d"}
    known |= {"fe76", "fe7e", "fe90", "fe91", "fea0", "8135f437"}
    decodable = {code.hex() for code in apart if _python(b"a," + code + b",z\n") is not None}
    assert known <= decodable
    # Beyond those, only codes iconv refuses (Python decodes eighteen of them).
    assert len(decodable - known) <= 18


def test_ordinary_text_takes_the_native_road_whole() -> None:
    """A table of names and addresses with four-byte and supplementary characters among them
    is converted by iconv, byte for byte as Python converts it."""
    rng = random.Random(7)
    alphabet = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗龙龚龄浙江省杭州市西湖区路号"
    alphabet += "𠀀𠀁€·—“”abc123,"
    lines = ["".join(rng.choices(alphabet, k=rng.randint(1, 200))) for _ in range(20_000)]
    data = "\n".join(lines).encode("gb18030") + b"\n"
    if transcode._iconv() is None:
        pytest.skip("no iconv here: Python's codec decodes every run")
    assert native_utf8(data) == _python(data)
    assert tables._utf8(data, "gb18030", False, False) == _python(data)


@pytest.mark.parametrize(
    "tail",
    [b"\xff\xff", b"\x81", b"\x81\x30", b"\x81\x30\x81", b"\x80", b"\xa6\xd9", b"\x84\x31\x82\x36"],
)
def test_broken_or_differing_bytes_get_no_native_answer(tail: bytes) -> None:
    """A byte that is not GB18030, a code cut at the end, and codes the editions decode apart
    leave the run to Python's codec, which then decodes or refuses it as always."""
    data = "张三,浙江省\n".encode("gb18030") * 1000 + tail
    assert native_utf8(data) is None
    expected = _python(data)
    got = tables._utf8(data, "gb18030", False, False)
    assert got == expected


def test_threads_convert_side_by_side() -> None:
    """Each thread has its own output buffer: runs of different sizes converted at once come
    out whole and unmixed."""
    runs = [("王李张刘龙" * (n * 997 % 5000 + 1) + "\n").encode("gb18030") for n in range(64)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(native_utf8, runs))
    assert results == [_python(run) for run in runs]
