"""Random kills and a Discord storm in one run: the real bot (`python -m bot run`) against the fake Discord and the
local feed server, SIGKILLed at seeded random moments and at placed ones (the fake holds its answer to a chosen
request) while the fake answers a seeded fraction of its REST calls with 500/502/503 or 429 (route and global, with
retry_after) and drops the gateway in the middle of sends (RESUME, then an invalid session). Meanwhile a burst of
news larger than any history page the bot reads back goes out, watch-party reminders fall due, members click RSVP
buttons and episode threads are opened. Restarted on the same database after each kill.

At the end: every story posted exactly once, every reminder (all due while the bot was up or within their grace)
exactly once, no DM twice, every acknowledged RSVP kept, one thread per episode and at most one scheduled event per
party, `PRAGMA integrity_check` ok, no request inside a 429's window (the fake records those), and no notice to the
admins twice. The figures (seed, kills, stories, reminders, RSVPs, threads, injected errors by status, duplicates,
losses) are printed; CODEBLUE_CRASH_SEED replays another schedule.

Which errors go where: posts to channels get 500/502 (discord.py sends those again by itself after 1 s, 3 s, ...)
and 429s; threads and forum posts, scheduled events, DM channels and message edits also get 503s, which discord.py
raises at once and the bot retries within seconds (or, for `/show open`, a moderator runs it again). Some alerts,
reminders and DMs are stored by Discord and answered 5xx all the same (DMs also 503, which the bot itself tries
again: with the same nonce, so Discord returns the stored DM; before that nonce, 3 DMs of this run went out twice).
A 503 on a channel post is answered by the bot's back-off (news 30 s, a reminder 1 minute): those paths are covered
in-process with an injected clock (`tests/e2e/test_discord_storms.py`, `tests/e2e/test_news_crash_recovery.py`),
not here, where the run must stay under a minute of real time. Not injected: a thread, forum post or scheduled event
stored and then answered 500/502; discord.py sends those again by itself and Discord has no nonce for them, so the
thread is made twice (16 threads for 8 episodes when tried here): a known gap, kept as a strict expected failure
below (`test_a_thread_discord_made_but_answered_500_is_made_once`).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.crash.botprocess import (
    BotProcess,
    answered,
    dms_about,
    figures,
    kill_mid_click,
    reminder_posts,
    wait_for,
)
from tests.fakediscord.state import BOT_DEFAULT, Perm
from tests.feeds.builders import Item
from tests.feeds.server import FeedServer

pytestmark = pytest.mark.crash

SEED = int(os.environ.get("CODEBLUE_CRASH_SEED", "20261204")) + 3
STORIES = 130  # more than a history page (100): the interrupted alert is found by paging back
PARTIES = 6
LONG = 90  # seconds: a bound for what takes a few seconds in CI, so that a slow machine is slow, not failing
MESSAGES = "/channels/{channel_id}/messages"
MESSAGE = "/channels/{channel_id}/messages/{message_id}"
THREADS = "/channels/{channel_id}/threads"
EVENTS = "/guilds/{guild_id}/scheduled-events"
DM_CHANNELS = "/users/@me/channels"
EPISODES = [f"Trauma Code · S1E{n} · Discussion" for n in range(1, 9)]


class Storm:
    """The run's bot, its kills (one kill or restart at a time) and gateway drops."""

    def __init__(self, fake: Any, bot: BotProcess) -> None:
        self.fake = fake
        self.bot = bot
        self.lifecycle = asyncio.Lock()
        self.placed = 0
        self.random = 0
        self.drops: list[str] = []
        self.kills: list[str] = []  # what each kill interrupted, in order

    async def kill_and_restart(self, what: str, *, placed: bool) -> None:
        async with self.lifecycle:
            await self._kill_and_restart(what, placed=placed)

    async def _kill_and_restart(self, what: str, *, placed: bool) -> None:
        await self.bot.kill()
        if placed:
            self.placed += 1
        else:
            self.random += 1
        self.kills.append(what)
        await self.bot.restart()

    async def drop_gateway(self, *, resumable: bool) -> None:
        """Close the gateway (the bot RESUMEs, or is told its session is invalid and IDENTIFYs again)."""
        async with self.lifecycle:
            gateway = self.fake.gateway
            resumes, identifies = gateway.resume_count, gateway.identify_count
            self.fake.resumable = resumable
            await self.fake.disconnect()
            if resumable:
                await self.fake.wait_for_resume(resumes + 1, timeout=15)
            else:
                await self.fake.wait_for_identify(identifies + 1, timeout=15)
            self.fake.resumable = True
            self.drops.append("resume" if resumable else "invalid session")


