"""Watch parties end to end: the RSVP and "DM me" buttons and the announcement they keep up to date (an answer
stored before the click is acknowledged, concurrent clicks, failures answered, a deleted announcement posted again)."""

import asyncio
from datetime import timedelta

import pytest

from db.watchparties import WatchPartyRepository
from tests.e2e import member_steps
from tests.e2e.member_steps import (
    KST_21,
    MESSAGE_EDIT,
    MESSAGES,
    create_party,
    display,
    edit_party,
    party_id_of,
    rsvp_at_once,
    rsvp_field,
)

clock = member_steps.clock  # the shared fixtures
world = member_steps.world


async def test_simultaneous_rsvp_clicks_leave_the_announcement_up_to_date(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create_party(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
    members = [g.member(name) for name in ("fan1", "fan2", "fan3", "mod", "admin", "owner")]
    members += [fake.add_member(g, f"viewer{i}") for i in range(4)]  # 10: every name is shown
    # The first click's edit is held up (one 429): the clicks that come meanwhile must not be overwritten by it.
    mark = fake.mark()
    fake.rate_limit(*MESSAGE_EDIT, times=1, retry_after=0.3)
    first = await fake.click(announcement["id"], f"wp:{party_id}:going", members[0])
    await fake.wait_for_request(*MESSAGE_EDIT, lambda r: r.status == 429, since=mark)
    others = await asyncio.gather(*(fake.click(announcement["id"], f"wp:{party_id}:going", m) for m in members[1:]))
    responses = await asyncio.gather(*(click.response() for click in (first, *others)))
    assert {r.type for r in responses} == {6}  # deferred updates; the announcement is edited afterwards
    await fake.wait_for_request(*MESSAGE_EDIT, lambda r: r.status == 200, since=mark, count=len(members))
    going = rsvp_field(fake.message(announcement["id"]), "Going")
    assert going["name"] == f"Going ({len(members)})"
    assert sorted(going["value"].split(", ")) == sorted(display(m) for m in members)

    # Everyone changes their mind at once: each update Discord receives is at least as new as the one before.
    mark = fake.mark()
    await rsvp_at_once(fake, announcement, members, "maybe")
    await fake.wait_for_request(*MESSAGE_EDIT, lambda r: r.status == 200, since=mark, count=len(members))
    updates = [r.json for r in fake.requests_to(*MESSAGE_EDIT, since=mark)]
    maybe_counts = [int(rsvp_field(u, "Maybe")["name"].split("(")[1].rstrip(")")) for u in updates]
    assert maybe_counts == sorted(maybe_counts) and maybe_counts[-1] == len(members)
    assert rsvp_field(fake.message(announcement["id"]), "Maybe")["name"] == f"Maybe ({len(members)})"


async def test_a_burst_of_rsvp_clicks_is_answered_in_time_with_a_slow_database(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create_party(fake, g, g.member("fan1"))
    members = [fake.add_member(g, f"viewer{i}") for i in range(15)]
    # Each RSVP write takes 0.1 s (a busy disk) and the deadline is 1 s: 15 clicks served one after another under
    # the party's lock take 1.5 s, so a click answered only after its write would be late.
    fake.interaction_deadline = 1.0
    repo = runner.bot.get_cog("WatchPartyCog").service.repo
    set_rsvp = repo.set_rsvp

    async def slow_set_rsvp(*args, **kwargs):
        await asyncio.sleep(0.1)
        await set_rsvp(*args, **kwargs)

    repo.set_rsvp = slow_set_rsvp
    mark = fake.mark()
    responses = await rsvp_at_once(fake, announcement, members, "going")
    assert {r.type for r in responses} == {6}
    await fake.wait_for_request(*MESSAGE_EDIT, lambda r: r.status == 200, since=mark, count=len(members))
    going = rsvp_field(fake.message(announcement["id"]), "Going")
    assert going["name"] == "Going (15)"
    assert fake.take_violations("answered_late") == []  # (teardown checks every other violation)


async def test_a_failing_announcement_edit_still_gets_an_answer(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create_party(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
    fake.fail(*MESSAGE_EDIT, status=403, code=50001, message="Missing Access")
    click = await fake.click(announcement["id"], f"wp:{party_id}:going", g.member("fan2"), locale="ko")
    assert (await click.response()).type == 6
    [answer] = await click.followups(1)
    assert answer["content"] == "답변은 저장했지만 안내 메시지를 고치지 못했어요. 다음에 메시지가 바뀔 때 반영돼요."
    assert answer["flags"] & 64
    # The answer was kept: the next click shows both.
    mark = fake.mark()
    click = await fake.click(announcement["id"], f"wp:{party_id}:going", g.member("fan3"))
    assert (await click.response()).type == 6
    await fake.wait_for_request(*MESSAGE_EDIT, lambda r: r.status == 200, since=mark)
    assert rsvp_field(fake.message(announcement["id"]), "Going")["name"] == "Going (2)"


async def test_a_database_error_on_click_is_answered_with_a_reference(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create_party(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
    repo = runner.bot.get_cog("WatchPartyCog").service.repo

    async def broken(*args, **kwargs):
        raise RuntimeError("database is locked")

    repo.set_rsvp = broken
    click = await fake.click(announcement["id"], f"wp:{party_id}:going", g.member("fan2"))
    answer = await click.response()  # nothing was stored: the member is told so, never acknowledged
    assert answer.type == 4 and answer.ephemeral and "reference: " in answer.content


@pytest.mark.parametrize("locale", ["en-US", "ko"])
async def test_an_rsvp_is_committed_before_the_member_is_acknowledged(fake, runner, world, clock, locale):
    """The acknowledgement is held by Discord (the member already sees it): the answer must already be stored, so
    that a crash at this moment loses nothing the member was told succeeded."""
    g, _ = world
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create_party(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
    repo = WatchPartyRepository(runner.bot.db)
    hold = fake.hold("POST", "/interactions/{interaction_id}/{interaction_token}/callback", 1.0)
    click = await fake.click(announcement["id"], f"wp:{party_id}:going", g.member("fan2"), locale=locale)
    await hold.wait()
    assert (await click.response()).type == 6  # the member sees the click acknowledged ...
    assert [(r.user_id, r.status) for r in await repo.rsvps(party_id)] == [(g.member("fan2").id, "going")]


async def test_a_deleted_announcement_is_posted_again_on_the_next_update(fake, runner, world, clock):
    g, _ = world
    watch = g.channel("watch-party")
    host = g.member("fan1")
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create_party(fake, g, host)
    party_id = party_id_of(announcement)
    # A moderator deletes the announcement (as Discord does: gone from the channel, MESSAGE_DELETE dispatched).
    fake.delete_message(watch, announcement["id"])
    mark = fake.mark()
    done = await edit_party(fake, g, host, party_id, title="Episode 4")
    assert "Episode 4" in done["content"]
    [edit] = fake.requests_to(*MESSAGE_EDIT, since=mark)
    assert edit.status == 404
    [repost] = [r for r in fake.requests_to("POST", MESSAGES, since=mark) if r.params["channel_id"] == str(watch.id)]
    assert repost.status == 200 and repost.json["embeds"][0]["title"] == "Episode 4"
    assert [c["custom_id"] for c in repost.json["components"][0]["components"]] == [
        f"wp:{party_id}:going", f"wp:{party_id}:maybe", f"wp:{party_id}:declined", f"wp:{party_id}:dm"]
    new_id = repost.response["id"]
    assert (await runner.bot.get_cog("WatchPartyCog").service.get(party_id)).message_id == int(new_id)
    # The new message's buttons work and later updates edit it.
    fan2 = g.member("fan2")
    mark = fake.mark()
    click = await fake.click(new_id, f"wp:{party_id}:going", fan2)
    assert (await click.response()).type == 6
    edit = await fake.wait_for_request(*MESSAGE_EDIT, lambda r: r.status == 200, since=mark)
    assert edit.params["message_id"] == new_id
    assert rsvp_field(fake.message(new_id), "Going")["value"] == display(fan2)
