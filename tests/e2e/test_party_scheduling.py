"""Watch parties end to end: creating (natural-language times, in the member's or the named zone, Korean),
refusals (past times, server text limits, member limits), editing in the party's zone, cancelling, a weekly series
that cannot be fully announced. See `member_steps` for the clock and the fixtures."""

from datetime import timedelta

from db.watchparties import WatchPartyRepository
from tests.e2e import member_steps
from tests.e2e.member_steps import (
    END_ISO,
    EVENT,
    EVENTS,
    KST_21,
    MESSAGE,
    MESSAGES,
    SEOUL,
    START,
    START_ISO,
    cancel_party,
    create_party,
    display,
    edit_party,
    party_id_of,
    reminder_posts,
    reply,
    rsvp,
)

clock = member_steps.clock  # the shared fixtures
world = member_steps.world


async def test_create_rsvp_reminder_edit_cancel(fake, runner, world):
    g, role = world
    host, fan2, fan3, mod = g.member("fan1"), g.member("fan2"), g.member("fan3"), g.member("mod")
    confirmation, announcement = await create_party(fake, g, host, show="Trauma Code", episode=3)
    party_id = party_id_of(announcement)
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
        await rsvp(fake, announcement, member, action)
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
    done = await edit_party(fake, g, host, party_id, when="10pm")
    new_start = START + 3600
    assert f"<t:{new_start}:F>" in done["content"]
    patch = await fake.wait_for_request("PATCH", EVENT, since=mark)
    assert patch.json["scheduled_start_time"].startswith(END_ISO)
    edited = fake.message(announcement["id"])
    assert f"<t:{new_start}:F>" in edited["embeds"][0]["fields"][2]["value"]

    # Cancel: a fan who is not the host is refused; the host cancels.
    no = await cancel_party(fake, g, fan2, party_id)
    assert no["content"] == "Only the host or a moderator can do that." and no["flags"] & 64
    mark = fake.mark()
    cancelled = await cancel_party(fake, g, host, party_id)
    assert "3 member(s)" in cancelled["content"]
    assert fake.requests_to("DELETE", EVENT, since=mark)
    final = fake.message(announcement["id"])
    assert final["embeds"][0]["title"] == "Cancelled: Episode 3"
    assert all(c["disabled"] for c in final["components"][0]["components"])
    notice = [r for r in fake.requests_to("POST", MESSAGES, since=mark) if "cancelled" in (r.json.get("content") or "")]
    assert notice[0].json["allowed_mentions"] == {"parse": [], "users": [fan2.id, host.id]}
    assert len(reminder_posts(fake, watch)) == 1  # the edit moved the rest; none fired again


async def test_korean_when_and_reply(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(hours=33))  # noon in Seoul, the day before
    confirmation, _ = await create_party(fake, g, g.member("fan1"), when="내일 오후 9시", locale="ko")
    assert confirmation["content"].startswith("**Episode 3** 같이 보기를 잡았어요 (1개, Asia/Seoul 기준으로 읽었어요):")
    assert f"<t:{START}:F>" in confirmation["content"]
    refusal = await reply(fake, g, g.member("fan1"), "watchparty create", locale="ko", deferred=True, title="x",
                          when="어제 오후 9시")
    assert refusal["content"].startswith("시간을 읽지 못했어요") or refusal["content"].startswith("이미 지난 시간")
    assert "`내일 오후 9시`" in refusal["content"]


async def test_past_time_is_refused_with_reading_and_examples(fake, runner, world, clock):
    g, _ = world
    past = (KST_21 - timedelta(days=1)).astimezone(SEOUL)
    refusal = await reply(fake, g, g.member("fan1"), "watchparty create", deferred=True, title="x",
                          when=f"{past:%Y-%m-%d %H:%M}")
    assert refusal["content"] == (f"That time is in the past (I read it as {past:%a %Y-%m-%d %H:%M} (Asia/Seoul)). "
                                  "Try for example `tomorrow 9pm`, `sat 20:00`, `2026-12-05 20:00 KST`, "
                                  "`in 2 hours`, `dec 5 8:30pm`.")
    assert fake.requests_to("POST", MESSAGES) == []


