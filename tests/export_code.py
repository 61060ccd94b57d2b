"""Reading what `export` gives back as Terraform or Slack would: the code out of the messages, parsed by python-hcl2,
and HCL's quoted strings decoded by the HCL native syntax spec (python-hcl2 keeps them as written)."""

from __future__ import annotations

import json
import re
from typing import Any

import hcl2

from bot.emulators.slack import SlackEvent

FENCE = "```"
IMPORT_ID = re.compile(r'\$\{jsonencode\(\{database = ("(?:[^"\\]|\\.)*"), id = ("(?:[^"\\]|\\.)*"), '
                       r'organization = ("(?:[^"\\]|\\.)*")\}\)\}')


def hcl_literal(raw: str) -> str:
    """The value of an HCL quoted string as written (with its quotes). Fails on an interpolation or a directive:
    the export must never leave one."""
    assert raw.startswith('"') and raw.endswith('"') and len(raw) >= 2, raw
    text, out, i = raw[1:-1], [], 0
    simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
    while i < len(text):
        if text[i] == "\\":
            kind = text[i + 1]
            if kind in simple:
                out.append(simple[kind])
                i += 2
            elif kind in "uU":
                width = 4 if kind == "u" else 8
                out.append(chr(int(text[i + 2:i + 2 + width], 16)))
                i += 2 + width
            else:
                raise AssertionError(f"unknown escape \\{kind} in {raw!r}")
        elif text.startswith("$${", i) or text.startswith("%%{", i):
            out.append(text[i + 1:i + 3])
            i += 3
        elif text.startswith("${", i) or text.startswith("%{", i):
            raise AssertionError(f"an interpolation or directive is left in {raw!r}")
        elif text[i] == '"':
            raise AssertionError(f"an unescaped quote in {raw!r}")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def code_of(events: list[SlackEvent]) -> str:
    """The code blocks of the answers, in order, as the person reads them (Slack's three escapes undone)."""
    pieces = []
    for event in events:
        for block in event.blocks:
            text = block.get("text", {}).get("text", "") if block.get("type") == "section" else ""
            if text.startswith(FENCE) and text.endswith(FENCE):
                body = text[len(FENCE):-len(FENCE)].strip("\n")
                pieces.append(body.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    return "\n".join(pieces)


def code_blocks(events: list[SlackEvent]) -> list[str]:
    return [b["text"]["text"] for e in events for b in e.blocks
            if b.get("type") == "section" and b["text"]["text"].startswith(FENCE)]


def parsed_resources(code: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, label, attributes with strings decoded) of each resource."""
    found = []
    for entry in hcl2.loads(code).get("resource", []):
        for quoted_type, by_label in entry.items():
            for quoted_label, body in by_label.items():
                attributes = {k: hcl_literal(v) if isinstance(v, str) else v
                              for k, v in body.items() if k != "__is_block__"}
                found.append((hcl_literal(quoted_type), hcl_literal(quoted_label), attributes))
    return found


def parsed_imports(code: str) -> list[tuple[str, dict[str, str]]]:
    """(the address imported to, its id's fields) of each import block."""
    found = []
    for block in hcl2.loads(code).get("import", []):
        match = IMPORT_ID.fullmatch(block["id"])
        assert match, block["id"]
        database, policy_id, organization = (hcl_literal(g) for g in match.groups())
        to = block["to"]
        assert to.startswith("${") and to.endswith("}"), to
        found.append((to[2:-1], {"database": database, "id": policy_id, "organization": organization}))
    return found


def parsed_json(events: list[SlackEvent]) -> Any:
    return json.loads(code_of(events))
