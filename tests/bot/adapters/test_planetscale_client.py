"""The PlanetScale client against the emulator: auth, paths, pages, retries and every failure."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from conftest import Bot

from bot.adapters.planetscale import MAX_PAGES, PER_PAGE, PlanetScaleClient, RetryPolicy
from bot.adapters.rate_limit import RateLimiter
from bot.domain.policy import PolicyUpdate
from bot.domain.ports import (
    BadResponse,
    Forbidden,
    NotFound,
    PlanetScaleError,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
    send_fence,
)
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, Fault, PlanetScaleState


def test_service_token_header_and_paths(planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState) -> None:
    planetscale_client.update_policy("acme", "app-db", "bp03devday", PolicyUpdate(retention_value=5))
    [call] = planetscale.calls()
    assert call.authorization == f"{DEMO_TOKEN_ID}:{DEMO_TOKEN}"
    assert call.method == "PATCH" and call.body == {"retention_value": 5}
    assert call.path == "/organizations/acme/databases/app-db/backup-policies/bp03devday"


@pytest.mark.parametrize(("org", "db", "policy_id"), [
    ("..", "app-db", "x"), ("acme", "app-db/../../other", "x"), ("acme", "app-db", "../x"),
    ("acme", "app-db", "x?y=1"), ("acme", "app db", "x"), ("acme%2F", "app-db", "x"), ("", "app-db", "x"),
    ("acme", "app-db\n", "x"), ("acme\n", "app-db", "x"), ("acme", "app-db", "x\n"),
])
def test_nothing_typed_can_change_the_request_path(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, org: str, db: str, policy_id: str
) -> None:
    with pytest.raises(PlanetScaleError, match="not a valid"):
        planetscale_client.get_policy(org, db, policy_id)
    assert planetscale.calls() == []


def test_lists_follow_pages(planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState) -> None:
    for n in range(150):
        planetscale.add_policy("acme", "app-db", f"bpx{n:04d}")
    assert len(planetscale_client.list_policies("acme", "app-db")) == 153
    assert [c.query for c in planetscale.calls()] == [{"page": "1", "per_page": "100"},
                                                     {"page": "2", "per_page": "100"}]


def test_a_list_longer_than_its_pages_could_hold_is_cut_there(caplog: pytest.LogCaptureFixture) -> None:
    # Pages of 600 where 100 were asked, never ending: read no further than 50 pages of 100 would hold.
    policy = {"id": "bp", "name": "p", "target": "production"}

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"type": "list", "current_page": page, "next_page": page + 1,
                                         "data": [policy] * 600})

    client = PlanetScaleClient("id", "token", "https://api.planetscale.test/v1", retry=RetryPolicy(attempts=1),
                               sleep=lambda _: None, transport=httpx.MockTransport(answer))
    with caplog.at_level(logging.WARNING):
        listed = list(client._pages("organizations/acme/databases/app-db/backup-policies", "acme/app-db", "x"))
    assert len(listed) == MAX_PAGES * PER_PAGE
    assert "more than 5000 items for acme/app-db" in caplog.text
    client.close()


def test_members_are_found_by_email(planetscale_client: PlanetScaleClient) -> None:
    [member] = planetscale_client.find_members("acme", "carol@acme.example")
    assert (member.email, member.role) == ("carol@acme.example", "admin")


@pytest.mark.parametrize(("fault", "error", "words"), [
    (Fault(status=401, times=None), Unauthorized, "refused the service token"),
    (Fault(status=403, times=None), Forbidden, "`read_backups`"),
    (Fault(status=404, times=None), NotFound, "lacks `read_backups`"),
    (Fault(status=422, body='{"code":"invalid_params","message":"bad"}'), Rejected, "bad"),
    (Fault(status=500, times=None), Unavailable, "tried 4 times"),
    (Fault(status=502, times=None, body="<html>"), Unavailable, "(502)"),
    (Fault(status=429, times=None), RateLimited, "rate limiting"),
    (Fault(status=429, times=None, retry_after="600"), RateLimited, "Try again in 600 seconds"),
    (Fault(status=200, body="{not json"), BadResponse, "not JSON"),
    (Fault(status=200, body='{"id": 1}'), BadResponse, "cannot read"),
])
def test_failures_are_typed_and_explained(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, fault: Fault,
    error: type[PlanetScaleError], words: str
) -> None:
    planetscale.add_fault(fault)
    with pytest.raises(error) as caught:
        planetscale_client.get_policy("acme", "app-db", "bp01prod12h")
    assert words in caught.value.user_message
    assert DEMO_TOKEN not in caught.value.user_message


def test_retries_are_bounded_with_growing_backoff(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, sleeps: list[float]
) -> None:
    planetscale.add_fault(Fault(status=503, times=None))
    with pytest.raises(Unavailable):
        planetscale_client.get_policy("acme", "app-db", "bp01prod12h")
    assert len(planetscale.calls()) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_retry_after_is_waited_for(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, sleeps: list[float]
) -> None:
    planetscale.add_fault(Fault(status=429, times=2, retry_after="2"))
    assert planetscale_client.get_policy("acme", "app-db", "bp01prod12h").id == "bp01prod12h"
    assert sleeps == [2.0, 2.0]


def test_a_post_is_sent_once_whatever_the_failure_but_a_429(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, sleeps: list[float]
) -> None:
    """A POST that failed may have made the policy: sending it again could make a second one."""
    body = PolicyUpdate(name="Nightly", target="development", retention_value=7, retention_unit="day",
                        frequency_value=1, frequency_unit="day", schedule_time="02:00")
    planetscale.add_fault(Fault(status=503, times=None, method="POST"))
    with pytest.raises(Unavailable) as caught:
        planetscale_client.create_policy("acme", "app-db", body)
    assert len(planetscale.calls("POST")) == 1 and "tried" not in caught.value.user_message
    planetscale.clear_record()
    planetscale.add_fault(Fault(status=429, times=1, method="POST"))
    assert planetscale_client.create_policy("acme", "app-db", body).name == "Nightly"
    assert len(planetscale.calls("POST")) == 2


def test_a_delete_answers_nothing_and_a_policy_gone_is_not_found(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState
) -> None:
    planetscale_client.delete_policy("acme", "app-db", "bp03devday")
    with pytest.raises(NotFound):
        planetscale_client.delete_policy("acme", "app-db", "bp03devday")
    with pytest.raises(Rejected):
        planetscale_client.delete_policy("acme", "app-db", "bp01prod12h")  # required: PlanetScale refuses


def test_client_errors_are_not_retried(planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=404, times=None))
    with pytest.raises(NotFound):
        planetscale_client.get_policy("acme", "app-db", "bp01prod12h")
    assert len(planetscale.calls()) == 1


def test_a_read_that_times_out_is_retried_then_reported(planetscale_server: object,
                                                         planetscale: PlanetScaleState) -> None:
    _, server = planetscale_server  # type: ignore[misc]
    client = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, server.url + "/v1",
                               timeout=httpx.Timeout(0.2), retry=RetryPolicy(attempts=2), sleep=lambda _: None)
    answered = threading.Event()  # PlanetScale answers once the client has given up, however slow the machine
    planetscale.add_fault(Fault(until=answered, times=None, method="GET"))
    try:
        with pytest.raises(Unavailable, match="nothing is known to have changed") as caught:
            client.get_policy("acme", "app-db", "bp01prod12h")
    finally:
        answered.set()
    assert "tried 2 times" in caught.value.user_message
    assert len(planetscale.calls("GET")) == 2


@pytest.mark.parametrize(("status", "times"), [(None, None), (503, None), (500, 1)],
                         ids=["unanswered", "503", "500-once"])
def test_a_patch_that_may_have_landed_is_never_sent_again(planetscale_server: object, planetscale: PlanetScaleState,
                                                          status: int | None, times: int | None) -> None:
    """A lost answer or a 5xx may follow a PATCH PlanetScale carried out: sent again, it could land on a policy
    changed since. The change path settles it by reading instead."""
    _, server = planetscale_server  # type: ignore[misc]
    client = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, server.url + "/v1",
                               timeout=httpx.Timeout(0.2), retry=RetryPolicy(attempts=3), sleep=lambda _: None)
    answered = threading.Event()  # unanswered: answered once the client has given up, however slow the machine
    planetscale.add_fault(Fault(status=status, times=times, method="PATCH", until=None if status else answered))
    try:
        with pytest.raises(Unavailable) as caught:
            client.update_policy("acme", "app-db", "bp01prod12h", PolicyUpdate(retention_value=3))
    finally:
        answered.set()
    assert len(planetscale.calls("PATCH")) == 1
    assert "tried" not in caught.value.user_message


def test_a_patch_refused_unread_is_sent_again(planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState,
                                              sleeps: list[float]) -> None:
    planetscale.add_fault(Fault(status=429, times=1, method="PATCH"))
    after = planetscale_client.update_policy("acme", "app-db", "bp01prod12h", PolicyUpdate(retention_value=3))
    assert after.retention_value == 3 and len(planetscale.calls("PATCH")) == 2


def test_the_send_fence_is_told_which_attempts_of_a_write_waited(
        planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, sleeps: list[float]) -> None:
    """The client says only that a write waited (a repeat after a Retry-After, a turn in the bot's budget); what
    follows is the change path's to decide (review rev19m)."""
    told: list[bool] = []
    token = send_fence.set(told.append)
    try:
        planetscale.add_fault(Fault(status=429, times=1, method="PATCH", retry_after="2"))
        planetscale_client.update_policy("acme", "app-db", "bp01prod12h", PolicyUpdate(retention_value=3))
        assert told == [False, True] and sleeps == [2.0]
        planetscale_client.limiter = RateLimiter(10, 60, sleep=sleeps.append)
        planetscale_client.limiter.acquire()  # the burst is spent: the next write waits for its turn
        planetscale_client.update_policy("acme", "app-db", "bp01prod12h", PolicyUpdate(retention_value=4))
        planetscale_client.get_policy("acme", "app-db", "bp01prod12h")  # a read is not fenced
    finally:
        send_fence.reset(token)
    assert told == [False, True, True] and len(sleeps) == 3


def test_a_patch_whose_connection_never_opened_is_sent_again() -> None:
    client = PlanetScaleClient("id", "secret", "http://127.0.0.1:9/v1", retry=RetryPolicy(attempts=2),
                               sleep=lambda _: None)
    with pytest.raises(Unavailable, match="connection failed") as caught:
        client.update_policy("acme", "app-db", "bp01prod12h", PolicyUpdate(retention_value=3))
    assert "tried 2 times" in caught.value.user_message


def test_a_refused_connection_is_reported() -> None:
    client = PlanetScaleClient("id", "secret-token-value", "http://127.0.0.1:9/v1", retry=RetryPolicy(attempts=2),
                               sleep=lambda _: None)
    with pytest.raises(Unavailable, match="connection failed") as caught:
        client.list_policies("acme", "app-db")
    assert "secret-token-value" not in str(caught.value) and "secret-token-value" not in repr(client)


def test_a_token_without_access_to_a_database_gets_404_and_without_write_403(
    planetscale_server: object, planetscale: PlanetScaleState
) -> None:
    _, server = planetscale_server  # type: ignore[misc]
    planetscale.grant("reader", "reader-token", "acme", "app-db", ("read_backups",))
    client = PlanetScaleClient("reader", "reader-token", server.url + "/v1", sleep=lambda _: None)
    assert len(client.list_policies("acme", "app-db")) == 3
    with pytest.raises(NotFound):
        client.list_policies("acme", "billing-db")
    with pytest.raises(Forbidden, match="write_backups"):
        client.update_policy("acme", "app-db", "bp03devday", PolicyUpdate(retention_value=4))


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "nan", "1e400", "1e3", "-5", "-0.5", "soon", "1,5",
                                   "0x10", "5 s", "+5", "Wed, 99 Oct 2015 07:28:00 GMT"])
