"""Episode threads end to end, follow-up: retried automatic openings, serialized rating edits, rescheduling,
a Korean server, the moderator role, and `/show open` for episodes that aired before the show was added."""

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta

from tests.e2e.test_episodes import (
    EPHEMERAL,
    MESSAGE_THREADS,
    THREADS,
    _custom_ids,
    _discussion,
    _preset,
    _thread,
    _thread_posts,
    _watched_all,
)
from tests.fakediscord.state import Perm

MESSAGES = "/channels/{channel_id}/messages"
EDIT_MESSAGE = "/channels/{channel_id}/messages/{message_id}"


def _service(bot):
    return bot.get_cog("Episodes").service


async def _night_shift(fake, g, airs_in: float):
    ix = await fake.slash(g, g.member("admin"), "show add", title="Night Shift", pace="on_air")
    await ix.response()
    airs = (datetime.now(UTC) + timedelta(seconds=airs_in)).isoformat(timespec="milliseconds")
    ix = await fake.slash(g, g.member("admin"), "episode add", show="night-shift", season=1, episode=1, airs=airs)
    assert (await ix.response()).content.startswith("Saved Night Shift S1E1; airs <t:")


async def _attempts(bot) -> int:
    row = await bot.db.fetch_one("SELECT open_attempts FROM episodes WHERE number = 1")
    return row["open_attempts"]


async def _until(condition, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_failed_opening_notifies_admins_once_and_opens_on_retry_after_the_fix(fake, bot):
    g = fake.default_guild
    log_channel = g.channel("bot-log")
    await bot.settings_service.set_channel(g.id, "log", log_channel.id)
    _service(bot).retry_delays = (timedelta(seconds=0.4),)
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
    await _until(retried_twice_more)
    assert len(fake.messages_in(log_channel)) == 1  # once per failure kind, not once per retry
    assert _thread_posts(fake) == []

    forum = g.channel("episode-discussion")
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="discussion", channel=forum)
    await ix.response()
    post = await fake.wait_for_request("POST", THREADS, timeout=5)
    assert post.params["channel_id"] == str(forum.id)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"
    await asyncio.sleep(0.6)  # past another retry delay: nothing more happens
    assert len(_thread_posts(fake)) == 1
    assert len(fake.messages_in(log_channel)) == 1
    assert await _attempts(bot) == 0
    assert [j.id for j in bot.scheduler.get_jobs() if j.id.startswith("episode:")] == []


async def test_config_change_retries_a_failed_opening_at_once(fake, bot):
    g = fake.default_guild
    _service(bot).retry_delays = (timedelta(hours=1),)  # the next retry is far away
    await _night_shift(fake, g, airs_in=0.3)

    async def failed_once():
        return await _attempts(bot) == 1
    await _until(failed_once)
    [job] = [j for j in bot.scheduler.get_jobs() if j.id.startswith("episode:")]
    assert job.next_run_time > datetime.now(UTC) + timedelta(minutes=59)
    mark = fake.mark()
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="discussion",
                          channel=g.channel("episode-discussion"))
    await ix.response()
    post = await fake.wait_for_request("POST", THREADS, since=mark, timeout=3)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"


