"""Weighted draws that stay fast when a table is drawn from millions of times."""

import random
from bisect import bisect
from collections.abc import Iterable, Mapping
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """A fixed population with weights, drawn by bisecting the cumulative weights."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        items: list[T] = []
        weights: list[float] = []
        for item, weight in pairs:
            if weight < 0:
                raise ValueError(f"negative weight {weight} for {item!r}")
            if weight > 0:
                items.append(item)
                weights.append(weight)
        if not items:
            raise ValueError("a weighted table needs at least one item with a positive weight")
        self._items = items
        self._cumulative = list(accumulate(weights))
        self._total = self._cumulative[-1]

    @classmethod
    def from_mapping(cls, weights: Mapping[T, float]) -> "Weighted[T]":
        return cls(weights.items())

    def draw(self, rng: random.Random) -> T:
        index = bisect(self._cumulative, rng.random() * self._total)
        # rng.random() < 1, but float rounding can land exactly on the total.
        return self._items[min(index, len(self._items) - 1)]


def tiered(tiers: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """Expand tiers of characters written as one string each into (character, weight) pairs.

    Pools of given-name characters are written as frequency tiers (very common, common,
    ...), which is how the published character-frequency tables are usually summarised.
    A character listed in two tiers gets both weights.
    """
    pairs: dict[str, float] = {}
    for characters, weight in tiers:
        for char in characters:
            pairs[char] = pairs.get(char, 0.0) + weight
    return list(pairs.items())
