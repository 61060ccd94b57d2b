"""The bulk form's list of policies holds each in Slack's 75 characters an option's text allows: policies whose long
names (or databases' names) part only past that are still told apart, each by its ID, with its target."""

from __future__ import annotations

from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.views.bulk_edit import POLICIES

SHARED = "Production daily backup of the primary customer ledger cluster, kept for audit"


def option_texts(view: dict[str, object]) -> dict[str, str]:
    block = next(b for b in view["blocks"] if b.get("block_id") == POLICIES)  # type: ignore[attr-defined]
    return {o["value"]: o["text"]["text"] for o in block["element"]["options"]}


def test_policies_whose_names_part_past_75_characters_are_told_apart(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_database("acme", "ledger")
    planetscale.add_policy("acme", "ledger", "bpledgereu01", name=f"{SHARED} (EU)", target="production")
    planetscale.add_policy("acme", "ledger", "bpledgerus01", name=f"{SHARED} (US)", target="development")
    longer = "customer-analytics-warehouse-primary-eu-west-"
    for n in (1, 2):
        planetscale.add_database("acme", f"{longer}{n}")
        planetscale.add_policy("acme", f"{longer}{n}", f"bpwh{n}", name=SHARED, target="production")
    approvals_bot.command("edit acme/* *")
    texts = option_texts(approvals_bot.current_view())
    chosen = {v: t for v, t in texts.items() if v.startswith(("ledger/", longer))}
    assert len(chosen) == 4 and len(set(chosen.values())) == 4, chosen
    assert all(len(t) <= 75 for t in texts.values()), texts
    assert "development" in chosen["ledger/bpledgerus01"] and "bpledgerus01" in chosen["ledger/bpledgerus01"], chosen


def test_a_selection_whose_every_policy_id_is_too_long_for_a_form_is_told_with_the_command(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    # A form's list of no options is one Slack refuses: the person was told to open it again, and it failed again.
    planetscale.add_database("acme", "ledger")
    long_id = "bp" + "x" * 160
    planetscale.add_policy("acme", "ledger", long_id, name="Ledger daily", target="production")
    refused = len(approvals_bot.slack.refusals)
    said = approvals_bot.command("edit acme/ledger *").all_text()
    assert approvals_bot.slack.refusals[refused:] == []
    shown = str(approvals_bot.current_view())
    assert "Nothing to change" in shown and "/backup-policy update" in shown and "too long" in shown, (said, shown)
