"""Watch parties end to end, continued: server text limits, voice-channel parties, a Korean server, the "host told
once" rule across edits, list buttons after a restart. Same fixtures and clock as test_watchparties.py."""

import asyncio
from datetime import timedelta

from tests.e2e import test_watchparties as base
from tests.e2e.test_watchparties import EVENT, EVENTS, KST_21, MESSAGES, START, display, rsvp_click
from tests.fakediscord.state import BOT_DEFAULT, Perm

clock = base.clock  # fixtures shared with test_watchparties.py
world = base.world


def party_id_of(announcement):
    return int(announcement["embeds"][0]["footer"]["text"].split("#")[1].split(" ")[0])


async def slash_followup(fake, g, member, command, *, locale="en-US", **options):
    """Run a deferred command; its one follow-up message."""
    ix = await fake.slash(g, member, command, locale=locale, options=options)
    response = await ix.response()
    assert (response.type, response.ephemeral) == (5, True)
    [message] = await ix.followups(1)
    return message


async def create(fake, g, member, *, title="Episode 3", when="9pm", locale="en-US", **options):
    """Create a party; (confirmation, announcement)."""
    mark = fake.mark()
    confirmation = await slash_followup(fake, g, member, "watchparty create", locale=locale, title=title, when=when,
                                        **options)
    announcement = (await fake.wait_for_request("POST", MESSAGES, since=mark)).response
    return confirmation, announcement


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
        refusal = await slash_followup(fake, g, host, "watchparty create", locale=locale, when="9pm", **options)
        assert refusal["content"] == expected and refusal["flags"] & 64
    assert fake.requests_to("POST", MESSAGES, since=mark) == []
    assert fake.requests_to("POST", EVENTS, since=mark) == []
    assert await runner.bot.get_cog("WatchPartyCog").service.repo.count_upcoming(g.id) == 0

    _, announcement = await create(fake, g, host, title="t" * 20, description="d" * 30)
    assert announcement["embeds"][0]["title"] == "t" * 20
    mark = fake.mark()
    refusal = await slash_followup(fake, g, host, "watchparty edit", id=party_id_of(announcement), title="e" * 21)
    assert refusal["content"] == "The title is 21 characters long; this server's limit is 20."
    assert fake.requests_to("PATCH", "/channels/{channel_id}/messages/{message_id}", since=mark) == []
    assert fake.requests_to("PATCH", EVENT, since=mark) == []

    # Descriptions switched off altogether.
    await (await fake.slash(g, admin, "config limits", description_length=0)).response()
    refusal = await slash_followup(fake, g, host, "watchparty create", title="Ep 4", when="10pm", description="hi")
    assert refusal["content"].startswith("This server does not allow party descriptions")


async def test_voice_channel_party_event_and_removing_the_voice_channel(fake, runner, world):
    g, _ = world
    host, vc, watch = g.member("fan1"), g.channel("Watch Party VC"), g.channel("watch-party")
    _, announcement = await create(fake, g, host, voice_channel=vc)
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

    refusal = await slash_followup(fake, g, host, "watchparty edit", id=party_id, voice_channel=vc,
                                   remove_voice_channel=True)
    assert refusal["content"] == "Choose either a new voice_channel or remove_voice_channel, not both."

    mark = fake.mark()
    done = await slash_followup(fake, g, host, "watchparty edit", id=party_id, remove_voice_channel=True)
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
    await slash_followup(fake, g, host, "watchparty edit", id=party_id, voice_channel=vc)
    patch = await fake.wait_for_request("PATCH", EVENT, since=mark)
    assert (patch.json["entity_type"], patch.json["channel_id"], patch.json["entity_metadata"]) == (2, vc.id, None)
    assert (event.entity_type, event.channel_id, event.location) == (2, vc.id, None)


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
    confirmation, announcement = await create(fake, g, host, show="중증외상센터", episode=3)
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
        await rsvp_click(fake, announcement["id"], f"wp:{party_id}:{action}", member)
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
    dm = await fake.wait_for_request("POST", MESSAGES, lambda r: r.params["channel_id"] != str(watch.id)
                                     and "시작해요" in (r.json.get("content") or ""))
    assert dm.json["content"] == body and dm.json["allowed_mentions"] == {"parse": []}
    assert dm.response["channel_id"] == str(fake.dm_channels[fan3.user.id].id)
    await asyncio.sleep(0.3)
    assert len([r for r in fake.requests_to("POST", MESSAGES) if "시작해요" in (r.json.get("content") or "")]) == 2


async def test_without_manage_events_the_host_is_told_once_across_edits(fake, runner, clock):
    g = fake.default_guild
    bot_role = g.role("Code Blue")
    fake.set_role_permissions(bot_role, BOT_DEFAULT & ~Perm.MANAGE_EVENTS & ~Perm.CREATE_EVENTS)
    bot = await runner.start()
    host = g.member("fan1")
    confirmation, announcement = await create(fake, g, host, when=f"{KST_21:%Y-%m-%d %H:%M} UTC")
    assert confirmation["content"].count("Manage Events") == 1
    party_id = party_id_of(announcement)
    done = await slash_followup(fake, g, host, "watchparty edit", id=party_id, title="Episode 3 (dub)")
    assert "Manage Events" not in done["content"]
    assert fake.requests_to("POST", EVENTS) == [] and fake.requests_to("PATCH", EVENT) == []
    assert fake.message(announcement["id"])["embeds"][0]["title"] == "Episode 3 (dub)"

    # Once the bot may manage events, the next edit puts the party in the Events list (without a note).
    fake.set_role_permissions(bot_role, BOT_DEFAULT)
    for _ in range(100):
        if bot.get_guild(g.id).me.guild_permissions.manage_events:
            break
        await asyncio.sleep(0.02)
    done = await slash_followup(fake, g, host, "watchparty edit", id=party_id, duration=90)
    assert "Manage Events" not in done["content"]
    [created] = fake.requests_to("POST", EVENTS)
    assert created.json["name"] == "Episode 3 (dub)"
    assert created.json["scheduled_end_time"].startswith(f"{KST_21 + timedelta(minutes=90):%Y-%m-%dT%H:%M:%S}")
    party = await bot.get_cog("WatchPartyCog").service.get(party_id)
    assert party.scheduled_event_id == int(created.response["id"])


async def test_list_page_buttons_work_after_a_restart(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(days=1))
    await runner.bot.settings_service.update(g.id, max_parties_per_member=10)
    await create(fake, g, g.member("fan1"), when="tomorrow 9pm", repeat_weekly=7)
    listing = await fake.slash(g, g.member("fan2"), "watchparty list", locale="ko")
    page = await listing.response()
    assert page.embeds[0]["footer"]["text"] == "1 / 2 쪽"
    assert [c["custom_id"] for c in page.message["components"][0]["components"]] == ["wpl:0:prev", "wpl:1:next"]
    await runner.restart()
    second = await (await fake.click(page.message["id"], "wpl:1:next", g.member("fan2"), locale="ko")).response()
    assert second.type == 7
    assert second.data["embeds"][0]["footer"]["text"] == "2 / 2 쪽"
    assert len(second.data["embeds"][0]["fields"]) == 2
    buttons = second.data["components"][0]["components"]
    assert [(b["custom_id"], b.get("disabled", False)) for b in buttons] == [("wpl:0:prev", False),
                                                                             ("wpl:1:next", True)]
    back = await (await fake.click(page.message["id"], "wpl:0:prev", g.member("fan2"))).response()
    assert back.data["embeds"][0]["footer"]["text"] == "Page 1 of 2"