def test_a_retry_after_that_is_not_a_delay_or_a_date_falls_back_to_backoff(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, sleeps: list[float], value: str
) -> None:
    planetscale.add_fault(Fault(status=429, times=None, retry_after=value))
    with pytest.raises(RateLimited) as caught:
        planetscale_client.get_policy("acme", "app-db", "bp01prod12h")
    assert "tried 4 times" in caught.value.user_message
    assert sleeps == [0.5, 1.0, 2.0] and len(planetscale.calls()) == 4


@pytest.mark.parametrize(("value", "words"), [
    ("9" * 400, "Try again in more than a day"),
    ("86401", "Try again in more than a day"),
    ("7200", "Try again in 2 hours"),
    ("21", "Try again in 21 seconds"),
])
def test_a_retry_after_too_long_to_wait_for_is_a_clear_failure_at_once(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, sleeps: list[float], value: str,
    words: str
) -> None:
    planetscale.add_fault(Fault(status=503, times=None, retry_after=value))
    with pytest.raises(Unavailable) as caught:
        planetscale_client.get_policy("acme", "app-db", "bp01prod12h")
    assert words in caught.value.user_message
    assert sleeps == [] and len(planetscale.calls()) == 1


def test_a_decimal_retry_after_is_waited_for(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, sleeps: list[float]
) -> None:
    planetscale.add_fault(Fault(status=429, times=None, retry_after="1.5"))
    with pytest.raises(RateLimited) as caught:
        planetscale_client.get_policy("acme", "app-db", "bp01prod12h")
    assert "Try again in 2 seconds" in caught.value.user_message
    assert sleeps == [1.5, 1.5, 1.5]


