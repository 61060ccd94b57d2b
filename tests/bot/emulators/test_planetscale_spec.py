"""The emulator keeps to PlanetScale's published spec: schemathesis over every operation it serves, and the judge
that checks each of its answers in the whole run (conftest.py) catches what breaks the spec."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
import schemathesis
from planetscale_spec import ERRORS_BEYOND_THE_SPEC, SPEC_PATH, Exchange, SpecJudge
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import status_code_conformance

from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_demo import seed_demo
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, FAULT_HEADER, PlanetScaleState
from bot.emulators.serving import BackgroundServer

AUTHORIZATION = {"Authorization": f"{DEMO_TOKEN_ID}:{DEMO_TOKEN}"}
POLICY_IDS = ["bp01prod12h", "bp02prodwk", "bp03devday", "bp04billing", "bp05billmon"]

# Generated requests name the demo organization's databases, policies, members and token most of the time, so
# they reach the operations' logic rather than a 404; the rest of the time any string. All of schemathesis'
# checks run, with the statuses PlanetScale answers beyond the spec allowed where a check would call them wrong:
# 400 and 422 for a request the spec allows but the API refuses (schedule_day 9, deleting a required policy).
SCHEMA = schemathesis.openapi.from_path(SPEC_PATH, config=SchemathesisConfig.from_dict({
    "dictionaries": {
        "organizations": {"values": ["acme"]},
        "databases": {"values": ["app-db", "billing-db"]},
        "policies": {"values": POLICY_IDS},
        "members": {"values": ["mem001", "mem002", "mem003"]},
        "tokens": {"values": [DEMO_TOKEN_ID]},
    },
    "parameters": {
        "path.organization": {"dictionary": "organizations", "probability": 0.9},
        "path.database": {"dictionary": "databases", "probability": 0.9},
    },
    "operations": [
        {"include-path-regex": "backup-policies/", "parameters": {"path.id": {"dictionary": "policies",
                                                                              "probability": 0.9}}},
        {"include-path-regex": "/members/", "parameters": {"path.id": {"dictionary": "members", "probability": 0.9}}},
        {"include-path-regex": "/service-tokens/", "parameters": {"path.id": {"dictionary": "tokens",
                                                                              "probability": 0.9}}},
    ],
    # As the hypothesis profile in conftest.py: CI replays the same examples, developers' runs explore new ones.
    "generation": {"max-examples": int(os.environ.get("SPEC_EXAMPLES", "60")),
                   "deterministic": bool(os.environ.get("CI"))},
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "422"]},
               "status_code_conformance": {"enabled": False}},
}))


def status_code_documented(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """schemathesis' status_code_conformance, knowing the error statuses PlanetScale answers beyond the spec."""
    if response.status_code in ERRORS_BEYOND_THE_SPEC:
        return None
    return status_code_conformance(ctx, response, case)


@pytest.fixture(scope="module")
def served(planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer]) -> tuple[PlanetScaleEmulator, str]:
    emulator, server = planetscale_server
    return emulator, server.url + "/v1"


@SCHEMA.parametrize()
def test_the_emulator_keeps_to_the_spec(case: schemathesis.Case, served: tuple[PlanetScaleEmulator, str],
                                        planetscale_spec: SpecJudge) -> None:
    emulator, base_url = served
    emulator.state = seed_demo(PlanetScaleState())  # each example starts from the demo organization
    case.call_and_validate(base_url=base_url, headers=AUTHORIZATION, additional_checks=[status_code_documented])
    assert not planetscale_spec.take()


POLICY_PATH = "/v1/organizations/acme/databases/app-db/backup-policies/bp03devday"
JSON = (("content-type", "application/json"),)


def a_policy() -> dict[str, Any]:
    return seed_demo(PlanetScaleState()).policy("acme", "app-db", "bp03devday")


def without(document: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != key}


def answer(status: int, body: Any, method: str = "GET", path: str = POLICY_PATH, request_body: bytes = b"",
           headers: tuple[tuple[str, str], ...] = JSON) -> Exchange:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Exchange(method, path, request_headers=JSON, request_body=request_body, status=status,
                    response_headers=headers, response_body=raw)


@pytest.mark.parametrize(("exchange", "verdict"), [
    (answer(200, without(a_policy(), "required")), "'required' is a required property"),
    (answer(200, {**a_policy(), "schedule_day": "sunday"}), "is not of type 'integer'"),
    (answer(200, {**a_policy(), "target": "staging"}), "is not one of"),
    (answer(500, b"Internal Server Error", headers=(("content-type", "text/plain"),)), "a server error nobody"),
    (answer(404, b"Not Found", headers=(("content-type", "text/plain"),)), "without PlanetScale's error body"),
    (answer(422, {"error": "bad"}), "without PlanetScale's error body"),
    (answer(418, {"code": "teapot", "message": "no"}), "status 418 is neither in the spec"),
    (answer(200, a_policy(), "PATCH", request_body=b'{"retention_value": "7"}'), "accepted a request the spec"),
    (answer(201, a_policy(), "PATCH"), "status 201 is neither"),
    (answer(200, {"ok": True}, path="/v1/organizations/acme/deploy-requests"), "the spec has no such operation"),
], ids=["missing field", "wrong type", "not in enum", "uninjected 500", "plain 404", "error without code",
        "undocumented status", "refused body accepted", "201 to a PATCH", "unknown path"])
def test_the_judge_names_an_answer_that_breaks_the_spec(planetscale_spec: SpecJudge, exchange: Exchange,
                                                        verdict: str) -> None:
    problems = planetscale_spec.problems(exchange)
    assert any(verdict in problem for problem in problems), problems


@pytest.mark.parametrize("exchange", [
    answer(200, a_policy()),
    answer(200, a_policy(), "PATCH", request_body=b'{"retention_value": 7}'),
    answer(204, b"", "DELETE", headers=()),
    answer(422, {"code": "invalid_params", "message": "retention_value must be an integer"}, "PATCH",
           request_body=b'{"retention_value": "7"}'),
    answer(400, {"code": "bad_request", "message": "The request body is not UTF-8"}, "PATCH", request_body=b"\xff"),
    answer(404, {"code": "not_found", "message": "Not Found"}, path="/v1/organizations/acme/deploy-requests"),
    answer(503, b"<html>down</html>", headers=(("content-type", "text/html"), (FAULT_HEADER, "status"))),
    answer(200, b"{not json", headers=((FAULT_HEADER, "body"),)),
], ids=["policy", "change", "deleted", "refused change", "unreadable body", "unknown path", "injected 503",
        "injected broken body"])
def test_the_judge_passes_what_planetscale_answers(planetscale_spec: SpecJudge, exchange: Exchange) -> None:
    assert planetscale_spec.problems(exchange) == []


def test_a_broken_answer_in_a_test_is_caught(planetscale_server: Any, planetscale: PlanetScaleState,
                                              planetscale_spec: SpecJudge) -> None:
    """The judge stands in front of the suite's emulator: an answer missing a field the spec requires is named."""
    _, server = planetscale_server
    del planetscale.policies[("acme", "app-db")]["bp03devday"]["required"]
    assert httpx.get(server.url + POLICY_PATH, headers=AUTHORIZATION).status_code == 200
    violations = planetscale_spec.take()  # taken, so this test's own teardown does not fail on them
    assert len(violations) == 1 and "'required' is a required property" in violations[0], violations
