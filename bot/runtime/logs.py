"""Logging set-up: plain text or one JSON object a line, with every secret redacted wherever it appears."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import queue
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.domain.naming import unmarked

TOKEN_PATTERN = re.compile(r"\b(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|pscale_tkn_[A-Za-z0-9_]+)")
REDACTED = "[redacted]"
# The request a log line belongs to: set when a request from Slack arrives, carried into its background work.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# Where the server hands Bolt the ID it logged a request under, in the request's context.
REQUEST_ID = "backup_bot_request_id"


def new_request_id(given: str | None = None) -> str:
    """Sets the request ID of this context: `given` (an ID the server already logged the request under), or a
    new one."""
    value = given or os.urandom(6).hex()  # twelve random hex digits: short to read, unique enough per request
    request_id.set(value)
    return value


class RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class RedactSecrets(logging.Filter):
    """Replaces known secret values and anything shaped like a Slack or PlanetScale token."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return TOKEN_PATTERN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(formatted)
            record.exc_info = None
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


class Unmarked(logging.Filter):
    """A log line, and the audit entry it carries, without the invisible marks the domain sets around a name
    from outside (bot/domain/naming.py `outside`): the log shows the name as written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = unmarked(message)
        if clean != message:
            record.msg, record.args = clean, None
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict) and isinstance(audit.get("detail"), str):
            record.audit = {**audit, "detail": unmarked(audit["detail"])}
        return True


def rfc3339(created: float) -> str:
    """A log record's time in RFC 3339, with milliseconds and the zone: 2026-12-03T14:20:15.123Z."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Fields a log call may give in `extra`, written beside the message (audit: the entry, as an object).
FIELDS = ("kind", "outcome", "ms", "audit")


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: RedactSecrets | None = None):
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": rfc3339(record.created), "level": record.levelname, "logger": record.name,
                                 "request_id": getattr(record, "request_id", "-"), "message": record.getMessage()}
        entry.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        if record.exc_text:
            entry["exception"] = record.exc_text
        line = json.dumps(entry, default=str)
        return self.redactor.redact(line) if self.redactor else line


class TextFormatter(logging.Formatter):
    def __init__(self, redactor: RedactSecrets | None = None):
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        self.redactor = redactor

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return rfc3339(record.created)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        audit = getattr(record, "audit", None)
        if audit is not None:
            line += " " + json.dumps(audit, sort_keys=True, default=str)
        return self.redactor.redact(line) if self.redactor else line


# Lines waiting for the log's reader, at most; past them a line is dropped and counted.
QUEUED_LINES = 10_000
# How long an ending process waits for the log's reader to take its last lines.
FLUSH_SECONDS = 2.0


class Unblocking(logging.Handler):
    """Writes each line on a thread of its own, to the file descriptor `fd`: a log reader that stops reading (its
    pipe full) holds that thread, never the one that logged (the event loop's acks, the work after them). Past
    `most` lines waiting, lines are dropped; how many is written once the reader takes lines again. The filters
    run where the line is logged (its request ID); the writing thread only formats and writes."""

    def __init__(self, fd: int, formatter: logging.Formatter, most: int = QUEUED_LINES):
        super().__init__()
        self.fd = fd
        self.setFormatter(formatter)
        self.records: queue.Queue[logging.LogRecord] = queue.Queue(most)
        self.dropped = 0
        self.unwritten = 0  # lines taken and not yet written, for flush
        self.counting = threading.Condition()
        threading.Thread(target=self.write, name="log-writer", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        with self.counting:
            self.unwritten += 1
        try:
            self.records.put_nowait(record)
        except queue.Full:
            with self.counting:
                self.unwritten -= 1
                self.dropped += 1

    def write(self) -> None:
        while True:
            record = self.records.get()
            try:
                self.put(record)
                with self.counting:
                    dropped, self.dropped = self.dropped, 0
                if dropped:
                    self.put(logging.makeLogRecord({
                        "name": __name__, "levelno": logging.WARNING, "levelname": "WARNING", "request_id": "-",
                        "msg": f"{dropped} log lines were dropped: the log's reader did not take them in time"}))
            finally:
                self.records.task_done()
                with self.counting:
                    self.unwritten -= 1
                    self.counting.notify_all()

    def put(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:
            pass  # a reader gone (EPIPE): the lines have nowhere to go
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Waits, FLUSH_SECONDS at most, for the lines queued to be written (an ending process's last lines)."""
        with self.counting:
            self.counting.wait_for(lambda: not self.unwritten, timeout=FLUSH_SECONDS)


def configure(secrets: Iterable[str], level: str = "INFO", json_lines: bool = False,
              unblocking: bool = False) -> RedactSecrets:
    """`unblocking`: lines written on a thread of their own to standard error's descriptor (`Unblocking`)."""
    redactor = RedactSecrets(secrets)
    formatter = JsonFormatter(redactor) if json_lines else TextFormatter(redactor)
    handler: logging.Handler = Unblocking(2, formatter) if unblocking else logging.StreamHandler()
    handler.addFilter(redactor)
    handler.addFilter(Unmarked())
    handler.addFilter(RequestId())
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return redactor
