"""Settings from the environment or a `.env` file (the README's table of settings).

A missing or malformed setting is one `SettingsError` line naming the variable and the fix; a secret's
value is never part of it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from dotenv import dotenv_values

from bot.adapters.planetscale import DEFAULT_API_URL as DEFAULT_PLANETSCALE_API_URL
from bot.adapters.planetscale import RateLimiter, parse_rate
from bot.domain.access import DEFAULT_GROUP_CACHE_MAX_AGE, parse_duration

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# Always used with fullmatch: `$` would also accept a trailing newline.
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


class SettingsError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    planetscale_token_id: str | None = None
    planetscale_token: str | None = None
    planetscale_api_url: str = DEFAULT_PLANETSCALE_API_URL
    # PlanetScale answers 429 beyond 600 requests a minute; the bot spaces its requests to stay within this.
    planetscale_rate: str = "600/min"
    database_url: str = "sqlite:///backup-bot.db"
    access_file: str = "access.toml"
    audit_channel: str | None = None
    port: int = 3000
    log_format: str = "text"
    log_level: str = "INFO"
    group_cache_max_age: int = DEFAULT_GROUP_CACHE_MAX_AGE
    # A policy is stale when its last successful backup is older than this many times its frequency.
    stale_factor: float = 2.0
    # Seconds between two passes of the watch; None: no watch.
    watch_every: float | None = 300.0

    def planetscale_limiter(self) -> RateLimiter:
        return parse_rate(self.planetscale_rate)

    @property
    def has_planetscale_token(self) -> bool:
        return bool(self.planetscale_token_id and self.planetscale_token)

    def secrets(self) -> list[str]:
        values = (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.planetscale_token)
        return [v for v in values if v]

    @classmethod
    def load(
        cls,
        require: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        dotenv_path: str | None = ".env",
    ) -> Settings:
        """Read the settings; `require` names the variables this process cannot start without."""
        values: dict[str, str] = {}
        if dotenv_path and os.path.exists(dotenv_path):
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(os.environ if env is None else env)

        def get(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        for name in require:
            if get(name) is None:
                raise SettingsError(f"{name} is not set: {HOW_TO_SET[name]}")

        bot_token = get("SLACK_BOT_TOKEN")
        if bot_token and not bot_token.startswith("xoxb-"):
            raise SettingsError("SLACK_BOT_TOKEN is malformed: a bot token starts with `xoxb-` "
                                "(OAuth & Permissions → Bot User OAuth Token).")
        app_token = get("SLACK_APP_TOKEN")
        if app_token and not app_token.startswith("xapp-"):
            raise SettingsError("SLACK_APP_TOKEN is malformed: an app-level token starts with `xapp-` "
                                "(Basic Information → App-Level Tokens, scope connections:write).")
        token_id, token = get("PLANETSCALE_SERVICE_TOKEN_ID"), get("PLANETSCALE_SERVICE_TOKEN")
        if bool(token_id) != bool(token):
            missing = "PLANETSCALE_SERVICE_TOKEN" if token_id else "PLANETSCALE_SERVICE_TOKEN_ID"
            raise SettingsError(f"{missing} is not set: the service token needs both its ID and its value.")
        if token_id and not re.fullmatch(r"[A-Za-z0-9_-]+", token_id):
            raise SettingsError("PLANETSCALE_SERVICE_TOKEN_ID is malformed: use the token's ID as PlanetScale "
                                "shows it (letters, digits, `-`, `_`).")
        audit_channel = get("BACKUP_BOT_AUDIT_CHANNEL")
        if audit_channel and not CHANNEL_ID.fullmatch(audit_channel):
            raise SettingsError("BACKUP_BOT_AUDIT_CHANNEL is malformed: use a channel ID such as C0123ABCD "
                                "(channel details → About), not its name.")
        database_url = get("BACKUP_BOT_DATABASE_URL") or cls.database_url
        if not database_url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise SettingsError("BACKUP_BOT_DATABASE_URL is malformed: use sqlite:///path/to/file.db or "
                                "postgresql://user@host/db.")
        port_text = get("PORT") or "3000"
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise SettingsError(f"PORT is malformed: `{port_text[:10]}` is not a port number (1–65535).")

        planetscale_rate = get("BACKUP_BOT_PLANETSCALE_RATE") or cls.planetscale_rate
        try:
            parse_rate(planetscale_rate)
        except ValueError as exc:
            raise SettingsError(f"BACKUP_BOT_PLANETSCALE_RATE is malformed: {exc}.") from None

        log_format = (get("BACKUP_BOT_LOG_FORMAT") or "text").lower()
        if log_format not in ("text", "json"):
            raise SettingsError(f"BACKUP_BOT_LOG_FORMAT is malformed: `{log_format[:20]}`; use json or text.")
        log_level = (get("BACKUP_BOT_LOG_LEVEL") or "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"BACKUP_BOT_LOG_LEVEL is malformed: `{log_level[:20]}`; use DEBUG, INFO, WARNING "
                                "or ERROR.")

        max_age_text = get("BACKUP_BOT_GROUP_CACHE_MAX_AGE") or "1h"
        try:
            group_cache_max_age = parse_duration(max_age_text)
        except ValueError:
            raise SettingsError(f"BACKUP_BOT_GROUP_CACHE_MAX_AGE is malformed: `{max_age_text[:20]}`; use a duration "
                                "such as 30m, 1h or 1d.") from None

        stale_text = get("BACKUP_BOT_STALE_FACTOR") or "2"
        try:
            stale_factor = float(stale_text)
        except ValueError:
            stale_factor = 0.0
        if not 1.0 <= stale_factor <= 100.0:
            raise SettingsError(f"BACKUP_BOT_STALE_FACTOR is malformed: `{stale_text[:20]}`; use a number from 1 to "
                                "100 (2: stale when the last success is older than twice the policy's frequency).")

        watch_text = (get("BACKUP_BOT_WATCH_EVERY") or "5m").lower()
        watch_every = parse_watch_every(watch_text)

        return cls(
            slack_bot_token=bot_token,
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=app_token,
            slack_api_url=_url("SLACK_API_URL", get("SLACK_API_URL") or DEFAULT_SLACK_API_URL, slash=True),
            planetscale_token_id=token_id,
            planetscale_token=token,
            planetscale_api_url=_url("PLANETSCALE_API_URL",
                                     get("PLANETSCALE_API_URL") or DEFAULT_PLANETSCALE_API_URL),
            planetscale_rate=planetscale_rate,
            database_url=database_url,
            access_file=get("BACKUP_BOT_ACCESS_FILE") or cls.access_file,
            audit_channel=audit_channel,
            port=int(port_text),
            log_format=log_format,
            log_level=log_level,
            group_cache_max_age=group_cache_max_age,
            stale_factor=stale_factor,
            watch_every=watch_every,
        )


WATCH_EVERY = re.compile(r"([0-9]{1,6})\s*(s|m|h)")
WATCH_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_watch_every(text: str) -> float | None:
    if text == "off":
        return None
    match = WATCH_EVERY.fullmatch(text.strip())
    seconds = int(match.group(1)) * WATCH_UNITS[match.group(2)] if match else 0
    if not 1 <= seconds <= 86400:
        raise SettingsError(f"BACKUP_BOT_WATCH_EVERY is malformed: `{text[:20]}`; use a duration such as 30s, 5m or "
                            "1h (at most 24h), or off.")
    return float(seconds)


def _url(name: str, value: str, slash: bool = False) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        # The value is not repeated: a token pasted into the wrong variable must not be printed.
        raise SettingsError(f"{name} is malformed: it must be an http(s) URL such as https://host/path.")
    if slash and not value.endswith("/"):
        value += "/"
    return value


HOW_TO_SET = {
    "SLACK_BOT_TOKEN": "set it to the app's Bot User OAuth Token (xoxb-…, OAuth & Permissions), "
                       "in the environment or .env.",
    "SLACK_SIGNING_SECRET": "set it to the app's Signing Secret (Basic Information → App Credentials), "
                            "in the environment or .env.",
    "SLACK_APP_TOKEN": "Socket Mode needs an app-level token (xapp-…, Basic Information → App-Level Tokens).",
    "PLANETSCALE_SERVICE_TOKEN_ID": "set it and PLANETSCALE_SERVICE_TOKEN to a PlanetScale service token "
                                    "with read_backups and write_backups on your databases.",
    "PLANETSCALE_SERVICE_TOKEN": "set it and PLANETSCALE_SERVICE_TOKEN_ID to a PlanetScale service token "
                                 "with read_backups and write_backups on your databases.",
}