async def test_discord_server_error_is_retried_without_bothering_admins(fake, bot):
    g = fake.default_guild
    log_channel = g.channel("bot-log")
    await bot.settings_service.set_channel(g.id, "log", log_channel.id)
    await _discussion(bot, g, g.channel("episode-discussion"))
    _service(bot).retry_delays = (timedelta(seconds=0.3),)
    fake.fail("POST", THREADS, status=503, message="Service Unavailable")
    await _night_shift(fake, g, airs_in=0.4)
    await fake.wait_for_request("POST", THREADS, lambda r: r.status < 300, timeout=5)
    assert [r.status // 100 for r in _thread_posts(fake)] == [5, 2]
    assert fake.messages_in(log_channel) == []


async def test_missing_permission_is_named_to_admins_and_retry_opens_once_granted(fake, bot):
    g = fake.default_guild
    general, log_channel = g.channel("general"), g.channel("bot-log")
    await bot.settings_service.set_channel(g.id, "log", log_channel.id)
    await _discussion(bot, g, general)
    fake.set_overwrite(general, fake.bot_member(g), deny=Perm.CREATE_PUBLIC_THREADS)
    _service(bot).retry_delays = (timedelta(seconds=0.4),)
    await _night_shift(fake, g, airs_in=0.4)
    notice = await fake.wait_for_request("POST", MESSAGES, lambda r: r.params["channel_id"] == str(log_channel.id))
    assert notice.json["content"].startswith(
        f"⚠️ I could not open the thread for Night Shift S1E1 automatically: I can't open threads in <#{general.id}>:"
        " I'm missing Create Public Threads. Ask an admin to grant them.\n")
    fake.set_overwrite(general, fake.bot_member(g))
    post = await fake.wait_for_request("POST", MESSAGE_THREADS, timeout=5)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"
    assert len(fake.messages_in(log_channel)) == 1


async def test_concurrent_votes_leave_the_latest_totals_on_the_starter(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), "S1E1")
    starter = fake.message(_thread_posts(fake)[-1].response["id"])
    episode_id = _custom_ids(starter["components"])[0].split(":")[2]
    # The first edit of the starter is rate limited: it is retried late, while the other votes wait their turn.
    fake.rate_limit("PATCH", EDIT_MESSAGE, times=1, retry_after=0.3)
    voters = {"fan1": 5, "fan2": 4, "fan3": 3, "mod": 5, "owner": 2}
    mark = fake.mark()
    clicks = await asyncio.gather(*(fake.click(starter["id"], f"ep:rate:{episode_id}:{stars}", g.member(name))
                                    for name, stars in voters.items()))
    for ix in clicks:
        assert (await ix.response()).type == 6
        [followup] = await ix.followups(1)
        assert followup["flags"] & EPHEMERAL and followup["content"].startswith("You rated this episode ")
    edits = [r for r in fake.requests_to("PATCH", EDIT_MESSAGE, since=mark) if r.status == 200]
    assert edits and all(r.params["message_id"] == starter["id"] for r in edits)

    def rating(embeds):
        return next(f["value"] for f in embeds[0]["fields"] if f["name"] == "Rating")

    assert rating(edits[-1].json["embeds"]) == "★ 3.80 · votes: 5\n████████░░"
    assert rating(fake.message(starter["id"])["embeds"]) == "★ 3.80 · votes: 5\n████████░░"
    shown = [int(re.search(r"· votes: (\d+)", rating(r.json["embeds"]))[1]) for r in edits]
    assert shown == sorted(shown)


async def test_schedule_moves_a_pending_opening(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _night_shift(fake, g, airs_in=1.0)
    moved_to = datetime.now(UTC) + timedelta(seconds=2.2)
    ix = await fake.slash(g, g.member("admin"), "episode schedule", show="night-shift", season=1, episode=1,
                          airs=moved_to.isoformat(timespec="milliseconds"))
    assert (await ix.response()).content == (f"Night Shift S1E1 now airs <t:{int(moved_to.timestamp())}:F>.")
    await asyncio.sleep(1.3)  # past the old time: nothing opened
    assert _thread_posts(fake) == []
    post = await fake.wait_for_request("POST", THREADS, timeout=5)
    assert post.time >= moved_to - timedelta(milliseconds=50)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"
    await asyncio.sleep(0.3)
    assert len(_thread_posts(fake)) == 1


async def test_korean_server_gets_a_korean_starter_message(fake, runner):
    g = fake.default_guild
    g.preferred_locale = "ko"
    bot = await runner.start()
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), "S1E2")
    post = _thread_posts(fake)[-1].json
    assert post["name"] == "Trauma Code · S1E2 · 토론"
    starter = post["message"]
    embed = starter["embeds"][0]
    assert embed["description"].startswith("*중증외상센터*\n🛑 **스포일러 규칙:** 이 에피소드와 이전 에피소드는")
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert list(fields) == ["방영", "이전 에피소드", "다음 에피소드", "평점"]
    assert fields["이전 에피소드"] == "S1E1 (아직 안 열림)"
    assert fields["평점"] == "아직 평가가 없어요: 아래 버튼으로 평가해 주세요."
    assert embed["footer"]["text"] == "아래에서 1–5점으로 평가하세요. 언제든 바꿀 수 있어요."
    labels = [c["label"] for row in starter["components"] for c in row["components"]]
    assert labels == [f"{n} ★" for n in range(1, 6)] + ["다 봤어요 — 토론 참여하기"]


