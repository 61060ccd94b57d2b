"""The watch's road to PlanetScale: read-only; its requests take the watch's share of the budget
(bot/domain/watch_share.py) through `request_meter`.
"""

from __future__ import annotations

from bot.domain.backups import Backup, Branch
from bot.domain.policy import BackupPolicy, PolicyUpdate
from bot.domain.ports import PlanetScaleApi, PlanetScaleError

# The watch's requests a minute when the client has no limiter to take a share of.
DEFAULT_REQUEST_BUDGET = 150


class ReadOnlyCalls:
    """PlanetScale for the watch: reads only. Its requests take the watch's share through `request_meter`."""

    def __init__(self, planetscale: PlanetScaleApi):
        self.planetscale = planetscale

    def list_policies(self, organization: str, database: str) -> list[BackupPolicy]:
        return self.planetscale.list_policies(organization, database)

    def get_policy(self, organization: str, database: str, policy_id: str) -> BackupPolicy:
        return self.planetscale.get_policy(organization, database, policy_id)

    def update_policy(self, organization: str, database: str, policy_id: str,
                      update: PolicyUpdate) -> BackupPolicy:  # pragma: no cover - the watch never writes
        raise AssertionError("the watch only reads")

    def create_policy(self, organization: str, database: str,
                      values: PolicyUpdate) -> BackupPolicy:  # pragma: no cover - the watch never writes
        raise AssertionError("the watch only reads")

    def delete_policy(self, organization: str, database: str,
                      policy_id: str) -> None:  # pragma: no cover - the watch never writes
        raise AssertionError("the watch only reads")

    def list_branches(self, organization: str, database: str) -> list[Branch]:
        return self.planetscale.list_branches(organization, database)

    def list_backups(self, organization: str, database: str, branch: str, policy_id: str | None,
                     since: str | None = None, state: str | None = None) -> list[Backup]:
        return self.planetscale.list_backups(organization, database, branch, policy_id, since, state)

    def list_databases(self, organization: str) -> list[str]:
        return self.planetscale.list_databases(organization)

    def database_kind(self, organization: str, database: str) -> str:
        return self.planetscale.database_kind(organization, database)

    def worst_case_seconds(self) -> float:
        return self.planetscale.worst_case_seconds()


class BranchesListedOnce(ReadOnlyCalls):
    """PlanetScale for one read-only command (`status`): a database's branches listed once, its answer (or
    failure) reused by every step that needs them."""

    def __init__(self, planetscale: PlanetScaleApi):
        super().__init__(planetscale)
        self._listed: dict[tuple[str, str], list[Branch] | PlanetScaleError] = {}

    def list_branches(self, organization: str, database: str) -> list[Branch]:
        key = (organization, database)
        if key not in self._listed:
            try:
                self._listed[key] = super().list_branches(organization, database)
            except PlanetScaleError as exc:  # a list cut or partly unreadable too: told alike by each step
                self._listed[key] = exc
        found = self._listed[key]
        if isinstance(found, PlanetScaleError):
            raise found
        return list(found)
