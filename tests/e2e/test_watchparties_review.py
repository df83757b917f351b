"""Watch parties end to end, review fixes: a failed channel post does not stop DMs, concurrent RSVP clicks, a weekly
series that cannot be fully posted, editing in the party's zone, the scheduled event at the end. Same fixtures and
clock as test_watchparties.py."""

import asyncio
from datetime import timedelta

import pytest

from db.watchparties import WatchPartyRepository
from tests.e2e import test_watchparties as base
from tests.e2e.test_watchparties import EVENT, EVENTS, KST_21, MESSAGES, START, display, rsvp_click, rsvp_field
from tests.e2e.test_watchparties_more import create, party_id_of, slash_followup

clock = base.clock  # fixtures shared with test_watchparties.py
world = base.world

MESSAGE = "/channels/{channel_id}/messages/{message_id}"
MESSAGE_EDIT = ("PATCH", MESSAGE)


async def state_of(bot, party_id, offset_seconds, wanted, tries=100):
    repo = WatchPartyRepository(bot.db)
    for _ in range(tries):
        reminder = await repo.reminder(party_id, offset_seconds)
        if reminder.state == wanted:
            break
        await asyncio.sleep(0.05)
    return reminder.state


async def going_with_dm(fake, announcement, party_id, dm_member, channel_member):
    for member in (dm_member, channel_member):
        await rsvp_click(fake, announcement["id"], f"wp:{party_id}:going", member)
    assert (await (await fake.click(announcement["id"], f"wp:{party_id}:dm", dm_member)).response()).ephemeral


