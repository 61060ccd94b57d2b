"""The floor a bare client reaches: the calls a trip's floor counts, made one after another by a plain httpx client
over the same relays to the same emulators, with nothing of the bot's between them.

The network floor (round trips × the relay's latency) leaves out what the emulators take to answer each call (TLS,
parsing, their Python work), which no client avoids; this one is timed as the bot's trip is, from its start to the
arrival at Slack of its last request (the event's own time), so the bot is judged beside what it could reach.
"""

from __future__ import annotations

import ssl
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

ORGANIZATION, DATABASE, POLICY = "acme", "app-db", "bp03devday"
WARM = 3  # trips that open and warm the connections first, as the bot's first trips do


class FloorClient:
    """One kept-alive HTTP/1.1 httpx client for both emulators, trusting the run's throwaway certificate."""

    def __init__(self, emulators: Any, ca_file: str, bot_token: str, token_id: str, token: str, channel: str):
        self.emulators, self.channel = emulators, channel
        self.http = httpx.Client(verify=ssl.create_default_context(cafile=ca_file), http2=False, timeout=30.0)
        self.slack = emulators.slack_server.url
        self.slack_auth = {"Authorization": f"Bearer {bot_token}"}
        self.policies = (f"{emulators.planetscale_server.url}/v1/organizations/{ORGANIZATION}/databases/{DATABASE}"
                         "/backup-policies")
        self.planetscale_auth = {"Authorization": f"{token_id}:{token}", "Accept": "application/json"}
        self.n = 0

    def close(self) -> None:
        self.http.close()

    def _ok(self, answer: httpx.Response) -> Any:
        answer.raise_for_status()
        return answer.json() if answer.headers.get("content-type", "").startswith("application/json") else None

    def list_policies(self) -> None:
        self._ok(self.http.get(self.policies, headers=self.planetscale_auth))

    def patch(self) -> None:
        # A valid change each time: the retention alternates, as the bot's `update`s do.
        self.n += 1
        body = {"retention_value": 4 + self.n % 60, "retention_unit": "day"}
        self._ok(self.http.patch(f"{self.policies}/{POLICY}", headers=self.planetscale_auth, json=body))

    def slack_method(self, method: str, data: dict[str, str]) -> dict[str, Any]:
        answer = self._ok(self.http.post(f"{self.slack}/api/{method}", headers=self.slack_auth, data=data))
        if not answer.get("ok"):
            raise RuntimeError(f"{method}: {answer.get('error')}")
        return dict(answer)

    def respond(self) -> None:
        self.n += 1
        self._ok(self.http.post(f"{self.slack}/response/floor{self.n}", json={"text": "floor"}))

    def trips(self) -> dict[str, Callable[[], None]]:
        """Each floor's calls in their order; the last one's arrival at Slack ends the trip."""
        shown = self.slack_method("chat.postMessage", {"channel": self.channel, "text": "floor"})["ts"]

        def list_trip() -> None:
            self.list_policies()
            self.respond()

        def update() -> None:
            self.list_policies()
            self.patch()
            self.slack_method("chat.postMessage", {"channel": self.channel, "text": "floor"})

        def click() -> None:
            self.slack_method("usergroups.list", {"include_users": "true"})
            self.list_policies()
            self.patch()
            self.slack_method("chat.update", {"channel": self.channel, "ts": shown, "text": "floor"})

        return {"list": list_trip, "update": update, "click": click}

    def timed(self, trip: Callable[[], None]) -> float:
        """One trip, in ms: from its start to the arrival at Slack of its last request."""
        cursor = self.emulators.events()
        started = time.perf_counter()
        trip()
        last = self.emulators.events_since(cursor)[-1]
        return float((last.at - started) * 1000)


def measured_floors(emulators: Any, ca_file: str, bot_token: str, token_id: str, token: str, channel: str,
                    count: int) -> dict[str, float]:
    """Each trip's median over `count`, after WARM that open the connections: "list", "update", "click"."""
    client = FloorClient(emulators, ca_file, bot_token, token_id, token, channel)
    try:
        floors = {}
        for name, trip in client.trips().items():
            times = []
            for i in range(count + WARM):
                elapsed = client.timed(trip)
                time.sleep(0.05)
                if i >= WARM:
                    times.append(elapsed)
            floors[name] = statistics.median(times)
        return floors
    finally:
        client.close()
