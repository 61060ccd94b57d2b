"""Slack not answering a form's views.open, PlanetScale error bodies that cannot be read, answers that trickle
or are too large, and signed view submissions whose state is not Slack's shape."""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import processes
import pytest
from backup_reads import CostsWrittenAs
from conftest import ALICE, DEMO_TOKEN, DEMO_TOKEN_ID, SIGNING_SECRET, Bot, answer_lost, bot_over, make_bot
from processes import access_rules, command, serve_env, start
from test_serve import post, server  # noqa: F401

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.adapters.store import Store
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import BackgroundServer, free_port
from bot.emulators.slack import MethodFault, SlackEmulator, SlackState
from bot.emulators.slack_requests import APP_ID, TEAM_ID, signed_headers, state_values
from bot.runtime.doctor import check
from bot.runtime.settings import Settings


@pytest.mark.parametrize("command", ["edit acme/app-db bp03devday", "edit acme/*", "create acme/app-db"],
                         ids=["edit", "bulk-edit", "create"])
def test_a_views_open_slack_does_not_answer_in_time_is_told_to_the_person_in_words(
        bot: Bot, planetscale: PlanetScaleState, command: str, caplog: pytest.LogCaptureFixture) -> None:
    """A form's views.open that Slack does not answer within the client's timeout raised a TimeoutError past the
    handlers' `except SlackApiError`: `edit` and `create` told the person "Something went wrong inside the bot"
    with a traceback in the log, and the bulk form's `edit acme/*` told them nothing at all."""
    with answer_lost(bot, "views.open"):  # Slack answers once the bot has stopped waiting, however slow the machine
        reply = bot.command(command)
    [told] = reply.private
    assert "did not open the form" in told.text, told.text
    assert "Something went wrong" not in reply.all_text()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert planetscale.calls() == []


UNREADABLE_ERRORS = {"nested": b"[" * 5000 + b"]" * 5000,
                     "long-number": b'{"code": "not_found", "message": ' + b"1" * 5000 + b"}"}


@pytest.fixture
def answering(settings: Settings, slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer],
              tmp_path: Path) -> Iterator[tuple[Bot, dict[str, Any]]]:
    """A bot whose PlanetScale, at the HTTP edge, answers every request with the status and body the test sets."""
    answer: dict[str, Any] = {}
    client = PlanetScaleClient("id", "token", "https://api.planetscale.test/v1", retry=RetryPolicy(attempts=2),
                               sleep=lambda _: None, transport=httpx.MockTransport(
                                   lambda _: httpx.Response(answer["status"], content=answer["body"],
                                                            headers={"content-type": "application/json"})))
    for bot in bot_over(client, settings, slack, slack_server, tmp_path):
        yield bot, answer


@pytest.mark.parametrize("body", list(UNREADABLE_ERRORS))
@pytest.mark.parametrize("status", [404, 422, 503])
def test_a_planetscale_error_whose_body_cannot_be_read_is_told_as_planetscales_error(
        answering: tuple[Bot, dict[str, Any]], status: int, body: str, caplog: pytest.LogCaptureFixture) -> None:
    """The body of an error answer was read for its code and message catching only a JSON decoding error: one nested
    past the parser's depth (RecursionError) or holding a number past Python's digits (ValueError) escaped as
    "Something went wrong inside the bot" with a traceback, where its status says what happened."""
    bot, answer = answering
    answer.update(status=status, body=UNREADABLE_ERRORS[body])
    said = bot.command("show acme/app-db bp01prod12h").all_text()
    assert f"({status})" in said, said
    assert "Something went wrong" not in said
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


STATES: dict[str, Any] = {
    "state-text": "x",
    "element-text": {"values": {"name": {"name": "x"}}},
    "option-text": {"values": {"retention_unit": {"retention_unit": {"type": "static_select",
                                                                     "selected_option": "day"}}}},
    "time-number": {"values": {"schedule_time": {"schedule_time": {"type": "timepicker", "selected_time": 5}}}},
    "options-numbers": {"values": {"policies": {"policies": {"type": "multi_static_select",
                                                             "selected_options": [1, 2]}}}},
}


@pytest.mark.parametrize("form", ["edit acme/app-db bp03devday", "edit acme/*", "create acme/app-db"],
                         ids=["edit", "bulk-edit", "create"])
