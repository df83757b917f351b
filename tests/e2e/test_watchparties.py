"""Watch parties end to end: the real bot against the fake Discord, asserting the REST calls it made.

Reminder times: the bot's clock is real time plus a shift (`ShiftedClock`), chosen so that a party's one-hour
reminder falls a few seconds after "now"; jobs run on real time, so the tests wait seconds, not hours.
"""

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from db.watchparties import WatchPartyRepository
from tests.fakediscord.state import BOT_DEFAULT, Perm

SEOUL = ZoneInfo("Asia/Seoul")
# 21:00 in Seoul, three days from the real today (the fake refuses scheduled events in its real past).
KST_21 = datetime.combine((datetime.now(SEOUL) + timedelta(days=3)).date(), time(21), SEOUL).astimezone(UTC)
START = int(KST_21.timestamp())
START_ISO = f"{KST_21:%Y-%m-%dT%H:%M:%S}"
END_ISO = f"{KST_21 + timedelta(hours=1):%Y-%m-%dT%H:%M:%S}"
MESSAGES = "/channels/{channel_id}/messages"
EVENTS = "/guilds/{guild_id}/scheduled-events"
EVENT = "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}"


class ShiftedClock:
    def __init__(self, now: datetime) -> None:
        self.set(now)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def set(self, now: datetime) -> None:
        self.shift = now - datetime.now(UTC)


@pytest.fixture
def clock(runner):
    runner.clock = ShiftedClock(KST_21 - timedelta(hours=1, seconds=4))  # the 1h reminder is due in 4 s
    return runner.clock


@pytest.fixture
async def world(fake, runner, clock):
    g = fake.default_guild
    role = fake.add_role(g, "Watch Party", mentionable=True)
    bot = await runner.start()
    await bot.settings_service.update(g.id, reminder_offsets="1h 0", watchparty_channel_id=g.channel("watch-party").id,
                                      watchparty_ping_role_id=role.id)
    for name in ("fan1", "fan2", "fan3"):
        await WatchPartyRepository(bot.db).set_member_timezone(g.member(name).id, "Asia/Seoul", clock())
    return g, role


def reminder_posts(fake, channel, since=0):
    return [r for r in fake.requests_to("POST", MESSAGES, since=since)
            if r.params["channel_id"] == str(channel.id) and "starts" in ((r.json or {}).get("content") or "")]


async def create_party(fake, g, host, when="9pm", locale="en-US", **options):
    mark = fake.mark()
    ix = await fake.slash(g, host, "watchparty create", title="Episode 3", when=when, locale=locale, **options)
    response = await ix.response()
    assert (response.type, response.ephemeral) == (5, True)
    [confirmation] = await ix.followups(1)
    announcement = (await fake.wait_for_request("POST", MESSAGES, since=mark)).response
    return confirmation, announcement


async def rsvp_click(fake, message_id, custom_id, member, **options):
    """Click an RSVP button: the click is acknowledged at once (deferred update, type 6), then the bot edits the
    announcement; returns that edit (a recorded PATCH)."""
    mark = fake.mark()
    click = await fake.click(message_id, custom_id, member, **options)
    assert (await click.response()).type == 6
    return await fake.wait_for_request("PATCH", "/channels/{channel_id}/messages/{message_id}",
                                       lambda r: r.params["message_id"] == str(message_id), since=mark)


def rsvp_field(message, prefix):
    """The announcement's RSVP field whose name starts with `prefix` ("Going", "Maybe", ...)."""
    return next(f for f in message["embeds"][0]["fields"] if f["name"].startswith(prefix))


def display(member):
    return member.nick or member.user.global_name or member.user.username


