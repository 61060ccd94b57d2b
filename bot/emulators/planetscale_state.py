"""What the PlanetScale emulator holds: organizations, databases, branches, backups, policies, members and
tokens; the faults to inject, the calls recorded, the rate limit counted; and the dashboard's own changes.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.emulators.planetscale_checks import normalise_schedule, validate_policy_body
from bot.emulators.planetscale_schedule import RETENTION_HOURS, iso_time, next_run, utc_now

DEMO_TOKEN_ID = "demo-token-id"
DEMO_TOKEN = "pscale_tkn_demo_only_not_a_secret"
# On an injected answer: "status" when the body is the API's own for that status, "body" when the test chose it.
FAULT_HEADER = "X-Emulator-Fault"
ALL_ACCESSES = ("read_backups", "write_backups", "read_database", "read_branch", "read_organization")
# The spec's "Service Token Accesses" where an operation takes any of several: the branch list takes a branch
# access (not `read_database`); the database list and one database take any database, branch or backup access.
BRANCH_READERS = frozenset({"read_branch", "delete_branch", "create_branch", "connect_production_branch",
                            "connect_branch"})
DATABASE_READERS = frozenset({
    "read_database", "delete_database", "write_database", "read_branch", "delete_branch", "create_branch",
    "promote_branches", "demote_branches", "delete_production_branch", "connect_branch", "connect_production_branch",
    "connect_production_read_only_branch", "delete_branch_password", "delete_production_branch_password",
    "delete_production_read_only_branch_password", "read_deploy_request", "create_deploy_request",
    "approve_deploy_request", "read_comment", "create_comment", "restore_backup", "restore_production_branch_backup",
    "read_backups", "write_backups", "delete_backups", "delete_production_branch_backups", "write_branch_vschema",
    "write_production_branch_vschema"})


@dataclass
class Fault:
    status: int | None = None
    delay: float = 0.0
    times: int | None = 1  # None: every matching request
    method: str | None = None
    path_contains: str | None = None
    retry_after: str | None = None
    body: str | None = None  # raw body; default is the API's error JSON for the status
    # The answer waits until a test sets this (at most a minute), then `delay`: a PlanetScale that is slow for
    # exactly as long as the test needs, whatever the clock.
    until: threading.Event | None = None
    # Carry the request out, then answer with `status` as if the answer were lost on its way back.
    landed: bool = False
    # Headers of the answer beside the status's own (e.g. a `Content-Encoding` its body does not have).
    headers: dict[str, str] | None = None
    skip: int = 0  # requests it matches that are answered as usual before it strikes
    path_ends: str | None = None  # a list's own path, not the paths below it

    def matches(self, method: str, path: str) -> bool:
        return ((self.method is None or self.method.upper() == method)
                and (self.path_contains is None or self.path_contains in path)
                and (self.path_ends is None or path.endswith(self.path_ends))
                and (self.times is None or self.times > 0))


@dataclass
class TokenGrant:
    token: str
    # organization -> database glob ("*" for all) -> accesses
    accesses: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def allows(self, organization: str, database: str | None, access: str | frozenset[str]) -> bool:
        """`access` one access, or a set of which any will do."""
        wanted = {access} if isinstance(access, str) else access
        for pattern, granted in self.accesses.get(organization, {}).items():
            if wanted & granted and (pattern == "*" or database is None or pattern == database):
                return True
        return False


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


class PlanetScaleState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.databases: dict[tuple[str, str], dict[str, Any]] = {}
        self.policies: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.branches: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.backups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}  # by branch name, oldest first
        self.members: dict[str, list[dict[str, Any]]] = {}
        self.tokens: dict[str, TokenGrant] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.rate_limit: tuple[int, float] | None = None  # (requests, per seconds)
        self.rate_limited = 0  # requests answered 429 for going over `rate_limit`
        self.rate_limit_retry_after = False  # a 429 for going over `rate_limit` says when to come back
        self.clock: Callable[[], float] = time.monotonic
        # Called under the lock as each PATCH is about to land: (organization, database, policy as it is, body).
        self.patch_watchers: list[Callable[[str, str, dict[str, Any], dict[str, Any]], None]] = []
        # A bad day's pagination: the most items a page holds, and how a page names the next one, given its own
        # number and what PlanetScale would name (None on the last page).
        self.per_page_most = 100
        self.next_page: Callable[[int, int | None], Any] | None = None
        self.next_page_only: str | None = None  # the paths holding this the pager names pages of; all when None
        # The spec sets no order for a branch's backups: newest first unless a test lists them oldest first.
        self.backups_oldest_first = False
        self._recent: dict[str, deque[float]] = {}
        self._ids = 0
        self._backup_ids = 0

    # --- set-up -----------------------------------------------------------------------------------

    def new_id(self) -> str:
        self._ids += 1
        return f"bp{self._ids:04d}x7k2q9"

    def add_database(self, organization: str, database: str, kind: str = "mysql") -> None:
        created = iso_time(utc_now() - timedelta(days=200))
        api = f"https://api.planetscale.com/v1/organizations/{organization}/databases/{database}"
        self.databases[(organization, database)] = {
            "id": f"db-{database}", "type": "Database", "name": database, "kind": kind, "state": "ready",
            "ready": True, "created_at": created, "updated_at": created, "schema_last_updated_at": created,
            "url": api, "branches_url": api + "/branches", "html_url": f"https://app.planetscale.com/{organization}/{database}",
            "plan": "scaler_pro", "branches_count": 2, "production_branches_count": 1, "development_branches_count": 1,
            "open_schema_recommendations_count": 0, "issues_count": 0, "default_branch": "main",
            "sharded": False, "default_branch_shard_count": 1, "default_branch_read_only_regions_count": 0,
            "default_branch_table_count": 12, "multiple_admins_required_for_deletion": False,
            "at_backup_restore_branches_limit": False, "at_development_branch_usage_limit": False,
            "data_import": None, "require_approval_for_deploy": False, "deletion_protected": True,
            "resizing": False, "resize_queued": False, "config_changing": False, "config_change_queued": False,
            "allow_data_branching": False, "foreign_keys_enabled": True, "automatic_migrations": None,
            "restrict_branch_region": False, "insights_raw_queries": False, "insights_enabled": True,
            "production_branch_web_console": False, "migration_table_name": None, "migration_framework": None,
            "region": {"id": "region-us-east", "provider": "AWS", "enabled": True, "public_ip_addresses": [],
                       "display_name": "AWS us-east-1", "location": "Ashburn, Virginia", "slug": "us-east",
                       "current_default": True, "mysql_supported": True, "postgresql_supported": True},
        }
        self.policies.setdefault((organization, database), {})
        self.add_branch(organization, database, "main", production=True)
        self.add_branch(organization, database, "dev", production=False)

    def add_branch(self, organization: str, database: str, name: str, production: bool) -> dict[str, Any]:
        created = iso_time(utc_now() - timedelta(days=200))
        api = f"https://api.planetscale.com/v1/organizations/{organization}/databases/{database}/branches/{name}"
        region = self.databases[(organization, database)]["region"]
        branch = {
            "id": f"br-{database}-{name}", "name": name, "created_at": created, "updated_at": created,
            "deleted_at": None, "restore_checklist_completed_at": None, "schema_last_updated_at": created,
            "kind": self.databases[(organization, database)]["kind"], "mysql_address": f"{name}.{database}.psdb",
            "mysql_edge_address": f"{name}.{database}.edge.psdb", "state": "ready", "direct_vtgate": False,
            "vtgate_size": "small", "vtgate_name": None, "vtgate_count": 1, "vtgate_autoscaling": False,
            "vtgate_max_count": None, "vtgate_target_cpu_utilization": None, "cluster_name": "PS_10",
            "cluster_iops": None, "ready": True, "schema_ready": True, "metal": False, "production": production,
            "safe_migrations": production, "deletion_protected": production, "sharded": False, "shard_count": 1,
            "keyspace_count": 1, "stale_schema": False, "actor": None, "restored_from_branch": None,
            "private_edge_connectivity": False, "has_replicas": production, "has_read_only_replicas": False,
            "html_url": f"https://app.planetscale.com/{organization}/{database}/{name}", "url": api,
            "region": copy.deepcopy(region), "parent_branch": None if production else "main", "vtgate_options": {},
        }
        self.branches.setdefault((organization, database), []).append(branch)
        return branch

    def add_backup(self, organization: str, database: str, policy_id: str, state: str = "success",
                   hours_ago: float = 0.0, size: int = 1_250_000_000, branch: str | None = None) -> dict[str, Any]:
        """A backup made by a policy, on its first branch of the policy's target unless `branch` is given."""
        policy = self.policies[(organization, database)][policy_id]
        production = policy["target"] == "production"
        if branch is None:
            branch = next(b["name"] for b in self.branches[(organization, database)] if b["production"] == production)
        started = utc_now() - timedelta(hours=hours_ago, minutes=20)
        completed = utc_now() - timedelta(hours=hours_ago)
        keep = timedelta(hours=policy["retention_value"] * RETENTION_HOURS.get(policy["retention_unit"], 24))
        self._backup_ids += 1
        backup = {
            "id": f"bk{self._backup_ids:05d}", "name": completed.strftime("%Y.%m.%d %H:%M:%S"), "state": state,
            "size": size if state == "success" else 0, "estimated_storage_cost": round(size / 1e9 * 0.023, 4)
            if state == "success" else 0.0, "created_at": iso_time(started), "updated_at": iso_time(completed),
            "started_at": iso_time(started), "expires_at": iso_time(completed + keep) if state == "success" else None,
            "completed_at": iso_time(completed) if state in ("success", "failed") else None, "deleted_at": None,
            "pvc_size": size, "uncompressed_size": size * 3, "protected": False, "required": policy["required"],
            "restored_branches": [], "actor": None,
            "backup_policy": {k: policy[k] for k in POLICY_OBJECT_FIELDS},
            "schema_snapshot": None,
            "database_branch": {"id": f"br-{database}-{branch}", "name": branch, "created_at": iso_time(started),
                                "updated_at": iso_time(started), "deleted_at": None},
        }
        self.backups.setdefault((organization, database, branch), []).append(backup)
        # The policy ran when its newest backup started, as PlanetScale's `last_ran_at` says.
        if policy["last_ran_at"] is None or policy["last_ran_at"] < backup["started_at"]:
            policy["last_ran_at"] = backup["started_at"]
        return backup

    def add_policy(
        self, organization: str, database: str, policy_id: str | None = None, **values: Any
    ) -> dict[str, Any]:
        created = iso_time(utc_now() - timedelta(days=100))
        policy: dict[str, Any] = {
            "id": policy_id or self.new_id(), "name": "Backup", "target": "production", "retention_value": 2,
            "retention_unit": "day", "frequency_value": 12, "frequency_unit": "hour", "schedule_time": "00:00",
            "schedule_day": None, "schedule_week": None, "created_at": created, "updated_at": created,
            "last_ran_at": None, "next_run_at": None, "required": False,
        }
        policy.update(values)
        policy["display_name"] = f"Backup policy {policy['name']}"
        policy["next_run_at"] = next_run(policy)
        self.policies.setdefault((organization, database), {})[policy["id"]] = policy
        return policy

    def grant(self, token_id: str, token: str, organization: str, database: str = "*",
              accesses: tuple[str, ...] = ALL_ACCESSES) -> None:
        grant = self.tokens.setdefault(token_id, TokenGrant(token))
        grant.accesses.setdefault(organization, {}).setdefault(database, set()).update(accesses)

    def add_member(self, organization: str, email: str, name: str, role: str) -> None:
        stamp = iso_time(utc_now() - timedelta(days=300))
        members = self.members.setdefault(organization, [])
        members.append({
            "id": f"mem{len(members) + 1:03d}", "role": role, "created_at": stamp, "updated_at": stamp,
            "user": {"id": f"usr{len(members) + 1:03d}", "display_name": name, "name": name, "email": email,
                     "avatar_url": "", "created_at": stamp, "updated_at": stamp,
                     "two_factor_auth_configured": True},
        })

    def policy(self, organization: str, database: str, policy_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.policies[(organization, database)][policy_id])

    def dashboard_change(self, organization: str, database: str, policy_id: str, **values: Any) -> dict[str, Any]:
        """A change made in PlanetScale's dashboard, not through the API: checked as a PATCH body is."""
        problem = validate_policy_body(values, partial=True)
        if problem:
            raise ValueError(problem)
        with self.lock:
            updated = {**self.policies[(organization, database)][policy_id], **values}
            problem = normalise_schedule(updated)
            if problem:
                raise ValueError(problem)
            updated["display_name"] = f"Backup policy {updated['name']}"
            updated["updated_at"] = iso_time(utc_now())
            updated["next_run_at"] = next_run(updated)
            self.policies[(organization, database)][policy_id] = updated
            return copy.deepcopy(updated)

    def dashboard_delete(self, organization: str, database: str, policy_id: str) -> None:
        """A policy deleted in PlanetScale's dashboard (the bot never deletes one)."""
        with self.lock:
            del self.policies[(organization, database)][policy_id]

    def fail_backup(self, organization: str, database: str, policy_id: str) -> dict[str, Any]:
        """The policy's newest backup, failed just now."""
        with self.lock:
            return self.add_backup(organization, database, policy_id, state="failed")

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def calls(self, method: str | None = None) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if method is None or r.method == method]

    def over_rate_limit(self, token_id: str) -> bool:
        """Count a request of this token; True when it goes over `rate_limit`. Call with `lock` held."""
        return self.rate_limit_wait(token_id) is not None

    def rate_limit_wait(self, token_id: str) -> float | None:
        """Count a request of this token; None when within `rate_limit`, else the seconds until the window admits
        the next one. Call with `lock` held."""
        if self.rate_limit is None:
            return None
        allowed, window = self.rate_limit
        now = self.clock()
        recent = self._recent.setdefault(token_id, deque())
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) >= allowed:
            self.rate_limited += 1
            return max(0.0, recent[0] + window - now)
        recent.append(now)
        return None

    def clear_record(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()


POLICY_OBJECT_FIELDS = ("id", "display_name", "name", "target", "retention_value", "retention_unit", "frequency_value",
                        "frequency_unit", "schedule_time", "schedule_day", "schedule_week", "created_at",
                        "updated_at", "last_ran_at", "next_run_at", "required")
