"""Watch parties end to end: Discord scheduled events (voice or external, kept in line with edits, closed when the
party ends) and parties in servers where the bot may not manage events."""

from datetime import timedelta

import pytest

from tests.e2e import member_steps
from tests.e2e.member_steps import (
    EVENT,
    EVENTS,
    KST_21,
    MESSAGE_EDIT,
    SEOUL,
    START,
    create_party,
    edit_party,
    party_id_of,
    rsvp,
)
from tests.e2e.settle import scheduler_caught_up, until
from tests.fakediscord.state import BOT_DEFAULT, Perm

clock = member_steps.clock  # the shared fixtures
world = member_steps.world


async def test_without_manage_events_the_party_works_and_the_host_is_told(fake, runner, clock):
    g = fake.default_guild
    fake.set_role_permissions(g.role("Code Blue"), BOT_DEFAULT & ~Perm.MANAGE_EVENTS & ~Perm.CREATE_EVENTS)
    await runner.start()
    when = f"{KST_21.astimezone(SEOUL):%Y-%m-%d %H:%M} KST"
    confirmation, announcement = await create_party(fake, g, g.member("fan1"), when=when)
    assert "Manage Events" in confirmation["content"]
    assert confirmation["content"].count("Manage Events") == 1
    assert fake.requests_to("POST", EVENTS) == []
    await rsvp(fake, announcement, g.member("fan2"), "going")


async def test_without_manage_events_the_host_is_told_once_across_edits(fake, runner, clock):
    g = fake.default_guild
    bot_role = g.role("Code Blue")
    fake.set_role_permissions(bot_role, BOT_DEFAULT & ~Perm.MANAGE_EVENTS & ~Perm.CREATE_EVENTS)
    bot = await runner.start()
    host = g.member("fan1")
    confirmation, announcement = await create_party(fake, g, host, when=f"{KST_21:%Y-%m-%d %H:%M} UTC")
    assert confirmation["content"].count("Manage Events") == 1
    party_id = party_id_of(announcement)
    done = await edit_party(fake, g, host, party_id, title="Episode 3 (dub)")
    assert "Manage Events" not in done["content"]
    assert fake.requests_to("POST", EVENTS) == [] and fake.requests_to("PATCH", EVENT) == []
    assert fake.message(announcement["id"])["embeds"][0]["title"] == "Episode 3 (dub)"

    # Once the bot may manage events, the next edit puts the party in the Events list (without a note).
    fake.set_role_permissions(bot_role, BOT_DEFAULT)
    await until(lambda: bot.get_guild(g.id).me.guild_permissions.manage_events)
    done = await edit_party(fake, g, host, party_id, duration=90)
    assert "Manage Events" not in done["content"]
    [created] = fake.requests_to("POST", EVENTS)
    assert created.json["name"] == "Episode 3 (dub)"
    assert created.json["scheduled_end_time"].startswith(f"{KST_21 + timedelta(minutes=90):%Y-%m-%dT%H:%M:%S}")
    party = await bot.get_cog("WatchPartyCog").service.get(party_id)
    assert party.scheduled_event_id == int(created.response["id"])


async def test_voice_channel_party_event_and_removing_the_voice_channel(fake, runner, world):
    g, _ = world
    host, vc, watch = g.member("fan1"), g.channel("Watch Party VC"), g.channel("watch-party")
    _, announcement = await create_party(fake, g, host, voice_channel=vc)
    party_id = party_id_of(announcement)
    fields = [(f["name"], f["value"]) for f in announcement["embeds"][0]["fields"]]
    assert ("Voice channel", f"<#{vc.id}>") in fields
    [created] = fake.requests_to("POST", EVENTS)
    assert created.json["entity_type"] == 2
    assert created.json["channel_id"] == vc.id
    assert created.json.get("entity_metadata") is None
    assert created.json["scheduled_start_time"].startswith(f"{KST_21:%Y-%m-%dT%H:%M:%S}")
    event = fake.default_guild.scheduled_events[int(created.response["id"])]
    assert (event.entity_type, event.channel_id, event.location) == (2, vc.id, None)

    refusal = await edit_party(fake, g, host, party_id, voice_channel=vc, remove_voice_channel=True)
    assert refusal["content"] == "Choose either a new voice_channel or remove_voice_channel, not both."

    mark = fake.mark()
    done = await edit_party(fake, g, host, party_id, remove_voice_channel=True)
    assert done["content"].startswith(f"Watch party #{party_id} **Episode 3** now starts <t:{START}:F>")
    patch = await fake.wait_for_request("PATCH", EVENT, since=mark)
    assert patch.json["entity_type"] == 3
    assert patch.json["channel_id"] is None
    assert patch.json["entity_metadata"] == {"location": "#watch-party"}
    assert (event.entity_type, event.channel_id, event.location) == (3, None, "#watch-party")
    edited = fake.message(announcement["id"])
    assert "Voice channel" not in [f["name"] for f in edited["embeds"][0]["fields"]]
    assert edited["channel_id"] == str(watch.id)

    # And back into the voice channel.
    mark = fake.mark()
    await edit_party(fake, g, host, party_id, voice_channel=vc)
    patch = await fake.wait_for_request("PATCH", EVENT, since=mark)
    assert (patch.json["entity_type"], patch.json["channel_id"], patch.json["entity_metadata"]) == (2, vc.id, None)
    assert (event.entity_type, event.channel_id, event.location) == (2, vc.id, None)


@pytest.mark.parametrize(("status", "expected"), [
    (1, "deleted"),  # never started: SCHEDULED cannot become COMPLETED, so the event goes away
    (2, 3),  # started in Discord (ACTIVE): marked COMPLETED
    (3, 3),  # already completed: left alone
])
async def test_the_scheduled_event_is_closed_when_the_party_ends(fake, runner, world, clock, status, expected):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create_party(fake, g, g.member("fan1"), duration=30)
    [created] = fake.requests_to("POST", EVENTS)
    event = g.scheduled_events[int(created.response["id"])]
    event.status = status  # what members did in Discord meanwhile
    await runner.stop()
    clock.set(KST_21 + timedelta(minutes=30, seconds=-2))  # back two seconds before the party ends
    mark = fake.mark()
    await runner.start()
    title = await fake.wait_for_request(MESSAGE_EDIT[0], MESSAGE_EDIT[1], since=mark, timeout=8)
    assert title.json["embeds"][0]["title"].startswith("Ended")
    if expected == "deleted":
        await fake.wait_for_request("DELETE", EVENT, since=mark)
        assert event.id not in g.scheduled_events
        assert fake.requests_to("PATCH", EVENT, since=mark) == []
    else:
        await scheduler_caught_up(runner.bot)  # the party's end job has run to its end: no PATCH comes later
        assert fake.requests_to("GET", EVENT, since=mark)
        patches = fake.requests_to("PATCH", EVENT, since=mark)
        assert [p.json for p in patches] == ([{"status": 3}] if status == 2 else [])
        assert all(p.status == 200 for p in patches)
        assert g.scheduled_events[event.id].status == expected
        assert fake.requests_to("DELETE", EVENT, since=mark) == []
    party = await runner.bot.get_cog("WatchPartyCog").service.get(party_id_of(announcement))
    assert party.status == "ended"
