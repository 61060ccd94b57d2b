"""`/backup-policy export`: through Bolt's pipeline, the code parsed as Terraform would read it (python-hcl2, HCL's
string rules), its values held against the policies PlanetScale has."""

from __future__ import annotations

import json
from typing import Any

from access_rules import STRICT_BEFORE_OPEN, by_target
from conftest import ALICE, Bot
from export_code import code_blocks, code_of, parsed_imports, parsed_json, parsed_resources
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.export import MAX_DATABASES, TERRAFORM_ARGUMENTS
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault

BOB = "U0BOB00001"
CAROL = "U0CAROL001"
DAVE = "U0DAVE0001"


def expected_arguments(planetscale: PlanetScaleState, organization: str, database: str,
                       policy_id: str) -> dict[str, Any]:
    policy = planetscale.policy(organization, database, policy_id)
    values = {"organization": organization, "database": database}
    values.update({k: policy[k] for k in TERRAFORM_ARGUMENTS if policy[k] is not None})
    return values


def block_text(block: dict[str, Any]) -> int:
    """The characters of text a block holds, as Slack counts them towards a message's blocks."""
    texts = [block.get("text") or {}, *block.get("elements", []), *block.get("fields", [])]
    return sum(len(t.get("text", "")) for t in texts if isinstance(t, dict))


def exported(bot: Bot, text: str, user: str = ALICE) -> tuple[str, list[Any]]:
    reply = bot.command(text, user=user)
    assert reply.ack == {} and reply.public == [], "an export is answered to the caller alone"
    assert 1 <= len(reply.private) <= 5, "a response URL takes five answers at most"
    # Slack refuses a message whose blocks hold more than about 12,000 characters (msg_blocks_too_long).
    assert all(sum(block_text(b) for b in e.blocks) <= 12_000 for e in reply.private)
    return code_of(reply.private), reply.private


def summary(events: list[Any]) -> str:
    return json.dumps([b for b in events[0].blocks if not b.get("text", {}).get("text", "").startswith("```")],
                      ensure_ascii=False)