async def test_create_rsvp_reminder_edit_cancel(fake, runner, world):
    g, role = world
    host, fan2, fan3, mod = g.member("fan1"), g.member("fan2"), g.member("fan3"), g.member("mod")
    confirmation, announcement = await create_party(fake, g, host, show="Trauma Code", episode=3)
    party_id = int(announcement["embeds"][0]["footer"]["text"].split("#")[1].split(" ")[0])
    assert f"<t:{START}:F> (<t:{START}:R>)" in confirmation["content"]
    assert "Asia/Seoul" in confirmation["content"]
    assert confirmation["flags"] & 64

    watch = g.channel("watch-party")
    assert announcement["channel_id"] == str(watch.id)
    [embed] = announcement["embeds"]
    assert embed["title"] == "Episode 3"
    assert [(f["name"], f["value"]) for f in embed["fields"]] == [
        ("Show", "Trauma Code · Episode 3"), ("Host", f"<@{host.id}>"),
        ("Starts (your local time)", f"<t:{START}:F> (<t:{START}:R>)"), ("Duration", "60 min"),
        ("Going (0)", "—"), ("Maybe (0)", "—"), ("Can't go (0)", "—")]
    assert [(c["custom_id"], c["label"], c["style"]) for c in announcement["components"][0]["components"]] == [
        (f"wp:{party_id}:going", "Going (0)", 3), (f"wp:{party_id}:maybe", "Maybe (0)", 1),
        (f"wp:{party_id}:declined", "Can't go (0)", 4), (f"wp:{party_id}:dm", "DM me", 2)]
    assert announcement["mentions"] == [] and announcement["mention_roles"] == []

    [create_event] = fake.requests_to("POST", EVENTS)
    assert create_event.json["entity_type"] == 3
    assert create_event.json["entity_metadata"] == {"location": "#watch-party"}
    assert create_event.json["scheduled_start_time"].startswith(START_ISO)
    assert create_event.json["scheduled_end_time"].startswith(END_ISO)

    for member, action in [(fan2, "going"), (fan3, "going"), (mod, "maybe"), (host, "going")]:
        await rsvp_click(fake, announcement["id"], f"wp:{party_id}:{action}", member)
    dm = await fake.click(announcement["id"], f"wp:{party_id}:dm", fan3)
    assert (await dm.response()).ephemeral
    message = fake.message(announcement["id"])
    fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
    assert fields["Going (3)"] == f"{display(fan2)}, {display(fan3)}, {display(host)}"
    assert fields["Maybe (1)"] == display(mod)
    assert message["components"][0]["components"][0]["label"] == "Going (3)"

    # The 1h reminder: channel post pinging the role and the Going members except fan3, who gets a DM.
    post = await fake.wait_for_request("POST", MESSAGES, lambda r: r.params["channel_id"] == str(watch.id)
                                       and "starts" in (r.json.get("content") or ""), timeout=8)
    assert post.json["content"] == (f"<@&{role.id}> <@{fan2.id}> <@{host.id}>\n**Episode 3** starts <t:{START}:R> "
                                    f"(<t:{START}:F>). https://discord.com/channels/{g.id}/{watch.id}/"
                                    f"{announcement['id']}")
    assert post.json["allowed_mentions"] == {"parse": [], "users": [fan2.id, host.id], "roles": [role.id]}
    assert sorted(u["id"] for u in post.response["mentions"]) == sorted([str(fan2.id), str(host.id)])
    assert post.response["mention_roles"] == [str(role.id)]
    dm_post = await fake.wait_for_request("POST", MESSAGES, lambda r: r.params["channel_id"] != str(watch.id)
                                          and "starts" in (r.json.get("content") or ""))
    assert dm_post.json["allowed_mentions"] == {"parse": []}

    # Edit: a new time moves the reminders and the event.
    mark = fake.mark()
    edit = await fake.slash(g, host, "watchparty edit", options={"id": party_id, "when": "10pm"})
    [done] = await edit.followups(1)
    new_start = START + 3600
    assert f"<t:{new_start}:F>" in done["content"]
    patch = await fake.wait_for_request("PATCH", EVENT, since=mark)
    assert patch.json["scheduled_start_time"].startswith(END_ISO)
    edited = fake.message(announcement["id"])
    assert f"<t:{new_start}:F>" in edited["embeds"][0]["fields"][2]["value"]

    # Cancel: a fan who is not the host is refused; the host cancels.
    refused = await fake.slash(g, fan2, "watchparty cancel", options={"id": party_id})
    [no] = await refused.followups(1)
    assert no["content"] == "Only the host or a moderator can do that." and no["flags"] & 64
    mark = fake.mark()
    cancel = await fake.slash(g, host, "watchparty cancel", options={"id": party_id})
    [cancelled] = await cancel.followups(1)
    assert "3 member(s)" in cancelled["content"]
    assert fake.requests_to("DELETE", EVENT, since=mark)
    final = fake.message(announcement["id"])
    assert final["embeds"][0]["title"] == "Cancelled: Episode 3"
    assert all(c["disabled"] for c in final["components"][0]["components"])
    notice = [r for r in fake.requests_to("POST", MESSAGES, since=mark) if "cancelled" in (r.json.get("content") or "")]
    assert notice[0].json["allowed_mentions"] == {"parse": [], "users": [fan2.id, host.id]}
    assert len(reminder_posts(fake, watch)) == 1  # the edit moved the rest; none fired again


