"""The bench's bare client makes exactly the calls each round trip's floor counts, over HTTPS with the run's throwaway
certificate, and each call is one the emulators accept (a valid PATCH, Slack methods that answer ok)."""

from __future__ import annotations

from bench.floor_client import POLICY, WARM, measured_floors
from bench.run import BOT_TOKEN, CHANNEL, start_emulators, stop_emulators
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID
from bot.emulators.serving import ThrowawayTLS


def test_the_floor_client_makes_each_floors_calls_in_order_and_times_each_trip() -> None:
    tls = ThrowawayTLS()
    emulators = start_emulators(0.0, tls)
    try:
        floors = measured_floors(emulators, tls.ca_file, BOT_TOKEN, DEMO_TOKEN_ID, DEMO_TOKEN, CHANNEL, 2)

        assert set(floors) == {"list", "update", "click"} and all(ms > 0 for ms in floors.values())
        trips = 2 + WARM
        planetscale = [(call.method, call.path.rsplit("/", 1)[-1]) for call in emulators.planetscale.calls()]
        list_call, patch = ("GET", "backup-policies"), ("PATCH", POLICY)
        assert planetscale == [list_call] * trips + [list_call, patch] * trips + [list_call, patch] * trips
        methods = [method for method, _ in emulators.slack.calls]
        # The message the clicks update is posted once, before every trip; every method answered ok.
        assert methods == ["chat.postMessage"] * (1 + trips) + ["usergroups.list", "chat.update"] * trips
        kinds = [event.kind for event in emulators.events_since(0)]
        assert kinds == ["message"] + ["response"] * trips + ["message"] * trips + ["update"] * trips
        assert not emulators.slack.refusals
        # Each PATCH a valid change: the policy holds the last one's retention.
        last_patch = [call for call in emulators.planetscale.calls() if call.method == "PATCH"][-1]
        policy = emulators.planetscale.policy("acme", "app-db", POLICY)
        assert (policy["retention_value"], policy["retention_unit"]) == (last_patch.body["retention_value"], "day")
    finally:
        stop_emulators(emulators)
        tls.close()
