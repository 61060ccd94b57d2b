"""Settings from the environment, a `.env` file, or files named by `*_FILE` (the README's table of settings).

pydantic-settings reads the `.env` file and validates every variable in one pass, so that every missing or
malformed setting is reported at once: one `SettingsError` line each, naming the variable and the fix. A
secret's value is never part of a line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.adapters.planetscale import DEFAULT_API_URL as DEFAULT_PLANETSCALE_API_URL
from bot.adapters.rate_limit import RateLimiter, parse_rate
from bot.domain.access_rules import parse_duration
from bot.domain.field_problems import FieldProblem, field_problems
from bot.domain.group_directory import DEFAULT_GROUP_CACHE_MAX_AGE
from bot.domain.policy import lone_surrogate
from bot.runtime.dotenv_repeats import assignments, repeated, unread_lines, without_equals
from bot.runtime.files import regular_bytes, unreadable
from bot.runtime.setting_secrets import as_written
from bot.runtime.setting_urls import api_url, in_memory, readable_host

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
GROUP_CACHE_MAX_AGE_MOST = 7 * 86400
# Always used with fullmatch: `$` would also accept a trailing newline.
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
SECRET_NAMES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "PLANETSCALE_SERVICE_TOKEN")
# What the bot's own tests read from a developer's shell (the README's Tests): no setting, and no typo of one.
TEST_NAMES = frozenset({"BACKUP_BOT_TEST_POSTGRES_URL", "BACKUP_BOT_REQUIRE_POSTGRES"})
# What the demo console leaves aside: it talks to its own emulators.
OUTSIDE_SERVICES = (*SECRET_NAMES, "SLACK_API_URL", "PLANETSCALE_SERVICE_TOKEN_ID", "PLANETSCALE_API_URL")
# What .env.example holds until someone fills it in.
PLACEHOLDER = re.compile(r"(xoxb-|xapp-)?your-[a-z-]*|xoxb-\.\.\.|xapp-\.\.\.")


class SettingsError(Exception):
    """One or more settings problems, one line each."""

    def __init__(self, *problems: str):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


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
    # None: json under serve and socket, text elsewhere.
    log_format: str | None = None
    log_level: str = "INFO"
    group_cache_max_age: int = DEFAULT_GROUP_CACHE_MAX_AGE
    # A policy is stale when its last successful backup is older than this many times its frequency.
    stale_factor: float = 2.0
    # Seconds between two passes of the watch; None: no watch.
    watch_every: float | None = 300.0
    # The watch's share of PlanetScale's budget per minute (0 to 1); people's commands keep the rest.
    watch_share: float = 0.25
    # Seconds the work in flight may take to finish after SIGTERM.
    drain_timeout: float = 20.0
    # `serve`'s processes for the work after the acks, at a lower priority than the one that acks; 0: none.
    workers: int = 1
    unknown_names: tuple[str, ...] = ()  # the environment's BACKUP_BOT_ names no setting has: logged, and doctor's

    def planetscale_limiter(self) -> RateLimiter:
        return parse_rate(self.planetscale_rate)

    @property
    def has_planetscale_token(self) -> bool:
        return bool(self.planetscale_token_id and self.planetscale_token)

    def secrets(self) -> list[str]:
        # The token's ID is half of its credentials (`Authorization: <id>:<token>`): a secret as the token is.
        values = (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.planetscale_token_id,
                  self.planetscale_token)
        return [v for v in values if v]

    @classmethod
    def load(
        cls,
        require: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        dotenv_path: str | None = ".env",
        ignore: Iterable[str] = (),
    ) -> Settings:
        """Read the settings; `require` names the variables this process cannot start without, `ignore` those it
        leaves at their defaults whatever is set (the demo's own Slack and PlanetScale).

        `env` stands for the process environment (tests); the `.env` file counts below it."""
        ignored = set(ignore)
        environment = {k: v for k, v in (os.environ if env is None else env).items()
                       if k not in ignored and k.removesuffix("_FILE") not in ignored}
        # lexists: a link to nothing is a .env that cannot be read, not no .env (its settings left at their defaults).
        dotenv_file = dotenv_path if dotenv_path and os.path.lexists(dotenv_path) else None
        problems: list[str] = []
        unwritten: set[str] = set()  # the settings `.env` names without `=`: told with their lines
        if dotenv_file is not None:
            cannot = unreadable(dotenv_file)
            if cannot:  # nothing in it can be read: nothing else can be judged
                raise SettingsError(*cannot)
            # A line it cannot parse or a name no setting has is one problem among the others, all told at once.
            problems += _unknown_names(dotenv_file) + _unparsed(dotenv_file)
            # A name the environment sets is the environment's: its lines in `.env` are in force in none.
            problems += repeated(dotenv_file, {*FIELD_NAMES, *(f"{name}_FILE" for name in SECRET_NAMES)}
                                 - environment.keys())
            alone = without_equals(dotenv_file, {*FIELD_NAMES, *(f"{name}_FILE" for name in SECRET_NAMES)}
                                   - environment.keys() - _dotenv(dotenv_file).keys())
            problems += [f"{dotenv_file} line {number}: {name} has no `=`, so it is not set: write {name}=value "
                         "(no spaces around `=`; quote a value that holds spaces or `#`)." for number, name in alone]
            unwritten = {name for _, name in alone}
            known = {*FIELD_NAMES, *(f"{name}_FILE" for name in SECRET_NAMES)}
            problems += unread_lines(dotenv_file, {*(n for n, _ in alone), *(
                n for n, name, _ in assignments(dotenv_file, known) if name not in _dotenv(dotenv_file))})
        given = {k: v for k, v in environment.items() if k in FIELD_NAMES}
        for name, value in list(given.items()):
            if lone_surrogate(value):  # bytes the environment holds that are not UTF-8: pydantic would raise on them
                problems.append(f"{name} is not UTF-8 text (a byte of another encoding): set it again in UTF-8.")
                del given[name]
        given.update(_secret_files(environment, dotenv_file, problems, ignored))
        present = {k for k, v in {**_dotenv(dotenv_file), **given}.items() if v.strip() and k not in ignored}
        given.update({name: "" for name in ignored if name in FIELD_NAMES})
        for name in require:
            if name not in present and name not in unwritten:
                problems.append(f"{name} is not set: {HOW_TO_SET[name]}")
        pair = {"PLANETSCALE_SERVICE_TOKEN_ID", "PLANETSCALE_SERVICE_TOKEN"}
        if len(pair & present) == 1 and not pair & set(require):
            missing = next(iter(pair - present))
            problems.append(f"{missing} is not set: the service token needs both its ID and its value.")
        read = None
        try:
            read = _Environment(_env_file=dotenv_file, **given)  # type: ignore[call-arg, arg-type]
        except ValidationError as exc:
            problems.extend(_problem_line(problem) for problem in field_problems(exc))
        if problems:
            raise SettingsError(*dict.fromkeys(problems))
        assert read is not None
        return cls(**read.model_dump(), unknown_names=tuple(_not_settings(
            sorted(name for name in environment if name.startswith("BACKUP_BOT_") and name not in TEST_NAMES),
            "the environment")))


def _problem_line(problem: FieldProblem) -> str:
    """pydantic's error, as one line naming the variable; never the value (it may be a secret)."""
    message = problem.message
    if "\n" in message or problem.kind != "value_error":
        message = "is malformed: not a value it can use"
    return f"{problem.field or 'a setting'} {message}"


def _unknown_names(dotenv_file: str) -> list[str]:
    """A BACKUP_BOT_ name in .env that no setting has: a typo would otherwise leave the default in force."""
    known = [*FIELD_NAMES, *(f"{name}_FILE" for name in SECRET_NAMES)]
    return _not_settings((name for name in _dotenv(dotenv_file)  # in any case: the names are upper case
                          if name.upper().startswith("BACKUP_BOT_") or name.upper() in known), dotenv_file)


def _not_settings(names: Iterable[str], where: str) -> list[str]:
    """Each name no setting has, and the one meant; the environment's are told, not refused: others share it."""
    import difflib

    known = [*FIELD_NAMES, *(f"{name}_FILE" for name in SECRET_NAMES)]
    return [f"{name} in {where} is not a setting" + (f": did you mean {close[0]}?" if close else ".")
            for name in names if name not in known for close in [difflib.get_close_matches(name.upper(), known, n=1)]]


def _unparsed(dotenv_file: str) -> list[str]:
    """A setting's line in .env that python-dotenv cannot parse (an unclosed quote): it would skip the line with a
    warning of its own, and the setting would silently keep its default."""
    known = {*FIELD_NAMES, *(f"{name}_FILE" for name in SECRET_NAMES)}
    read = _dotenv(dotenv_file)
    first = next(((number, name) for number, name, _ in assignments(dotenv_file, known) if name not in read), None)
    if first is None:
        return []
    return [f"{dotenv_file} line {first[0]}: {first[1]} cannot be read (an unclosed quote?): write NAME=value, and "
            "if the value is quoted, one quote of the same kind at each end."]


def _dotenv(dotenv_file: str | None) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in (dotenv_values(dotenv_file) if dotenv_file else {}).items() if v is not None}