@pytest.mark.parametrize("state", list(STATES))
def test_a_signed_submission_whose_state_is_not_slacks_shape_is_answered_without_a_traceback(
        bot: Bot, server: str, planetscale: PlanetScaleState, form: str, state: str,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """The forms read a submission's `view.state.values` (block → action → element, holding text or options) with
    `.get` and as text: a signed submission with text where Slack sends an object, or a number where it sends
    text, raised in the listener (a 500 and a traceback), as the shapes checked at the door (reviews rev20 and
    rev20c) did one level up. A state that is no object of values is answered 400; a field holding what Slack
    does not send there is answered beside it, the form kept open
    (handlers/views/test_a_form_value_of_the_wrong_kind_is_answered_beside_its_field.py)."""
    bot.command(form)
    view = {**bot.current_view(), "state": STATES[state]}
    text = view_submission(view)
    answer = post(server, text, dict(signed_headers(SIGNING_SECRET, text)))  # type: ignore[arg-type]
    assert bot.executor.wait_idle(30)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    if state == "state-text":
        assert answer.status_code == 400, (answer.status_code, answer.text)
    else:
        assert answer.status_code == 200 and answer.json()["response_action"] == "errors", answer.text
    assert planetscale.calls("PATCH") == planetscale.calls("POST") == []


@pytest.mark.parametrize("missing", ["type", "id"])
def test_a_signed_submission_whose_view_has_no_type_or_id_is_answered_400_without_a_traceback(
        bot: Bot, server: str, planetscale: PlanetScaleState, missing: str,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """Bolt reads a submitted view's `type` before any listener (a KeyError in its middleware, a 500 and a
    traceback), and the bulk form its `id` once the submission is acked."""
    bot.command("edit acme/*")
    view = bot.current_view()
    del view[missing]
    form = state_values(view, {"retention_value": "9", "retention_unit": "day"})
    text = view_submission({**view, "state": {"values": form}})
    answer = post(server, text, dict(signed_headers(SIGNING_SECRET, text)))  # type: ignore[arg-type]
    assert bot.executor.wait_idle(30)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert answer.status_code == 400, (answer.status_code, answer.text)


def view_submission(view: dict[str, Any]) -> str:
    """As Slack sends a submission, with the view (and its state) exactly as given."""
    payload = {"type": "view_submission", "team": {"id": TEAM_ID, "domain": "demo"},
               "user": {"id": ALICE, "username": "alice", "name": "alice", "team_id": TEAM_ID},
               "api_app_id": APP_ID, "trigger_id": "1.view", "view": view}
    return "payload=" + quote(json.dumps(payload))


def test_slack_gets_through_while_connections_answered_and_left_idle_are_opened_without_end(
        tmp_path: Path, slack_server: Any, planetscale_server: Any) -> None:
    """A client that sends a whole request, takes its answer and then says nothing holds its connection until
    uvicorn's idle timeout (5 s), and the front's room-making closed only connections still sending a request:
    opened at up to 200 a second against a process with 400 file descriptors, such connections took them all, the
    server stopped accepting (EMFILE), and the one connection it closed to make room was Slack's own, its request
    half-arrived. Slack's commands timed out or were cut off."""
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    process = start(serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"), tmp_path,
                    port, open_files=400)
    stop = threading.Event()
    held: list[socket.socket] = []

    def open_and_leave_idle() -> None:
        while not stop.is_set():
            try:
                client = socket.create_connection(("127.0.0.1", port), timeout=1)
                client.sendall(b"GET /nothing HTTP/1.1\r\nHost: bot\r\n\r\n")
                held.append(client)
            except OSError:
                continue
            time.sleep(0.005)  # up to 200 a second: a modest rate, not a flood
    idlers = [threading.Thread(target=open_and_leave_idle)]
    for idler in idlers:
        idler.start()
    try:
        time.sleep(3)  # the connections fill the process's file descriptors
        for _ in range(3):
            processes.post(port, command("list acme/app-db", slack_server[1].url))
    finally:
        stop.set()
        for idler in idlers:
            idler.join()
        for client in held:
            client.close()
        process.terminate()
        process.wait(timeout=30)


def trickled_spaces(seconds: float) -> Iterator[bytes]:
    """A body of spaces (what JSON allows before a value), one every 0.2 s, for `seconds`."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        time.sleep(0.2)
        yield b" "


def endless_spaces(megabytes: int) -> Iterator[bytes]:
    for _ in range(megabytes):
        yield b" " * 2**20


@pytest.fixture
def streaming(settings: Settings, slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer],
              tmp_path: Path) -> Iterator[tuple[Bot, dict[str, Any]]]:
    """A bot whose PlanetScale, at the HTTP edge, answers 200 with the body the test streams; its client's timeouts
    are a second each."""
    answer: dict[str, Any] = {}
    client = PlanetScaleClient("id", "token", "https://api.planetscale.test/v1", retry=RetryPolicy(attempts=2),
                               sleep=lambda _: None, timeout=httpx.Timeout(1.0), transport=httpx.MockTransport(
                                   lambda _: httpx.Response(200, content=answer["body"](),
                                                            headers={"content-type": "application/json"})))
    for bot in bot_over(client, settings, slack, slack_server, tmp_path):
        yield bot, answer


def test_an_answer_planetscale_trickles_without_end_is_given_up_on_as_too_slow(
        streaming: tuple[Bot, dict[str, Any]]) -> None:
    """httpx's read timeout bounds each read, not the whole body: an answer trickled a byte at a time (a broken
    proxy, a stalled stream) held the call for as long as it went on, beyond every bound the leases and the
    watch are sized on (worst_case_seconds), a worker for good if it never ended. Here it ends after 20 s, and
    the person was told, after all of it, that the body is not JSON."""
    bot, answer = streaming
    answer["body"] = lambda: trickled_spaces(20)
    said = bot.command("show acme/app-db bp01prod12h").all_text()
    assert "did not answer in time" in said, said


def test_an_answer_far_larger_than_any_page_is_refused_without_being_read_whole(
        streaming: tuple[Bot, dict[str, Any]]) -> None:
    """A page is at most 100 items: an answer of hundreds of megabytes was read whole into memory (and one that
    never ended, until the process was killed for it)."""
    bot, answer = streaming
    answer["body"] = lambda: endless_spaces(40)
    said = bot.command("show acme/app-db bp01prod12h").all_text()
    assert "over 16 MB" in said, said


@pytest.mark.parametrize("which", ["serve", "doctor"])
def test_an_access_file_setting_holding_a_nul_byte_is_refused_at_start_in_one_line(
        slack_server: Any, planetscale_server: Any, tmp_path: Path, which: str) -> None:
    """A path holding a NUL byte (a `.env` saved by a tool that pads with them) made os.stat raise a ValueError past
    the access file's loader, which catches only the errors of a file: `serve` and `doctor` ended in a
    traceback."""
    (tmp_path / "access.toml").write_text(access_rules(0))
    (tmp_path / ".env").write_bytes(b"BACKUP_BOT_ACCESS_FILE=access\x00.toml\n")
    done = subprocess.run([sys.executable, "-m", "bot", which, *(["--port", str(free_port())] if which == "serve"
                                                                  else [])],
                          env=serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode != 0 and "holds a NUL byte" in done.stderr + done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize("value", [float("inf"), float("nan")], ids=["Infinity", "NaN"])
def test_a_backup_cost_that_is_not_a_json_number_breaks_no_change_to_its_policy(
        settings: Settings, slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer],
        planetscale_server: tuple[Any, BackgroundServer], planetscale: PlanetScaleState, store_url: str,
        value: float) -> None:
    """Python's json reads `Infinity` and `NaN`, which JSON has not: a backup's cost PlanetScale wrote so went into
    the request's estimate and, on PostgreSQL, whose JSON column refuses them, every change to the policy failed
    with "Something went wrong" and was never recorded (review rev20's finding 5, for a number)."""
    client = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, planetscale_server[1].url + "/v1",
                               retry=RetryPolicy(attempts=1), sleep=lambda _: None, transport=CostsWrittenAs(value))
    store = Store(store_url)
    store.migrate()
    for bot in make_bot(settings, slack, client, store, slack_server):
        said = bot.command("update acme/app-db bp03devday retention=9d").all_text()
        assert "Something went wrong" not in said, said
        assert "changed the backup policy" in said and "its backups could not be read" in said, said
        assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 9, "retention_unit": "day"}]
    store.close()
    client.close()


def test_doctor_says_a_user_slack_does_not_answer_for_cannot_be_checked(
        settings: Settings, tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState) -> None:
    """doctor asks Slack whether each user the rules name exists; a users.info Slack did not answer within doctor's
    10 s raised its TimeoutError past the check, which caught only Slack's refusals: doctor ended in a traceback."""
    (tmp_path / "access.toml").write_text(
        '[[rules]]\norganizations = ["acme"]\ndatabases = ["app-db"]\neditors = ["U0ALICE001"]\n')
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    store.close()
    checked = dataclasses.replace(settings, slack_signing_secret="0123456789abcdef0123456789abcdef",
                                  access_file=str(tmp_path / "access.toml"),
                                  database_url=f"sqlite:///{tmp_path / 'bot.db'}", audit_channel="C0DBAOPS01")
    answered = threading.Event()  # Slack answers once doctor has stopped waiting, however slow the machine
    slack.add_fault(MethodFault(method="users.info", until=answered))
    out = io.StringIO()
    try:
        assert check(lambda: checked, out, 5.0) == 1, out.getvalue()
    finally:
        answered.set()
    assert "rule 1 (line 1): user U0ALICE001 cannot be checked (TimeoutError)" in out.getvalue()
