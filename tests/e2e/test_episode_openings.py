"""Automatic thread openings end to end: at air time, missed while the bot was down, moved by /episode
schedule and /show pace, retried after failures (admins told once, a /config change retries at once), and
stopped while the bot is out of a server."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

from tests.e2e.episode_steps import (
    MESSAGE_THREADS,
    MESSAGES,
    THREADS,
    _add_episode,
    _add_show,
    _attempts,
    _discussion,
    _night_shift,
    _night_shift_season,
    _open_times,
    _pace,
    _start_tuned,
    _thread_posts,
)
from tests.e2e.settle import scheduler_caught_up, until
from tests.fakediscord.state import Perm


async def test_thread_opens_by_itself_at_air_time(fake, bot):
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    await _discussion(bot, g, forum)
    await _add_show(fake, g)
    # Whole seconds: the air time is 2-3 s ahead, well clear of the command's own round trip.
    airs = (datetime.now(UTC) + timedelta(seconds=3)).isoformat(timespec="seconds")
    await _add_episode(fake, g, 1, airs)
    assert _thread_posts(fake) == []
    post = await fake.wait_for_request("POST", THREADS, timeout=8)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"
    await scheduler_caught_up(bot)
    assert len(_thread_posts(fake)) == 1


async def test_air_time_missed_while_down_opens_at_startup_once(fake, runner):
    bot = await runner.start()
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _add_show(fake, g)
    airs = (datetime.now(UTC) + timedelta(seconds=2)).isoformat(timespec="seconds")
    await _add_episode(fake, g, 1, airs)
    await runner.stop()
    await asyncio.sleep(2.2)
    assert _thread_posts(fake) == []
    await runner.start()
    post = await fake.wait_for_request("POST", THREADS, timeout=5)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"
    await runner.restart()
    await scheduler_caught_up(runner.bot)  # the openings rebuilt at start-up have run
    assert len(_thread_posts(fake)) == 1


async def test_schedule_moves_a_pending_opening(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _night_shift(fake, g, airs_in=1.0)
    old_time = datetime.now(UTC) + timedelta(seconds=1.0)  # at or after the air time _night_shift set
    moved_to = datetime.now(UTC) + timedelta(seconds=2.2)
    ix = await fake.slash(g, g.member("admin"), "episode schedule", show="night-shift", season=1, episode=1,
                          airs=moved_to.isoformat(timespec="milliseconds"))
    assert (await ix.response()).content == (f"Night Shift S1E1 now airs <t:{int(moved_to.timestamp())}:F>.")
    await scheduler_caught_up(bot, old_time)  # past the old time, every job due by then done: nothing opened
    assert _thread_posts(fake) == []
    post = await fake.wait_for_request("POST", THREADS, timeout=5)
    assert post.time >= moved_to - timedelta(milliseconds=50)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"
    await scheduler_caught_up(bot)
    assert len(_thread_posts(fake)) == 1


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
    await scheduler_caught_up(bot)
    assert sorted(r.json["name"] for r in _thread_posts(fake)) == [
        "Night Shift · S1E2 · Discussion", "Night Shift · S1E3 · Discussion"]
    assert _open_times(bot, ids) == [None] * 3


async def test_failed_opening_notifies_admins_once_and_opens_on_retry_after_the_fix(fake, runner, monkeypatch):
    bot = await _start_tuned(runner, monkeypatch, retry_delays=(timedelta(seconds=0.4),))
    g = fake.default_guild
    log_channel = g.channel("bot-log")
    await bot.settings_service.set_channel(g.id, "log", log_channel.id)
    await _night_shift(fake, g, airs_in=0.5)  # no discussion channel configured

    notice = await fake.wait_for_request("POST", MESSAGES, lambda r: r.params["channel_id"] == str(log_channel.id))
    assert re.fullmatch(
        r"⚠️ I could not open the thread for Night Shift S1E1 automatically: No discussion channel is set up\. "
        r"An admin can choose one with /config channel kind:discussion\.\n"
        r"I'll try again by myself <t:\d+:R>, and right away after a /config change; every waiting thread opens "
        r"once the cause is fixed\. \(I report each problem once, not at every retry\.\)", notice.json["content"])
    assert notice.json["allowed_mentions"] == {"parse": []}

    async def retried_twice_more():
        return await _attempts(bot) >= 3
    await until(retried_twice_more)
    assert len(fake.messages_in(log_channel)) == 1  # once per failure kind, not once per retry
    assert _thread_posts(fake) == []

    forum = g.channel("episode-discussion")
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="discussion", channel=forum)
    await ix.response()
    post = await fake.wait_for_request("POST", THREADS, timeout=5)
    assert post.params["channel_id"] == str(forum.id)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"
    await scheduler_caught_up(bot)  # nothing more is due: no retry, no second notice
    assert len(_thread_posts(fake)) == 1
    assert len(fake.messages_in(log_channel)) == 1
    assert await _attempts(bot) == 0
    assert [j.id for j in bot.scheduler.get_jobs() if j.id.startswith("episode:")] == []


async def test_config_change_retries_a_failed_opening_at_once(fake, runner, monkeypatch):
    # The next retry is far away.
    bot = await _start_tuned(runner, monkeypatch, retry_delays=(timedelta(hours=1),))
    g = fake.default_guild
    await _night_shift(fake, g, airs_in=0.3)

    async def failed_once():
        return await _attempts(bot) == 1
    await until(failed_once)
    [job] = [j for j in bot.scheduler.get_jobs() if j.id.startswith("episode:")]
    assert job.next_run_time > datetime.now(UTC) + timedelta(minutes=59)
    mark = fake.mark()
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="discussion",
                          channel=g.channel("episode-discussion"))
    await ix.response()
    post = await fake.wait_for_request("POST", THREADS, since=mark, timeout=3)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"


async def test_discord_server_error_is_retried_without_bothering_admins(fake, runner, monkeypatch):
    bot = await _start_tuned(runner, monkeypatch, retry_delays=(timedelta(seconds=0.3),))
    g = fake.default_guild
    log_channel = g.channel("bot-log")
    await bot.settings_service.set_channel(g.id, "log", log_channel.id)
    await _discussion(bot, g, g.channel("episode-discussion"))
    fake.fail("POST", THREADS, status=503, message="Service Unavailable")
    await _night_shift(fake, g, airs_in=0.4)
    await fake.wait_for_request("POST", THREADS, lambda r: r.status < 300, timeout=5)
    assert [r.status // 100 for r in _thread_posts(fake)] == [5, 2]
    assert fake.messages_in(log_channel) == []


async def test_missing_permission_is_named_to_admins_and_retry_opens_once_granted(fake, runner, monkeypatch):
    bot = await _start_tuned(runner, monkeypatch, retry_delays=(timedelta(seconds=0.4),))
    g = fake.default_guild
    general, log_channel = g.channel("general"), g.channel("bot-log")
    await bot.settings_service.set_channel(g.id, "log", log_channel.id)
    await _discussion(bot, g, general)
    fake.set_overwrite(general, fake.bot_member(g), deny=Perm.CREATE_PUBLIC_THREADS)
    await _night_shift(fake, g, airs_in=0.4)
    notice = await fake.wait_for_request("POST", MESSAGES, lambda r: r.params["channel_id"] == str(log_channel.id))
    assert notice.json["content"].startswith(
        f"⚠️ I could not open the thread for Night Shift S1E1 automatically: I can't open threads in <#{general.id}>:"
        " I'm missing Create Public Threads. Ask an admin to grant them.\n")
    fake.set_overwrite(general, fake.bot_member(g))
    post = await fake.wait_for_request("POST", MESSAGE_THREADS, timeout=5)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"
    assert len(fake.messages_in(log_channel)) == 1


async def test_leaving_a_server_stops_its_openings_and_rejoining_brings_them_back(fake, bot):
    g = fake.default_guild
    release = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    ids = await _night_shift_season(fake, bot, g, release)
    other = fake.add_guild("Other Fans")
    await until(lambda: bot.get_guild(other.id) is not None)
    service = bot.get_cog("Episodes").service
    their_show = await service.schedules.add_show(other.id, "Night Shift", None, None, "on_air")
    theirs = await service.schedules.add_episode(their_show, 1, 1, None, release)

    fake.remove_guild(g)
    await until(lambda: _open_times(bot, ids) == [None] * 3)
    assert _open_times(bot, [theirs.id]) == [release]  # other servers keep theirs
    show = await service.lookup.show(g.id, "night-shift")  # rows kept
    assert [e.auto_open_pending for e in await service.lookup.episodes(show)] == [True] * 3

    fake.guilds[g.id] = g  # added back: same server id
    fake.gateway.dispatch_guild_create(g)
    await until(lambda: _open_times(bot, ids) == [release] * 3)
    assert _thread_posts(fake) == []