async def test_restart_keeps_rsvps_and_reminds_exactly_once(fake, runner, world, clock):
    g, _ = world
    host, fan2 = g.member("fan1"), g.member("fan2")
    clock.set(KST_21 - timedelta(hours=1, seconds=6))
    _, announcement = await create_party(fake, g, host)
    party_id = int(announcement["embeds"][0]["footer"]["text"].split("#")[1].split(" ")[0])
    await rsvp_click(fake, announcement["id"], f"wp:{party_id}:going", fan2)
    await runner.restart()
    # The buttons still work after the restart (DynamicItem) and the RSVP was kept.
    await rsvp_click(fake, announcement["id"], f"wp:{party_id}:maybe", host)
    assert "Going (1)" in [f["name"] for f in fake.message(announcement["id"])["embeds"][0]["fields"]]
    watch = g.channel("watch-party")
    post = await fake.wait_for_request("POST", MESSAGES, lambda r: "starts" in (r.json.get("content") or ""),
                                       timeout=10)
    assert post.json["allowed_mentions"]["users"] == [fan2.id]
    await runner.restart()  # a restart after it was sent does not send it again
    await asyncio.sleep(0.5)
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
    party_id = int(announcement["embeds"][0]["footer"]["text"].split("#")[1].split(" ")[0])
    await runner.stop()
    clock.set(KST_21 - timedelta(hours=1) + down_for)
    bot = await runner.start()
    repo = WatchPartyRepository(bot.db)
    if expect_post:
        post = await fake.wait_for_request("POST", MESSAGES, lambda r: "starts" in (r.json.get("content") or ""))
        assert "(Late reminder: I was offline.)" in post.json["content"]
        for _ in range(50):
            if (await repo.reminder(party_id, 3600)).state == "sent":
                break
            await asyncio.sleep(0.05)
    assert (await repo.reminder(party_id, 3600)).state == ("sent" if expect_post else "skipped")
    assert len(reminder_posts(fake, g.channel("watch-party"))) == (1 if expect_post else 0)


async def test_without_manage_events_the_party_works_and_the_host_is_told(fake, runner, clock):
    g = fake.default_guild
    fake.set_role_permissions(g.role("Code Blue"), BOT_DEFAULT & ~Perm.MANAGE_EVENTS & ~Perm.CREATE_EVENTS)
    await runner.start()
    when = f"{KST_21.astimezone(SEOUL):%Y-%m-%d %H:%M} KST"
    confirmation, announcement = await create_party(fake, g, g.member("fan1"), when=when)
    assert "Manage Events" in confirmation["content"]
    assert confirmation["content"].count("Manage Events") == 1
    assert fake.requests_to("POST", EVENTS) == []
    party_id = int(announcement["embeds"][0]["footer"]["text"].split("#")[1].split(" ")[0])
    await rsvp_click(fake, announcement["id"], f"wp:{party_id}:going", g.member("fan2"))


async def test_closed_dms_are_skipped_without_affecting_others(fake, runner, world, clock):
    g, _ = world
    fan2, fan3 = g.member("fan2"), g.member("fan3")
    clock.set(KST_21 - timedelta(hours=1, seconds=3))
    _, announcement = await create_party(fake, g, g.member("fan1"))
    party_id = int(announcement["embeds"][0]["footer"]["text"].split("#")[1].split(" ")[0])
    for member in (fan2, fan3):
        await rsvp_click(fake, announcement["id"], f"wp:{party_id}:going", member)
        await (await fake.click(announcement["id"], f"wp:{party_id}:dm", member)).response()
    fake.close_dms(fan2)
    await fake.wait_for_request("POST", MESSAGES, lambda r: "starts" in (r.json.get("content") or "")
                                and r.params["channel_id"] == str(g.channel("watch-party").id), timeout=8)
    ok = await fake.wait_for_request("POST", MESSAGES, lambda r: "starts" in (r.json.get("content") or "")
                                     and r.status == 200 and r.params["channel_id"] != str(g.channel("watch-party").id))
    refused = [r for r in fake.requests_to("POST", MESSAGES) if r.status == 403]
    assert len(refused) == 1 and ok.response["channel_id"] != refused[0].params["channel_id"]
    repo = WatchPartyRepository(runner.bot.db)
    for _ in range(50):
        if (await repo.reminder(party_id, 3600)).state == "sent":
            break
        await asyncio.sleep(0.05)
    assert (await repo.reminder(party_id, 3600)).state == "sent"


