"""Waybill numbers per courier and record date: minted, validated and normalised together.

Formats are the public ones printed on e-waybills. Leading digits are not free: couriers
hand out number ranges over time, so a number's head must fit the record's date. The
series below are approximations from publicly visible numbers; they should be checked
against a courier's own recent waybills before a link's canaries go out.
"""

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from canaries.couriers import Courier

# Weights of the UPU S10 check digit (S10 standard, section 5.2).
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)

WaybillSource = Callable[[Courier, date], str]
"""A courier's own numbering service: given courier and record date, the next number."""


class WaybillFormatError(ValueError):
    def __init__(self, courier: Courier, number: str) -> None:
        super().__init__(f"{number!r} is not a valid {courier.value} waybill number")
        self.courier = courier
        self.number = number


def s10_check_digit(serial: str) -> int:
    """The S10 mod-11 check digit of an 8-digit serial (remainder 0 -> 5, 1 -> 0)."""
    remainder = sum(int(d) * w for d, w in zip(serial, S10_WEIGHTS, strict=True)) % 11
    if remainder == 0:
        return 5
    if remainder == 1:
        return 0
    return 11 - remainder


@dataclass(frozen=True, slots=True)
class _Era:
    since: date
    heads: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Format:
    pattern: re.Pattern[str]
    length: int  # total characters, head included
    eras: tuple[_Era, ...]

    def heads_on(self, on: date) -> tuple[str, ...]:
        current = self.eras[0].heads
        for era in self.eras:
            if era.since <= on:
                current = era.heads
        return current


def _era(year: int, month: int, *heads: str) -> _Era:
    return _Era(date(year, month, 1), heads)


_FORMATS: dict[Courier, _Format] = {
    Courier.SF: _Format(
        re.compile(r"SF\d{13}"),
        15,
        (
            _era(2019, 1, "SF10", "SF11"),
            _era(2021, 1, "SF13", "SF14"),
            _era(2023, 1, "SF14", "SF15"),
        ),
    ),
    Courier.ZTO: _Format(
        re.compile(r"7[3-8]\d{12}"),
        14,
        (_era(2019, 1, "73", "75"), _era(2021, 1, "75", "76"), _era(2022, 6, "77", "78")),
    ),
    Courier.YTO: _Format(
        re.compile(r"YT\d{13}"),
        15,
        (_era(2019, 1, "YT4", "YT6"), _era(2021, 1, "YT6", "YT7"), _era(2023, 1, "YT7", "YT8")),
    ),
    Courier.STO: _Format(
        re.compile(r"77\d{13}"),
        15,
        (_era(2019, 1, "772", "773"), _era(2021, 6, "773", "776"), _era(2023, 6, "777", "778")),
    ),
    Courier.YUNDA: _Format(
        re.compile(r"[34]\d{14}"),
        15,
        (_era(2019, 1, "31", "43"), _era(2021, 1, "43", "46"), _era(2023, 1, "46", "43", "31")),
    ),
    Courier.JD: _Format(
        re.compile(r"JD[0-9A-Z]{2}\d{11}"),
        15,
        (
            _era(2019, 1, "JDVA", "JDVB"),
            _era(2021, 1, "JDVB", "JDVC"),
            _era(2023, 1, "JDVD", "JDVE"),
        ),
    ),
    Courier.JT: _Format(
        re.compile(r"JT\d{13}"),
        15,
        (
            _era(2020, 1, "JT0", "JT3"),
            _era(2022, 1, "JT3", "JT5"),
            _era(
                2024,
                1,
                "JT5",
            ),
        ),
    ),
    Courier.EMS: _Format(
        re.compile(r"\d{13}|[A-Z]{2}\d{9}[A-Z]{2}"),
        13,
        (
            _era(2019, 1, "10", "11", "50"),
            _era(2021, 1, "11", "97", "98"),
            _era(2023, 1, "98", "11"),
        ),
    ),
    Courier.DEPPON: _Format(
        re.compile(r"DPK\d{12}"),
        15,
        (
            _era(2019, 1, "DPK20", "DPK36"),
            _era(2022, 1, "DPK36", "DPK60"),
            _era(
                2024,
                1,
                "DPK60",
            ),
        ),
    ),
}

# EMS international service indicators (S10 E*, express mail service) used by China Post.
EMS_INTERNATIONAL_SERVICES = ("EA", "EB", "EE", "EF", "EG", "EK", "EL", "EM", "EV", "EX")
_WAYBILL_NOISE = re.compile(r"[\s\-_/]")
# JD prints parcel n of m of a multi-parcel order as `JDVA00012345678-1-5-`.
_JD_PARCEL_SUFFIX = re.compile(r"-\d{1,3}-\d{1,3}-?$")


def normalise_waybill(text: str) -> str:
    """Upper-case ASCII without spaces, dashes, slashes or JD parcel suffixes, as keyed."""
    ascii_text = "".join(
        chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in text.strip()
    )
    ascii_text = _JD_PARCEL_SUFFIX.sub("", ascii_text)
    return _WAYBILL_NOISE.sub("", ascii_text).upper()


def _ems_valid(number: str) -> bool:
    if len(number) == 13 and number.isdigit():
        # Domestic numbers mirror the S10 layout with digits in place of the letters:
        # 2-digit product code, 8-digit serial, check digit, 2-digit office code.
        return int(number[10]) == s10_check_digit(number[2:10])
    return (
        number[:2].isalpha()
        and number[2:11].isdigit()
        and number[11:].isalpha()
        and int(number[10]) == s10_check_digit(number[2:10])
    )


def is_valid_waybill(courier: Courier, text: str) -> bool:
    number = normalise_waybill(text)
    if not _FORMATS[courier].pattern.fullmatch(number):
        return False
    if courier is Courier.EMS:
        return _ems_valid(number)
    return True


def couriers_for(text: str) -> list[Courier]:
    """The couriers whose format the text fits (a leaked list often drops the courier)."""
    return [c for c in Courier if is_valid_waybill(c, text)]


def _digits(rng: random.Random, count: int) -> str:
    return f"{rng.randrange(10**count):0{count}d}"


def _ems_number(rng: random.Random, head: str, international: bool) -> str:
    serial = _digits(rng, 8)
    check = s10_check_digit(serial)
    if international:
        return f"{rng.choice(EMS_INTERNATIONAL_SERVICES)}{serial}{check}CN"
    return f"{head}{serial}{check}{_digits(rng, 2)}"


class WaybillMinter:
    """Mints waybill numbers, or takes them from the courier's own numbering service.

    Numbers from `source` are validated: a malformed number would make the canary stand out.
    """

    def __init__(self, source: WaybillSource | None = None, ems_international_share: float = 0.0):
        self.source = source
        self.ems_international_share = ems_international_share

    def mint(self, rng: random.Random, courier: Courier, on: date) -> str:
        if self.source is not None:
            number = normalise_waybill(self.source(courier, on))
            if not is_valid_waybill(courier, number):
                raise WaybillFormatError(courier, number)
            return number
        fmt = _FORMATS[courier]
        head = rng.choice(fmt.heads_on(on))
        if courier is Courier.EMS:
            return _ems_number(rng, head, rng.random() < self.ems_international_share)
        return head + _digits(rng, fmt.length - len(head))
