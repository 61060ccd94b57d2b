"""A bulk change's policy deleted while the change waits for its approval (by the bot's own deletion, or in the
dashboard) is told gone since the request, never that PlanetScale failed: nothing of PlanetScale's failed, and a
reader acts on it differently. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, approvals_bot, request_id, second_instance
from bulk_helpers import button, channel_messages, latest
from conftest import Bot

from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name


def add_databases(planetscale: PlanetScaleState, count: int) -> list[str]:
    names = [f"shop-{n:02d}" for n in range(1, count + 1)]
    for name in names:
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    return names


def line_of(bot: Bot, message: object, database: str) -> str:
    text = "\n".join(b["text"]["text"] for b in latest(bot, message).blocks  # type: ignore[arg-type]
                     if b.get("type") == "section")
    return next(x for x in text.split("\n") if x.startswith(f"• `{database}`"))


def test_a_bulk_policy_the_bots_own_deletion_removed_before_approval_is_told_gone(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    first, second = add_databases(planetscale, 2)
    approvals_bot.command('update acme/shop-* "Production daily" retention=14d reason="audit"', user=ALICE)
    [bulk] = channel_messages(approvals_bot)
    approvals_bot.command(f'delete acme/{first} {first}-prod reason="replaced"', user=ALICE)
    deletion = channel_messages(approvals_bot)[-1]
    approvals_bot.click(APPROVE, request_id(deletion), user=CAROL, message=deletion)
    assert f"{first}-prod" not in planetscale.policies[("acme", first)]
    approvals_bot.click(BULK_APPROVE, button(bulk, BULK_APPROVE), user=CAROL, message=bulk)
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == [f"{second}-prod"]
    gone = line_of(approvals_bot, bulk, first)
    assert "no longer in PlanetScale" in gone and "PlanetScale failed" not in gone, gone
    assert f"deleted by the bot's change `{request_id(deletion)[:8]}`" in gone, gone
    assert "applied" in line_of(approvals_bot, bulk, second)


def test_a_bulk_policy_deleted_in_the_dashboard_before_approval_is_told_gone(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    _, second = add_databases(planetscale, 2)
    approvals_bot.command('update acme/shop-* "Production daily" retention=14d reason="audit"', user=ALICE)
    [bulk] = channel_messages(approvals_bot)
    planetscale.dashboard_delete("acme", second, f"{second}-prod")
    approvals_bot.click(BULK_APPROVE, button(bulk, BULK_APPROVE), user=CAROL, message=bulk)
    gone = line_of(approvals_bot, bulk, second)
    assert "no longer in PlanetScale" in gone and "PlanetScale failed" not in gone, gone
    assert "deleted in PlanetScale since" in gone, gone
