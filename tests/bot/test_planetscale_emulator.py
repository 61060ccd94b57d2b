"""The PlanetScale emulator is as strict as the published API: bodies, auth and the list envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.emulators.planetscale import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState, next_run


@pytest.fixture
def api(planetscale_server: Any, planetscale: PlanetScaleState) -> Iterator[httpx.Client]:
    _, server = planetscale_server
    with httpx.Client(base_url=server.url + "/v1", headers={"Authorization": f"{DEMO_TOKEN_ID}:{DEMO_TOKEN}"}) as c:
        yield c


POLICY = "/organizations/acme/databases/app-db/backup-policies/bp03devday"


@pytest.mark.parametrize(("body", "message"), [
    ({"colour": "red"}, "Unknown parameter: colour"),
    ({"retention_unit": "minute"}, "retention_unit must be one of"),
    ({"frequency_unit": "year"}, "frequency_unit must be one of"),
    ({"target": "staging"}, "target must be one of"),
    ({"retention_value": "7"}, "must be an integer"),
    ({"retention_value": True}, "must be an integer"),
    ({"retention_value": 0}, "greater than 0"),
    ({"schedule_time": "7:00"}, "HH:MM"),
    ({"schedule_day": 7}, "between 0 and 6"),
    ({"schedule_week": 4}, "between 0 and 3"),
    ({"frequency_unit": "week"}, "schedule_day is required"),
    ([1, 2], "JSON object"),
])
def test_bad_bodies_get_422_with_the_apis_error_body(api: httpx.Client, body: Any, message: str) -> None:
    answer = api.patch(POLICY, json=body)
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_params" and message in answer.json()["message"]


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
