"""doctor's look at the rules' and guardrails' patterns against the databases PlanetScale lists now: one that
matches none (a typo, `app-bd`) covers nothing, and a guardrail so written bounds nothing. A warning, not a
problem: a pattern may be meant for a database not made yet."""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
from collections.abc import Callable

from bot.domain.access_rules import AccessRules
from bot.domain.naming import unmarked
from bot.domain.ports import NotFound, PlanetScaleError
from bot.runtime.doctor_report import Report

GLOB = "*?["


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in GLOB)


def check_patterns(rules: AccessRules, names_of: Callable[[str], list[str]], report: Report, path: str) -> None:
    """Each database pattern of a guardrail, and each glob of a rule, of an organization named plainly: a rule's
    plain names are read one by one already, and fail there. `names_of` lists an organization's databases."""
    lines = file_lines(path)
    listed: dict[str, list[str] | None] = {}
    unknown: dict[str, str] = {}  # an organization PlanetScale answers 404 for, and its words

    def names(organization: str) -> list[str] | None:
        if organization not in listed:
            try:
                listed[organization] = names_of(organization)
            except PlanetScaleError as exc:
                listed[organization] = None
                if isinstance(exc, NotFound):
                    unknown[organization] = unmarked(exc.user_message)
                else:
                    report.note(f"{organization}: its databases cannot be listed ({unmarked(exc.user_message)}), so "
                                "the patterns naming it are not checked against them")
        return listed[organization]

    tables = [("rule", r.number, r.line, r.organizations, [d for d in r.databases if is_glob(d)]) for r in rules.rules]
    tables += [("guardrail", g.number, g.line, g.organizations, g.databases) for g in rules.guardrails]
    for kind, number, line, organizations, patterns in tables:
        plain = [o for o in organizations if not is_glob(o)]
        for organization in plain if patterns else []:
            if names(organization) is None and organization in unknown:
                report.warning(f"{path} line {line_of(lines, line, organization)} ({kind} {number}): organization "
                               f"`{organization}`: PlanetScale lists no database of it ({unknown[organization]}), so "
                               f"the {kind} covers nothing there: correct a typo, give the token access to it, or "
                               "leave it for one to come")
        for pattern in patterns if plain else []:
            found = [names(o) for o in plain]
            if any(n is None for n in found):
                continue  # said once above
            every = sorted({name for group in found for name in group or []})
            if any(fnmatch.fnmatchcase(name.lower(), pattern) for name in every):
                continue
            close = difflib.get_close_matches(pattern, every, n=1)
            closest = f" (the closest: {close[0]})" if close else ""
            report.warning(f"{path} line {line_of(lines, line, pattern)} ({kind} {number}): `{pattern}` matches no "
                           f"database of {', '.join(plain)} PlanetScale lists now{closest}, so the {kind} covers "
                           "nothing through it: correct a typo, or leave it for a database to come")


def file_lines(path: str) -> list[str]:
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        return handle.read().decode("utf-8", "replace").splitlines()
    return []


def line_of(lines: list[str], start: int, pattern: str) -> int:
    """The line at or after the table's header (`start`) that holds the pattern quoted; the header's if none."""
    for number in range(max(start, 1), len(lines) + 1):
        text = lines[number - 1].lower()
        if number > start and text.lstrip().startswith("["):
            break
        if f'"{pattern}"' in text or f"'{pattern}'" in text:
            return number
    return start
