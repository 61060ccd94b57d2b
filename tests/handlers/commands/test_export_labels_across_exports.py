"""Exports of one organization made in parts (the bot asks for that past 20 databases, or past five messages)
go into one Terraform configuration: their resource labels must differ there too, not only within one export.
Through Bolt's pipeline, the code parsed as Terraform reads it."""

from __future__ import annotations

from conftest import ALICE, Bot
from export_code import code_of, parsed_imports, parsed_resources

from bot.emulators.planetscale_state import PlanetScaleState


def labels_of(bot: Bot, text: str) -> list[str]:
    code = code_of(bot.command(text, user=ALICE).private)
    labels = [label for _, label, _ in parsed_resources(code)]
    assert sorted(labels) == sorted(to.split(".")[1] for to, _ in parsed_imports(code))
    return labels


def test_two_databases_whose_names_run_into_their_policies_names_get_different_labels_exported_apart(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    """`billing` with "EU daily" and `billing-eu` with "Daily" were both `billing_eu_daily`: exported apart and put
    in one configuration, Terraform refuses it ("Duplicate resource") and imports neither."""
    planetscale.add_database("acme", "billing")
    planetscale.add_policy("acme", "billing", "bpbillingeu", name="EU daily", target="production")
    planetscale.add_database("acme", "billing-eu")
    planetscale.add_policy("acme", "billing-eu", "bpeudaily", name="Daily", target="production")
    first, second = labels_of(bot, "export acme/billing"), labels_of(bot, "export acme/billing-eu")
    assert first and second and not set(first) & set(second), (first, second)
    together = labels_of(bot, "export acme/billing*")
    assert set(first + second) <= set(together), "an export in one part labels them as two parts do"


def test_databases_whose_names_fold_alike_get_different_labels_in_one_export_and_apart(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    """`a-b` and `a_b` (and `A-b`'s like) fold to one `a_b`: within one export the second was told apart by its
    policy's ID, but exported apart both were `a_b__daily`. The database's part now carries a digest of its name
    where folding loses something, so each label is the same however the exports are cut."""
    for database, policy_id in (("a-b", "bpdash"), ("a_b", "bpunder")):
        planetscale.add_database("acme", database)
        planetscale.add_policy("acme", database, policy_id, name="Daily", target="production")
    together = labels_of(bot, "export acme/a?b")
    assert len(together) == len(set(together)) == 2, together
    first, second = labels_of(bot, "export acme/a-b"), labels_of(bot, "export acme/a_b")
    assert first and second and not set(first) & set(second), (first, second)
    assert sorted(first + second) == sorted(together), "an export in one part labels them as two parts do"
