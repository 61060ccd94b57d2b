"""A bulk approval reads again what a single approval does (backups under a storage bound, the policies under a
floor of the target left) rather than judging on what was read when the change was asked."""

from __future__ import annotations

from access_rules import guardrail
from approval_helpers import CAROL, RULES, approvals_bot, request_id, request_message, sweep
from backup_reads import moved_clock
from conftest import Bot
from test_bulk import button, channel_messages, shown

from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS
from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

REASON = 'reason="audit asks two weeks"'


def two_databases(planetscale: PlanetScaleState) -> None:
    for name in ("st-01", "st-02"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
        planetscale.add_backup("acme", name, f"{name}-prod", hours_ago=30, size=1_000_000_000)


def test_a_bulk_approval_under_an_overridable_bound_added_since_does_not_wait_on_the_sizes_read_when_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """st-02's latest backup was 100 GB when the change was asked (no bound then), 1 GB now; a 500 GB bound that
    two approvals may override is added. Fourteen 1 GB backups fit it, so carol's one approval is all the rules
    ask, as a single request's approval judges it (it reads the backups again). Judged on the 100 GB read when
    asked, the bulk change waited for two override approvals it does not need."""
    two_databases(planetscale)
    planetscale.add_backup("acme", "st-02", "st-02-prod", hours_ago=20, size=100_000_000_000)
    approvals_bot.command(f'update acme/st-* "Production daily" retention=14d {REASON}')
    [message] = channel_messages(approvals_bot)
    planetscale.add_backup("acme", "st-02", "st-02-prod", hours_ago=1, size=1_000_000_000)
    approvals_bot.use_rules(RULES.format(approvals=1)
                            + guardrail("production", max_storage="500GB", override_approvals=2))
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    for name in ("st-01", "st-02"):
        assert planetscale.policies[("acme", name)][f"{name}-prod"]["retention_value"] == 14, (
            [e.text for e in reply.events], shown(approvals_bot, message))


def test_a_bulk_move_approved_under_a_floor_added_since_does_not_wait_on_the_policies_listed_when_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Each database had one production policy when its move to development was asked (no floor then); two
    more production policies each since, and a floor of one production policy that two approvals may override.
    Each move leaves two: carol's one approval is all the rules ask, as a single approval judges it (it lists
    the policies again). Judged on the policies listed when asked, the bulk change waited for two more."""
    two_databases(planetscale)
    approvals_bot.command(f'update acme/st-* "Production daily" target=development {REASON}')
    [message] = channel_messages(approvals_bot)
    for name in ("st-01", "st-02"):
        for n in (2, 3):
            planetscale.add_policy("acme", name, f"{name}-p{n}", name=f"Production {n}", target="production")
    approvals_bot.use_rules(RULES.format(approvals=1)
                            + guardrail("production", min_policies=1, override_approvals=2))
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    for name in ("st-01", "st-02"):
        assert planetscale.policies[("acme", name)][f"{name}-prod"]["target"] == "development", (
            [e.text for e in reply.events], shown(approvals_bot, message))


OVERRIDABLE = RULES.format(approvals=1) + guardrail("production", max_storage="500GB", override_approvals=2)


def test_the_sweep_applies_a_request_whose_override_is_no_longer_owed_once_its_backups_shrank(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Holds (the single side of the next): the 100 GB backups break the bound, so carol's approval leaves it
    waiting for a second; a 1 GB backup since, and the sweep applies it on carol's approval alone."""
    approvals_bot.use_rules(OVERRIDABLE)
    two_databases(planetscale)
    planetscale.add_backup("acme", "st-02", "st-02-prod", hours_ago=20, size=100_000_000_000)
    now = moved_clock(approvals_bot)
    approvals_bot.command(f'update acme/st-02 "Production daily" retention=14d {REASON}')
    message = request_message(approvals_bot)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    planetscale.add_backup("acme", "st-02", "st-02-prod", hours_ago=1, size=1_000_000_000)
    now[0] += JUDGE_AGAIN_SECONDS + 1  # a waiting request's next turn
    sweep(approvals_bot)
    assert planetscale.policies[("acme", "st-02")]["st-02-prod"]["retention_value"] == 14


def test_the_sweep_applies_a_bulk_change_whose_override_is_no_longer_owed_once_its_backups_shrank(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The same in bulk: carol's approval, read on 100 GB backups, leaves st-02 waiting for the override's second
    approval; a 1 GB backup since. The sweep judged the change again on the sizes read when it was asked, so it
    waited for that second approval for its whole life, where a single request is applied."""
    approvals_bot.use_rules(OVERRIDABLE)
    two_databases(planetscale)
    planetscale.add_backup("acme", "st-02", "st-02-prod", hours_ago=20, size=100_000_000_000)
    now = moved_clock(approvals_bot)
    approvals_bot.command(f'update acme/st-* "Production daily" retention=14d {REASON}')
    [message] = channel_messages(approvals_bot)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    planetscale.add_backup("acme", "st-02", "st-02-prod", hours_ago=1, size=1_000_000_000)
    now[0] += 120
    sweep(approvals_bot)
    for name in ("st-01", "st-02"):
        assert planetscale.policies[("acme", name)][f"{name}-prod"]["retention_value"] == 14, shown(
            approvals_bot, message)


def test_a_bulk_change_whose_approval_owes_an_override_does_not_show_its_approvals_complete(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """st-02's backups grew to 100 GB after the change was asked; a 500 GB bound that two approvals may override
    added since. carol's approval is told one more is needed: the message must not say "1 of 1" (drawn on the
    sizes read when asked), or no other approver knows to approve."""
    two_databases(planetscale)
    approvals_bot.command(f'update acme/st-* "Production daily" retention=14d {REASON}')
    [message] = channel_messages(approvals_bot)
    planetscale.add_backup("acme", "st-02", "st-02-prod", hours_ago=1, size=100_000_000_000)
    approvals_bot.use_rules(OVERRIDABLE)
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert "1 more approval still needed" in " ".join(e.text or "" for e in reply.private), reply.events
    now = shown(approvals_bot, message)
    assert "1 of 1" not in now, now
    assert planetscale.calls("PATCH") == []
