"""The crash suite: the real bot (`python -m bot run`) against the fake Discord, SIGKILLed at seeded random moments
and at deterministic ones (the fake holds its answer to a chosen request, so the kill lands after Discord stored it
or the member saw the acknowledgement, and before the bot heard back), restarted on the same database each time.

Invariants at the end: every reminder due while the bot was up (or within its grace) posted exactly once, no DM
twice, every RSVP the bot acknowledged kept, each episode one thread, `PRAGMA integrity_check` ok. Each test prints
its figures (kills, stories, reminders, RSVPs, threads, duplicates, losses); CODEBLUE_CRASH_SEED replays another
schedule.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from typing import Any

import pytest

from tests.crash.botprocess import (
    BotProcess,
    answered,
    dms_about,
    figures,
    kill_mid_click,
    nth_post_to,
    party_id_of,
    reminder_posts,
    wait_for,
)
from tests.fakediscord.state import BOT_DEFAULT, Perm
from tests.feeds.builders import Item
from tests.feeds.server import FeedServer

pytestmark = pytest.mark.crash

SEED = int(os.environ.get("CODEBLUE_CRASH_SEED", "20261204"))
MESSAGES = "/channels/{channel_id}/messages"
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
THREADS = "/channels/{channel_id}/threads"


async def test_reminders_and_rsvps_survive_random_and_placed_kills(fake, tmp_path, capsys):
    rng = random.Random(SEED)
    bot = BotProcess(fake, tmp_path)
    g = fake.default_guild
    watch = g.channel("watch-party")
    admin = g.member("admin")
    await bot.start()
    await answered(fake, g, admin, "config reminders", offsets="0")
    await answered(fake, g, admin, "config channel", kind="watchparty", channel=watch)

    # Parties starting about a minute from now, a few seconds apart: their reminders are due while we kill.
    hosts = [g.member(name) for name in ("fan1", "fan2", "fan3", "mod", "admin", "owner")]
    parties: dict[int, tuple[str, dict[str, Any]]] = {}
    for number, host in enumerate(hosts, 1):
        title = f"Crash party {number}"
        mark = fake.mark()
        await answered(fake, g, host, "watchparty create", title=title, when="in 1 minute")
        announcement = (await fake.wait_for_request(
            "POST", MESSAGES, lambda r: bool((r.response or {}).get("embeds")), since=mark, timeout=10)).response
        parties[party_id_of(announcement)] = (title, announcement)
        await asyncio.sleep(2.5)

    # Placed: the first reminder post is stored by Discord and its answer held; the bot is killed meanwhile (it
    # never hears back), whenever that happens, clicks or not (one kill or restart at a time).
    lifecycle = asyncio.Lock()
    held = fake.hold("POST", MESSAGES, 5.0, predicate=lambda r: r.params["channel_id"] == str(watch.id)
                     and "starting now" in ((r.json or {}).get("content") or ""))

    async def kill_the_held_reminder() -> None:
        await held.wait(timeout=240)
        async with lifecycle:
            await bot.kill()
            await bot.restart()

    placed = asyncio.create_task(kill_the_held_reminder())

    # RSVP clicks, with kills around them. Every click the member saw acknowledged must be kept.
    members = [g.member(name) for name in ("fan1", "fan2", "fan3", "mod")]
    members += [fake.add_member(g, f"viewer{n}") for n in range(4)]
    acknowledged: dict[tuple[int, int], str] = {}
    dm_on: set[tuple[int, int]] = set()
    clicks = [(pid, m, rng.choice(["going", "going", "maybe", "declined"])) for pid in parties for m in members]
    rng.shuffle(clicks)
    clicks = clicks[:24]
    random_kill_at = set(rng.sample(range(2, len(clicks) - 2), 2))
    held_kill_at = 1
    unacknowledged = 0
    for index, (pid, member, action) in enumerate(clicks):
        async with lifecycle:
            announcement_id = parties[pid][1]["id"]
            if index == held_kill_at:  # placed: Discord shows the acknowledgement, the bot never hears back
                hold = fake.hold("POST", CALLBACK, 3.0)
                ix = await fake.click(announcement_id, f"wp:{pid}:{action}", member)
                await hold.wait(10)
                await bot.kill()
                assert (await ix.response(timeout=1)).type == 6
                acknowledged[(pid, member.id)] = action
                await bot.restart()
                continue
            ix = await fake.click(announcement_id, f"wp:{pid}:{action}", member)
            if index in random_kill_at:  # random: a few milliseconds into the click's handling
                if await kill_mid_click(bot, ix, rng):
                    acknowledged[(pid, member.id)] = action
                else:
                    unacknowledged += 1
                await bot.restart()
                continue
            response = await ix.response(timeout=5)
            assert response.type == 6, response
            acknowledged[(pid, member.id)] = action
            if action == "going" and rng.random() < 0.5:
                ix = await fake.click(announcement_id, f"wp:{pid}:dm", member)
                if (await ix.response(timeout=5)).type == 4:
                    dm_on.add((pid, member.id))

    # Reminders: the placed kill of the first, then random kills while the others go out.
    await placed
    for _ in range(2):
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        await bot.kill()
        await bot.restart()

    def all_final() -> bool:
        rows = bot.query("SELECT state FROM party_reminders")
        return bool(rows) and all(state in ("sent", "failed", "skipped", "unknown") for (state,) in rows)

    await wait_for(all_final, 60, "every reminder to reach a final state")
    await bot.stop()

    posts = reminder_posts(fake, watch)
    states = Counter(state for (state,) in bot.query("SELECT state FROM party_reminders"))
    duplicates = sum(n - 1 for n in posts.values() if n > 1)
    lost_reminders = sum(1 for pid in parties if posts[pid] == 0)
    kept = {(pid, uid): status for pid, uid, status in bot.query("SELECT party_id, user_id, status FROM rsvps")}
    lost_rsvps = [key for key, action in acknowledged.items() if kept.get(key) != action]
    dm_twice = sum(max(0, n - 1) for title, _ in parties.values() for n in dms_about(fake, title).values())
    integrity = bot.query("PRAGMA integrity_check")
    figures(capsys, f"\ncrash suite (watch parties, seed {SEED}): kills {bot.kills} (2 placed), starts {bot.starts}; "
              f"reminders {sum(posts.values())}/{len(parties)} posted, states {dict(states)}, duplicates "
              f"{duplicates}, lost {lost_reminders}; RSVPs acknowledged {len(acknowledged)}, kept "
              f"{len(acknowledged) - len(lost_rsvps)}, lost {len(lost_rsvps)}, unacknowledged {unacknowledged}; "
              f"DM toggles {len(dm_on)}, DMs doubled {dm_twice}; nonce repeats {fake.nonce_hits}; "
                    f"integrity {integrity[0][0]}")
    assert bot.kills >= 5
    assert "was posted before the restart; recorded as sent" in bot.logs()  # the held one, found in the channel
    assert duplicates == 0 and lost_reminders == 0, (posts, states)
    assert states == Counter({"sent": len(parties)})
    assert lost_rsvps == []
    assert dm_twice == 0
    assert integrity == [("ok",)]
    # Clicks the kill cut off were never answered (the member saw "interaction failed"): expected here.
    fake.take_violations("unanswered")
    fake.take_violations("answered_late")


async def test_episode_threads_are_opened_once_across_kills(fake, tmp_path, capsys):
    rng = random.Random(SEED + 1)
    bot = BotProcess(fake, tmp_path)
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    admin = g.member("admin")
    fake.set_role_permissions(g.role("Code Blue"), int(BOT_DEFAULT | Perm.MANAGE_CHANNELS))
    await bot.start()
    await answered(fake, g, admin, "config channel", kind="discussion", channel=forum)
    await answered(fake, g, admin, "show preset", name="trauma-code")

    # Placed: the third thread is stored by Discord, the bot killed before it hears back.
    created = 0

    def third_thread(request: Any) -> bool:
        nonlocal created
        created += 1
        return created == 3

    hold = fake.hold("POST", THREADS, 3.0, predicate=third_thread)
    await fake.slash(g, admin, "show open", show="trauma-code")
    await hold.wait(30)
    await bot.kill()
    await bot.restart()
    # Random: somewhere in the next run of openings.
    await fake.slash(g, admin, "show open", show="trauma-code")
    await asyncio.sleep(rng.uniform(0.5, 4.0))
    await bot.kill()
    await bot.restart()
    done = await answered(fake, g, admin, "show open", show="trauma-code")
    await bot.stop()

    names = Counter(c.name for c in fake.channels.values() if c.parent_id == forum.id and c.is_thread)
    expected = [f"Trauma Code · S1E{n} · Discussion" for n in range(1, 9)]
    rows = bot.query("SELECT COUNT(*), COUNT(DISTINCT episode_id) FROM episode_threads")[0]
    duplicates = sum(n - 1 for n in names.values() if n > 1)
    missing = [name for name in expected if names[name] == 0]
    integrity = bot.query("PRAGMA integrity_check")
    figures(capsys, f"\ncrash suite (episode threads, seed {SEED + 1}): kills {bot.kills} (1 placed); threads "
              f"{sum(names.values())} for {len(expected)} episodes, rows {rows[0]}, duplicates {duplicates}, "
              f"missing {len(missing)}; integrity {integrity[0][0]}")
    assert "opened" in (done.get("content") or "")
    assert duplicates == 0 and missing == [], names
    assert rows == (8, 8)
    assert integrity == [("ok",)]
    fake.take_violations("unanswered")


async def test_a_burst_of_news_larger_than_a_history_page_is_posted_once_across_kills(fake, tmp_path, capsys):
    rng = random.Random(SEED + 2)
    feeds = FeedServer()
    await feeds.start()
    try:
        feeds.serve_items("/burst.xml", [Item(f"Old crash story {n}", f"https://outlet.test/old/{n}")
                                         for n in range(2)], title="Outlet")
        bot = BotProcess(fake, tmp_path)
        g = fake.default_guild
        news = g.channel("news")
        admin = g.member("admin")
        await bot.start()
        await answered(fake, g, admin, "config channel", kind="news", channel=news)
        await answered(fake, g, admin, "news feed add", url=feeds.url("/burst.xml"))
        await answered(fake, g, admin, "news keywords add", keyword="crash")
        burst = [f"Crash story {n}" for n in range(80)]
        for n, title in enumerate(burst):
            feeds.add_item("/burst.xml", Item(title, f"https://outlet.test/crash/{n}"))

        # Placed: the 60th alert is stored by Discord, the bot killed before it hears back.
        hold = fake.hold("POST", MESSAGES, 3.0, predicate=nth_post_to(news, 60))
        await fake.slash(g, admin, "news check")
        await hold.wait(60)
        await bot.kill()
        await bot.restart()
        await asyncio.sleep(rng.uniform(3.0, 4.0))  # random: while the restarted bot delivers the rest
        await bot.kill()
        await bot.restart()

        def delivered() -> bool:
            rows = bot.query("SELECT state FROM news_deliveries")
            return len(rows) >= len(burst) and all(state != "pending" for (state,) in rows)

        await wait_for(delivered, 90, "every story to be delivered")
        await bot.stop()
    finally:
        await feeds.close()

    titles = Counter(e.get("title") for m in fake.messages_in(news) for e in (m.get("embeds") or [])[:1])
    duplicates = sum(titles[t] - 1 for t in burst if titles[t] > 1)
    lost = [t for t in burst if titles[t] == 0]
    integrity = bot.query("PRAGMA integrity_check")
    figures(capsys, f"\ncrash suite (news burst, seed {SEED + 2}): kills {bot.kills} (1 placed); stories {len(burst)}, "
              f"posted {sum(titles[t] for t in burst)}, duplicates {duplicates}, lost {len(lost)}; "
              f"integrity {integrity[0][0]}")
    fake.take_violations("unanswered")
    assert lost == [] and integrity == [("ok",)]
    assert duplicates == 0, {t: n for t, n in titles.items() if n > 1}
