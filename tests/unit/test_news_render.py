"""News markup the cog renders from the service's data: channel ids in admin notices become mentions."""

from __future__ import annotations

from cogs.news.render import cut, notice_params, relative_time, role_mention


def test_notice_channel_ids_become_mentions_and_other_parameters_stay():
    assert notice_params({"channel_id": 5, "news_channel_id": 6, "count": 2, "reason": "forbidden"}) == {
        "channel": "<#5>", "news_channel": "<#6>", "count": 2, "reason": "forbidden"}


def test_a_notice_without_a_channel_shows_a_dash():
    assert notice_params({"channel_id": None, "reason": "no_channel"}) == {"channel": "-", "reason": "no_channel"}


def test_feed_list_times_are_discord_timestamps_or_the_word_for_never():
    assert relative_time(1_748_779_200, "never") == "<t:1748779200:R>"
    assert relative_time(None, "never") == "never"


def test_only_a_configured_role_is_mentioned_and_long_texts_are_cut():
    assert (role_mention(7), role_mention(None)) == ("<@&7>", None)
    assert cut("abcdef", 4) == "abc…" and cut("abc", 4) == "abc"
