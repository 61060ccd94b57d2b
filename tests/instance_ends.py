"""An instance's process ending in the middle of its work, as a test stages it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


class Died(BaseException):
    """The instance's process ends here: nothing after this line of its work runs."""


def dies_after(monkeypatch: pytest.MonkeyPatch, owner: object, name: str,
               when: Callable[..., bool] | None = None) -> None:
    """`owner.name` does its work, then the instance's process ends (Died) where `when`, given the same
    arguments, holds; always, without `when`."""
    real = getattr(owner, name)

    def ending(*args: Any, **kwargs: Any) -> Any:
        done = real(*args, **kwargs)
        if when is None or when(*args, **kwargs):
            raise Died
        return done

    monkeypatch.setattr(owner, name, ending)
