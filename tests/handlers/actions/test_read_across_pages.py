"""Issue 19: a policy read under the lease is as fresh as the oldest page of the database's list it was found on.
A list of more than one page (over PER_PAGE policies) whose later page waits (429, Retry-After) holds the policy as
its first page showed it, before that wait: a change judged on it is judged on a read made before a wait, and must
be judged again (or not sent) when the policy moved meanwhile. Through Bolt's pipeline and the emulators."""

from __future__ import annotations

from functools import partial

from approval_helpers import ALICE, CAROL, approvals_bot, ask, request_id
from conftest import Bot
from waits import Waits, sleeps

from bot.adapters.planetscale import PER_PAGE
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "sleeps"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval (on the list's first page)
WEEKLY = "bp02prodwk"  # production: a change needs carol's approval


def two_pages(planetscale: PlanetScaleState) -> None:
    """app-db holds a page of policies more, after its own three: its list is read in two pages."""
    for n in range(PER_PAGE):
        planetscale.add_policy("acme", "app-db", f"bpmore{n:03d}", name=f"Archive {n}", target="development",
                               retention_value=1, retention_unit="day", frequency_value=1, frequency_unit="day")


def page_two_waits(planetscale: PlanetScaleState) -> None:
    """The next listing's second page is answered 429 (Retry-After: 2) once."""
    planetscale.add_fault(Fault(status=429, method="GET", path_ends="/backup-policies", times=1, skip=1,
                                retry_after="2"))


def test_a_change_asked_is_not_sent_on_a_first_page_read_before_the_second_page_waited(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits) -> None:
    """alice's retention=9d on a development policy needs no approval. Read under its lease, app-db's list takes
    two pages; the second waits (429, Retry-After: 2), and meanwhile the policy is moved to production, where a
    change needs an approval. The first page showed it on development: sent on that, the PATCH reaches a
    production policy with no approval."""
    two_pages(planetscale)
    page_two_waits(planetscale)
    sleeps.at[1] = partial(planetscale.dashboard_change, "acme", "app-db", DEV, target="production")
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert sleeps == [2.0], sleeps
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production", reply.all_text()
    assert policy["retention_value"] != 9 and not planetscale.calls("PATCH"), (
        f"a PATCH reached a production policy with no approval: {reply.all_text()}")
    assert not [r for r in approvals_bot.deps.store.requests(list(RequestState)) if r.state is RequestState.APPLIED]


def test_an_approved_change_is_not_sent_on_a_first_page_read_before_the_second_page_waited(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits) -> None:
    """alice asks retention=5w of the production weekly policy; carol approves. Read under its lease, app-db's
    list takes two pages; the second waits (429), and meanwhile the policy's retention is set to 6 weeks in
    PlanetScale. Judged on the first page (4 weeks, as asked), the PATCH would overwrite a change made since the
    request, which the judge refuses as moved."""
    two_pages(planetscale)
    message = ask(approvals_bot, f'update acme/app-db {WEEKLY} retention=5w reason="audit"')
    page_two_waits(planetscale)
    sleeps.at[1] = partial(planetscale.dashboard_change, "acme", "app-db", WEEKLY, retention_value=6)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert sleeps == [2.0], sleeps
    policy = planetscale.policy("acme", "app-db", WEEKLY)
    assert policy["retention_value"] == 6 and not planetscale.calls("PATCH"), (
        f"a PATCH overwrote a change made since the request: {reply.all_text()}")
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED, reply.all_text()
