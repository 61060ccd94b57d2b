"""The Slack emulator's message metadata and conversations.history, as Slack documents them: metadata kept with
a message and shown only with `include_all_metadata`, history newest first without thread replies, bounded by
`oldest`, paged by `cursor`, and refused without the history scope of the conversation's kind."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import BOT_TOKEN
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackState

CHANNEL = "C0DBAOPS01"
META = {"event_type": "backup_bot_watch_notice", "event_payload": {"notice_id": "n1"}}


@pytest.fixture
def client(slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer]) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack_server[1].url + "/api/")


def test_metadata_is_kept_with_the_message_and_shown_only_when_asked(client: WebClient) -> None:
    posted = client.chat_postMessage(channel=CHANNEL, text="one", metadata=META)
    client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=posted["ts"])
    client.chat_update(channel=CHANNEL, ts=posted["ts"], text="one, updated")
    plain = client.conversations_history(channel=CHANNEL)["messages"]
    assert [m["text"] for m in plain] == ["one, updated"] and "metadata" not in plain[0]
    [shown] = client.conversations_history(channel=CHANNEL, include_all_metadata=True)["messages"]
    assert shown["metadata"] == META and shown["ts"] == posted["ts"]


def test_malformed_metadata_is_refused(client: WebClient, slack: SlackState) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel=CHANNEL, text="one", metadata={"event_type": "x"})
    assert refused.value.response["error"] == "invalid_metadata_format"
    assert [e for e in slack.events if e.kind == "message"] == []


def test_history_is_newest_first_after_oldest_and_paged(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=CHANNEL, text=str(n))["ts"] for n in range(5)]
    first = client.conversations_history(channel=CHANNEL, oldest=stamps[0], limit=2)
    assert [m["text"] for m in first["messages"]] == ["4", "3"] and first["has_more"]
    cursor = first["response_metadata"]["next_cursor"]
    second = client.conversations_history(channel=CHANNEL, oldest=stamps[0], limit=2, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["2", "1"] and not second["has_more"]
    inclusive = client.conversations_history(channel=CHANNEL, oldest=stamps[0], inclusive=True)
    assert [m["text"] for m in inclusive["messages"]][-1] == "0"


@pytest.mark.parametrize(("channel", "scope"), [(CHANNEL, "channels:history"), ("G0PRIVATE1", "groups:history")])
def test_history_needs_the_scope_of_the_conversations_kind(client: WebClient, slack: SlackState, channel: str,
                                                             scope: str) -> None:
    slack.add_channel("G0PRIVATE1", "private")
    slack.scopes.remove(scope)
    with pytest.raises(SlackApiError) as refused:
        client.conversations_history(channel=channel)
    answer: Any = refused.value.response
    assert answer["error"] == "missing_scope" and answer["needed"] == scope


def test_history_of_an_unknown_channel_is_refused(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.conversations_history(channel="C0NOTREAL1")
    assert refused.value.response["error"] == "channel_not_found"


def test_replies_are_the_parent_then_its_thread_oldest_first_and_paged(client: WebClient) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="parent")["ts"]
    client.chat_postMessage(channel=CHANNEL, text="elsewhere")
    for n in range(3):
        client.chat_postMessage(channel=CHANNEL, text=str(n), thread_ts=parent, metadata=META if n == 2 else None)
    first = client.conversations_replies(channel=CHANNEL, ts=parent, limit=2)
    assert [m["text"] for m in first["messages"]] == ["parent", "0", "1"] and first["has_more"]
    second = client.conversations_replies(channel=CHANNEL, ts=parent, limit=2, include_all_metadata=True,
                                          cursor=first["response_metadata"]["next_cursor"])
    assert [m["text"] for m in second["messages"]] == ["2"] and not second["has_more"]
    assert second["messages"][0]["metadata"] == META and second["messages"][0]["thread_ts"] == parent


@pytest.mark.parametrize(("ts", "error"), [("1.000000", "thread_not_found"), ("", "invalid_arguments")])
def test_replies_of_no_thread_are_refused(client: WebClient, ts: str, error: str) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.conversations_replies(channel=CHANNEL, ts=ts)
    assert refused.value.response["error"] == error


def test_a_dm_posted_to_a_user_id_is_found_through_conversations_open(client: WebClient, slack: SlackState) -> None:
    user = next(iter(slack.users))
    client.chat_postMessage(channel=user, text="told", metadata=META)
    dm = client.conversations_open(users=user)["channel"]["id"]
    [told] = client.conversations_history(channel=dm, include_all_metadata=True)["messages"]
    assert told["text"] == "told" and told["metadata"] == META
    slack.scopes.remove("im:write")
    with pytest.raises(SlackApiError) as refused:
        client.conversations_open(users=user)
    assert refused.value.response["error"] == "missing_scope"
