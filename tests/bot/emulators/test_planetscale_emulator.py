"""The PlanetScale emulator is as strict as the published API: bodies, auth and the list envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.emulators.planetscale_schedule import next_run
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState


@pytest.fixture
def api(planetscale_server: Any, planetscale: PlanetScaleState) -> Iterator[httpx.Client]:
    _, server = planetscale_server
    with httpx.Client(base_url=server.url + "/v1", headers={"Authorization": f"{DEMO_TOKEN_ID}:{DEMO_TOKEN}"}) as c:
        yield c


POLICIES = "/organizations/acme/databases/app-db/backup-policies"
POLICY = POLICIES + "/bp03devday"


@pytest.mark.parametrize(("body", "message"), [
    ({"colour": "red"}, "Unknown parameter: colour"),
    ({"retention_unit": "minute"}, "retention_unit must be one of"),
    ({"frequency_unit": "year"}, "frequency_unit must be one of"),
    ({"target": "staging"}, "target must be one of"),
    ({"retention_value": "7"}, "must be an integer"),
    ({"retention_value": True}, "must be an integer"),
    ({"retention_value": 0}, "greater than 0"),
    ({"schedule_time": "7:00"}, "HH:MM"),
    ({"schedule_time": "07:00\n"}, "HH:MM"),
    ({"schedule_day": 7}, "between 0 and 6"),
    ({"schedule_week": 4}, "between 0 and 3"),
    ({"frequency_unit": "week"}, "schedule_day is required"),
    ([1, 2], "JSON object"),
])
def test_bad_bodies_get_422_with_the_apis_error_body(api: httpx.Client, body: Any, message: str) -> None:
    answer = api.patch(POLICY, json=body)
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_params" and message in answer.json()["message"]


@pytest.mark.parametrize("method", ["PATCH", "POST"])
@pytest.mark.parametrize(("raw", "message"), [
    (b"\xff\xfe{}", "not UTF-8"),
    ('{"name": "x"}'.encode("utf-16"), "not UTF-8"),
    (b'{"name": "caf\xe9"}', "not UTF-8"),
    (b"{broken", "not valid JSON"),
    (b'{"retention_value": NaN}', "NaN is not JSON"),
    (b'{"name": "\\ud800"}', "lone UTF-16 surrogate"),
    (b"[" * 100_000, "nests too deeply"),
], ids=["bytes", "UTF-16", "Latin-1", "broken", "NaN", "lone surrogate", "deep"])
def test_a_body_that_is_not_utf8_json_gets_400_with_the_apis_error_body(
    api: httpx.Client, planetscale: PlanetScaleState, method: str, raw: bytes, message: str
) -> None:
    before = planetscale.policy("acme", "app-db", "bp03devday")
    answer = api.request(method, POLICY if method == "PATCH" else POLICIES, content=raw,
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "bad_request" and message in answer.json()["message"]
    assert planetscale.policy("acme", "app-db", "bp03devday") == before
    assert len(planetscale.policies[("acme", "app-db")]) == 3


def test_unknown_paths_and_methods_get_the_apis_error_body(api: httpx.Client) -> None:
    unknown = api.get("/organizations/acme/deploy-requests")
    assert unknown.status_code == 404 and unknown.json() == {"code": "not_found", "message": "Not Found"}
    wrong_method = api.put(POLICY, json={})
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "method_not_allowed"
    assert "PATCH" in wrong_method.headers["allow"]


def test_a_schedule_beyond_the_calendar_has_no_next_run(api: httpx.Client) -> None:
    answer = api.patch(POLICY, json={"frequency_value": 10**12, "retention_value": 10**13})
    assert answer.status_code == 200 and answer.json()["next_run_at"] is None


def test_page_urls_keep_the_base_path_and_the_query(api: httpx.Client) -> None:
    middle = api.get(POLICIES, params={"per_page": 1, "page": 2}).json()
    assert middle["next_page_url"].endswith("/v1" + POLICIES + "?per_page=1&page=3")
    assert middle["prev_page_url"].endswith("/v1" + POLICIES + "?per_page=1&page=1")


def test_a_page_given_twice_is_refused_unless_each_is_an_integer(api: httpx.Client) -> None:
    # Found by the spec's fuzzing: the last value was used and a first `false` went unchecked.
    assert api.get(POLICIES + "?page=false&page=0").status_code == 400
    assert api.get(POLICIES + "?page=1&page=2").status_code == 200


def test_auth(planetscale_server: Any, planetscale: PlanetScaleState) -> None:
    _, server = planetscale_server
    assert httpx.get(server.url + "/v1" + POLICY).status_code == 401
    wrong = httpx.get(server.url + "/v1" + POLICY, headers={"Authorization": f"{DEMO_TOKEN_ID}:nope"})
    assert wrong.status_code == 401 and wrong.json() == {"code": "unauthorized", "message": "Unauthorized"}
    bearer = httpx.get(server.url + "/v1" + POLICY, headers={"Authorization": f"Bearer {DEMO_TOKEN}"})
    assert bearer.status_code == 401


def test_the_list_envelope(api: httpx.Client, planetscale: PlanetScaleState) -> None:
    first = api.get("/organizations/acme/databases/app-db/backup-policies", params={"per_page": 2}).json()
    assert {k: first[k] for k in ("type", "current_page", "per_page", "next_page", "prev_page")} == {
        "type": "list", "current_page": 1, "per_page": 2, "next_page": 2, "prev_page": None}
    last = api.get("/organizations/acme/databases/app-db/backup-policies", params={"page": 2, "per_page": 2}).json()
    assert last["next_page"] is None and last["next_page_url"] is None and len(last["data"]) == 1


def test_a_change_to_daily_clears_the_weekly_day(api: httpx.Client) -> None:
    answer = api.patch("/organizations/acme/databases/app-db/backup-policies/bp02prodwk",
                       json={"frequency_unit": "day", "retention_value": 4, "retention_unit": "week"})
    assert answer.status_code == 200 and answer.json()["schedule_day"] is None


def test_next_run_is_after_now_and_on_schedule() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday
    weekly = {"schedule_time": "03:00", "frequency_unit": "week", "frequency_value": 1, "schedule_day": 0}
    assert next_run(weekly, now) == "2026-11-29T03:00:00.000Z"
    hourly = {"schedule_time": "02:00", "frequency_unit": "hour", "frequency_value": 12}
    assert next_run(hourly, now) == "2026-11-28T14:00:00.000Z"
    monthly = {"schedule_time": "05:00", "frequency_unit": "month", "frequency_value": 1, "schedule_day": 1,
               "schedule_week": 0}
    assert next_run(monthly, now) == "2026-12-07T05:00:00.000Z"


@pytest.mark.parametrize("per_page", ["\x0b1", " 2", "3_0", "+4", "1.5"])
def test_a_page_size_that_is_not_an_integer_is_refused(planetscale_server: Any, per_page: str) -> None:
    """Found by schemathesis: int() took "\\v1" as 1, a value the spec's integer does not allow."""
    url = planetscale_server[1].url + "/v1/organizations/acme/databases/app-db/backup-policies"
    answer = httpx.get(url, params={"per_page": per_page}, headers={"Authorization": f"{DEMO_TOKEN_ID}:{DEMO_TOKEN}"})
    assert answer.status_code == 400