async def test_random_kills_in_a_discord_storm_lose_and_double_nothing(fake, tmp_path, capsys):
    began = time.monotonic()
    rng = random.Random(SEED)
    g = fake.default_guild
    news, watch = g.channel("news"), g.channel("watch-party")
    forum, log_channel = g.channel("episode-discussion"), g.channel("bot-log")
    admin = g.member("admin")
    fake.set_role_permissions(g.role("Code Blue"), int(BOT_DEFAULT | Perm.MANAGE_CHANNELS))
    feeds = FeedServer()
    await feeds.start()
    bot = BotProcess(fake, tmp_path)
    storm = Storm(fake, bot)
    try:
        feeds.serve_items("/storm.xml", [Item(f"Old storm story {n}", f"https://outlet.test/old/{n}")
                                         for n in range(2)], title="Outlet")
        await bot.start()
        for kind, channel in (("news", news), ("watchparty", watch), ("log", log_channel), ("discussion", forum)):
            await answered(fake, g, admin, "config channel", kind=kind, channel=channel)
        await answered(fake, g, admin, "config reminders", offsets="0")
        await answered(fake, g, admin, "show preset", name="trauma-code")
        await answered(fake, g, admin, "news feed add", url=feeds.url("/storm.xml"))
        await answered(fake, g, admin, "news keywords add", keyword="storm")

        # The storm: from here on a seeded fraction of what the bot creates or edits fails.
        # A 429's window opens 0.4 s after it was answered: the bot (news, reminders, threads and clicks at once, on
        # a loaded machine) may read that answer that late, and requests sent before it did are not ignoring it.
        posts = fake.chaos([("POST", MESSAGES)], fraction=0.08, statuses=(500, 502, 429), retry_after=0.8,
                           global_share=0.25, seed=SEED, in_flight_slack=0.4)
        others = fake.chaos([("POST", THREADS), ("POST", EVENTS), ("POST", DM_CHANNELS), ("PATCH", MESSAGE)],
                            fraction=0.25, statuses=(500, 502, 503, 429), retry_after=0.8, global_share=0.25,
                            seed=SEED + 1, in_flight_slack=0.4)

        # Parties whose at-start reminders fall due 14 to 24 s from now, while the rest of the storm goes on; the
        # hosts write the time with seconds, in UTC. Their scheduled events are made in the storm too.
        hosts = [g.member(name) for name in ("fan1", "fan2", "fan3", "mod", "admin", "owner")]
        first_due = datetime.now(UTC) + timedelta(seconds=14)
        for number, host in enumerate(hosts[:PARTIES]):
            when = (first_due + timedelta(seconds=2 * number)).strftime("%Y-%m-%d %H:%M:%S UTC")
            await answered(fake, g, host, "watchparty create", title=f"Storm party {number + 1}", when=when)
        parties = {pid: (title, message_id) for pid, title, message_id in bot.query(
            "SELECT id, title, message_id FROM watch_parties ORDER BY id")}
        assert len(parties) == PARTIES, parties

        # From here on some posts are stored by Discord and answered 500/502 all the same (discord.py sends them
        # again by itself, with the same nonce): alerts, reminders (their announcements are made by now) and DMs;
        # DMs also 503, which the bot itself tries again.
        def dm(request: Any) -> bool:
            return int(request.params["channel_id"]) in {c.id for c in fake.dm_channels.values()}

        stored = fake.chaos([("POST", f"/channels/{news.id}/messages"), ("POST", f"/channels/{watch.id}/messages")],
                            fraction=0.05, statuses=(500, 502), stored_share=1.0, seed=SEED + 2)
        stored_dms = fake.chaos([("POST", MESSAGES)], fraction=0.3, statuses=(500, 502, 503), stored_share=1.0,
                                seed=SEED + 3, predicate=dm)

        # Placed kills: Discord stored the request and holds its answer; the bot is killed before it hears back.
        def news_alert(number: int) -> Any:
            return lambda r: r.params["channel_id"] == str(news.id) and len(fake.messages_in(news)) >= number

        threads_made = Counter[str]()

        def third_thread(request: Any) -> bool:
            threads_made["n"] += 1
            return threads_made["n"] == 3

        placed_holds = {
            # an alert past the first history page of the burst: found again by paging back
            "news": fake.hold("POST", MESSAGES, 3.0, predicate=news_alert(rng.randint(102, STORIES - 5))),
            "reminder": fake.hold("POST", MESSAGES, 3.0, predicate=lambda r: r.params["channel_id"] == str(watch.id)
                                  and "starting now" in ((r.json or {}).get("content") or "")),
            "thread": fake.hold("POST", THREADS, 3.0, predicate=third_thread),
        }
        # Gateway drops in the middle of a send (the answer held while the connection goes).
        drop_holds = [(fake.hold("POST", MESSAGES, 0.6, predicate=news_alert(rng.randint(10, 40))), True),
                      (fake.hold("POST", MESSAGES, 0.6, predicate=news_alert(rng.randint(50, 95))), False)]

        async def held(what: str, hold: Any) -> None:
            try:
                await hold.wait(timeout=LONG)
            except TimeoutError:
                sent = bot.query("SELECT COUNT(*) FROM news_deliveries WHERE state = 'sent'")[0][0]
                raise AssertionError(f"no {what} to hold within {LONG} s (stories sent {sent}, threads "
                                     f"{threads_recorded()})") from None

        async def kill_when_held(what: str, hold: Any) -> None:
            await held(what, hold)
            await storm.kill_and_restart(f"held {what}", placed=True)

        async def drop_when_held(hold: Any, resumable: bool) -> None:
            await held("alert to drop the gateway on", hold)
            await storm.drop_gateway(resumable=resumable)

        async def random_kill() -> None:
            delay = rng.uniform(2.0, 8.0)
            await asyncio.sleep(delay)
            await storm.kill_and_restart(f"random {delay:.1f} s into the burst", placed=False)

        # The burst: more stories than a history page, all matching the keyword.
        for n in range(STORIES):
            feeds.add_item("/storm.xml", Item(f"Storm story {n}", f"https://outlet.test/storm/{n}"))
        await fake.slash(g, admin, "news check", locale="ko")
        await wait_for(lambda: bot.query("SELECT COUNT(*) FROM news_deliveries")[0][0] >= STORIES, 20,
                       "the burst to be queued")
        def threads_recorded() -> int:
            return int(bot.query("SELECT COUNT(*) FROM episode_threads")[0][0])

        async def moderator_opens_threads() -> None:
            """`/show open` stops at a thread Discord refused (503): the moderator runs it again until every
            episode has its thread (a run cut off by a kill just ends)."""
            loop = asyncio.get_running_loop()
            deadline = loop.time() + LONG
            while threads_recorded() < len(EPISODES):
                assert loop.time() < deadline, "the threads were not all opened in the storm"
                async with storm.lifecycle:
                    starts = bot.starts
                    ix = await fake.slash(g, admin, "show open", show="trauma-code")
                while not ix.followup_messages and bot.starts == starts and loop.time() < deadline:
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.2)

        background = [asyncio.create_task(moderator_opens_threads())]
        background += [asyncio.create_task(kill_when_held(what, h)) for what, h in placed_holds.items()]
        background += [asyncio.create_task(drop_when_held(h, resumable)) for h, resumable in drop_holds]
        background.append(asyncio.create_task(random_kill()))

        # RSVP clicks while all that goes on; every click the member saw acknowledged must be kept.
        members = [g.member(name) for name in ("fan1", "fan2", "fan3", "mod")]
        members += [fake.add_member(g, f"stormer{n}") for n in range(4)]
        clicks = [(pid, m, rng.choice(["going", "going", "maybe", "declined"])) for pid in parties for m in members]
        rng.shuffle(clicks)
        clicks = clicks[:18]
        killing_click = rng.randrange(2, len(clicks))
        acknowledged: dict[tuple[int, int], str] = {}
        dm_on: set[tuple[int, int]] = set()
        unacknowledged = 0
        for index, (pid, member, action) in enumerate(clicks):
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            locale = "ko" if index % 3 == 0 else "en-US"
            message_id = parties[pid][1]
            async with storm.lifecycle:
                ix = await fake.click(message_id, f"wp:{pid}:{action}", member, locale=locale)
                if index == killing_click:  # random: a few milliseconds into the click's handling
                    if await kill_mid_click(bot, ix, rng):
                        acknowledged[(pid, member.id)] = action
                    else:
                        unacknowledged += 1
                    storm.random += 1
                    storm.kills.append("random in a click")
                    await bot.restart()
                    continue
                response = await ix.response(timeout=5)
                assert response.type == 6, response
                acknowledged[(pid, member.id)] = action
                if action == "going":
                    ix = await fake.click(message_id, f"wp:{pid}:dm", member, locale=locale)
                    if (await ix.response(timeout=5)).type == 4:
                        dm_on.add((pid, member.id))

        await asyncio.gather(*background)
        for chaos in (posts, others, stored, stored_dms):
            chaos.stop()

        # Once it is over, the moderator's `/show open` finds every thread there.
        done = await answered(fake, g, admin, "show open", show="trauma-code")

        def all_final() -> bool:
            news_states = bot.query("SELECT state FROM news_deliveries")
            reminder_states = bot.query("SELECT state FROM party_reminders")
            return (len(news_states) >= STORIES and all(s != "pending" for (s,) in news_states)
                    and all(s in ("sent", "failed", "skipped", "unknown") for (s,) in reminder_states))

        await wait_for(all_final, LONG, "every story and reminder to reach a final state")
        await bot.stop()
    finally:
        await bot.abort()
        await feeds.close()

    # -- what Discord holds and what the database kept ----------------------------------------------------------
    titles = Counter(e.get("title") for m in fake.messages_in(news) for e in (m.get("embeds") or [])[:1])
    burst = [f"Storm story {n}" for n in range(STORIES)]
    story_dups = sum(titles[t] - 1 for t in burst if titles[t] > 1)
    stories_lost = [t for t in burst if titles[t] == 0]
    news_states = Counter(s for (s,) in bot.query("SELECT state FROM news_deliveries"))
    held_alert = placed_holds["news"].requests[0].response
    found_again = bot.query("SELECT title FROM news_deliveries WHERE message_id = ?", (int(held_alert["id"]),))

    reminders = reminder_posts(fake, watch)
    reminder_states = Counter(s for (s,) in bot.query("SELECT state FROM party_reminders"))
    reminder_dups = sum(n - 1 for n in reminders.values() if n > 1)
    reminders_lost = sum(1 for pid in parties if reminders[pid] == 0)
    dm_twice = sum(max(0, n - 1) for title, _ in parties.values() for n in dms_about(fake, title).values())

    kept = {(pid, uid): status for pid, uid, status in bot.query("SELECT party_id, user_id, status FROM rsvps")}
    rsvps_lost = [key for key, action in acknowledged.items() if kept.get(key) != action]

    threads = Counter(c.name for c in fake.channels.values() if c.parent_id == forum.id and c.is_thread)
    thread_dups = sum(n - 1 for n in threads.values() if n > 1)
    threads_missing = [name for name in EPISODES if threads[name] == 0]
    thread_rows = bot.query("SELECT COUNT(*), COUNT(DISTINCT episode_id) FROM episode_threads")[0]
    events = Counter(e.name for e in g.scheduled_events.values())
    event_dups = sum(n - 1 for n in events.values() if n > 1)

    notices = [m.get("content") or "" for m in fake.messages_in(log_channel)]
    notice_kinds = Counter(text[:24] for text in notices)
    ignored_limits = fake.take_violations("rate_limit_ignored")
    injected: Counter[str] = Counter(posts.injected) + Counter(others.injected) + Counter(stored.injected)
    injected += Counter(stored_dms.injected)
    integrity = bot.query("PRAGMA integrity_check")
    dm_channels = {c.id for c in fake.dm_channels.values()}
    stored_where = Counter(
        "alerts" if r.path.startswith(f"/channels/{news.id}/") else "reminders"
        if r.path.startswith(f"/channels/{watch.id}/") else "DMs"
        if int(r.params.get("channel_id", 0)) in dm_channels else r.route
        for r in fake.requests if r.failed_after_handling)
    duplicates = story_dups + reminder_dups + thread_dups + event_dups + dm_twice
    losses = len(stories_lost) + reminders_lost + len(rsvps_lost) + len(threads_missing)
    figures(capsys, f"\ncrash suite (kills in a Discord storm, seed {SEED}): {time.monotonic() - began:.1f} s; "
                    f"kills {bot.kills} ({storm.placed} placed, {storm.random} random: {', '.join(storm.kills)}), "
                    f"starts {bot.starts}, "
                    f"gateway drops {storm.drops}; injected {dict(sorted(injected.items()))} "
                    f"({sum(injected.values())} errors; stored and answered 5xx: {dict(stored_where)}), "
                    f"rate limits ignored {len(ignored_limits)}; "
                    f"stories {STORIES}, posted {sum(titles[t] for t in burst)}, states {dict(news_states)}; "
                    f"reminders {sum(reminders.values())}/{len(parties)}, states {dict(reminder_states)}; "
                    f"RSVPs acknowledged {len(acknowledged)}, kept {len(acknowledged) - len(rsvps_lost)}, "
                    f"unacknowledged {unacknowledged}, DM toggles {len(dm_on)}; threads {sum(threads.values())} for "
                    f"{len(EPISODES)} episodes; events {sum(events.values())} for {len(parties)} parties; "
                    f"admin notices {len(notices)}; nonce repeats answered {fake.nonce_hits}; "
                    f"duplicates {duplicates}, losses {losses}; "
                    f"integrity {integrity[0][0]}")
    # Interactions the kills cut off were never answered (the member saw "interaction failed"): expected here.
    fake.take_violations("unanswered")
    fake.take_violations("answered_late")
    assert bot.kills >= 5 and storm.placed == 3 and storm.random == 2
    assert sum(injected.values()) > 0
    assert stories_lost == [] and story_dups == 0, {t: n for t, n in titles.items() if n != 1}
    assert news_states == Counter({"sent": STORIES}), news_states
    # The held alert (past the first history page of the burst) was found in the channel after the restart.
    assert found_again == [(held_alert["embeds"][0]["title"],)], (held_alert["embeds"][0]["title"], found_again)
    assert reminders == Counter({pid: 1 for pid in parties}), (reminders, reminder_states)
    assert reminder_states == Counter({"sent": len(parties)})
    assert dm_twice == 0
    assert rsvps_lost == []
    assert thread_dups == 0 and threads_missing == [], threads
    assert thread_rows == (len(EPISODES), len(EPISODES))
    assert "opened" in (done.get("content") or ""), done
    assert event_dups == 0, events
    assert ignored_limits == [], [v.detail for v in ignored_limits]
    assert all(n == 1 for n in notice_kinds.values()), notices
    assert integrity == [("ok",)]


