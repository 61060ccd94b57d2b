"""The PlanetScale a console talks to with a real token (any but the emulators' demo one): read, never changed.

The console's people are typed (`as carol`), not signed in, and its Slack groups are made up: one operator is every
one of them, so no change judged there is a real person's, nor its approval another's."""

from __future__ import annotations

from bot.adapters.planetscale import PlanetScaleClient
from bot.domain.policy import BackupPolicy, PolicyUpdate
from bot.domain.ports import PlanetScaleError

NOT_CHANGED = ("Nothing was sent: the console never changes a PlanetScale it does not run itself. Its people are "
               "typed, not signed in (one person is every one of them), so no approval there is another person's. "
               "Ask in Slack, or try it on the bundled emulator (`backup-bot console --demo`).")


class ConsoleNeverSends(PlanetScaleError):
    definite = True  # refused before anything left


class ReadOnlyPlanetScale(PlanetScaleClient):
    def update_policy(self, organization: str, database: str, policy_id: str,
                      update: PolicyUpdate) -> BackupPolicy:
        raise ConsoleNeverSends(NOT_CHANGED)

    def create_policy(self, organization: str, database: str, values: PolicyUpdate) -> BackupPolicy:
        raise ConsoleNeverSends(NOT_CHANGED)

    def delete_policy(self, organization: str, database: str, policy_id: str) -> None:
        raise ConsoleNeverSends(NOT_CHANGED)
