"""Episode threads end to end, final fixes: threads locked in Discord's own UI, deleted starter messages,
ephemeral ratings, localized autocomplete, orphan adoption across languages, /show pace, leaving a server."""

import asyncio
from datetime import UTC, datetime, timedelta

from tests.e2e.test_episodes import (
    MESSAGE_THREADS,
    _custom_ids,
    _discussion,
    _preset,
    _thread,
    _thread_posts,
    _watched_all,
)
from tests.e2e.test_episodes_review import EDIT_CHANNEL, _forum_thread


async def _text_thread(fake, bot, episode="S1E1"):
    """The preset installed, `episode`'s thread opened under a starter in #general; (starter id, thread id,
    episode id)."""
    g = fake.default_guild
    await _discussion(bot, g, g.channel("general"))
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), episode)
    post = [r for r in _thread_posts(fake) if r.template == MESSAGE_THREADS][-1]
    starter_id = int(post.params["message_id"])
    episode_id = int(_custom_ids(fake.message(starter_id)["components"])[0].split(":")[2])
    return starter_id, int(post.response["id"]), episode_id


async def test_thread_locked_in_discord_is_never_reopened_for_a_fan_nor_a_moderator(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot, "S1E2")
    fake.archive_thread(fake.channels[thread_id], locked=True)  # a moderator locked it in Discord's own menu
    await asyncio.sleep(0.05)
    await _watched_all(fake, g, g.member("fan1"))
    for member, locale, expected in (
        ("fan1", "en-US", f"The discussion for Trauma Code S1E2 is locked, but you can read it: <#{thread_id}>"),
        ("admin", "ko", f"Trauma Code S1E2 토론은 잠겼지만 읽을 수 있어요: <#{thread_id}>"),
    ):
        mark = fake.mark()
        assert await _thread(fake, g, g.member(member), "S1E2", locale=locale) == expected
        assert fake.requests_to("PATCH", EDIT_CHANNEL, since=mark) == []
        assert _thread_posts(fake, mark) == []
    ix = await fake.click(thread_id, f"ep:join:{episode_id}", g.member("fan2"))
    [followup] = await ix.followups(1)
    assert followup["content"].startswith("This discussion is locked (read-only), so I couldn't add you")
    assert fake.requests_to("PUT", "/channels/{channel_id}/thread-members/{user_id}") == []
    assert fake.channels[thread_id].locked and fake.channels[thread_id].archived
    assert (await bot.get_cog("Episodes").service.repo.get_thread(episode_id)).state == "locked"


async def test_deleted_text_channel_starter_is_reposted_and_its_buttons_work(fake, bot):
    g = fake.default_guild
    general = g.channel("general")
    starter_id, thread_id, episode_id = await _text_thread(fake, bot, "S1E1")
    fake.delete_message(general.id, starter_id)
    await asyncio.sleep(0.05)
    mark = fake.mark()
    await _thread(fake, g, g.member("admin"), "S1E2")  # S1E1's starter must now link forward: it is gone
    repost = await fake.wait_for_request("POST", "/channels/{channel_id}/messages",
                                         lambda r: r.params["channel_id"] == str(general.id)
                                         and r.json["embeds"][0]["title"].endswith("S1E1"), since=mark)
    assert repost.json["allowed_mentions"] == {"parse": []}
    assert _custom_ids(repost.json["components"]) == [f"ep:rate:{episode_id}:{n}" for n in range(1, 6)] + [
        f"ep:join:{episode_id}"]
    second = int(_thread_posts(fake, mark)[-1].response["id"])
    next_field = next(f for f in repost.json["embeds"][0]["fields"] if f["name"] == "Next episode")
    assert next_field["value"] == f"S1E2: <#{second}>"
    new_id = int(repost.response["id"])
    stored = await bot.get_cog("Episodes").service.repo.get_thread(episode_id)
    assert (stored.thread_id, stored.starter_message_id) == (thread_id, new_id)

    ix = await fake.click(new_id, f"ep:rate:{episode_id}:5", g.member("fan1"))
    [followup] = await ix.followups(1)
    assert followup["content"].startswith("You rated this episode 5 ★.")
    rating = next(f for f in fake.message(new_id)["embeds"][0]["fields"] if f["name"] == "Rating")
    assert rating["value"] == "★ 5.00 · votes: 1\n██████████"


async def test_deleted_forum_starter_gets_a_new_message_with_the_buttons_in_the_post(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot, "S1E1")
    fake.delete_message(thread_id, thread_id)
    await asyncio.sleep(0.05)
    mark = fake.mark()
    await _thread(fake, g, g.member("admin"), "S1E2")
    repost = await fake.wait_for_request("POST", "/channels/{channel_id}/messages",
                                         lambda r: r.params["channel_id"] == str(thread_id), since=mark)
    assert _custom_ids(repost.json["components"])[-1] == f"ep:join:{episode_id}"
    new_id = int(repost.response["id"])
    stored = await bot.get_cog("Episodes").service.repo.get_thread(episode_id)
    assert (stored.thread_id, stored.starter_message_id) == (thread_id, new_id)
    ix = await fake.click(new_id, f"ep:rate:{episode_id}:3", g.member("fan2"))
    await ix.followups(1)
    rating = next(f for f in fake.message(new_id)["embeds"][0]["fields"] if f["name"] == "Rating")
    assert rating["value"].startswith("★ 3.00 · votes: 1")


async def test_new_episode_choice_in_autocomplete_speaks_the_members_language(fake, bot):
    g = fake.default_guild
    await _preset(fake, g)
    for locale, new in (("en-US", "E9 (new)"), ("ko", "E9 (새 에피소드)")):
        ac = await fake.autocomplete(g, g.member("admin"), "episode add", focused="episode", value="",
                                     show="trauma-code", season=1, locale=locale)
        choices = (await ac.response()).choices
        assert choices[0] == {"name": new, "value": 9}
        assert [c["value"] for c in choices[1:]] == list(range(1, 9))


