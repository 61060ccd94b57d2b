"""Watching the app's calls on the Store, for tests that bound what a step costs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from bot.adapters.store import Store


@contextmanager
def watched_store(store: Store, called: Callable[[str], None]) -> Iterator[None]:
    """`called` with each Store method's name as the app calls it; a Store method calling another counts once."""
    inside = threading.local()

    def watching(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            if not getattr(inside, "depth", 0):
                called(name)
            inside.depth = getattr(inside, "depth", 0) + 1
            try:
                return method(*args, **kwargs)
            finally:
                inside.depth -= 1
        return call

    names = [n for n in dir(Store) if not n.startswith("_") and callable(getattr(Store, n))]
    for name in names:
        setattr(store, name, watching(name, getattr(store, name)))
    try:
        yield
    finally:
        for name in names:
            delattr(store, name)
