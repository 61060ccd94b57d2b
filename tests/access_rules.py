"""Access files the suites share: written once, so a change of the format changes them all."""

from __future__ import annotations

# A strict rule for app-db before an open rule for every other database of acme.
STRICT_BEFORE_OPEN = """
[[rules]]
organizations = ["acme"]
databases = ["app-db"]
editors = ["U0CAROL001"]
approvers = ["@dba-leads"]

[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
"""


def by_target(production: tuple[list[str], list[str], int], development: tuple[list[str], list[str], int]) -> str:
    """One rule per target of every acme database: (editors, approvers, approvals) for each."""
    text = ""
    for target, (editors, approvers, approvals) in (("production", production), ("development", development)):
        text += (f'\n[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\ntargets = ["{target}"]\n'
                 f"editors = {editors!r}\n" + (f"approvers = {approvers!r}\n" if approvers else "")
                 + f"approvals = {approvals}\n").replace("'", '"')
    return text


def guardrail(target: str, databases: str = "*", **limits: str | int) -> str:
    """A guardrail on acme's `databases` policies of `target`: each limit a line, in the order given."""
    return (f'\n[[guardrails]]\norganizations = ["acme"]\ndatabases = ["{databases}"]\ntargets = ["{target}"]\n'
            + "".join(f'{key} = "{value}"\n' if isinstance(value, str) else f"{key} = {value}\n"
                      for key, value in limits.items()))


def storage_bound(target: str, most: str) -> str:
    """A max_storage guardrail on every acme database's policies of `target`."""
    return guardrail(target, max_storage=most)


def production_asks(approvals: int, approver: str = "@dba-leads") -> str:
    """Production changes of every acme database, asked by the @dba-team, need `approvals` of `approver`."""
    return ('\n[approvals]\nexpire_after = "24h"\n\n[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\n'
            f'targets = ["production"]\neditors = ["@dba-team"]\napprovers = ["{approver}"]\napprovals = {approvals}\n')


def admin_asks(approvals: int) -> str:
    """Production changes of every acme database need `approvals` of @dba-leads, asked by a PlanetScale admin."""
    return production_asks(approvals) + 'planetscale_role = "admin"\n'


def per_database(approvers: dict[str, list[str]]) -> str:
    """One production rule per acme database, in #db-ops: the @dba-team asks, one approval of its own approvers."""
    text = '\n[approvals]\nexpire_after = "24h"\n'
    for database, who in approvers.items():
        text += (f'\n[[rules]]\norganizations = ["acme"]\ndatabases = ["{database}"]\ntargets = ["production"]\n'
                 f'editors = ["@dba-team"]\napprovers = {who!r}\napprovals = 1\nchannels = ["C0DBAOPS01"]\n'
                 ).replace("'", '"')
    return text


def production_in_db_ops(dev_editors: list[str], dev_approvers: list[str], dev_approvals: int) -> str:
    """Production of every acme database only in #db-ops, by alice with carol's approval; development anywhere,
    by `dev_editors` with `dev_approvals` of `dev_approvers` (none: at once)."""
    production = ('\n[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\ntargets = ["production"]\n'
                  'editors = ["U0ALICE001"]\napprovers = ["U0CAROL001"]\napprovals = 1\nchannels = ["C0DBAOPS01"]\n')
    development = (f'\n[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\ntargets = ["development"]\n'
                   f"editors = {dev_editors!r}\napprovers = {dev_approvers!r}\n"
                   + (f"approvals = {dev_approvals}\n" if dev_approvals else "")).replace("'", '"')
    return production + development
