"""Who a Slack user is, for the access rules: user-group memberships, and the PlanetScale role that their
Slack e-mail address holds. Every failure is a DirectoryError, so access fails closed with the reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.slack_shapes import UNREADABLE, Group
from bot.domain.access import RoleLookup
from bot.domain.group_directory import DEFAULT_GROUP_CACHE_MAX_AGE, UNREADABLE_GROUP, DirectoryError, GroupDirectory
from bot.domain.naming import outside
from bot.domain.people_directory import PeopleDirectory, PersonUnknown
from bot.domain.ports import PartlyUnreadable, PlanetScaleError


def slack_groups(client: WebClient, ttl: float = 60.0, max_age: float = DEFAULT_GROUP_CACHE_MAX_AGE,
                 clock: Callable[[], float] | None = None) -> GroupDirectory:
    def list_groups() -> list[dict[str, Any]]:
        try:
            answer = client.usergroups_list(include_users=True)
        except SlackApiError as exc:
            raise DirectoryError(_refused("usergroups.list", "user groups", exc)) from None
        except OSError:
            raise DirectoryError(_unanswered("usergroups.list")) from None
        # Each group an object, checked where it arrived (slack_shapes). A disabled group (`date_delete` set) names
        # nobody, as doctor reads it: its handle may be another group's now.
        return [_group(g) for g in answer["usergroups"] if not g.get("date_delete")]

    return GroupDirectory(list_groups, ttl=ttl, clock=clock, max_age=max_age)


def _group(listed: dict[str, Any]) -> dict[str, Any]:
    """A group as listed when it has a Group's shape; else marked UNREADABLE_GROUP under the ID and handle it gives,
    so that a rule naming it fails closed, saying why, and one naming another group is not held up by it."""
    try:
        Group.model_validate(listed)
    except ValidationError:
        return {"id": listed.get("id"), "handle": listed.get("handle"), UNREADABLE_GROUP: True}
    return listed


def slack_people(client: WebClient, ttl: float = 60.0, clock: Callable[[], float] | None = None) -> PeopleDirectory:
    def is_active(user: str) -> bool:
        try:
            answered = client.users_info(user=user)["user"]  # its shape checked where it arrived
        except SlackApiError as exc:
            if exc.response.get("error") == "user_not_found":
                # No such member: nobody clicks as them. Counted as before, not as deactivated; doctor names it.
                return True
            error = _refused("users.info", "a user", exc)
            # Slack's refusals of the person, not the method: the look-ups of others are asked as usual.
            failed = PersonUnknown if exc.response.get("error") in OF_THE_PERSON else DirectoryError
            raise failed(error if error.startswith("Slack") else f"Slack's {error}") from None
        except OSError:
            raise DirectoryError(_unanswered("users.info")) from None
        if answered["id"] != user:
            raise DirectoryError("Slack answered users.info about another user than the one asked; try again, and "
                                 "report it if it persists")
        return not answered.get("deleted", False)

    return PeopleDirectory(is_active, ttl=ttl, clock=clock)


OF_THE_PERSON = frozenset({"user_not_visible"})


def _unanswered(method: str) -> str:
    # A timeout or no connection (slack_http raises them as urllib does): Slack, not the person, failed.
    return f"Slack did not answer {method} in time or could not be reached; try again in a minute"


def _refused(method: str, what: str, exc: SlackApiError) -> str:
    error = exc.response.get("error")
    if error == UNREADABLE:
        return (f"Slack answered {method} with {what} the bot cannot read; try again, or ask an admin to check "
                "the app's scopes")
    return f"{method}: {error}" if method == "usergroups.list" else f"{method} answered {error}"


# Only ASCII letters are folded: str.lower() also folds lookalikes into them (KELVIN SIGN to "k"), so an address
# no mailbox of a member's would read as theirs and take their role.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def same_address(email: str) -> str:
    """An e-mail address as compared: ASCII spaces around it dropped, ASCII letters in lowercase, nothing else
    changed."""
    return email.strip(" \t\r\n").translate(_ASCII_LOWER)


def planetscale_roles(client: WebClient, planetscale: PlanetScaleClient) -> RoleLookup:
    def role_of(organization: str, user: str) -> str | None:
        try:
            answered = client.users_info(user=user)["user"]  # its shape checked where it arrived
        except SlackApiError as exc:
            error = _refused("users.info", "a user", exc)
            raise DirectoryError(error if error.startswith("Slack") else f"Slack's {error}") from None
        except OSError:
            raise DirectoryError(_unanswered("users.info")) from None
        if answered["id"] != user:  # another user's address would give them that user's role
            raise DirectoryError("Slack answered users.info about another user than the one asked; try again, and "
                                 "report it if it persists")
        profile = answered["profile"]
        email = same_address(profile.get("email") or "")
        if not email:
            raise DirectoryError("Slack did not share your e-mail address (the app needs the users:read.email "
                                 "scope)")
        try:
            members = planetscale.find_members(organization, email)
        except PartlyUnreadable as exc:
            members = exc.readable  # one of the others may be this address's: then its role cannot be told
            if not any(same_address(m.email) == email for m in members):
                raise DirectoryError(f"PlanetScale's member list could not be read: {exc.user_message}") from None
        except PlanetScaleError as exc:
            raise DirectoryError(f"PlanetScale's member list could not be read: {exc.user_message} The token "
                                 "needs `read_organization`") from None
        roles = sorted({member.role for member in members if same_address(member.email) == email})
        if len(roles) > 1:  # neither is more this person's than the other, and one may be an admin's
            both = " and ".join(outside(role[:64]) for role in roles)  # PlanetScale's text, never markup
            raise DirectoryError(f"PlanetScale lists your e-mail address twice in {organization}, with the roles "
                                 f"{both}; ask an admin of {organization} to remove the extra member")
        return roles[0] if roles else None

    return role_of
