"""The PlanetScale client's waits, recorded instead of slept (the `sleeps` fixture of tests/conftest.py), with
something moved in PlanetScale, the rules or the clock while the client waits."""

from __future__ import annotations

from collections.abc import Callable

import pytest


class Waits(list[float]):
    """The PlanetScale client's waits: `during` runs in each, and `at[n]` in the nth."""

    def __init__(self) -> None:
        super().__init__()
        self.during: Callable[[], object] | None = None
        self.at: dict[int, Callable[[], object]] = {}

    def append(self, seconds: float) -> None:
        super().append(seconds)
        if self.during is not None:
            self.during()
        if len(self) in self.at:
            self.at[len(self)]()


@pytest.fixture
def sleeps() -> Waits:
    return Waits()
