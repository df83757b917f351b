"""Creations Discord stored but answered 500 are made once: discord.py sends a 500/502/504 request again by itself,
and threads, forum posts and scheduled events carry no nonce, so the retry makes a twin. The real bot on the fake
Discord, which stores the first creation and then answers 500 (`chaos(stored_share=1.0)` on that one request); the
bot keeps the earlier one, deletes the twin, and records the one kept."""

from __future__ import annotations

from typing import Any

import pytest

from db.watchparties import WatchPartyRepository
from tests.e2e import member_steps
from tests.e2e.episode_steps import MESSAGE_THREADS, THREADS, _discussion, _preset, _thread, _watched_all
from tests.e2e.member_steps import EVENTS, create_party, party_id_of
from tests.e2e.settle import until

clock = member_steps.clock  # the shared fixtures
world = member_steps.world


def first_only() -> Any:
    """A chaos predicate matching only the first request it sees (the retry goes through)."""
    seen: list[Any] = []

    def first(request: Any) -> bool:
        seen.append(request)
        return len(seen) == 1
    return first


def live_threads(fake, parent) -> list:
    return [c for c in fake.channels.values() if c.is_thread and c.parent_id == parent.id and not c.deleted]


@pytest.mark.parametrize(("where", "route"), [("episode-discussion", THREADS), ("general", MESSAGE_THREADS)],
                         ids=["forum thread", "text thread"])
async def test_a_thread_stored_then_answered_500_is_kept_once_and_recorded(fake, runner, where, route):
    g = fake.default_guild
    channel, admin = g.channel(where), g.member("admin")
    bot = await runner.start()
    await _discussion(bot, g, channel)
    await _preset(fake, g)
    await _watched_all(fake, g, admin)
    chaos = fake.chaos([("POST", route)], fraction=1.0, statuses=(500,), stored_share=1.0, predicate=first_only())
    said = await _thread(fake, g, admin, "S1E1")
    assert chaos.injected == {"500 after storing": 1}
    assert len(fake.requests_to("POST", route)) == 2  # discord.py sent it again: Discord made two
    [kept] = live_threads(fake, channel)
    assert str(kept.id) in said  # the member is sent to the one kept
    if route == MESSAGE_THREADS:
        # Discord answered the retry "a thread has already been created for this message": the thread is the
        # message's, its starter kept (not deleted as a starter left without a thread would be).
        starters = [m for m in fake.messages_in(channel) if m.get("embeds")]
        assert [int(m["id"]) for m in starters] == [kept.id]
    rows = await bot.db.fetch_all("SELECT thread_id, starter_message_id FROM episode_threads")
    assert [tuple(r) for r in rows] == [(kept.id, kept.id)]


async def test_a_scheduled_event_stored_then_answered_500_is_kept_once_and_recorded(fake, runner, world):
    g, _role = world
    chaos = fake.chaos([("POST", EVENTS)], fraction=1.0, statuses=(500,), stored_share=1.0, predicate=first_only())
    _confirmation, announcement = await create_party(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
    repo = WatchPartyRepository(runner.bot.db)

    async def recorded() -> bool:
        party = await repo.get(party_id)
        return party is not None and party.scheduled_event_id is not None
    await until(recorded, timeout=15)
    assert chaos.injected == {"500 after storing": 1}
    assert len(fake.requests_to("POST", EVENTS)) == 2
    [kept] = g.scheduled_events.values()
    assert kept.name == "Episode 3"
    assert (await repo.get(party_id)).scheduled_event_id == kept.id
