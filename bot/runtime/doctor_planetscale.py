"""doctor's look at PlanetScale: what the rules name, read once each with the service token."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import httpx

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.domain.access_rules import AccessRules
from bot.domain.naming import unmarked
from bot.domain.ports import (
    BadResponse,
    Forbidden,
    ListCut,
    NotFound,
    PartlyUnreadable,
    PlanetScaleError,
    Unauthorized,
    Unavailable,
    Unreachable,
)
from bot.runtime.doctor_patterns import check_patterns
from bot.runtime.doctor_report import Report
from bot.runtime.settings import Settings


@dataclass(frozen=True)
class PlanetScaleCheck:
    subject: str  # "acme/app-db", or "acme members"
    failure: str  # what the problem line says before PlanetScale's own words
    scope: str  # "backups" or "members": which access the fix names
    run: Callable[[], str]  # the ok line


def check_planetscale(settings: Settings, rules: AccessRules | None, report: Report, timeout: float) -> None:
    """Each database the rules name, and the member list where a rule needs PlanetScale roles: one try each,
    with a short timeout, and a fix that matches what failed. When PlanetScale cannot be reached or refuses
    the token, the remaining checks would fail the same way and are skipped."""
    client = PlanetScaleClient(settings.planetscale_token_id or "", settings.planetscale_token or "",
                               settings.planetscale_api_url, timeout=httpx.Timeout(timeout),
                               retry=RetryPolicy(attempts=1))

    def read_policies(organization: str, database: str) -> str:
        try:
            policies = client.list_policies(organization, database)
        except PartlyUnreadable as exc:  # the token reads the list: the items it holds are PlanetScale's to fix
            policies = exc.readable
            report.warning(partly_read(exc, "policies"))
        return f"{organization}/{database}: the token can read its {len(policies)} backup policies"

    def list_backups(organization: str, database: str) -> str:
        """What the watch and `status` read: the database's branches, and a policy's backups on one of them."""
        try:
            branches = client.list_branches(organization, database)
        except PartlyUnreadable as exc:
            branches = exc.readable
            report.warning(partly_read(exc, "branches"))
        try:
            policies = client.list_policies(organization, database)
        except PartlyUnreadable as exc:  # warned of by read_policies
            policies = exc.readable
        for policy in policies:
            on = [b for b in branches if b.production == (policy.target == "production")]
            if on:
                backups = client.list_backups(organization, database, on[0].name, policy.id)
                return (f"{organization}/{database}: the token can list backups ({len(backups)} of "
                        f"{policy.id} on {on[0].name})")
        return f"{organization}/{database}: the token can list branches ({len(branches)}); no policy has backups"

    listed: dict[str, list[str]] = {}

    def names_of(organization: str) -> list[str]:
        if organization not in listed:
            try:
                listed[organization] = client.list_databases(organization)
            except ListCut as exc:  # not a fault of the URL or token: those read are checked, the limit told
                listed[organization] = exc.readable
                report.warning(f"{unmarked(exc.user_message)} doctor checks the patterns against the databases "
                               "read.")
            except PartlyUnreadable as exc:
                listed[organization] = exc.readable
                report.warning(partly_read(exc, "databases"))
        return listed[organization]

    def list_databases(organization: str, patterns: list[str]) -> str:
        names = names_of(organization)
        matched = [n for n in names if any(fnmatch.fnmatchcase(n.lower(), p) for p in patterns)]
        return (f"{organization}: the token can list databases ({len(matched)} of {len(names)} match "
                f"{', '.join(patterns)}; the watch reads those)")

    def read_members(organization: str) -> str:
        client.find_members(organization, "doctor-check@example.invalid")
        return f"{organization}: the token can read members (for planetscale_role)"

    checks: list[PlanetScaleCheck] = []
    named = rules.rules if rules else []
    databases = sorted({(o, d) for r in named for o in r.organizations for d in r.databases})
    if not databases:
        report.note("no databases to check (the access rules name none)")
    patterns: dict[str, list[str]] = {}
    for organization, database in databases:
        if any(ch in organization for ch in "*?["):
            report.note(f"{organization}/{database}: an organization pattern; its databases are checked when used")
        elif any(ch in database for ch in "*?["):
            patterns.setdefault(organization, []).append(database)
        else:
            checks.append(PlanetScaleCheck(f"{organization}/{database}", f"{organization}/{database}", "backups",
                                           partial(read_policies, organization, database)))
            checks.append(PlanetScaleCheck(f"{organization}/{database} backups",
                                           f"{organization}/{database}: backups cannot be listed", "backup list",
                                           partial(list_backups, organization, database)))
    for organization, named_by in sorted(patterns.items()):
        checks.append(PlanetScaleCheck(f"{organization} databases", f"{organization}: databases cannot be listed",
                                       "databases", partial(list_databases, organization, named_by)))
    for organization in sorted({o for r in named if r.planetscale_role for o in r.organizations}):
        checks.append(PlanetScaleCheck(f"{organization} members", f"{organization}: members cannot be read",
                                       "members", partial(read_members, organization)))
    try:
        for index, item in enumerate(checks):
            try:
                report.ok(item.run())
            except PlanetScaleError as exc:
                report.problem(f"{item.failure}: {unmarked(exc.user_message)}", planetscale_fix(exc, item.scope))
                if isinstance(exc, Unreachable | Unauthorized):
                    for skipped in checks[index + 1:]:
                        report.note(f"{skipped.subject}: not checked, it would fail the same way")
                    return
        if rules is not None:
            check_patterns(rules, names_of, report, settings.access_file)
    finally:
        client.close()


def partly_read(exc: PartlyUnreadable[object], what: str) -> str:
    """A list read in part, in words: past the items the bot reads of one, or holding items it cannot read (each
    named as PlanetScale gave it, escaped, as a terminal shows it); doctor checks with the rest, as the watch does."""
    if isinstance(exc, ListCut) or not exc.unreadable:
        return f"{unmarked(exc.user_message)} doctor checks with the {what} read."
    named = [json.dumps(given[:64]) + (f" ({why})" if why != exc.user_message else "")
             for given, why in list(exc.unreadable.items())[:5]]
    more = f", and {len(exc.unreadable) - 5} more" if len(exc.unreadable) > 5 else ""
    return (f"{unmarked(exc.user_message)} Not read: {unmarked(', '.join(named))}{more}. doctor checks with the "
            f"{len(exc.readable)} {what} read.")


def planetscale_fix(exc: PlanetScaleError, scope: str) -> str:
    """The fix for what actually failed: the network or URL, the token, or the token's access."""
    if isinstance(exc, Unreachable):
        return ("check PLANETSCALE_API_URL (https://api.planetscale.com/v1 unless you use a proxy) and that this "
                "machine can reach it: DNS, firewall, proxy")
    if isinstance(exc, Unauthorized):
        return ("check PLANETSCALE_SERVICE_TOKEN_ID and PLANETSCALE_SERVICE_TOKEN (organization settings → "
                "Service tokens), or create a new token and set both")
    if isinstance(exc, Forbidden | NotFound):
        if scope == "members":
            return "give the service token read_organization, or remove planetscale_role from the access rules"
        if scope == "databases":
            return ("give the service token read_database on the organization (the access rules name databases by "
                    "a pattern, which the watch matches against the organization's databases), or name the "
                    "databases in the rules")
        if scope == "backup list":
            return ("give the service token read_branch and read_backups on this database (organization "
                    "settings → Service tokens): the watch and `status` list its branches and their backups")
        return ("check the organization and database names in the access rules, and give the service token "
                "read_backups and write_backups on this database (organization settings → Service tokens)")
    if isinstance(exc, BadResponse):
        return "check that PLANETSCALE_API_URL points at PlanetScale's API (https://api.planetscale.com/v1)"
    if isinstance(exc, Unavailable):  # 5xx or a rate limit: PlanetScale's side, for now
        return "PlanetScale is failing or busy: run doctor again in a few minutes, and check status.planetscale.com"
    return "check PLANETSCALE_API_URL and the service token"