def _secret_files(environment: Mapping[str, str], dotenv_file: str | None, problems: list[str],
                  ignored: set[str]) -> dict[str, str]:
    """`SLACK_BOT_TOKEN_FILE=/run/secrets/…`: the secret read from the file (mounted secrets)."""
    dotenv = _dotenv(dotenv_file)
    named = {**dotenv, **environment}
    found: dict[str, str] = {}
    for name in (n for n in SECRET_NAMES if n not in ignored):
        path = (named.get(f"{name}_FILE") or "").strip()
        if not path:
            continue
        # Both in one place: which one the operator means cannot be told (the environment's file wins over .env).
        same_place = environment if (environment.get(f"{name}_FILE") or "").strip() else {**dotenv, **environment}
        value = (same_place.get(name) or "").strip()
        if value and not PLACEHOLDER.fullmatch(value):  # .env.example's placeholder, left beside the file, is none
            problems.append(f"{name} and {name}_FILE are both set: keep one of them.")
            continue
        try:
            found[name] = regular_bytes(path).decode("utf-8-sig").strip()  # -sig: as Windows editors save it
        except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL byte in the path (.env can hold one)
            reason = getattr(exc, "strerror", None) or ("a NUL byte in its path" if "\0" in path else "not UTF-8 text")
            problems.append(f"{name}_FILE cannot be read ({reason}): point it at a readable file holding only "
                            "the secret.")
    return found


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _secret(name: str, value: str | None, prefix: str = "", hint: str = "") -> str | None:
    if value is None:
        return None
    if PLACEHOLDER.fullmatch(value):
        raise ValueError(f"is still the placeholder from .env.example: {HOW_TO_SET[name]}")
    return as_written(value, prefix, hint)