def test_a_retry_after_given_as_an_http_date_is_honoured(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, sleeps: list[float]
) -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    past = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    planetscale.add_fault(Fault(status=503, times=1, retry_after=soon))
    planetscale.add_fault(Fault(status=429, times=1, retry_after=past))
    assert planetscale_client.get_policy("acme", "app-db", "bp01prod12h").id == "bp01prod12h"
    assert 2.0 < sleeps[0] <= 4.0 and sleeps[1] == 0.0
    later = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    planetscale.add_fault(Fault(status=429, times=1, retry_after=later))
    with pytest.raises(RateLimited) as caught:
        planetscale_client.get_policy("acme", "app-db", "bp01prod12h")
    assert "Try again in 2 hours" in caught.value.user_message


def test_a_change_rate_limited_with_retry_after_inf_ends_failed_and_on_the_record(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_fault(Fault(status=429, times=None, method="PATCH", retry_after="inf"))
    reply = bot.command("update acme/app-db bp03devday retention=5d")
    assert "rate limiting" in reply.all_text() and "went wrong inside the bot" not in reply.all_text()
    assert len(planetscale.calls("PATCH")) == 4
    assert bot.deps.store.requests() == []  # none left applying
    [failed] = [e for e in bot.audit.all() if e.action == "failed"]
    assert "rate limiting" in (failed.detail or "")


def test_retrying_is_logged_only_when_a_retry_follows(
    planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture
) -> None:
    planetscale.add_fault(Fault(status=503, times=None))
    with caplog.at_level(logging.WARNING, logger="bot.adapters.planetscale"), pytest.raises(Unavailable):
        planetscale_client.get_policy("acme", "app-db", "bp01prod12h")
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" failed")[0] for line in lines if "retrying" in line] == [
        "planetscale attempt 1", "planetscale attempt 2", "planetscale attempt 3"]
    assert "retrying in 0.5 s" in lines[0] and "retrying in 2.0 s" in lines[2]
    assert "failed 4 times; giving up" in lines[-1] and "retrying" not in lines[-1]


