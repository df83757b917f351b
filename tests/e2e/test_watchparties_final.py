"""Watch parties end to end, final fixes: RSVP clicks acknowledged before the work, failures answered, a deleted
announcement posted again, Korean creation notes. Same fixtures and clock as test_watchparties.py."""

import asyncio
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from cogs.watchparties import _is_network_failure, _not_delivered
from tests.e2e import test_watchparties as base
from tests.e2e.test_watchparties import KST_21, MESSAGES, SEOUL, display, rsvp_field
from tests.e2e.test_watchparties_more import create, party_id_of, slash_followup

clock = base.clock  # fixtures shared with test_watchparties.py
world = base.world

MESSAGE_EDIT = ("PATCH", "/channels/{channel_id}/messages/{message_id}")


async def test_a_burst_of_rsvp_clicks_is_answered_in_time_with_a_slow_database(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
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
    clicks = await asyncio.gather(*(fake.click(announcement["id"], f"wp:{party_id}:going", m) for m in members))
    responses = await asyncio.gather(*(click.response(timeout=5) for click in clicks))
    assert {r.type for r in responses} == {6}
    await fake.wait_for_request(*MESSAGE_EDIT, lambda r: r.status == 200, since=mark, count=len(members))
    going = rsvp_field(fake.message(announcement["id"]), "Going")
    assert going["name"] == "Going (15)"
    assert fake.take_violations("answered_late") == []  # (teardown checks every other violation)


async def test_a_failing_announcement_edit_still_gets_an_answer(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create(fake, g, g.member("fan1"))
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
    _, announcement = await create(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
    repo = runner.bot.get_cog("WatchPartyCog").service.repo

    async def broken(*args, **kwargs):
        raise RuntimeError("database is locked")

    repo.set_rsvp = broken
    click = await fake.click(announcement["id"], f"wp:{party_id}:going", g.member("fan2"))
    assert (await click.response()).type == 6
    [answer] = await click.followups(1)
    assert "reference: " in answer["content"] and answer["flags"] & 64


async def test_a_deleted_announcement_is_posted_again_on_the_next_update(fake, runner, world, clock):
    g, _ = world
    watch = g.channel("watch-party")
    host = g.member("fan1")
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create(fake, g, host)
    party_id = party_id_of(announcement)
    # A moderator deletes the announcement (as Discord does: gone from the channel, MESSAGE_DELETE dispatched).
    fake.delete_message(watch, announcement["id"])
    mark = fake.mark()
    done = await slash_followup(fake, g, host, "watchparty edit", id=party_id, title="Episode 4")
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


async def reminder_state(bot, party_id, offset_seconds, wanted, tries=100):
    repo = bot.get_cog("WatchPartyCog").service.repo
    for _ in range(tries):
        reminder = await repo.reminder(party_id, offset_seconds)
        if reminder.state == wanted:
            break
        await asyncio.sleep(0.05)
    return reminder.state


async def test_a_reminder_discord_failed_to_take_is_sent_again_once(fake, runner, world, clock):
    g, role = world
    watch, log_channel = g.channel("watch-party"), g.channel("bot-log")
    await runner.bot.settings_service.set_channel(g.id, "log", log_channel.id)
    runner.bot.get_cog("WatchPartyCog").service.retry_delay = timedelta(seconds=1)
    clock.set(KST_21 - timedelta(hours=1, seconds=3))
    _, announcement = await create(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
    # Discord answers 503 (not re-sent by discord.py itself): nothing was posted, so the reminder is tried again.
    fake.fail("POST", f"/channels/{watch.id}/messages", status=503, message="Service Unavailable")
    refused = await fake.wait_for_request("POST", MESSAGES, lambda r: r.status == 503, timeout=8)
    assert f"<@&{role.id}>" in refused.json["content"]
    after = fake.requests.index(refused)
    posted = await fake.wait_for_request("POST", MESSAGES, lambda r: r.status == 200
                                         and r.params["channel_id"] == str(watch.id), since=after)
    assert posted.json["content"] == refused.json["content"]
    assert await reminder_state(runner.bot, party_id, 3600, "sent") == "sent"
    await asyncio.sleep(1.2)  # no third attempt, no admin notice
    reminders = [r for r in fake.requests_to("POST", MESSAGES) if "starts" in (r.json.get("content") or "")]
    assert [r.status for r in reminders] == [503, 200]
    assert all(r.params["channel_id"] != str(log_channel.id) for r in fake.requests_to("POST", MESSAGES))


@pytest.mark.parametrize(("error", "not_delivered"), [
    (aiohttp.ClientConnectorError(ConnectionKey("discord.com", 443, True, True, None, None, None),
                                  OSError(111, "Connection refused")), True),
    (aiohttp.ServerDisconnectedError(), False),  # the request may have reached Discord
    (TimeoutError(), False),
    (OSError(104, "Connection reset by peer"), False),
])
def test_which_network_failures_cannot_have_posted(error, not_delivered):
    assert _not_delivered(error) is not_delivered
    assert _is_network_failure(error)


async def test_korean_replies_have_no_english_zone_note_or_weekday(fake, runner, world, clock):
    g, _ = world
    member = g.member("fan2")
    clock.set(KST_21 - timedelta(hours=3))
    confirmation, _ = await create(fake, g, member, when="9pm KST", locale="ko")
    assert "참고: KST은(는) 약어라서 Asia/Seoul(으)로 정했어요." in confirmation["content"]
    assert "read as" not in confirmation["content"]

    local = (KST_21 - timedelta(days=1)).astimezone(SEOUL)
    weekday = "월화수목금토일"[local.weekday()]
    refusal = await slash_followup(fake, g, member, "watchparty create", locale="ko", title="Ep 3",
                                   when=f"{local:%Y-%m-%d} 21:00")
    assert refusal["content"].startswith(
        f"이미 지난 시간이에요 ({local:%Y-%m-%d} ({weekday}) 21:00 (Asia/Seoul)(으)로 읽었어요).")
