"""`/backup-policy export <db or glob> [terraform|json]`: the policies the caller may see, as code, to the caller
alone. Read in the background after the ack. The answer is a short summary and the code in code blocks, split to
fit Slack's limits (3,000 characters a section, 50 blocks a message, five uses of a response URL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.domain.audit import AuditEvent
from bot.domain.changes import explain
from bot.domain.commands import DatabaseRef, ExportCommand, is_glob
from bot.domain.export import (
    MAX_DATABASES,
    Export,
    ExportedDatabase,
    ExportFormat,
    chunks,
    collect,
    json_text,
    label_for,
    organization_named,
    policy_hcl,
    terraform_keeps,
    terraform_units,
)
from bot.domain.group_directory import DirectoryError
from bot.domain.policy import BackupPolicy
from bot.domain.ports import PlanetScaleError
from handlers import blocks
from handlers.commands.caller import Caller, may_read, read_failed, readable_targets, refuse

if TYPE_CHECKING:
    from handlers.dependencies import Dependencies

CODE_FENCE = "```"
# A code block's text, escaped for Slack, inside its fences: within a section's 3,000 characters with room left.
CODE_LIMIT = 2900
# Slack refuses a message whose blocks hold more than about 12,000 characters in all (`msg_blocks_too_long`,
# a cumulative limit it does not document): the first message holds the title, the summary (two sections of at
# most 3,000) and one code block, each other message four.
FIRST_CODE_BLOCKS = 1
CODE_BLOCKS_PER_MESSAGE = 4
MESSAGES = 5  # a response URL may be used five times
MAX_CODE_BLOCKS = FIRST_CODE_BLOCKS + CODE_BLOCKS_PER_MESSAGE * (MESSAGES - 1)
NAMED_AT_MOST = 10  # databases named in one line of the summary
READ_WITHIN = 60.0  # seconds: no database's reading starts later than this after the first


def code_size(text: str) -> int:
    return len(blocks.escape(text))


@dataclass
class Rendered:
    pieces: list[str]
    shown: list[ExportedDatabase]
    cut: list[DatabaseRef] = field(default_factory=list)  # whole databases that did not fit
    policies_cut: int = 0  # policies of the one database left that did not fit
    too_long: list[tuple[DatabaseRef, str]] = field(default_factory=list)  # (database, policy ID)


def fits_a_block(exported: ExportedDatabase, policy: BackupPolicy, chosen: ExportFormat) -> bool:
    """Whether each line of the policy's code fits one code block: a longer line (a name PlanetScale does not
    bound) would be cut inside its quoted string, which neither Terraform nor JSON reads across parts."""
    if chosen is ExportFormat.TERRAFORM:
        text = policy_hcl(exported.db, exported.resource_type or "", label_for(exported.db, policy.id, set()), policy)
    else:
        text = json_text([ExportedDatabase(exported.db, exported.kind, (policy,))])
    return all(code_size(line) <= CODE_LIMIT for line in text.split("\n"))


def render(databases: list[ExportedDatabase], chosen: ExportFormat) -> Rendered:
    """The code in pieces that fit code blocks; a policy with a line longer than a block is left out, named;
    databases that do not fit in MAX_CODE_BLOCKS are left out from the last, whole, and of a single database
    too large, the last policies."""
    too_long = [(d.db, p.id) for d in databases for p in d.policies if not fits_a_block(d, p, chosen)]
    left_out = set(too_long)
    shown = [ExportedDatabase(d.db, d.kind, tuple(p for p in d.policies if (d.db, p.id) not in left_out))
             for d in databases]
    cut: list[DatabaseRef] = []
    policies_cut = 0
    while True:
        units = terraform_units(shown) if chosen is ExportFormat.TERRAFORM else [json_text(shown)]
        pieces = chunks(units, CODE_LIMIT, code_size)
        if len(pieces) <= MAX_CODE_BLOCKS:
            return Rendered(pieces, shown, list(reversed(cut)), policies_cut, too_long)
        if len(shown) > 1:
            cut.append(shown.pop().db)
            continue
        last = shown[0]
        keep = max(0, len(last.policies) * MAX_CODE_BLOCKS // len(pieces) - 1)
        policies_cut += len(last.policies) - keep
        shown = [ExportedDatabase(last.db, last.kind, last.policies[:keep])]


def code(text: object) -> str:
    """Inline code of a name from outside: Slack's escapes, and no backtick to end it early."""
    return "`" + blocks.escape(str(text)[:80]).replace("`", "'") + "`"


