"""A property over PlanetScale's answers (review rev20t): a backup policy whose fields PlanetScale answers with any
JSON value (null, a boolean, a number for text, text for a number, far past 32 bits, a list, an object, a field
left out), in a list or read alone, is told in words at every command that reads it; no traceback, never
"Something went wrong". It held when tried; kept so that it stays so."""

from __future__ import annotations

import json
from typing import Any

import pytest
from approval_helpers import ALICE, PROD
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.emulators.planetscale_state import Fault, PlanetScaleState

ODD = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([2**40, -(2**40), 10**30, 1.5, 7.0]),
                st.sampled_from(["", "7", "x", "00:00", "25:99", "production", "day", "2026-02-30T00:00:00Z",
                                 "2026-01-01T00:00:00Z", PROD, "a" * 3000]),
                st.lists(st.integers(), max_size=2), st.just({"a": 1}))
FIELDS = ["id", "display_name", "name", "target", "retention_value", "retention_unit", "frequency_value",
          "frequency_unit", "schedule_time", "schedule_day", "schedule_week", "created_at", "updated_at",
          "last_ran_at", "next_run_at", "required"]
LEFT_OUT = object()
COMMANDS = [f"show acme/app-db {PROD}", "status acme/app-db", "list acme/app-db", f"edit acme/app-db {PROD}",
            f"update acme/app-db {PROD} retention=9d", f"update acme/app-db {PROD} retention=9d --dry-run",
            "update acme/* * retention=14d --dry-run", f"delete acme/app-db {PROD}", "export acme/app-db",
            "history acme/app-db"]


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(FIELDS), st.one_of(ODD, st.just(LEFT_OUT)), min_size=1, max_size=2),
       command=st.sampled_from(COMMANDS), listed=st.booleans())
def test_a_policy_of_any_odd_fields_is_told_in_words(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                     changes: dict[str, Any], command: str, listed: bool,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with planetscale.lock:
        planetscale.faults.clear()
        policies = [dict(p) for p in planetscale.policies[("acme", "app-db")].values()]
    odd = {**next(p for p in policies if p["id"] == PROD), **changes}
    odd = {k: v for k, v in odd.items() if v is not LEFT_OUT}
    if listed:  # the database's list holds it
        page = {"type": "list", "current_page": 1, "next_page": None, "prev_page": None,
                "data": [odd if p["id"] == PROD else p for p in policies]}
        planetscale.add_fault(Fault(status=200, times=None, method="GET", path_ends="/backup-policies",
                                    body=json.dumps(page)))
    planetscale.add_fault(Fault(status=200, times=None, method="GET", path_ends=f"/backup-policies/{PROD}",
                                body=json.dumps(odd)))
    caplog.clear()
    said = approvals_bot.command(command, user=ALICE).all_text()
    with planetscale.lock:
        planetscale.faults.clear()
    assert "Something went wrong" not in said, said
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
