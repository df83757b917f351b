"""Steps and fixtures shared by the end-to-end tests of episode discussions."""

from datetime import UTC, datetime, timedelta

from bot.services.episodes import openings as opening_service
from bot.services.episodes import threads as thread_service
from tests.e2e.member_steps import answer

EPHEMERAL = 64
THREADS = "/channels/{channel_id}/threads"
MESSAGE_THREADS = "/channels/{channel_id}/messages/{message_id}/threads"
EDIT_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
EDIT_CHANNEL = "/channels/{channel_id}"
MESSAGES = "/channels/{channel_id}/messages"
UNEXPECTED = {
    "en-US": "Something went wrong on my side. If it keeps happening, tell an admin this reference: ",
    "ko": "제 쪽에서 문제가 생겼어요. 계속되면 관리자에게 이 참조 번호를 알려 주세요: ",
}


async def _discussion(bot, g, channel):
    await bot.settings_service.set_channel(g.id, "discussion", channel.id)


async def _preset(fake, g, locale="en-US"):
    """The admin installs the Trauma Code preset; the bot's (ephemeral) answer."""
    return await answer(fake, g, g.member("admin"), "show preset", name="trauma-code", locale=locale)


async def _watched_all(fake, g, member):
    await answer(fake, g, member, "progress set", show="trauma-code", episode="S1E8")


async def _thread(fake, g, member, episode, **kwargs):
    """/episode thread; the member's (ephemeral) answer: the thread's link, a refusal or a spoiler warning."""
    return await answer(fake, g, member, "episode thread", show="trauma-code", episode=episode, **kwargs)


def _thread_posts(fake, since=0):
    return [r for r in fake.requests[since:] if r.method == "POST" and r.template in (THREADS, MESSAGE_THREADS)]


def _custom_ids(components):
    return [c["custom_id"] for row in components for c in row["components"]]


async def _add_show(fake, g, pace="on_air"):
    """The admin adds Night Shift (no preset: episodes added one by one)."""
    said = await answer(fake, g, g.member("admin"), "show add", title="Night Shift", pace=pace)
    assert said.startswith("Added Night Shift (key `night-shift`)")


async def _add_episode(fake, g, number, airs: str):
    """The admin adds Night Shift S1E`number`, airing at `airs` (ISO 8601)."""
    said = await answer(fake, g, g.member("admin"), "episode add", show="night-shift", season=1, episode=number,
                        airs=airs)
    assert said.startswith(f"Saved Night Shift S1E{number}; airs <t:")


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


async def _pace(fake, g, pace, member="admin", locale="en-US"):
    return await answer(fake, g, g.member(member), "show pace", show="night-shift", pace=pace, locale=locale)


def _open_times(bot, episode_ids):
    jobs = [bot.scheduler.get_job(f"episode:{episode_id}:open") for episode_id in episode_ids]
    return [job.next_run_time if job else None for job in jobs]


async def _night_shift_season(fake, bot, g, airs):
    """Night Shift, all at once, three episodes released together at `airs`; their episode ids."""
    await _add_show(fake, g, pace="all_at_once")
    for number in (1, 2, 3):
        await _add_episode(fake, g, number, airs.isoformat())
    service = bot.get_cog("Episodes").service
    show = await service.lookup.show(g.id, "night-shift")
    return [e.id for e in await service.lookup.episodes(show)]


async def _forum_thread(fake, bot, episode="S1E1"):
    """The preset installed, `episode`'s forum post opened by the admin; (thread id, episode id)."""
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), episode)
    post = _thread_posts(fake)[-1]
    starter = post.json["message"]
    return int(post.response["id"]), int(_custom_ids(starter["components"])[0].split(":")[2])


def _rating(message):
    return next(f["value"] for f in message["embeds"][0]["fields"] if f["name"] == "Rating")


def _service(bot):
    return bot.get_cog("Episodes").service


async def _start_tuned(runner, monkeypatch, *, retry_delays=None, bulk_open_spacing=None):
    """Start the bot with shorter waits: the episode service reads its defaults when the bot builds it."""
    if retry_delays is not None:
        monkeypatch.setattr(opening_service, "RETRY_DELAYS", retry_delays)
    if bulk_open_spacing is not None:
        monkeypatch.setattr(thread_service, "BULK_OPEN_SPACING", bulk_open_spacing)
    return await runner.start()


async def _night_shift(fake, g, airs_in: float):
    await _add_show(fake, g)
    await _add_episode(fake, g, 1, (datetime.now(UTC) + timedelta(seconds=airs_in)).isoformat(timespec="milliseconds"))


async def _attempts(bot) -> int:
    row = await bot.db.fetch_one("SELECT open_attempts FROM episodes WHERE number = 1")
    return row["open_attempts"]