async def test_a_dm_discord_stored_but_answered_503_is_not_sent_twice(fake, tmp_path, capsys):
    """The bot tries a DM again after a 503 (`DM_RETRY_DELAYS`); when Discord had stored it before answering, the
    second try carries the same nonce and gets the stored DM back instead of sending another."""
    g = fake.default_guild
    watch, host, guest = g.channel("watch-party"), g.member("fan1"), g.member("fan2")
    bot = BotProcess(fake, tmp_path)
    try:
        await bot.start()
        await answered(fake, g, g.member("admin"), "config channel", kind="watchparty", channel=watch)
        await answered(fake, g, g.member("admin"), "config reminders", offsets="0")
        when = (datetime.now(UTC) + timedelta(seconds=6)).strftime("%Y-%m-%d %H:%M:%S UTC")
        await answered(fake, g, host, "watchparty create", title="Nonce party", when=when)
        [(pid, message_id)] = bot.query("SELECT id, message_id FROM watch_parties")
        assert (await (await fake.click(message_id, f"wp:{pid}:going", guest, locale="ko")).response()).type == 6
        assert (await (await fake.click(message_id, f"wp:{pid}:dm", guest, locale="ko")).response()).type == 4
        first_dm: list[Any] = []

        def first_dm_only(request: Any) -> bool:
            if int(request.params["channel_id"]) not in {c.id for c in fake.dm_channels.values()} or first_dm:
                return False
            first_dm.append(request)
            return True

        chaos = fake.chaos([("POST", MESSAGES)], fraction=1.0, statuses=(503,), stored_share=1.0, seed=SEED,
                           predicate=first_dm_only)
        await wait_for(lambda: bot.query("SELECT state FROM party_reminders") == [("sent",)], LONG,
                       "the reminder to be sent")
        await bot.stop()
    finally:
        await bot.abort()
    tries = [r for r in fake.requests_to("POST", MESSAGES) if r.params["channel_id"] == first_dm[0].params[
        "channel_id"]]
    figures(capsys, f"\nDM stored and answered 503: injected {chaos.injected}, tries {len(tries)}, DMs "
                    f"{dms_about(fake, 'Nonce party')[guest.id]}, nonce repeats answered {fake.nonce_hits}")
    assert chaos.injected == {"503 after storing": 1}
    assert len(tries) == 2 and tries[0].json["nonce"] == tries[1].json["nonce"]
    assert dms_about(fake, "Nonce party") == Counter({guest.id: 1})
    assert fake.nonce_hits == 1


