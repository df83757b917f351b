"""Watch parties end to end: reminders (exactly once across restarts, the grace window for missed ones, DMs and
channel pings, Korean servers, retries when Discord could not take them) and cancellation notices."""

from datetime import timedelta

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from cogs.watchparties import notices
from db.watchparties import WatchPartyRepository
from tests.e2e import member_steps
from tests.e2e.member_steps import (
    KST_21,
    MESSAGES,
    START,
    cancel_party,
    create_party,
    display,
    going_with_dm,
    party_id_of,
    reminder_posts,
    reminder_state,
    rsvp,
)
from tests.e2e.settle import pending_jobs, scheduler_caught_up

clock = member_steps.clock  # the shared fixtures
world = member_steps.world
quick_retries = member_steps.quick_retries


async def test_restart_keeps_rsvps_and_reminds_exactly_once(fake, runner, world, clock):
    g, _ = world
    host, fan2 = g.member("fan1"), g.member("fan2")
    clock.set(KST_21 - timedelta(hours=1, seconds=6))
    _, announcement = await create_party(fake, g, host)
    party_id = party_id_of(announcement)
    await rsvp(fake, announcement, fan2, "going")
    await runner.restart()
    # The buttons still work after the restart (DynamicItem) and the RSVP was kept.
    await rsvp(fake, announcement, host, "maybe")
    assert "Going (1)" in [f["name"] for f in fake.message(announcement["id"])["embeds"][0]["fields"]]
    watch = g.channel("watch-party")
    post = await fake.wait_for_request("POST", MESSAGES, lambda r: "starts" in (r.json.get("content") or ""),
                                       timeout=10)
    assert post.json["allowed_mentions"]["users"] == [fan2.id]
    assert post.json["embeds"][0]["footer"]["text"].startswith(f"Watch party #{party_id} reminder · r")
    await reminder_state(runner.bot, party_id, 3600, "sent")
    await runner.restart()  # a restart after it was sent does not send it again: no job could
    await scheduler_caught_up(runner.bot)  # the jobs rebuilt at start-up have run
    assert len(reminder_posts(fake, watch)) == 1
    states = {r.offset_seconds: r.state for r in await WatchPartyRepository(runner.bot.db).reminders(party_id)}
    assert states == {3600: "sent", 0: "pending"}


