"""The given-up alert-thread notice names the alerts by their message links (the service gives ids, the cog's
render makes the links): at most the ids it was given, and "…" when more alerts gave up than are linked."""

from __future__ import annotations

from cogs.news.render import notice_params


def test_message_ids_become_links_to_the_alerts_in_their_channel():
    assert notice_params({"channel_id": 5, "count": 2, "message_ids": (7, 8)}, guild_id=3) == {
        "channel": "<#5>", "count": 2,
        "messages": "https://discord.com/channels/3/5/7 https://discord.com/channels/3/5/8"}


def test_more_alerts_than_links_end_with_an_ellipsis():
    rendered = notice_params({"channel_id": 5, "count": 12, "message_ids": (7,)}, guild_id=3)
    assert rendered["messages"] == "https://discord.com/channels/3/5/7 …"


def test_without_the_server_no_link_can_be_made_and_a_dash_is_shown():
    assert notice_params({"channel_id": 5, "count": 1, "message_ids": (7,)})["messages"] == "-"