async def test_a_thread_discord_made_but_answered_500_is_made_once(fake, tmp_path, capsys):
    g = fake.default_guild
    forum, admin = g.channel("episode-discussion"), g.member("admin")
    fake.set_role_permissions(g.role("Code Blue"), int(BOT_DEFAULT | Perm.MANAGE_CHANNELS))
    bot = BotProcess(fake, tmp_path)
    try:
        await bot.start()
        await answered(fake, g, admin, "config channel", kind="discussion", channel=forum)
        await answered(fake, g, admin, "show preset", name="trauma-code")
        first: list[Any] = []

        def first_thread(request: Any) -> bool:
            first.append(request)
            return len(first) == 1

        fake.chaos([("POST", THREADS)], fraction=1.0, statuses=(500,), stored_share=1.0, predicate=first_thread)
        await fake.slash(g, admin, "episode thread", show="trauma-code", episode="S1E1")
        # The row is written once the creation returned, after every try discord.py made.
        await wait_for(lambda: bot.query("SELECT COUNT(*) FROM episode_threads") == [(1,)], LONG, "the thread row")
        await bot.stop()
    finally:
        await bot.abort()
    names = Counter(c.name for c in fake.channels.values()
                    if c.parent_id == forum.id and c.is_thread and not c.deleted)
    figures(capsys, f"\nthread made and answered 500: threads {dict(names)}")
    assert names == Counter({EPISODES[0]: 1})