async def test_reminder_dms_go_out_when_the_channel_post_fails(fake, runner, world, clock):
    g, _ = world
    fan2, fan3, watch, log_channel = g.member("fan2"), g.member("fan3"), g.channel("watch-party"), g.channel("bot-log")
    await runner.bot.settings_service.set_channel(g.id, "log", log_channel.id)
    clock.set(KST_21 - timedelta(hours=1, seconds=4))
    _, announcement = await create(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
    await going_with_dm(fake, announcement, party_id, fan2, fan3)
    fake.fail("POST", f"/channels/{watch.id}/messages", status=403, code=50013, message="Missing Permissions")

    dm = await fake.wait_for_request("POST", MESSAGES, lambda r: "starts" in (r.json.get("content") or "")
                                     and r.params["channel_id"] not in (str(watch.id), str(log_channel.id)),
                                     timeout=8)
    assert dm.status == 200 and dm.response["channel_id"] == str(fake.dm_channels[fan2.user.id].id)
    [refused] = [r for r in fake.requests_to("POST", MESSAGES) if r.params["channel_id"] == str(watch.id)
                 and "starts" in (r.json.get("content") or "")]
    assert refused.status == 403 and f"<@{fan3.id}>" in refused.json["content"]
    notice = await fake.wait_for_request("POST", MESSAGES, lambda r: r.params["channel_id"] == str(log_channel.id))
    assert notice.json["content"].startswith(f"I could not post the reminder for **Episode 3** in <#{watch.id}>: 403")
    assert await state_of(runner.bot, party_id, 3600, "failed") == "failed"


async def test_cancellation_dms_go_out_when_the_channel_post_fails(fake, runner, world, clock):
    g, _ = world
    host, fan2, fan3 = g.member("fan1"), g.member("fan2"), g.member("fan3")
    watch, log_channel = g.channel("watch-party"), g.channel("bot-log")
    await runner.bot.settings_service.set_channel(g.id, "log", log_channel.id)
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create(fake, g, host)
    party_id = party_id_of(announcement)
    await going_with_dm(fake, announcement, party_id, fan2, fan3)
    mark = fake.mark()
    fake.fail("POST", f"/channels/{watch.id}/messages", status=403, code=50013, message="Missing Permissions")
    done = await slash_followup(fake, g, host, "watchparty cancel", id=party_id)
    assert "2 member(s)" in done["content"]
    posts = [r for r in fake.requests_to("POST", MESSAGES, since=mark) if "cancelled" in (r.json.get("content") or "")
             and r.params["channel_id"] != str(log_channel.id)]
    assert [(r.params["channel_id"], r.status) for r in posts] == [
        (str(watch.id), 403), (str(fake.dm_channels[fan2.user.id].id), 200)]
    [notice] = [r for r in fake.requests_to("POST", MESSAGES, since=mark)
                if r.params["channel_id"] == str(log_channel.id)]
    assert notice.json["content"].startswith(
        f"I could not tell the members going to **Episode 3** in <#{watch.id}> that it was cancelled: 403")
    assert notice.json["allowed_mentions"] == {"parse": []}




async def test_simultaneous_rsvp_clicks_leave_the_announcement_up_to_date(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create(fake, g, g.member("fan1"))
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
    clicks = await asyncio.gather(*(fake.click(announcement["id"], f"wp:{party_id}:maybe", m) for m in members))
    await asyncio.gather(*(click.response() for click in clicks))
    await fake.wait_for_request(*MESSAGE_EDIT, lambda r: r.status == 200, since=mark, count=len(members))
    updates = [r.json for r in fake.requests_to(*MESSAGE_EDIT, since=mark)]
    maybe_counts = [int(rsvp_field(u, "Maybe")["name"].split("(")[1].rstrip(")")) for u in updates]
    assert maybe_counts == list(range(1, len(members) + 1))
    assert rsvp_field(fake.message(announcement["id"]), "Maybe")["name"] == f"Maybe ({len(members)})"


async def test_a_weekly_series_that_cannot_be_fully_posted_leaves_nothing_behind(fake, runner, world, clock):
    g, _ = world
    host, watch = g.member("fan1"), g.channel("watch-party")
    clock.set(KST_21 - timedelta(days=1))
    mark = fake.mark()
    ix = await fake.slash(g, host, "watchparty create", title="Episode 3", when="tomorrow 9pm", show="Trauma Code",
                          episode=1, repeat_weekly=3)
    await fake.wait_for_request("POST", MESSAGES, lambda r: r.status == 200 and "Episode 2" in str(r.json),
                                since=mark)
    fake.fail("POST", f"/channels/{watch.id}/messages", status=403, code=50013, message="Missing Permissions")
    assert (await ix.response()).type == 5
    [refusal] = await ix.followups(1)
    assert refusal["content"].startswith(f"I cannot post the announcement in <#{watch.id}>.")
    posts = fake.requests_to("POST", MESSAGES, since=mark)
    assert [r.status for r in posts] == [200, 200, 403]
    deleted = fake.requests_to("DELETE", MESSAGE, since=mark)
    assert sorted(r.params["message_id"] for r in deleted) == sorted(r.response["id"] for r in posts[:2])
    assert {r.status for r in deleted} == {204}
    assert fake.messages_in(watch) == []
    assert fake.requests_to("POST", EVENTS, since=mark) == []
    service = runner.bot.get_cog("WatchPartyCog").service
    assert await service.repo.count_upcoming(g.id) == 0
    assert [job.id for job in service.scheduler.get_jobs() if job.id.startswith("party:")] == []


async def test_edit_by_a_moderator_elsewhere_keeps_the_partys_zone(fake, runner, world, clock):
    g, _ = world
    host, mod = g.member("fan1"), g.member("mod")  # the host reads times in Seoul (world fixture)
    await WatchPartyRepository(runner.bot.db).set_member_timezone(mod.id, "America/New_York", clock())
    await runner.bot.settings_service.update(g.id, moderator_role_id=g.role("Moderator").id)
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create(fake, g, host)
    party_id = party_id_of(announcement)
    done = await slash_followup(fake, g, mod, "watchparty edit", id=party_id, when="10pm")
    ten_pm_seoul = START + 3600
    assert f"<t:{ten_pm_seoul}:F>" in done["content"]
    party = await runner.bot.get_cog("WatchPartyCog").service.get(party_id)
    assert (int(party.starts_at.timestamp()), party.zone) == (ten_pm_seoul, "Asia/Seoul")


@pytest.mark.parametrize(("status", "expected"), [
    (1, "deleted"),  # never started: SCHEDULED cannot become COMPLETED, so the event goes away
    (2, 3),  # started in Discord (ACTIVE): marked COMPLETED
    (3, 3),  # already completed: left alone
])
async def test_the_scheduled_event_is_closed_when_the_party_ends(fake, runner, world, clock, status, expected):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create(fake, g, g.member("fan1"), duration=30)
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
        for _ in range(50):
            if fake.requests_to("GET", EVENT, since=mark):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        patches = fake.requests_to("PATCH", EVENT, since=mark)
        assert [p.json for p in patches] == ([{"status": 3}] if status == 2 else [])
        assert all(p.status == 200 for p in patches)
        assert g.scheduled_events[event.id].status == expected
        assert fake.requests_to("DELETE", EVENT, since=mark) == []
    party = await runner.bot.get_cog("WatchPartyCog").service.get(party_id_of(announcement))
    assert party.status == "ended"
