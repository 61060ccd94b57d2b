"""Secrets never reach a log line, whatever logs them."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import re
import threading
import time
from typing import Any

from conftest import BOT_TOKEN, SIGNING_SECRET, Bot

from bot.runtime.logs import RedactSecrets, TextFormatter, Unblocking, configure


def test_known_secrets_and_token_shapes_are_redacted() -> None:
    stream = io.StringIO()
    redactor = configure(["my-signing-secret-123"], level="INFO", json_lines=True)
    handler = logging.StreamHandler(stream)
    handler.addFilter(redactor)
    logger = logging.getLogger("test.secrets")
    logger.addHandler(handler)
    logger.warning("secret %s token %s other %s", "my-signing-secret-123", "xoxb-1-2-abc", "pscale_tkn_abc")
    try:
        raise ValueError("boom with xapp-1-ABC")
    except ValueError:
        logger.exception("failed")
    logger.removeHandler(handler)
    out = stream.getvalue()
    assert "my-signing-secret-123" not in out and "xoxb-1-2-abc" not in out
    assert "pscale_tkn_abc" not in out and "xapp-1-ABC" not in out
    assert out.count("[redacted]") >= 4


def test_json_lines(capsys: object) -> None:
    configure([], json_lines=True)
    logging.getLogger("x").warning("hello %s", "there")
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert json.loads(err.strip().splitlines()[-1])["message"] == "hello there"
    logging.getLogger().handlers.clear()


def test_short_values_are_not_treated_as_secrets() -> None:
    assert RedactSecrets(["ab"]).redact("abc") == "abc"


def test_json_logs_carry_one_request_id_from_the_ack_into_the_background_work(bot: Bot, capsys: Any) -> None:
    configure([SIGNING_SECRET, BOT_TOKEN], level="INFO", json_lines=True)
    try:
        bot.command("list acme/app-db")
        bot.command('update acme/app-db "Development daily" retention=9d')
    finally:
        err = capsys.readouterr().err
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    audited = [e for e in lines if e["logger"] == "bot.audit"]
    actions = [e["audit"]["action"] for e in audited]
    assert actions == ["requested", "sending", "applied"]
    assert len({e["request_id"] for e in audited}) == 1 and audited[0]["request_id"] != "-"
    assert BOT_TOKEN not in err and SIGNING_SECRET not in err


def test_lines_past_the_bound_while_the_reader_stops_reading_are_dropped_without_waiting_and_counted() -> None:
    """Each line was written on the thread that logged it: a reader that stopped reading held that thread (the event
    loop's acks) until it read again."""
    reading, writing = os.pipe()
    fcntl.fcntl(writing, fcntl.F_SETPIPE_SZ, 4096)
    handler = Unblocking(writing, TextFormatter(), most=5)
    logger = logging.Logger("test.unblocking")
    logger.addHandler(handler)
    reader: threading.Thread | None = None
    try:
        began = time.monotonic()
        for i in range(100):  # 100 KiB into 4 KiB of pipe and 5 lines of queue
            logger.warning("line %d %s", i, "x" * 1024, extra={"request_id": "-"})
        assert time.monotonic() - began < 5  # the writer waits for the reader; the lines' callers never did
        logged = bytearray()

        def read_all() -> None:  # until the pipe's end: the test closes its writing end
            while chunk := os.read(reading, 1 << 16):
                logged.extend(chunk)

        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while handler.unwritten and time.monotonic() < deadline:
            handler.flush()
        time.sleep(0.1)  # the last line's bytes, read
        kept = logged.count(b"line ")
        assert sum(int(n) for n in re.findall(rb"(\d+) log lines were dropped", logged)) == 100 - kept
        assert b"line 0 " in logged and 5 <= kept < 100
    finally:
        logger.removeHandler(handler)
        os.close(writing)
        if reader is not None:
            reader.join(10)
        os.close(reading)


def test_flush_returns_once_every_line_taken_is_written() -> None:
    """An ending process calls flush (logging.shutdown) so that its last lines reach the reader before it exits; here
    the reader takes 1 KiB at a time through a 4 KiB pipe, so the lines are still queued when the loop ends."""
    reading, writing = os.pipe()
    fcntl.fcntl(writing, fcntl.F_SETPIPE_SZ, 4096)
    handler = Unblocking(writing, TextFormatter())
    logger = logging.Logger("test.unblocking.flush")
    logger.addHandler(handler)
    logged = bytearray()

    def read_slowly() -> None:
        while chunk := os.read(reading, 1024):
            logged.extend(chunk)
            time.sleep(0.002)

    reader = threading.Thread(target=read_slowly, daemon=True)
    reader.start()
    try:
        for i in range(60):
            logger.warning("last line %d %s", i, "x" * 1000, extra={"request_id": "-"})
        handler.flush()
        assert handler.unwritten == 0
    finally:
        logger.removeHandler(handler)
        os.close(writing)
        reader.join(10)
        os.close(reading)
    assert logged.count(b"last line ") == 60