def listed(*items: object) -> str:
    import json
    return json.dumps({"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": list(items)})


POLICY = {"id": "bpx", "display_name": "Backup policy X", "name": "X", "target": "production", "retention_value": 1,
          "retention_unit": "day", "frequency_value": 1, "frequency_unit": "day", "schedule_time": "00:00",
          "schedule_day": None, "schedule_week": None, "created_at": "2026-01-01T00:00:00.000Z",
          "updated_at": "2026-01-01T00:00:00.000Z", "last_ran_at": None, "next_run_at": None, "required": False}


@pytest.mark.parametrize(("operation", "body"), [
    ("policies", b'{"data": ["\xff\xfe not UTF-8"]}'),
    ("policies", listed("a string", 7, None)),
    ("policies", listed({**POLICY, "frequency_unit": "quarter"})),
    ("policies", listed({**POLICY, "retention_unit": "fortnight"})),
    ("databases", listed("app-db", ["nested"])),
    ("members", listed("alice", 3)),
    ("members", listed({"id": "m1", "role": "admin", "user": "not an object"})),
    ("branches", listed(1, "main")),
    ("backups", listed("a backup")),
    ("backups", listed({"id": "b", "state": "success", "size": 1, "created_at": "yesterday", "started_at": None,
                        "completed_at": None, "expires_at": None})),
])
def test_answers_this_bot_cannot_read_are_planetscale_errors_in_words(
        planetscale_client: PlanetScaleClient, planetscale: PlanetScaleState, operation: str,
        body: str | bytes) -> None:
    planetscale.add_fault(Fault(status=200, body=body, times=None))  # type: ignore[arg-type]
    calls = {
        "policies": lambda: planetscale_client.list_policies("acme", "app-db"),
        "databases": lambda: planetscale_client.list_databases("acme"),
        "members": lambda: planetscale_client.find_members("acme", "alice"),
        "branches": lambda: planetscale_client.list_branches("acme", "app-db"),
        "backups": lambda: planetscale_client.list_backups("acme", "app-db", "main", "bp01prod12h"),
    }
    with pytest.raises(BadResponse) as caught:
        calls[operation]()
    assert "PlanetScale answered" in caught.value.user_message


def test_database_kind_is_read_from_the_database(planetscale_client: PlanetScaleClient,
                                                 planetscale: PlanetScaleState) -> None:
    assert planetscale_client.database_kind("acme", "app-db") == "mysql"
    assert planetscale_client.database_kind("acme", "billing-db") == "postgresql"
    assert [c.path for c in planetscale.calls()] == ["/organizations/acme/databases/app-db",
                                                     "/organizations/acme/databases/billing-db"]


def test_a_database_answer_without_a_kind_is_a_bad_response(planetscale_client: PlanetScaleClient,
                                                            planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=200, body='{"id": "db-app-db", "name": "app-db"}'))
    with pytest.raises(BadResponse, match="no kind"):
        planetscale_client.database_kind("acme", "app-db")
