"""A policy's name may hold `?` or `*` (the bot takes such a name, and PlanetScale's dashboard gives any): an
`update` that names such a policy exactly changes that policy, not every policy its characters would match as a
glob. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_an_update_naming_a_policy_whose_name_holds_a_question_mark_changes_that_policy_alone(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Development: no approval, so whatever the command names is changed at once."""
    planetscale.add_policy("acme", "app-db", "bpq", name="Daily?", target="development", retention_value=7,
                           frequency_value=1, frequency_unit="day")
    planetscale.add_policy("acme", "app-db", "bp2", name="Daily2", target="development", retention_value=7,
                           frequency_value=1, frequency_unit="day")
    reply = approvals_bot.command('update acme/app-db "Daily?" retention=14d', user=ALICE)
    patched = sorted(c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH"))
    assert patched == ["bpq"], (patched, reply.all_text())
    assert planetscale.policy("acme", "app-db", "bp2")["retention_value"] == 7
    assert "its exact name, not a glob" in reply.all_text()


def test_a_question_mark_no_policy_is_named_by_stays_a_glob(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    for policy_id, name in (("bp1", "Daily1"), ("bp2", "Daily2")):
        planetscale.add_policy("acme", "app-db", policy_id, name=name, target="development", retention_value=7,
                               frequency_value=1, frequency_unit="day")
    approvals_bot.command('update acme/app-db "Daily?" retention=14d', user=ALICE)
    assert sorted(c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")) == ["bp1", "bp2"]


def test_a_star_names_every_policy_though_one_is_named_so(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_policy("acme", "app-db", "bpstar", name="*", target="development", retention_value=7,
                           frequency_value=1, frequency_unit="day")
    approvals_bot.command("update acme/app-db * --where target=development retention=14d", user=ALICE)
    assert sorted(c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")) == ["bp03devday", "bpstar"]