async def test_thread_made_before_a_crash_is_adopted_after_the_server_language_changed(fake, runner):
    g = fake.default_guild
    bot = await runner.start()
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), "S1E3")
    [post] = _thread_posts(fake)
    assert post.json["name"] == "Trauma Code · S1E3 · Discussion"
    thread_id = int(post.response["id"])
    # The bot made the thread and died before recording it; meanwhile the server switched to Korean.
    await bot.db.execute("DELETE FROM episode_threads WHERE thread_id = ?", (thread_id,))
    await runner.kill()
    await fake.wait_for_no_connection()
    g.preferred_locale = "ko"
    bot = await runner.start()
    mark = fake.mark()
    assert await _thread(fake, g, g.member("admin"), "S1E3", locale="ko") == (
        f"Trauma Code S1E3 토론을 열었어요: <#{thread_id}>")
    assert _thread_posts(fake, mark) == []
    stored = await bot.get_cog("Episodes").service.repo.get_thread(
        int(_custom_ids(fake.message(thread_id)["components"])[0].split(":")[2]))
    assert stored.thread_id == thread_id
    assert fake.message(thread_id)["embeds"][0]["fields"][0]["name"] == "방영"  # adopted and refreshed


async def _pace(fake, g, pace, member="admin", locale="en-US"):
    ix = await fake.slash(g, g.member(member), "show pace", show="night-shift", pace=pace, locale=locale)
    resp = await ix.response()
    assert resp.ephemeral
    return resp.content


def _open_times(bot, episode_ids):
    jobs = [bot.scheduler.get_job(f"episode:{episode_id}:open") for episode_id in episode_ids]
    return [job.next_run_time if job else None for job in jobs]


async def _night_shift_season(fake, bot, g, airs):
    """Night Shift, all at once, three episodes released together at `airs`; their episode ids."""
    ix = await fake.slash(g, g.member("admin"), "show add", title="Night Shift", pace="all_at_once")
    await ix.response()
    for number in (1, 2, 3):
        ix = await fake.slash(g, g.member("admin"), "episode add", show="night-shift", season=1, episode=number,
                              airs=airs.isoformat())
        assert (await ix.response()).content.startswith(f"Saved Night Shift S1E{number}; airs <t:")
    service = bot.get_cog("Episodes").service
    show = await service.show(g.id, "night-shift")
    return [e.id for e in await service.episodes(show)]


async def test_show_pace_moves_the_pending_openings(fake, bot):
    g = fake.default_guild
    release = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    ids = await _night_shift_season(fake, bot, g, release)
    assert _open_times(bot, ids) == [release] * 3
    assert await _pace(fake, g, "daily") == "Night Shift: one thread a day."
    assert _open_times(bot, ids) == [release, release + timedelta(days=1), release + timedelta(days=2)]
    assert await _pace(fake, g, "on_air", locale="ko") == "Night Shift: 방영 시간마다 한 스레드씩."
    assert _open_times(bot, ids) == [release] * 3
    assert await _pace(fake, g, "daily", member="fan1") == (
        "Only moderators (Manage Server or the moderator role) can do this.")
    assert _open_times(bot, ids) == [release] * 3
    assert _thread_posts(fake) == []


async def test_show_pace_of_a_released_season_creates_openings_and_opens_overdue_ones(fake, bot):
    """A season released an hour ago opened nothing by itself. Daily: episodes 2 and 3 now open on the next
    two days. Back to all at once: their (pending) openings are overdue, so they open now; episode 1 does not."""
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    release = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    ids = await _night_shift_season(fake, bot, g, release)
    assert _open_times(bot, ids) == [None] * 3
    await _pace(fake, g, "daily")
    assert _open_times(bot, ids) == [None, release + timedelta(days=1), release + timedelta(days=2)]
    assert _thread_posts(fake) == []
    await _pace(fake, g, "all_at_once")
    await fake.wait_for_request("POST", "/channels/{channel_id}/threads",
                                lambda r: r.json["name"] == "Night Shift · S1E3 · Discussion")
    await fake.wait_for_request("POST", "/channels/{channel_id}/threads",
                                lambda r: r.json["name"] == "Night Shift · S1E2 · Discussion")
    await asyncio.sleep(0.2)
    assert sorted(r.json["name"] for r in _thread_posts(fake)) == [
        "Night Shift · S1E2 · Discussion", "Night Shift · S1E3 · Discussion"]
    assert _open_times(bot, ids) == [None] * 3


async def _eventually(condition, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_leaving_a_server_stops_its_openings_and_rejoining_brings_them_back(fake, bot):
    g = fake.default_guild
    release = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    ids = await _night_shift_season(fake, bot, g, release)
    other = fake.add_guild("Other Fans")
    await _eventually(lambda: bot.get_guild(other.id) is not None)
    service = bot.get_cog("Episodes").service
    theirs = await service.add_episode(await service.add_show(other.id, "Night Shift", None, None, "on_air"),
                                       1, 1, None, release)

    fake.remove_guild(g)
    await _eventually(lambda: _open_times(bot, ids) == [None] * 3)
    assert _open_times(bot, [theirs.id]) == [release]  # other servers keep theirs
    show = await service.show(g.id, "night-shift")  # rows kept
    assert [e.auto_open_pending for e in await service.episodes(show)] == [True] * 3

    fake.guilds[g.id] = g  # added back: same server id
    fake.gateway.dispatch_guild_create(g)
    await _eventually(lambda: _open_times(bot, ids) == [release] * 3)
    assert _thread_posts(fake) == []