def named(dbs: list[DatabaseRef]) -> str:
    listed = ", ".join(code(db) for db in dbs[:NAMED_AT_MOST])
    return listed + (f" and {len(dbs) - NAMED_AT_MOST} more" if len(dbs) > NAMED_AT_MOST else "")


def summary_lines(export: Export, rendered: Rendered, chosen: ExportFormat) -> list[str]:
    lines = []
    if export.hidden_databases:
        lines.append(f"• Left out: {blocks.plural(export.hidden_databases, 'database', 'databases')} matching "
                     f"{code(export.asked)} that the access rules do not let you see in this channel.")
    if export.over_cap:
        lines.append(f"• An export covers at most {MAX_DATABASES} databases, the first by name; not exported: "
                     f"{named(export.over_cap)}. Export them with a narrower glob or one by one.")
    if rendered.cut:
        lines.append(f"• Too large for Slack's messages, not exported: {named(rendered.cut)}. Export them on their "
                     "own or with a narrower glob.")
    if rendered.too_long:
        listed = ", ".join(f"{code(i)} of {code(db)}" for db, i in rendered.too_long[:NAMED_AT_MOST])
        more = len(rendered.too_long) - NAMED_AT_MOST
        lines.append(f"• A line of their code is longer than a Slack code block holds (a very long name), not "
                     f"exported: {listed}{f' and {more} more' if more > 0 else ''}. Shorten the name in PlanetScale "
                     "first, or write their resource by hand.")
    if rendered.policies_cut:
        cut = blocks.plural(rendered.policies_cut, "policy", "policies")
        lines.append(f"• Too large for Slack's messages: the last {cut} of {code(rendered.shown[0].db)} are not "
                     "exported (five messages hold no more).")
    if export.unread:
        lines.append(f"• Not read, PlanetScale was too slow to read them all in {READ_WITHIN:.0f} seconds: "
                     f"{named(export.unread)}. Export them again.")
    for db, count, why in export.unreadable:
        lines.append(f"• Not exported: {blocks.plural(count, 'policy', 'policies')} of {code(db)} PlanetScale listed "
                     f"in a shape this bot cannot read ({blocks.with_mentions(why)}). The others are exported.")
    for failed in export.failed:
        lines.append(f"• Not read, PlanetScale failed for {code(failed.db)}: {blocks.with_mentions(failed.message)} "
                     "The other databases are exported.")
    if chosen is ExportFormat.TERRAFORM:
        unknown = [d for d in rendered.shown if d.resource_type is None]
        if unknown:
            kinds = ", ".join(f"{code(d.db)} ({blocks.escape(d.kind[:40])})" for d in unknown[:NAMED_AT_MOST])
            lines.append(f"• No Terraform resource is known for the kind of {kinds}: left out of the Terraform; "
                         "`json` exports them.")
        renamed = [p.id for d in rendered.shown if d.resource_type for p in d.policies if not terraform_keeps(p.name)]
        if renamed:
            ids = ", ".join(code(i) for i in renamed[:NAMED_AT_MOST])
            lines.append(f"• Terraform keeps text in Unicode NFC, and the names of {ids} are not: `terraform plan` "
                         "would show them renamed to their NFC form. Rename them in PlanetScale first for no change.")
    too_long = {db for db, _ in rendered.too_long}
    empty = [d.db for d in rendered.shown if not d.policies and d.db not in too_long]
    if empty:
        lines.append(f"• No policy you may see in {named(empty)}.")
    return lines


def exported_databases(rendered: Rendered, chosen: ExportFormat) -> list[ExportedDatabase]:
    """The databases with code in the export: policies, and for Terraform a resource type for their kind."""
    return [d for d in rendered.shown if d.policies and (chosen is ExportFormat.JSON or d.resource_type is not None)]


def headline(export: Export, rendered: Rendered, chosen: ExportFormat) -> str:
    what = "Terraform" if chosen is ExportFormat.TERRAFORM else "JSON"
    exported = exported_databases(rendered, chosen)
    count = sum(len(d.policies) for d in exported)
    return (f"{what} for {code(export.asked)}: {blocks.plural(count, 'policy', 'policies')} of "
            f"{blocks.plural(len(exported), 'database', 'databases')}")