async def test_korean_when_and_reply(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=33))  # noon in Seoul, the day before
    confirmation, _ = await create_party(fake, g, g.member("fan1"), when="내일 오후 9시", locale="ko")
    assert confirmation["content"].startswith("**Episode 3** 같이 보기를 잡았어요 (1개, Asia/Seoul 기준으로 읽었어요):")
    assert f"<t:{START}:F>" in confirmation["content"]
    ix = await fake.slash(g, g.member("fan1"), "watchparty create", title="x", when="어제 오후 9시", locale="ko")
    await ix.response()
    [refusal] = await ix.followups(1)
    assert refusal["content"].startswith("시간을 읽지 못했어요") or refusal["content"].startswith("이미 지난 시간")
    assert "`내일 오후 9시`" in refusal["content"]


async def test_past_time_is_refused_with_reading_and_examples(fake, runner, world, clock):
    g, _ = world
    past = (KST_21 - timedelta(days=1)).astimezone(SEOUL)
    ix = await fake.slash(g, g.member("fan1"), "watchparty create", title="x", when=f"{past:%Y-%m-%d %H:%M}")
    await ix.response()
    [refusal] = await ix.followups(1)
    assert refusal["content"] == (f"That time is in the past (I read it as {past:%a %Y-%m-%d %H:%M} (Asia/Seoul)). "
                                  "Try for example `tomorrow 9pm`, `sat 20:00`, `2026-12-05 20:00 KST`, "
                                  "`in 2 hours`, `dec 5 8:30pm`.")
    assert fake.requests_to("POST", MESSAGES) == []


async def test_timezone_set_and_show(fake, runner, clock):
    g = fake.default_guild
    await runner.start()
    user = g.member("fan2")
    show = await fake.slash(g, user, "timezone show")
    assert (await show.response()).content.startswith("Neither you nor the server set a time zone")
    ix = await fake.slash(g, user, "timezone set", tz="PST")
    response = await ix.response()
    assert response.ephemeral
    assert response.content.startswith("Your time zone is now America/Los_Angeles")
    assert "PST is an abbreviation" in response.content
    unknown = await fake.slash(g, user, "timezone set", tz="Mars/Base")
    assert (await unknown.response()).content.startswith("“Mars/Base” is not a time zone I know.")
    ac = await fake.autocomplete(g, user, "timezone set", focused="tz", value="seo")
    assert "Asia/Seoul" in [c["value"] for c in (await ac.response()).choices]
    show = await fake.slash(g, user, "timezone show", locale="ko")
    assert (await show.response()).content.startswith("내 시간대는 America/Los_Angeles이에요")


async def test_calendar_and_list(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(days=1))
    over = await fake.slash(g, g.member("fan1"), "watchparty create", title="Episode 3", when="tomorrow 9pm",
                            repeat_weekly=6)
    await over.response()
    [refusal] = await over.followups(1)
    # the default member limit is 5
    assert refusal["content"].startswith("One member may host at most 5 upcoming watch parties")
    assert fake.requests_to("POST", MESSAGES) == []
    await runner.bot.settings_service.update(g.id, max_parties_per_member=10)
    await create_party(fake, g, g.member("fan1"), when="tomorrow 9pm", repeat_weekly=6, episode=1)
    ix = await fake.slash(g, g.member("fan2"), "watchparty calendar")
    await ix.response()
    [upload] = [r for r in fake.requests_to("POST", "/interactions/{interaction_id}/{interaction_token}/callback")
                if r.files]
    events = icalendar.Calendar.from_ical(upload.files[0].data).walk("VEVENT")
    assert len(events) == 6
    assert events[0]["DTSTART"].dt == KST_21 and str(events[5]["SUMMARY"]) == "Episode 3"
    listing = await fake.slash(g, g.member("fan2"), "watchparty list")
    page = await listing.response()
    assert page.ephemeral and page.embeds[0]["footer"]["text"] == "Page 1 of 2"
    assert len(page.embeds[0]["fields"]) == 5
    nxt = await fake.click(page.message["id"], "wpl:1:next", g.member("fan2"))
    second = await nxt.response()
    assert second.type == 7 and second.data["embeds"][0]["footer"]["text"] == "Page 2 of 2"
