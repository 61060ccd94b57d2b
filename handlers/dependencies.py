"""What the listeners need, built by the runtime (bot/runtime/app.py) and handed to every `register()`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, Protocol

from bot.adapters.slack_http import PooledWebClient
from bot.adapters.store import Store
from bot.domain.access import AccessControl
from bot.domain.changes import ChangePath
from bot.domain.reading import PolicyService

P = ParamSpec("P")


class Background(Protocol):
    """Where work that must not hold up the ack runs, after it."""

    def run(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> None: ...

    def run_answered(self, answer: Callable[[str], None], fn: Callable[P, object], /, *args: P.args,
                     **kwargs: P.kwargs) -> None: ...


@dataclass
class Dependencies:
    policies: PolicyService
    access: AccessControl
    store: Store
    changes: ChangePath
    # Work that must not hold up the ack (anything that calls PlanetScale) runs here, after it.
    background: Background
    audit_channel: str | None = None
    stale_factor: float = 2.0
    # Slack's Web API and response URLs, over one pool of kept-alive connections.
    slack: PooledWebClient | None = None