def messages(export: Export, chosen: ExportFormat) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each message: its notification text and blocks. The first says what is in the export and what is not."""
    rendered = render(export.databases, chosen)
    title = headline(export, rendered, chosen)
    pieces = rendered.pieces if exported_databases(rendered, chosen) else []
    groups = [pieces[:FIRST_CODE_BLOCKS]] + [pieces[i:i + CODE_BLOCKS_PER_MESSAGE]
                                             for i in range(FIRST_CODE_BLOCKS, len(pieces), CODE_BLOCKS_PER_MESSAGE)]
    parts = len(groups)
    how = ""
    if pieces:
        whole = "the parts, in order," if len(pieces) > 1 else "it"
        how = (f" Put {whole} in one `.tf` file, then `terraform plan`: it imports each policy and shows no change."
               if chosen is ExportFormat.TERRAFORM else " Put the parts, in order, together: they make one JSON "
               "document." if len(pieces) > 1 else " It is one JSON document.")
    in_parts = f", in {blocks.plural(len(pieces), 'part')}." if pieces else "."
    intro: list[Any] = [blocks.section(title + in_parts + how)]
    lines = summary_lines(export, rendered, chosen)
    summary, not_shown = blocks.packed(lines, room=2)
    intro += summary
    if not_shown:
        intro.append(blocks.not_shown(not_shown))
    result = []
    for number, own in enumerate(groups):
        code = [blocks.section(f"{CODE_FENCE}\n{blocks.escape(p)}\n{CODE_FENCE}") for p in own]
        if number == 0:
            result.append((title, blocks.to_dicts([*intro, *code])))
        else:
            result.append((f"{title} (message {number + 1} of {parts})",
                           blocks.to_dicts([blocks.context(f"{title}, message {number + 1} of {parts}"), *code])))
    return result


def run_export(deps: Dependencies, parsed: ExportCommand, caller: Caller) -> None:
    asked, chosen = parsed.db, ExportFormat(parsed.format)
    glob = is_glob(asked.database)
    try:
        if glob and not organization_named(deps.access, caller.user, asked.organization, caller.channel):
            refuse(deps, asked, caller, f"You are not named in the access rules for any database of "
                                        f"{asked.organization} in this channel, so there is nothing you may export.")
            return
    except DirectoryError as exc:
        caller.warn(explain(exc))
        return
    if not glob and not may_read(deps, asked, caller):
        return

    def may_see(db: DatabaseRef) -> bool:
        """In a glob, a database counts as seen when the caller may see some target of it: one whose every
        target is hidden is left out and counted, not named."""
        return (deps.access.may_see_database(caller.user, db.organization, db.database, caller.channel).allowed
                and bool(readable_targets(deps, db, caller)))

    try:
        export = collect(deps.policies.planetscale, asked, may_see if glob else lambda _: True,
                         lambda db: readable_targets(deps, db, caller), within=READ_WITHIN)
    except DirectoryError as exc:
        caller.warn(explain(exc))
        return
    except PlanetScaleError as exc:
        read_failed(deps, asked, caller, "ExportCommand", exc)
        return
    for failed in export.failed:
        deps.store.record(AuditEvent(action="failed", actor=caller.user, organization=failed.db.organization,
                                     database=failed.db.database, detail=f"ExportCommand: {failed.message}",
                                     channel=caller.channel))
    if not glob and export.failed:
        caller.warn(explain(export.failed[0].error))
        return
    if glob and not export.matched:
        caller.warn(f"No database of {asked.organization} matches `{asked.database}`: "
                    f"`/backup-policy export {asked.organization}/*` covers them all.")
        return
    if glob and export.matched == export.hidden_databases:
        verb = "matches" if export.matched == 1 else "match"
        refuse(deps, asked, caller, f"{blocks.plural(export.matched, 'database', 'databases')} of {asked.organization} "
                                    f"{verb} `{asked.database}`, and the access rules let you see none of them in "
                                    "this channel.")
        return
    for text, message_blocks in messages(export, chosen):
        caller.say(text, message_blocks)