def test_terraform_of_a_vitess_database_has_each_policy_with_its_import_and_every_value(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    code, events = exported(bot, "export acme/app-db")
    resources = parsed_resources(code)
    assert {r[0] for r in resources} == {"planetscale_vitess_backup_policy"}
    by_label = {label: attributes for _, label, attributes in resources}
    imports = parsed_imports(code)
    assert len(imports) == len(resources) == 3
    for to, import_id in imports:
        kind, label = to.split(".")
        assert kind == "planetscale_vitess_backup_policy"
        assert import_id["organization"] == "acme" and import_id["database"] == "app-db"
        # Everything the provider models of the policy, exactly: a plan after the import changes nothing.
        assert by_label[label] == expected_arguments(planetscale, "acme", "app-db", import_id["id"])
    assert {i["id"] for _, i in imports} == {"bp01prod12h", "bp02prodwk", "bp03devday"}
    assert "schedule_day" not in by_label["app_db__bp01prod12h"]  # null in PlanetScale: left out
    assert by_label["app_db__bp02prodwk"]["schedule_day"] == 0
    assert "3 policies of 1 database" in summary(events)
    assert code.count("# A required system policy") == 1  # bp01prod12h
    assert code.index("# A required system policy") < code.index("# Production daily\nresource") \
        < code.index('"app_db__bp01prod12h"')
    assert [c.path for c in planetscale.calls()] == ["/organizations/acme/databases/app-db",
                                                     "/organizations/acme/databases/app-db/backup-policies"]


def test_a_postgres_database_gets_the_postgres_resource(bot: Bot, planetscale: PlanetScaleState) -> None:
    code, _ = exported(bot, "export acme/billing-db terraform")
    resources = parsed_resources(code)
    assert {r[0] for r in resources} == {"planetscale_postgres_backup_policy"}
    monthly = next(a for _, _, a in resources if a["name"] == "Monthly archive")
    assert monthly == expected_arguments(planetscale, "acme", "billing-db", "bp05billmon")
    assert monthly["schedule_week"] == 0 and monthly["schedule_day"] == 1


def test_a_glob_covers_both_kinds_each_with_its_type(bot: Bot, planetscale: PlanetScaleState) -> None:
    code, _ = exported(bot, "export acme/*")
    types = {(a["database"], t) for t, _, a in parsed_resources(code)}
    assert types == {("app-db", "planetscale_vitess_backup_policy"),
                     ("billing-db", "planetscale_postgres_backup_policy")}
    labels = [label for _, label, _ in parsed_resources(code)]
    assert len(labels) == len(set(labels)) == 5  # both databases have a "Production daily": labels differ


def test_json_is_every_policy_as_planetscale_has_it(bot: Bot, planetscale: PlanetScaleState) -> None:
    _, events = exported(bot, "export acme/* json")
    document = parsed_json(events)
    by_db = {d["database"]: d for d in document["databases"]}
    assert by_db["app-db"]["kind"] == "mysql" and by_db["billing-db"]["kind"] == "postgresql"
    assert by_db["billing-db"]["terraform_resource_type"] == "planetscale_postgres_backup_policy"
    for name, entry in by_db.items():
        assert {p["id"]: p for p in entry["backup_policies"]} == {
            pid: planetscale.policy("acme", name, pid) for pid in planetscale.policies[("acme", name)]}


def test_only_targets_the_caller_may_see_are_exported_and_the_rest_as_if_absent(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    # Bob may see production policies only.
    bot.use_rules(by_target(production=(["@dba-team"], [], 0), development=(["U0CAROL001"], [], 0)))
    planetscale.add_policy("acme", "app-db", "bpsecretdev", name="Secret experiment", target="development")
    for fmt in ("terraform", "json"):
        code, events = exported(bot, f"export acme/app-db {fmt}", user=BOB)
        everything = code + summary(events)
        assert "Production daily" in code and "Secret experiment" not in everything
        assert "Development daily" not in everything and "bp03devday" not in everything
        assert "Left out" not in summary(events) and "with a target" not in summary(events)  # not even counted


def test_a_glob_leaves_out_databases_the_caller_may_not_see_counting_them(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.use_rules(STRICT_BEFORE_OPEN)  # app-db: Carol only; every other database: @dba-team (Bob)
    code, events = exported(bot, "export acme/*", user=BOB)
    assert {a["database"] for _, _, a in parsed_resources(code)} == {"billing-db"}
    said = summary(events)
    assert "1 database matching `acme/*` that the access rules do not let you see" in said
    assert "app-db" not in said + code


def test_someone_named_for_nothing_in_the_organization_is_refused_before_planetscale_is_asked(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    reply = bot.command("export acme/*", user=DAVE)
    assert "not named in the access rules for any database of acme" in reply.private[0].text
    assert code_blocks(reply.private) == [] and planetscale.calls() == []
    reply = bot.command("export acme/app-db", user=DAVE)
    assert "not named in the access rules" in reply.private[0].text and planetscale.calls() == []
    assert [e.action for e in bot.audit.all()] == ["refused", "refused"]


def test_a_glob_of_only_hidden_databases_says_so_with_the_count(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.use_rules(STRICT_BEFORE_OPEN)
    reply = bot.command("export acme/app-*", user=BOB)
    assert "1 database of acme matches `app-*`, and the access rules let you see none" in reply.private[0].text
    assert code_blocks(reply.private) == []
    assert [c.path for c in planetscale.calls()] == ["/organizations/acme/databases"]


def test_a_glob_matching_nothing_says_so(bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = bot.command("export acme/nothing-*")
    assert "No database of acme matches `nothing-*`" in reply.private[0].text


def test_planetscale_failing_for_one_database_of_a_glob_stops_nothing_else(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_database("acme", "cache-db", kind="mysql")
    planetscale.add_policy("acme", "cache-db", "bpcache01", name="Cache nightly")
    planetscale.add_fault(Fault(status=503, times=None, path_contains="/databases/billing-db/backup-policies"))
    code, events = exported(bot, "export acme/*")
    assert {a["database"] for _, _, a in parsed_resources(code)} == {"app-db", "cache-db"}
    said = summary(events)
    assert "Not read, PlanetScale failed for `acme/billing-db`" in said and "(503)" in said
    failed = [e for e in bot.audit.all() if e.action == "failed"]
    assert [(e.database, e.actor) for e in failed] == [("billing-db", ALICE)]


def test_planetscale_failing_for_the_one_database_asked_is_told(bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=404, times=None, path_contains="/databases/app-db"))
    reply = bot.command("export acme/app-db")
    assert "PlanetScale found nothing at acme/app-db (404)" in reply.private[0].text
    assert code_blocks(reply.private) == []


def test_a_glob_over_the_cap_exports_the_first_and_names_the_rest(bot: Bot, planetscale: PlanetScaleState) -> None:
    for n in range(MAX_DATABASES + 5):
        planetscale.add_database("acme", f"shard-{n:02d}", kind="postgresql" if n % 2 else "mysql")
        planetscale.add_policy("acme", f"shard-{n:02d}", f"bpshard{n:02d}", name=f"Nightly {n}")
    code, events = exported(bot, "export acme/shard-*")
    databases = sorted({a["database"] for _, _, a in parsed_resources(code)})
    assert databases == [f"shard-{n:02d}" for n in range(MAX_DATABASES)]
    said = summary(events)
    assert f"at most {MAX_DATABASES} databases" in said
    assert all(f"`acme/shard-{n:02d}`" in said for n in range(MAX_DATABASES, MAX_DATABASES + 5))


def test_an_export_larger_than_a_message_is_split_within_slacks_limits(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    for n in range(40):
        planetscale.add_policy("acme", "app-db", f"bplong{n:04d}", name=f"Policy <{n}> & “more” " + "x" * 150)
    code, events = exported(bot, "export acme/app-db")
    # The emulator refuses what Slack refuses (bot.send fails on it): every block and message is within limits.
    assert len(events) > 1
    assert all(len(e.blocks) <= 50 for e in events)
    assert all(len(b) <= 3000 for b in code_blocks(events))
    resources = parsed_resources(code)
    assert len(resources) == 43
    assert {a["name"] for _, _, a in resources} >= {f"Policy <{n}> & “more” " + "x" * 150 for n in range(40)}


def test_an_export_too_large_for_five_messages_says_what_was_left_out(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    for n in range(700):
        planetscale.add_policy("acme", "app-db", f"bphuge{n:04d}", name=f"Policy number {n} " + "y" * 200)
    code, events = exported(bot, "export acme/app-db")
    resources = parsed_resources(code)
    left_out = 703 - len(resources)
    assert 0 < left_out < 703
    assert f"the last {left_out} policies of `acme/app-db` are not exported" in summary(events)


def test_help_shows_export(bot: Bot) -> None:
    reply = bot.command("help", user=BOB)
    assert "export &lt;org&gt;/&lt;database or glob&gt; [terraform|json]" in json.dumps(reply.private[0].blocks)


def test_a_bad_format_is_answered_in_the_ack(bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = bot.command("export acme/app-db yaml")
    assert "`yaml` is not an export format" in reply.ack_text and "terraform" in reply.ack_text
    assert planetscale.calls() == []


names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=255)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names)
def test_any_name_round_trips_through_the_terraform_and_the_json(
    bot: Bot, planetscale: PlanetScaleState, name: str
) -> None:
    planetscale.policies[("acme", "billing-db")].clear()
    planetscale.add_policy("acme", "billing-db", "bpanyname", name=name, target="production")
    code, _ = exported(bot, "export acme/billing-db")
    ((_, _, attributes),) = parsed_resources(code)
    assert attributes["name"] == name
    assert "```" not in code
    _, events = exported(bot, "export acme/billing-db json")
    assert parsed_json(events)["databases"][0]["backup_policies"][0]["name"] == name


def test_a_database_name_from_planetscale_that_is_no_slug_is_told_escaped_and_stops_nothing_else(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_database("acme", "zz<!channel>`db", kind="mysql")
    code, events = exported(bot, "export acme/*")
    assert {a["database"] for _, _, a in parsed_resources(code)} == {"app-db", "billing-db"}
    said = summary(events)
    assert "Not read, PlanetScale failed for `acme/zz&lt;!channel&gt;'db`" in said and "<!channel>" not in said
    assert not [c for c in planetscale.calls() if "zz" in c.path], "nothing is sent for a name that is no slug"


def test_a_glob_from_a_channel_no_rule_allows_is_refused_before_planetscale_is_asked(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.use_rules('[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\neditors = ["U0ALICE001"]\n'
                  'channels = ["C0RANDOM01"]\n')
    reply = bot.command("export acme/*")
    assert "not named in the access rules for any database of acme in this channel" in reply.private[0].text
    assert planetscale.calls() == []
    reply = bot.command("export acme/*", channel="C0RANDOM01")
    assert len(parsed_resources(code_of(reply.private))) == 5


def test_slack_unable_to_list_user_groups_is_told_and_nothing_is_read(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.slack.add_fault(MethodFault("usergroups.list", error="internal_error", times=None))
    for text in ("export acme/*", "export acme/app-db"):
        reply = bot.command(text, user=BOB)
        assert "Slack did not list the user groups" in reply.private[0].text
        assert code_blocks(reply.private) == []
    assert planetscale.calls() == []


def test_a_kind_with_no_terraform_resource_is_named_and_left_to_the_json(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    kind_answer = Fault(status=200, method="GET", path_contains="/databases/billing-db",
                        body='{"id": "db-billing-db", "name": "billing-db", "kind": "neki"}')
    planetscale.add_fault(kind_answer)
    code, events = exported(bot, "export acme/*")
    assert {a["database"] for _, _, a in parsed_resources(code)} == {"app-db"}
    assert "No Terraform resource is known for the kind of `acme/billing-db` (neki)" in summary(events)
    planetscale.add_fault(Fault(**{**kind_answer.__dict__, "times": 1}))
    _, events = exported(bot, "export acme/* json")
    by_db = {d["database"]: d for d in parsed_json(events)["databases"]}
    assert by_db["billing-db"]["kind"] == "neki" and by_db["billing-db"]["terraform_resource_type"] is None
    assert len(by_db["billing-db"]["backup_policies"]) == 2


def test_the_json_export_says_in_words_how_its_parts_make_one_document(bot: Bot) -> None:
    _, one = exported(bot, "export acme/app-db json")
    assert "in 1 part. It is one JSON document." in summary(one)
    _, many = exported(bot, "export acme/* json")
    assert "Put the parts, in order, together: they make one JSON document." in summary(many)
