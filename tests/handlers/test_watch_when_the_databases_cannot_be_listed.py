"""The watch when PlanetScale will not list the databases the rules name by a pattern (`acme/*`): a token it no
longer takes (401), one that lost `read_database` (its list answered 404). The pass used to drop every pattern's
databases without a word (nothing read, nothing failed, nothing skipped: /healthz said ok, the channel heard
nothing) and one organization's failure hid another's databases. What lasts is told as any skipped item is: the
log, /healthz and the audit channel once; the other organizations are watched."""

from __future__ import annotations

from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import skipped_said, watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher
from handlers.watch import SKIPPED_HEADLINE

TWO_ORGANIZATIONS = """
[[rules]]
organizations = ["acme", "zeta"]
databases = ["*"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
"""


def test_a_token_planetscale_no_longer_takes_is_told_by_healthz_and_in_the_channel_once(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    assert watch_pass(bot, watcher) == []
    with planetscale.lock:
        planetscale.tokens.clear()  # revoked in PlanetScale's settings
    assert watch_pass(bot, watcher) == [SKIPPED_HEADLINE]
    assert "refused the service token (401)" in skipped_said(bot)
    report = health_report(bot.deps, watcher)
    assert any("acme" in s and "401" in s for s in report.get("watch_skipped", [])), report
    assert watch_pass(bot, watcher) == []  # still so: not told again


def test_a_token_that_may_no_longer_list_the_databases_is_told(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    with planetscale.lock:
        planetscale.tokens.clear()
    # No database, branch or backup access left: PlanetScale's database list takes any of them.
    planetscale.grant(DEMO_TOKEN_ID, DEMO_TOKEN, "acme", accesses=("read_organization",))
    assert watch_pass(bot, watcher) == [SKIPPED_HEADLINE]
    assert "acme databases" in skipped_said(bot) and "read_database" in skipped_said(bot)
    assert any("read_database" in s for s in health_report(bot.deps, watcher).get("watch_skipped", []))


def test_one_organization_that_cannot_be_listed_hides_not_the_databases_of_another(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    bot.use_rules(TWO_ORGANIZATIONS)
    with planetscale.lock:
        planetscale.add_database("zeta", "z-db")
        planetscale.add_policy("zeta", "z-db", "bpzeta", name="Zeta daily")
    planetscale.grant(DEMO_TOKEN_ID, DEMO_TOKEN, "zeta")
    watch_pass(bot, watcher)
    assert "bpzeta" in bot.deps.store.seen_policies("zeta", "z-db")[0]
    with planetscale.lock:  # acme's grant gone: only zeta's is left
        del planetscale.tokens[DEMO_TOKEN_ID].accesses["acme"]
    planetscale.dashboard_change("zeta", "z-db", "bpzeta", retention_value=9)
    posted = watch_pass(bot, watcher)
    assert sum(p.startswith(":eyes:") for p in posted) == 1, posted
    assert SKIPPED_HEADLINE in posted and "acme databases" in skipped_said(bot)
