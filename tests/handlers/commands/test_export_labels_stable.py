"""A policy's Terraform label is its own: the same whatever else its database holds, whoever exports it and however
the exports are cut. Once imported, a label that moves makes `terraform plan` destroy the policy at its old address
(and import it at the new one), or refuse the configuration ("Duplicate resource"). Through Bolt's pipeline, the
code parsed as Terraform reads it."""

from __future__ import annotations

from access_rules import by_target
from conftest import ALICE, Bot
from export_code import code_of, parsed_imports, parsed_resources

from bot.emulators.planetscale_state import PlanetScaleState

BOB = "U0BOB00001"


def labels_by_id(bot: Bot, text: str, user: str = ALICE) -> dict[str, str]:
    """Each exported policy's ID and its resource label, as Terraform reads them."""
    code = code_of(bot.command(text, user=user).private)
    resources = {label for _, label, _ in parsed_resources(code)}
    found = {import_id: to.split(".")[1] for to, import_id in
             ((to, import_id["id"]) for to, import_id in parsed_imports(code))}
    assert set(found.values()) == resources and len(resources) == len(found), (found, resources)
    return found


def test_a_policys_label_stays_when_another_whose_name_folds_alike_is_deleted(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    """"EU daily" and "eu-daily" fold alike: the one listed second was told apart by its ID, and once the first was
    deleted it took the plain label, so the next export moved it (plan: destroy at the old address)."""
    planetscale.add_database("acme", "eu")
    planetscale.add_policy("acme", "eu", "bpeufirst", name="EU daily", target="production")
    planetscale.add_policy("acme", "eu", "bpeusecond", name="eu-daily", target="production")
    before = labels_by_id(bot, "export acme/eu")
    assert len(set(before.values())) == 2, before
    planetscale.dashboard_delete("acme", "eu", "bpeufirst")
    after = labels_by_id(bot, "export acme/eu")
    assert after == {"bpeusecond": before["bpeusecond"]}


def test_a_policys_label_is_the_same_for_one_who_sees_fewer_of_its_databases_policies(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Bob sees production only: a development "daily" listed first gave Alice's "Daily" its ID in the label, and
    Bob's the plain one, so their exports do not meet in one configuration."""
    bot.use_rules(by_target(production=(["@dba-team", ALICE], [], 0), development=([ALICE], [], 0)))
    planetscale.add_database("acme", "shop")
    planetscale.add_policy("acme", "shop", "bpshopdev", name="daily", target="development")
    planetscale.add_policy("acme", "shop", "bpshopprod", name="Daily", target="production")
    alice, bob = labels_by_id(bot, "export acme/shop"), labels_by_id(bot, "export acme/shop", user=BOB)
    assert set(bob) == {"bpshopprod"} and len(set(alice.values())) == 2, (alice, bob)
    assert bob["bpshopprod"] == alice["bpshopprod"]


def test_databases_whose_names_differ_by_a_leading_digit_get_different_labels_exported_apart(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    """`1db`'s labels began `p_1db` (a label may not start with a digit), as `p-1db`'s do: exported apart, one
    configuration holds the same label twice."""
    for database, policy_id in (("1db", "bpdigit"), ("p-1db", "bpplain")):
        planetscale.add_database("acme", database)
        planetscale.add_policy("acme", database, policy_id, name="Daily", target="production")
    first, second = labels_by_id(bot, "export acme/1db"), labels_by_id(bot, "export acme/p-1db")
    assert first and second and not set(first.values()) & set(second.values()), (first, second)
    together = labels_by_id(bot, "export acme/*1db")
    assert together == {**first, **second}, "an export in one part labels them as two parts do"


def test_a_policys_label_stays_when_it_is_renamed_in_planetscale(bot: Bot, planetscale: PlanetScaleState) -> None:
    """The label carried the policy's name: renamed in PlanetScale, the next export put it at a new address, and
    a configuration replaced with it planned to import it there and destroy it at the old one (deleting the policy
    in PlanetScale). The name is a comment above the resource now."""
    before_code = code_of(bot.command("export acme/app-db", user=ALICE).private)
    before = labels_by_id(bot, "export acme/app-db")
    planetscale.dashboard_change("acme", "app-db", "bp01prod12h", name="Production twice a day")
    after_code = code_of(bot.command("export acme/app-db", user=ALICE).private)
    assert labels_by_id(bot, "export acme/app-db") == before and before["bp01prod12h"] == "app_db__bp01prod12h"
    resource = 'resource "planetscale_vitess_backup_policy" "app_db__bp01prod12h" {'
    assert f"# Production daily\n{resource}" in before_code and f"# Production twice a day\n{resource}" in after_code
    names = {label: attributes["name"] for _, label, attributes in parsed_resources(after_code)}
    assert names["app_db__bp01prod12h"] == "Production twice a day"
