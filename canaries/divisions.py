"""The GB/T 2260 administrative division table, shipped offline with the package.

Codes are six digits: `PP0000` a province-level division, `PPCC00` a prefecture-level one,
anything else a county-level one. Municipalities (北京, 上海, ...) and a few provinces hold
county-level divisions directly, so a district's parent is not always a prefecture.
"""

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources


class Level(StrEnum):
    PROVINCE = "province"
    PREFECTURE = "prefecture"
    COUNTY = "county"


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    kind: str
    parent_code: str | None

    @property
    def level(self) -> Level:
        if self.parent_code is None:
            return Level.PROVINCE
        if self.code.endswith("00"):
            return Level.PREFECTURE
        return Level.COUNTY


class UnknownDivisionError(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(f"{code!r} is not a GB/T 2260 administrative division code")
        self.code = code


class DivisionTable:
    def __init__(self, divisions: list[Division]) -> None:
        self._by_code = {d.code: d for d in divisions}
        children: dict[str, list[Division]] = {}
        for d in divisions:
            if d.parent_code is not None:
                children.setdefault(d.parent_code, []).append(d)
        self._children = children

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> Division:
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownDivisionError(code) from None

    def children(self, code: str) -> list[Division]:
        return list(self._children.get(code, ()))

    def ancestors(self, code: str) -> list[Division]:
        """The division and the ones above it, province last."""
        chain = [self.get(code)]
        while (parent := chain[-1].parent_code) is not None:
            chain.append(self.get(parent))
        return chain

    def all(self) -> list[Division]:
        return list(self._by_code.values())


def _parse(text: str) -> list[Division]:
    divisions = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, name, kind, parent = line.split("\t")
        divisions.append(Division(code, name, kind, parent or None))
    return divisions


@cache
def division_table() -> DivisionTable:
    text = resources.files("canaries").joinpath("data/gbt2260.tsv").read_text("utf-8")
    return DivisionTable(_parse(text))
