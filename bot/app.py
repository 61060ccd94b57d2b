"""The one place the app is assembled from explicit dependencies."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

import handlers
from bot.audit import AuditLog, MemoryAuditLog
from bot.executor import TrackedExecutor
from bot.planetscale import PlanetScaleClient
from bot.service import PolicyService
from bot.settings import Settings, SettingsError


@dataclass
class Dependencies:
    policies: PolicyService
    audit: AuditLog
    audit_channel: str | None = None


def slack_client(settings: Settings) -> WebClient:
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2),
                        RateLimitErrorRetryHandler(max_retry_count=2),
                        ServerErrorRetryHandler(max_retry_count=2)],
    )


def planetscale_client(settings: Settings) -> PlanetScaleClient:
    if not (settings.planetscale_token_id and settings.planetscale_token):
        raise SettingsError("PLANETSCALE_SERVICE_TOKEN_ID is not set: set it and PLANETSCALE_SERVICE_TOKEN to a "
                            "service token with read_backups and write_backups.")
    return PlanetScaleClient(settings.planetscale_token_id, settings.planetscale_token,
                             settings.planetscale_api_url)


def build_dependencies(settings: Settings, planetscale: PlanetScaleClient | None = None,
                       audit: AuditLog | None = None) -> Dependencies:
    audit = audit or MemoryAuditLog()
    return Dependencies(PolicyService(planetscale or planetscale_client(settings), audit), audit,
                        settings.audit_channel)


def build_app(settings: Settings, deps: Dependencies, executor: Executor | None = None) -> App:
    app = App(
        client=slack_client(settings),
        signing_secret=settings.slack_signing_secret,
        # Ack from the listener itself and run slow work as lazy listeners: no 10 ms ack polling, and
        # the HTTP answer goes back as soon as the ack is decided.
        process_before_response=True,
        # Start without calling Slack; `backup-bot doctor` checks the token.
        token_verification_enabled=False,
        listener_executor=executor or TrackedExecutor(),
        logger=logging.getLogger("slack_bolt"),
    )
    handlers.register(app, deps)
    return app