async def test_lock_by_the_moderator_role_without_manage_server(fake, bot):
    g = fake.default_guild
    # /show is not hidden behind Manage Server: moderators by role use it too (checked by the bot).
    assert fake.commands()["show"]["default_member_permissions"] is None
    await _discussion(bot, g, g.channel("episode-discussion"))
    await bot.settings_service.set_role(g.id, "moderator", g.role("Moderator").id)
    await _preset(fake, g)
    mod = g.member("mod")
    await _watched_all(fake, g, mod)
    await _thread(fake, g, mod, "S1E4")
    thread_id = int(_thread_posts(fake)[-1].response["id"])

    ix = await fake.slash(g, g.member("fan2"), "episode lock", show="trauma-code", episode="S1E4")
    resp = await ix.response()
    assert resp.ephemeral and resp.content == "Only moderators (Manage Server or the moderator role) can do this."
    assert not fake.channels[thread_id].locked

    ix = await fake.slash(g, mod, "episode lock", show="trauma-code", episode="S1E4")
    assert not int(ix.payload["member"]["permissions"]) & (1 << 5)  # no Manage Server
    await ix.response()
    [followup] = await ix.followups(1)
    assert followup["content"] == f"Locked and archived <#{thread_id}>."
    assert fake.channels[thread_id].locked and fake.channels[thread_id].archived


async def test_show_open_opens_every_aired_thread_once(fake, bot):
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    await _discussion(bot, g, forum)
    _service(bot).bulk_open_spacing = timedelta(seconds=0.05)
    await _preset(fake, g)
    assert _thread_posts(fake) == []  # a preset of an aired show opens nothing by itself

    ix = await fake.slash(g, g.member("fan1"), "show open", show="trauma-code")
    assert (await ix.response()).content == "Only moderators (Manage Server or the moderator role) can do this."

    ix = await fake.slash(g, g.member("admin"), "show open", show="trauma-code")
    assert (await ix.response()).type == 5
    [done] = await ix.followups(1)
    assert done["flags"] & EPHEMERAL
    assert done["content"] == ("Trauma Code: Heroes on Call (중증외상센터): opened 8 new threads, reopened 0, "
                               "0 were already open.")
    posts = _thread_posts(fake)
    assert [p.json["name"] for p in posts] == [f"Trauma Code · S1E{n} · Discussion" for n in range(1, 9)]
    gaps = [b.time - a.time for a, b in itertools.pairwise(posts)]
    assert all(gap >= timedelta(seconds=0.04) for gap in gaps)  # sequential and spaced
    # Each starter links its neighbours once they are open: S1E1's next field was edited to S1E2's thread.
    first, second = (int(p.response["id"]) for p in posts[:2])
    next_field = next(f for f in fake.message(first)["embeds"][0]["fields"] if f["name"] == "Next episode")
    assert next_field["value"] == f"S1E2: <#{second}>"

    mark = fake.mark()
    ix = await fake.slash(g, g.member("admin"), "show open", show="trauma-code", season=1)
    await ix.response()
    [again] = await ix.followups(1)
    assert again["content"] == ("Trauma Code: Heroes on Call (중증외상센터): opened 0 new threads, reopened 0, "
                                "8 were already open.")
    assert _thread_posts(fake, mark) == []


async def test_show_open_without_a_channel_says_what_to_fix(fake, bot):
    g = fake.default_guild
    await _preset(fake, g)
    ix = await fake.slash(g, g.member("admin"), "show open", show="trauma-code", locale="ko")
    await ix.response()
    [done] = await ix.followups(1)
    assert done["content"] == ("Trauma Code: Heroes on Call (중증외상센터): 새 스레드 0개를 열고 0개를 다시 열었어요. "
                               "0개는 이미 열려 있었어요.\nS1E1에서 멈췄어요: 토론 채널이 설정되지 않았어요. 관리자가 "
                               "/config channel kind:discussion으로 정할 수 있어요.")
    assert _thread_posts(fake) == []
