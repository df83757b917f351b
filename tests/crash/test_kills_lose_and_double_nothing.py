"""The crash suite: the real bot (`python -m bot run`) against the fake Discord, SIGKILLed at seeded random moments
and at deterministic ones (the fake holds its answer to a chosen request, so the kill lands after Discord stored it
or the member saw the acknowledgement, and before the bot heard back), restarted on the same database each time.

Invariants at the end: every reminder due while the bot was up (or within its grace) posted exactly once, no DM
twice, every RSVP the bot acknowledged kept, each episode one thread, `PRAGMA integrity_check` ok. Each test prints
its figures (kills, reminders, RSVPs, duplicates, losses). Set CODEBLUE_CRASH_SEED to replay another schedule.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from typing import Any

import pytest

from tests.crash.botprocess import BotProcess
from tests.e2e.watchparty_helpers import party_id_of

pytestmark = pytest.mark.crash

SEED = int(os.environ.get("CODEBLUE_CRASH_SEED", "20261204"))
MESSAGES = "/channels/{channel_id}/messages"
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
THREADS = "/channels/{channel_id}/threads"


async def answered(fake: Any, guild: Any, member: Any, command: str, **options: Any) -> Any:
    ix = await fake.slash(guild, member, command, options=options)
    response = await ix.response(timeout=10)
    if response.type == 5:
        [followup] = await ix.followups(1, timeout=20)
        return followup
    return response.data


def reminder_posts(fake: Any, channel: Any) -> Counter[int]:
    """Reminder messages in the channel per party id (by the marker in their embed footer)."""
    found: Counter[int] = Counter()
    for message in fake.messages_in(channel):
        for embed in message.get("embeds") or []:
            text = (embed.get("footer") or {}).get("text") or ""
            if " reminder · r" in text:
                found[int(text.split("#")[1].split(" ")[0])] += 1
    return found


def dms_about(fake: Any, title: str) -> Counter[int]:
    """DMs whose text names this party, per recipient."""
    found: Counter[int] = Counter()
    for user_id, channel in fake.dm_channels.items():
        found[user_id] += sum(1 for m in fake.messages_in(channel) if title in (m.get("content") or ""))
    return found


async def wait_for(condition: Any, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


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
    first_due = asyncio.get_running_loop().time() + 60 - 2.5 * len(hosts)

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
            await asyncio.sleep(rng.uniform(0.0, 0.05))
            await bot.kill()
            try:
                response = await ix.response(timeout=0.5)
            except (TimeoutError, AssertionError):
                response = None
            if response is not None and response.type == 6:
                acknowledged[(pid, member.id)] = action
            else:
                unacknowledged += 1
            await bot.restart()
            continue
        response = await ix.response(timeout=5)
        assert response.type == 6, response
        acknowledged[(pid, member.id)] = action
        if action == "going" and rng.random() < 0.3:
            ix = await fake.click(announcement_id, f"wp:{pid}:dm", member)
            if (await ix.response(timeout=5)).type == 4:
                dm_on.add((pid, member.id))

    # Reminders: the first post is held and the bot killed meanwhile (stored, answer never heard); then random
    # kills while the others go out.
    held = fake.hold("POST", MESSAGES, 2.0, predicate=lambda r: r.params["channel_id"] == str(watch.id)
                     and "starting now" in ((r.json or {}).get("content") or ""))
    await asyncio.sleep(max(0.0, first_due - asyncio.get_running_loop().time() - 5))
    await held.wait(timeout=40)
    await bot.kill()
    await bot.restart()
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
    with capsys.disabled():
        print(f"\ncrash suite (watch parties, seed {SEED}): kills {bot.kills} (2 placed), starts {bot.starts}; "
              f"reminders {sum(posts.values())}/{len(parties)} posted, states {dict(states)}, duplicates "
              f"{duplicates}, lost {lost_reminders}; RSVPs acknowledged {len(acknowledged)}, kept "
              f"{len(acknowledged) - len(lost_rsvps)}, lost {len(lost_rsvps)}, unacknowledged {unacknowledged}; "
              f"DM toggles {len(dm_on)}, DMs doubled {dm_twice}; integrity {integrity[0][0]}")
    assert bot.kills >= 5
    assert duplicates == 0 and lost_reminders == 0, (posts, states)
    assert states == Counter({"sent": len(parties)})
    assert lost_rsvps == []
    assert dm_twice == 0
    assert integrity == [("ok",)]
    # Clicks the kill cut off were never answered (the member saw "interaction failed"): expected here.
    fake.take_violations("unanswered")
    fake.take_violations("answered_late")