class _Environment(BaseSettings):
    """The variables as read: each checked on its own, so that pydantic reports every bad one at once."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True, env_file_encoding="utf-8",
                                      populate_by_name=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment arrives as init values (Settings.load), so that it wins over the .env file.
        return init_settings, dotenv_settings

    slack_bot_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN"))
    slack_signing_secret: str | None = Field(None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET"))
    slack_app_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, validation_alias=AliasChoices("SLACK_API_URL"))
    planetscale_token_id: str | None = Field(None, validation_alias=AliasChoices("PLANETSCALE_SERVICE_TOKEN_ID"))
    planetscale_token: str | None = Field(None, validation_alias=AliasChoices("PLANETSCALE_SERVICE_TOKEN"))
    planetscale_api_url: str = Field(DEFAULT_PLANETSCALE_API_URL, validation_alias=AliasChoices("PLANETSCALE_API_URL"))
    planetscale_rate: str = Field("600/min", validation_alias=AliasChoices("BACKUP_BOT_PLANETSCALE_RATE"))
    database_url: str = Field("sqlite:///backup-bot.db", validation_alias=AliasChoices("BACKUP_BOT_DATABASE_URL"))
    access_file: str = Field("access.toml", validation_alias=AliasChoices("BACKUP_BOT_ACCESS_FILE"))
    audit_channel: str | None = Field(None, validation_alias=AliasChoices("BACKUP_BOT_AUDIT_CHANNEL"))
    port: int = Field(3000, validation_alias=AliasChoices("PORT"))
    log_format: str | None = Field(None, validation_alias=AliasChoices("BACKUP_BOT_LOG_FORMAT"))
    log_level: str = Field("INFO", validation_alias=AliasChoices("BACKUP_BOT_LOG_LEVEL"))
    group_cache_max_age: int = Field(DEFAULT_GROUP_CACHE_MAX_AGE,
                                     validation_alias=AliasChoices("BACKUP_BOT_GROUP_CACHE_MAX_AGE"))
    stale_factor: float = Field(2.0, validation_alias=AliasChoices("BACKUP_BOT_STALE_FACTOR"))
    watch_every: float | None = Field(300.0, validation_alias=AliasChoices("BACKUP_BOT_WATCH_EVERY"))
    watch_share: float = Field(0.25, validation_alias=AliasChoices("BACKUP_BOT_WATCH_SHARE"))
    drain_timeout: float = Field(20.0, validation_alias=AliasChoices("BACKUP_BOT_DRAIN_TIMEOUT"))
    workers: int = Field(1, validation_alias=AliasChoices("BACKUP_BOT_WORKERS"))

    @field_validator("slack_bot_token", mode="before")
    @classmethod
    def _bot_token(cls, value: object) -> str | None:
        return _secret("SLACK_BOT_TOKEN", _text(value), "xoxb-", "a bot token starts with `xoxb-` "
                       "(OAuth & Permissions → Bot User OAuth Token)")

    @field_validator("slack_app_token", mode="before")
    @classmethod
    def _app_token(cls, value: object) -> str | None:
        return _secret("SLACK_APP_TOKEN", _text(value), "xapp-", "an app-level token starts with `xapp-` "
                       "(Basic Information → App-Level Tokens, scope connections:write)")

    @field_validator("slack_signing_secret", mode="before")
    @classmethod
    def _signing_secret(cls, value: object) -> str | None:
        return _secret("SLACK_SIGNING_SECRET", _text(value))

    @field_validator("planetscale_token", mode="before")
    @classmethod
    def _planetscale_token(cls, value: object) -> str | None:
        return _secret("PLANETSCALE_SERVICE_TOKEN", _text(value))

    @field_validator("planetscale_token_id", mode="before")
    @classmethod
    def _planetscale_token_id(cls, value: object) -> str | None:
        text = _text(value)
        if text is not None and PLACEHOLDER.fullmatch(text):
            raise ValueError("is still the placeholder from .env.example: "
                             + HOW_TO_SET["PLANETSCALE_SERVICE_TOKEN_ID"])
        if text is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", text):
            raise ValueError("is malformed: use the token's ID as PlanetScale shows it (letters, digits, `-`, `_`; "
                             "a comment after the value? put comments on lines of their own)")
        return text

    @field_validator("slack_api_url", mode="before")
    @classmethod
    def _slack_url(cls, value: object) -> str:
        return api_url(_text(value) or DEFAULT_SLACK_API_URL, slash=True)

    @field_validator("planetscale_api_url", mode="before")
    @classmethod
    def _planetscale_url(cls, value: object) -> str:
        return api_url(_text(value) or DEFAULT_PLANETSCALE_API_URL)

    @field_validator("planetscale_rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> str:
        text = _text(value) or "600/min"
        try:
            parse_rate(text)
        except ValueError as exc:
            raise ValueError(f"is malformed: {exc}.") from None
        return text

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: object) -> str:
        text = _text(value)
        if text is None:  # set, but to nothing: the default would be a new database beside the bot, one per instance
            raise ValueError("is empty (`${DATABASE_URL}` with that variable unset?): set it to sqlite:///path/to/"
                             "file.db or postgresql://user@host/db, or leave it out for the default "
                             "(sqlite:///backup-bot.db).")
        if text.startswith("postgres://"):  # Heroku's and others' spelling
            text = "postgresql://" + text.removeprefix("postgres://")
        if not text.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("is malformed: use sqlite:///path/to/file.db or postgresql://user@host/db.")
        if not readable_host(text):
            # The value is not repeated: it may hold the password.
            raise ValueError("is malformed: its host or port cannot be read: write postgresql://user@host:5432/db "
                             "(an IPv6 host in brackets, a password's `@`, `/` or `:` written %40, %2F, %3A).")
        if in_memory(text):
            raise ValueError("is in memory (no file named, or `:memory:`): the bot's threads and processes would "
                             "each see another, empty database, and a restart would lose every request, approval "
                             "and audit entry; use sqlite:///path/to/file.db (a path left empty, as in "
                             "sqlite:///$FILE with FILE unset?) or postgresql://user@host/db.")
        return text

    @field_validator("access_file", mode="before")
    @classmethod
    def _access_file(cls, value: object) -> str:
        text = _text(value)
        if text is None:  # set, but to nothing: access.toml in the current folder may not be the file meant
            raise ValueError("is empty (`${ACCESS_FILE}` with that variable unset?): set it to the access file's "
                             "path, or leave it out for the default (access.toml).")
        return text

    @field_validator("audit_channel", mode="before")
    @classmethod
    def _audit_channel(cls, value: object) -> str | None:
        text = _text(value)
        if text and not CHANNEL_ID.fullmatch(text):
            raise ValueError("is malformed: use a channel ID such as C0123ABCD (channel details → About), "
                             "not its name.")
        return text

    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value: object) -> int:
        text = _text(value) or "3000"
        if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 0 < int(text) < 65536:
            raise ValueError(f"is malformed: `{text[:10]}` is not a port number (1–65535).")
        return int(text)

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> str | None:
        text = (_text(value) or "").lower() or None
        if text not in (None, "text", "json"):
            raise ValueError(f"is malformed: `{text[:20]}`; use json or text.")
        return text

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> str:
        text = (_text(value) or "INFO").upper()
        if text not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError(f"is malformed: `{text[:20]}`; use DEBUG, INFO, WARNING or ERROR.")
        return text

    @field_validator("group_cache_max_age", mode="before")
    @classmethod
    def _group_cache_max_age(cls, value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool):  # the default
            return value
        text = _text(value) or "1h"
        try:
            seconds = parse_duration(text)
        except ValueError:
            seconds = -1
        # Longer, and someone removed from a group keeps its access for as long while Slack cannot list groups.
        if not 0 <= seconds <= GROUP_CACHE_MAX_AGE_MOST:
            raise ValueError(f"is malformed: `{text[:20]}`; use a duration such as 30m, 1h or 1d (at most 7d).")
        return seconds

    @field_validator("stale_factor", mode="before")
    @classmethod
    def _stale_factor(cls, value: object) -> float:
        text = _text(value) or "2"
        try:
            factor = float(text) if text.isascii() else 0.0  # float() would take other scripts' digits
        except ValueError:
            factor = 0.0
        if not 1.0 <= factor <= 100.0:
            raise ValueError(f"is malformed: `{text[:20]}`; use a number from 1 to 100 (2: stale when the last "
                             "success is older than twice the policy's frequency).")
        return factor

    @field_validator("watch_share", mode="before")
    @classmethod
    def _watch_share(cls, value: object) -> float:
        if isinstance(value, float):  # the default
            return value
        text = (_text(value) or "25%").strip()
        try:
            share = (float(text[:-1]) / 100 if text.endswith("%") else float(text)) if text.isascii() else 0.0
        except ValueError:
            share = 0.0
        if not 0.01 <= share <= 0.9:
            raise ValueError(f"is malformed: `{text[:20]}`; use a share from 1% to 90% of "
                             "BACKUP_BOT_PLANETSCALE_RATE (25%: the watch takes a quarter, people the rest).")
        return share

    @field_validator("watch_every", mode="before")
    @classmethod
    def _watch_every(cls, value: object) -> float | None:
        if isinstance(value, float):  # the default
            return value
        text = (_text(value) or "5m").lower()
        if text == "off":
            return None
        seconds = _seconds(text)
        if not 1 <= seconds <= 86400:
            raise ValueError(f"is malformed: `{text[:20]}`; use a duration such as 30s, 5m or 1h (at most 24h), "
                             "or off.")
        return float(seconds)

    @field_validator("drain_timeout", mode="before")
    @classmethod
    def _drain_timeout(cls, value: object) -> float:
        if isinstance(value, float):  # the default
            return value
        text = (_text(value) or "20s").lower()
        seconds = _seconds(text)
        if not 0 <= seconds <= 3600 or (seconds == 0 and not text.startswith("0")):
            raise ValueError(f"is malformed: `{text[:20]}`; use a duration such as 20s or 1m, under your "
                             "platform's grace period (Docker and Kubernetes: 30s).")
        return float(seconds)

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: object) -> int:
        text = _text(value) if not isinstance(value, int) else str(value)
        # isdigit alone takes a superscript, which int() refuses; past a few digits int() has its own limit.
        if text is None or not (text.isascii() and text.isdigit()) or len(text) > 3 or int(text) > 8:
            raise ValueError(f"is malformed: `{str(text)[:20]}`; use a number of processes from 0 (none: the work "
                             "after the acks in the process that acks) to 8.")
        return int(text)


FIELD_NAMES = {str(next(iter(f.validation_alias.choices))): name  # type: ignore[union-attr]
               for name, f in _Environment.model_fields.items()}

DURATION = re.compile(r"([0-9]{1,6})\s*(s|m|h)")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


def _seconds(text: str) -> int:
    """`30s`, `5m`, `1h`: seconds; -1 when malformed."""
    match = DURATION.fullmatch(text.strip())
    return int(match.group(1)) * DURATION_UNITS[match.group(2)] if match else -1


HOW_TO_SET = {
    "SLACK_BOT_TOKEN": "set it to the app's Bot User OAuth Token (xoxb-…, OAuth & Permissions), "
                       "in the environment or .env.",
    "SLACK_SIGNING_SECRET": "set it to the app's Signing Secret (Basic Information → App Credentials), "
                            "in the environment or .env.",
    "SLACK_APP_TOKEN": "Socket Mode needs an app-level token (xapp-…, Basic Information → App-Level Tokens).",
    "PLANETSCALE_SERVICE_TOKEN_ID": "set it and PLANETSCALE_SERVICE_TOKEN to a PlanetScale service token "
                                    "with read_backups, write_backups and read_branch on your databases.",
    "PLANETSCALE_SERVICE_TOKEN": "set it and PLANETSCALE_SERVICE_TOKEN_ID to a PlanetScale service token "
                                 "with read_backups, write_backups and read_branch on your databases.",
}