@pytest.mark.parametrize(("down_for", "expect_post"), [
    (timedelta(minutes=5), True),    # within the 15-minute grace: sent late, saying so
    (timedelta(minutes=20), False),  # beyond it: skipped and recorded
])
async def test_missed_reminder_grace(fake, runner, world, clock, down_for, expect_post):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=2))
    _, announcement = await create_party(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
    await runner.stop()
    clock.set(KST_21 - timedelta(hours=1) + down_for)
    bot = await runner.start()
    repo = WatchPartyRepository(bot.db)
    if expect_post:
        post = await fake.wait_for_request("POST", MESSAGES, lambda r: "starts" in (r.json.get("content") or ""))
        assert "(Late reminder: I was offline.)" in post.json["content"]
    await scheduler_caught_up(bot)  # the reminder's job (sent late, or skipped) has run to its end
    assert (await repo.reminder(party_id, 3600)).state == ("sent" if expect_post else "skipped")
    assert len(reminder_posts(fake, g.channel("watch-party"))) == (1 if expect_post else 0)


async def test_closed_dms_are_skipped_without_affecting_others(fake, runner, world, clock):
    g, _ = world
    fan2, fan3 = g.member("fan2"), g.member("fan3")
    clock.set(KST_21 - timedelta(hours=1, seconds=3))
    _, announcement = await create_party(fake, g, g.member("fan1"))
    party_id = party_id_of(announcement)
    for member in (fan2, fan3):
        await rsvp(fake, announcement, member, "going")
        await (await fake.click(announcement["id"], f"wp:{party_id}:dm", member)).response()
    fake.close_dms(fan2)
    await fake.wait_for_request("POST", MESSAGES, lambda r: "starts" in (r.json.get("content") or "")
                                and r.params["channel_id"] == str(g.channel("watch-party").id), timeout=8)
    ok = await fake.wait_for_request("POST", MESSAGES, lambda r: "starts" in (r.json.get("content") or "")
                                     and r.status == 200 and r.params["channel_id"] != str(g.channel("watch-party").id))
    refused = [r for r in fake.requests_to("POST", MESSAGES) if r.status == 403]
    assert len(refused) == 1 and ok.response["channel_id"] != refused[0].params["channel_id"]
    repo = WatchPartyRepository(runner.bot.db)
    await scheduler_caught_up(runner.bot)  # the reminder's job has run to its end
    assert (await repo.reminder(party_id, 3600)).state == "sent"


async def test_korean_server_gets_announcement_and_reminders_in_korean(fake, runner, clock):
    g = fake.default_guild
    g.preferred_locale = "ko"
    role = fake.add_role(g, "Watch Party", mentionable=True)
    bot = await runner.start()
    watch = g.channel("watch-party")
    await bot.settings_service.update(g.id, reminder_offsets="1h 0", watchparty_channel_id=watch.id,
                                      watchparty_ping_role_id=role.id, timezone="Asia/Seoul")
    host, fan2, fan3, mod = g.member("fan1"), g.member("fan2"), g.member("fan3"), g.member("mod")
    # The host's own language is English; what everyone sees follows the server's.
    confirmation, announcement = await create_party(fake, g, host, show="중증외상센터", episode=3)
    assert confirmation["content"].startswith("Scheduled **Episode 3**")
    party_id = party_id_of(announcement)
    [embed] = announcement["embeds"]
    assert [(f["name"], f["value"]) for f in embed["fields"]] == [
        ("작품", "중증외상센터 · 3화"), ("주최", f"<@{host.id}>"), ("시작 (내 시간)", f"<t:{START}:F> (<t:{START}:R>)"),
        ("길이", "60분"), ("참석 (0)", "—"), ("미정 (0)", "—"), ("불참 (0)", "—")]
    assert embed["footer"]["text"] == f"같이 보기 #{party_id} · 시간은 각자의 시간대로 보여요"
    assert [c["label"] for c in announcement["components"][0]["components"]] == [
        "참석 (0)", "미정 (0)", "불참 (0)", "DM으로 알림"]

    for member, action in [(fan2, "going"), (fan3, "maybe"), (mod, "maybe")]:
        await rsvp(fake, announcement, member, action)
    toggle = await (await fake.click(announcement["id"], f"wp:{party_id}:dm", fan3, locale="ko")).response()
    assert toggle.ephemeral and toggle.content == "채널에서 멘션하는 대신 DM으로 알려 드릴게요."
    fields = {f["name"]: f["value"] for f in fake.message(announcement["id"])["embeds"][0]["fields"]}
    assert fields["참석 (1)"] == display(fan2) and fields["미정 (2)"] == f"{display(fan3)}, {display(mod)}"

    # The 1-hour reminder: in Korean, pinging the role and the Going member; the Maybe member who asked for a DM
    # gets one; the other Maybe member is not pinged.
    link = f"https://discord.com/channels/{g.id}/{watch.id}/{announcement['id']}"
    body = f"**Episode 3** 같이 보기가 <t:{START}:R> 시작해요 (<t:{START}:F>). {link}"
    post = await fake.wait_for_request("POST", MESSAGES, lambda r: r.params["channel_id"] == str(watch.id)
                                       and "시작해요" in (r.json.get("content") or ""), timeout=8)
    assert post.json["content"] == f"<@&{role.id}> <@{fan2.id}>\n{body}"
    assert post.json["allowed_mentions"] == {"parse": [], "users": [fan2.id], "roles": [role.id]}
    # The marker a restarted bot looks for, in the server's language, and the nonce Discord dedupes by.
    assert post.json["embeds"][0]["footer"]["text"].startswith(f"같이 보기 #{party_id} 알림 · r")
    assert post.json["nonce"] == post.json["embeds"][0]["footer"]["text"].rsplit(" · ", 1)[1] + ".0"
    assert post.json["enforce_nonce"] is True
    dm = await fake.wait_for_request("POST", MESSAGES, lambda r: r.params["channel_id"] != str(watch.id)
                                     and "시작해요" in (r.json.get("content") or ""))
    assert dm.json["content"] == body and dm.json["allowed_mentions"] == {"parse": []}
    assert dm.response["channel_id"] == str(fake.dm_channels[fan3.user.id].id)
    assert await reminder_state(runner.bot, party_id, 3600, "sent") == "sent"  # written after the last send
    assert len([r for r in fake.requests_to("POST", MESSAGES) if "시작해요" in (r.json.get("content") or "")]) == 2


async def test_reminder_dms_go_out_when_the_channel_post_fails(fake, runner, world, clock):
    g, _ = world
    fan2, fan3, watch, log_channel = g.member("fan2"), g.member("fan3"), g.channel("watch-party"), g.channel("bot-log")
    await runner.bot.settings_service.set_channel(g.id, "log", log_channel.id)
    clock.set(KST_21 - timedelta(hours=1, seconds=4))
    _, announcement = await create_party(fake, g, g.member("fan1"))
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
    assert await reminder_state(runner.bot, party_id, 3600, "failed") == "failed"


async def test_cancellation_dms_go_out_when_the_channel_post_fails(fake, runner, world, clock):
    g, _ = world
    host, fan2, fan3 = g.member("fan1"), g.member("fan2"), g.member("fan3")
    watch, log_channel = g.channel("watch-party"), g.channel("bot-log")
    await runner.bot.settings_service.set_channel(g.id, "log", log_channel.id)
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create_party(fake, g, host)
    party_id = party_id_of(announcement)
    await going_with_dm(fake, announcement, party_id, fan2, fan3)
    mark = fake.mark()
    fake.fail("POST", f"/channels/{watch.id}/messages", status=403, code=50013, message="Missing Permissions")
    done = await cancel_party(fake, g, host, party_id)
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


async def test_a_reminder_discord_failed_to_take_is_sent_again_once(fake, runner, quick_retries, world,
                                                                     clock):
    g, role = world
    watch, log_channel = g.channel("watch-party"), g.channel("bot-log")
    await runner.bot.settings_service.set_channel(g.id, "log", log_channel.id)
    clock.set(KST_21 - timedelta(hours=1, seconds=3))
    _, announcement = await create_party(fake, g, g.member("fan1"))
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
    await scheduler_caught_up(runner.bot)  # no third attempt is scheduled, no admin notice was sent
    assert pending_jobs(runner.bot, f"party:{party_id}:remind:3600") == []
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
    assert notices.not_delivered(error) is not_delivered
    assert notices.is_network_failure(error)
