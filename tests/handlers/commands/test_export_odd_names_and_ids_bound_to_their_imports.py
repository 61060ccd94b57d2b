"""Names and IDs that break naive HCL (quotes, backslashes, `${`, `%{`, `$${`, line breaks, bidi and zero-width
characters, a code fence, Slack's markup) in one export of one database: parsed by python-hcl2 (the HCL native
syntax's string rules), every policy's resource holds its name exactly, and each `import` block takes the policy's
own ID to the resource of that policy. Through Bolt's pipeline, as the person reads the code out of Slack."""

from __future__ import annotations

from conftest import ALICE, Bot
from export_code import code_of, parsed_imports, parsed_resources

from bot.emulators.planetscale_state import PlanetScaleState

NASTY = ['a "q" \\ ${x} %{y} `x` é\u202e\u0301', "$${x}", "$$${", "%%{", "$", "%", "${", "%{", "x\\${y}", "\\",
         '\\"', "a\nb\r\tc\x1b[31m", "\u2028\u2029\ufeff\u200b", "😀𝔘", "\u0301x", "${~", "<!channel>", "&amp;", "```"]


def test_each_import_takes_its_policys_own_id_to_the_resource_holding_its_name(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_database("acme", "odd")
    ids = {f"bp{i}{name[:3]}": name for i, name in enumerate(NASTY)}  # IDs holding the same characters
    for policy_id, name in ids.items():
        planetscale.add_policy("acme", "odd", policy_id, name=name, target="production")
    code = code_of(bot.command("export acme/odd", user=ALICE).private)
    names_by_label = {label: attributes["name"] for _, label, attributes in parsed_resources(code)}
    imports = parsed_imports(code)
    assert sorted(names_by_label.values()) == sorted(NASTY)
    assert sorted(i["id"] for _, i in imports) == sorted(ids)
    for to, import_id in imports:
        assert import_id == {"database": "odd", "id": import_id["id"], "organization": "acme"}
        assert names_by_label[to.split(".")[1]] == ids[import_id["id"]]
