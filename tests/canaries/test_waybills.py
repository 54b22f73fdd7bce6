"""Waybill numbers: every courier's format by independent regex, S10 by tracking-numbers."""

import random
import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tracking_numbers import get_definition  # type: ignore[import-untyped]
from tracking_numbers.checksum_validator import S10  # type: ignore[import-untyped]

from canaries.couriers import Courier
from canaries.waybills import (
    WaybillFormatError,
    WaybillMinter,
    couriers_for,
    is_valid_waybill,
    normalise_waybill,
)

# The couriers' published formats, written here independently of canaries.waybills.
FORMATS = {
    Courier.SF: r"SF\d{13}",
    Courier.ZTO: r"7[3-8]\d{12}",
    Courier.YTO: r"YT\d{13}",
    Courier.STO: r"77\d{13}",
    Courier.YUNDA: r"[34]\d{14}",
    Courier.JD: r"JD[A-Z0-9]{2}\d{11}",
    Courier.JT: r"JT\d{13}",
    Courier.EMS: r"\d{13}",
    Courier.DEPPON: r"DPK\d{12}",
}
S10_DEFINITION = get_definition("S10")
DATES = st.dates(min_value=date(2019, 1, 1), max_value=date(2027, 12, 31))


def _s10_digits_pass(number: str) -> bool:
    """Check a 13-digit EMS number's serial (3-10) and check digit (11) with tracking-numbers."""
    return bool(S10().passes([int(d) for d in number[2:10]], int(number[10])))


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), courier=st.sampled_from(list(Courier)), on=DATES)
def test_minted_numbers_follow_the_courier_format(seed: int, courier: Courier, on: date) -> None:
    rng = random.Random(seed)
    minter = WaybillMinter()
    for _ in range(20):
        number = minter.mint(rng, courier, on)
        assert re.fullmatch(FORMATS[courier], number), number
        assert is_valid_waybill(courier, number)
        assert courier in couriers_for(number)
        if courier is Courier.EMS:
            assert _s10_digits_pass(number)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), on=DATES)
def test_international_ems_numbers_are_upu_s10(seed: int, on: date) -> None:
    rng = random.Random(seed)
    minter = WaybillMinter(ems_international_share=1.0)
    for _ in range(20):
        number = minter.mint(rng, Courier.EMS, on)
        assert re.fullmatch(r"E[A-Z]\d{9}CN", number)
        found = S10_DEFINITION.test(number)
        assert found is not None and found.valid, number
        assert is_valid_waybill(Courier.EMS, number)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), wrong=st.integers(1, 9))
def test_a_wrong_ems_check_digit_is_rejected(seed: int, wrong: int) -> None:
    number = WaybillMinter().mint(random.Random(seed), Courier.EMS, date(2025, 1, 1))
    broken = number[:10] + str((int(number[10]) + wrong) % 10) + number[11:]
    assert not _s10_digits_pass(broken)
    assert not is_valid_waybill(Courier.EMS, broken)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), courier=st.sampled_from(list(Courier)))
def test_normalise_undoes_spaces_dashes_case_and_full_width(seed: int, courier: Courier) -> None:
    number = WaybillMinter().mint(random.Random(seed), courier, date(2025, 6, 1))
    messy = " " + "-".join(number[i : i + 4] for i in range(0, len(number), 4)).lower() + " "
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)
    assert normalise_waybill(messy) == number
    assert normalise_waybill(full_width) == number
    assert is_valid_waybill(courier, messy)


@pytest.mark.parametrize(
    ("courier", "text"),
    [
        (Courier.SF, "SF12345678901"),
        (Courier.ZTO, "71234567890123"),
        (Courier.STO, "783456789012345"),
        (Courier.YUNDA, "512345678901234"),
        (Courier.DEPPON, "DPK1234567890"),
        (Courier.JT, "YT1234567890123"),
    ],
)
def test_malformed_numbers_are_rejected(courier: Courier, text: str) -> None:
    assert not is_valid_waybill(courier, text)


def test_numbers_from_the_courier_service_are_used_and_checked() -> None:
    calls: list[tuple[Courier, date]] = []

    def service(courier: Courier, on: date) -> str:
        calls.append((courier, on))
        return "sf 1400 0000 00001"

    minter = WaybillMinter(source=service)
    assert minter.mint(random.Random(1), Courier.SF, date(2025, 1, 2)) == "SF1400000000001"
    assert calls == [(Courier.SF, date(2025, 1, 2))]
    with pytest.raises(WaybillFormatError):
        WaybillMinter(source=lambda c, d: "bogus").mint(
            random.Random(1), Courier.ZTO, date(2025, 1, 2)
        )