async def test_korean_replies_have_no_english_zone_note_or_weekday(fake, runner, world, clock):
    g, _ = world
    member = g.member("fan2")
    clock.set(KST_21 - timedelta(hours=3))
    confirmation, _ = await create_party(fake, g, member, when="9pm KST", locale="ko")
    assert "참고: KST은(는) 약어라서 Asia/Seoul(으)로 정했어요." in confirmation["content"]
    assert "read as" not in confirmation["content"]

    local = (KST_21 - timedelta(days=1)).astimezone(SEOUL)
    weekday = "월화수목금토일"[local.weekday()]
    refusal = await reply(fake, g, member, "watchparty create", deferred=True, locale="ko", title="Ep 3",
                          when=f"{local:%Y-%m-%d} 21:00")
    assert refusal["content"].startswith(
        f"이미 지난 시간이에요 ({local:%Y-%m-%d} ({weekday}) 21:00 (Asia/Seoul)(으)로 읽었어요).")


async def test_server_text_limits_refuse_create_and_edit_and_write_nothing(fake, runner, world):
    g, _ = world
    admin, host = g.member("admin"), g.member("fan1")
    limits = await fake.slash(g, admin, "config limits", title_length=20, description_length=30)
    assert (await limits.response()).ephemeral
    mark = fake.mark()
    for options, locale, expected in [
        ({"title": "A title of 24 letters.."}, "en-US", "The title is 23 characters long; this server's limit is 20."),
        ({"title": "t" * 21}, "ko", "제목이 21자예요. 이 서버에서는 최대 20자까지 돼요."),
        ({"title": "Ep 3", "description": "d" * 31}, "en-US",
         "The description is 31 characters long; this server's limit is 30."),
    ]:
        refusal = await reply(fake, g, host, "watchparty create", deferred=True, locale=locale, when="9pm", **options)
        assert refusal["content"] == expected and refusal["flags"] & 64
    assert fake.requests_to("POST", MESSAGES, since=mark) == []
    assert fake.requests_to("POST", EVENTS, since=mark) == []
    assert await runner.bot.get_cog("WatchPartyCog").service.repo.count_upcoming(g.id) == 0

    _, announcement = await create_party(fake, g, host, title="t" * 20, description="d" * 30)
    assert announcement["embeds"][0]["title"] == "t" * 20
    mark = fake.mark()
    refusal = await edit_party(fake, g, host, party_id_of(announcement), title="e" * 21)
    assert refusal["content"] == "The title is 21 characters long; this server's limit is 20."
    assert fake.requests_to("PATCH", "/channels/{channel_id}/messages/{message_id}", since=mark) == []
    assert fake.requests_to("PATCH", EVENT, since=mark) == []

    # Descriptions switched off altogether.
    await (await fake.slash(g, admin, "config limits", description_length=0)).response()
    refusal = await reply(fake, g, host, "watchparty create", deferred=True, title="Ep 4", when="10pm",
                          description="hi")
    assert refusal["content"].startswith("This server does not allow party descriptions")


async def test_edit_by_a_moderator_elsewhere_keeps_the_partys_zone(fake, runner, world, clock):
    g, _ = world
    host, mod = g.member("fan1"), g.member("mod")  # the host reads times in Seoul (world fixture)
    await WatchPartyRepository(runner.bot.db).set_member_timezone(mod.id, "America/New_York", clock())
    await runner.bot.settings_service.update(g.id, moderator_role_id=g.role("Moderator").id)
    clock.set(KST_21 - timedelta(hours=3))
    _, announcement = await create_party(fake, g, host)
    party_id = party_id_of(announcement)
    done = await edit_party(fake, g, mod, party_id, when="10pm")
    ten_pm_seoul = START + 3600
    assert f"<t:{ten_pm_seoul}:F>" in done["content"]
    party = await runner.bot.get_cog("WatchPartyCog").service.get(party_id)
    assert (int(party.starts_at.timestamp()), party.zone) == (ten_pm_seoul, "Asia/Seoul")


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
    assert [job.id for job in service.reminders.scheduler.get_jobs() if job.id.startswith("party:")] == []
