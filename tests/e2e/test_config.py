"""/config, /help and the join guide, end to end: the real bot against the fake Discord."""

import asyncio

import pytest

from tests.fakediscord.state import Overwrite, Perm, build_empty_guild

EPHEMERAL = 64


async def _settings(bot, guild):
    return await bot.settings_service.get(guild.id)


async def test_config_channel_saves_and_survives_restart(fake, runner):
    bot = await runner.start()
    g = fake.default_guild
    news = g.channel("news")
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="news", channel=news)
    resp = await ix.response()
    assert resp.type == 4 and resp.ephemeral
    assert resp.content == f"News channel set to <#{news.id}>."
    assert (await _settings(bot, g)).news_channel_id == news.id

    await runner.restart()
    ix = await fake.slash(g, g.member("admin"), "config show")
    resp = await ix.response()
    assert resp.ephemeral
    embed = resp.embeds[0]
    assert embed["title"] == "Code Blue settings"
    channels = next(f for f in embed["fields"] if f["name"] == "Channels")["value"]
    assert f"News: <#{news.id}>" in channels
    assert "Discussion: not set" in channels


async def test_config_replies_in_korean(fake, bot):
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="discussion", channel=forum, locale="ko")
    resp = await ix.response()
    assert resp.content == f"토론 채널을 <#{forum.id}>(으)로 정했어요."
    assert (await _settings(bot, g)).discussion_channel_id == forum.id


async def test_member_without_manage_server_is_refused_and_nothing_written(fake, bot):
    g = fake.default_guild
    ix = await fake.slash(g, g.member("fan1"), "config channel", kind="news", channel=g.channel("news"))
    resp = await ix.response()
    assert resp.ephemeral
    assert resp.content == "You need the Manage Server permission to use this command."
    assert (await _settings(bot, g)).news_channel_id is None


async def test_missing_bot_permission_in_channel_is_named(fake, bot):
    g = fake.default_guild
    news = g.channel("news")
    fake.set_overwrite(news, fake.bot_member(g), deny=Perm.EMBED_LINKS | Perm.SEND_MESSAGES)
    await asyncio.sleep(0.05)  # let the CHANNEL_UPDATE reach the bot's cache
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="news", channel=news)
    resp = await ix.response()
    assert resp.ephemeral
    assert resp.content == (
        f"I can't work in <#{news.id}>: I'm missing Send Messages, Embed Links. "
        "Grant them to my role there, then try again."
    )
    assert (await _settings(bot, g)).news_channel_id is None


async def test_forum_refused_for_text_only_kinds(fake, bot):
    g = fake.default_guild
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="watchparty",
                          channel=g.channel("episode-discussion"))
    resp = await ix.response()
    assert resp.content == "The Watch parties channel must be a text channel, not a forum."
    assert (await _settings(bot, g)).watchparty_channel_id is None


async def test_config_role_and_mentionable_warning(fake, bot):
    g = fake.default_guild
    role = fake.add_role(g, "Silent Ping", mentionable=False)
    await asyncio.sleep(0.05)
    ix = await fake.slash(g, g.member("admin"), "config role", kind="news_ping", role=role)
    resp = await ix.response()
    assert resp.content.startswith(f"News ping role set to <@&{role.id}>.")
    assert "not mentionable" in resp.content
    assert resp.data["allowed_mentions"]["parse"] == []
    assert (await _settings(bot, g)).news_ping_role_id == role.id

    ix = await fake.slash(g, g.member("admin"), "config role", kind="moderator", role=g.everyone)
    resp = await ix.response()
    assert "can't be used" in resp.content
    assert (await _settings(bot, g)).moderator_role_id is None


@pytest.mark.parametrize(
    ("value", "stored", "expected"),
    [
        ("Asia/Seoul", "Asia/Seoul", "Server time zone set to Asia/Seoul"),
        ("kst", "Asia/Seoul", "Note: KST is an abbreviation; I use Asia/Seoul"),
        ("asia/seol", "UTC", "is not a time zone I know. Did you mean `Asia/Seoul`"),
    ],
)
async def test_config_timezone(fake, bot, value, stored, expected):
    g = fake.default_guild
    ix = await fake.slash(g, g.member("admin"), "config timezone", tz=value)
    resp = await ix.response()
    assert resp.ephemeral
    assert expected in resp.content
    assert (await _settings(bot, g)).timezone == stored


async def test_timezone_autocomplete(fake, bot):
    g = fake.default_guild
    ac = await fake.autocomplete(g, g.member("admin"), "config timezone", focused="tz", value="seo")
    choices = [c["value"] for c in (await ac.response()).choices]
    assert choices[0] == "Asia/Seoul"
    assert len(choices) <= 25


async def test_config_reminders_threads_limits(fake, bot):
    g = fake.default_guild
    admin = g.member("admin")
    resp = await (await fake.slash(g, admin, "config reminders", offsets="2h 1d 0 2h")).response()
    assert "`1d 2h 0`" in resp.content
    resp = await (await fake.slash(g, admin, "config reminders", offsets="1d soon")).response()
    assert resp.content.startswith("I can't read “soon”")
    resp = await (await fake.slash(g, admin, "config threads", archive_after=1440)).response()
    assert resp.content == "Episode threads now auto-archive after 24 hours without messages."
    resp = await (await fake.slash(g, admin, "config threads", archive_after=10080, locale="ko")).response()
    assert resp.content == "에피소드 스레드는 이제 메시지가 없으면 1주 뒤 자동 보관돼요."
    resp = await (await fake.slash(g, admin, "config limits", per_member=3)).response()
    assert resp.content == ("Limits saved: 50 upcoming parties per server, 3 per member; "
                            "titles up to 100 characters, descriptions up to 1000.")
    resp = await (await fake.slash(g, admin, "config limits", title_length=60, description_length=0)).response()
    assert resp.content.endswith("titles up to 60 characters, descriptions up to 0.")
    resp = await (await fake.slash(g, admin, "config limits")).response()
    assert resp.content == "Give at least one of per_server, per_member, title_length, description_length."
    s = await _settings(bot, g)
    assert (s.reminder_offsets, s.thread_archive_minutes, s.max_parties_per_member) == ("1d 2h 0", 10080, 3)
    assert (s.max_party_title_length, s.max_party_description_length) == (60, 0)


async def test_join_creates_defaults_and_posts_guide(fake, bot):
    mark = fake.mark()
    guild = fake.add_guild("Second Server", default_layout=False)
    request = await fake.wait_for_request("POST", "/channels/{channel_id}/messages", since=mark)
    assert request.json["content"].startswith("👋 Thanks for adding **Code Blue** to Second Server!")
    assert request.json["allowed_mentions"] == {"parse": []}
    await asyncio.sleep(0.05)
    settings = await _settings(bot, guild)
    assert settings.guide_posted_at is not None


def _join_prepared_guild(fake, guild):
    """Register a guild built by the test and dispatch its GUILD_CREATE (what `fake.add_guild` does)."""
    fake.guilds[guild.id] = guild
    for channel in guild.channels.values():
        fake.channels[channel.id] = channel
    for member in guild.members.values():
        fake.users.setdefault(member.id, member.user)
    fake.gateway.dispatch_guild_create(guild)


async def test_join_guide_goes_to_owner_when_system_channel_is_closed(fake, bot):
    guild = build_empty_guild(fake.ids, fake.bot_user, name="잠긴 서버", preferred_locale="ko")
    general = guild.channels[guild.system_channel_id]
    general.overwrites[guild.id] = Overwrite(guild.id, 0, 0, int(Perm.SEND_MESSAGES))
    mark = fake.mark()
    _join_prepared_guild(fake, guild)
    dm = await fake.wait_for_request("POST", "/users/@me/channels", since=mark)
    assert dm.json == {"recipient_id": guild.owner_id} or dm.json == {"recipient_id": str(guild.owner_id)}
    sent = await fake.wait_for_request("POST", "/channels/{channel_id}/messages", since=mark)
    assert sent.params["channel_id"] != str(general.id)
    assert sent.json["content"].startswith("👋 잠긴 서버에 **Code Blue**를 추가해 주셔서 고마워요!")
    assert fake.messages_in(general) == []


async def test_help_lists_only_usable_commands(fake, bot):
    g = fake.default_guild
    resp = await (await fake.slash(g, g.member("fan1"), "help")).response()
    text = "\n".join(f["value"] for f in resp.embeds[0]["fields"])
    assert "/help" in text and "/config" not in text
    assert resp.embeds[0]["footer"]["text"].startswith("Admins (Manage Server)")

    resp = await (await fake.slash(g, g.member("admin"), "help", locale="ko")).response()
    text = "\n".join(f["value"] for f in resp.embeds[0]["fields"])
    assert "`/설정 채널` — 뉴스, 토론, 같이 보기, 로그 채널 정하기" in text
    assert resp.embeds[0]["fields"][0]["name"] == "쓸 수 있는 명령"


async def test_unexpected_error_gives_reference_and_logs_it(fake, bot, caplog, monkeypatch):
    async def broken(guild_id):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(bot.settings_service, "ensure", broken)
    g = fake.default_guild
    resp = await (await fake.slash(g, g.member("admin"), "config show")).response()
    assert resp.ephemeral
    assert resp.content.startswith("Something went wrong on my side.")
    reference = resp.content.rsplit(" ", 1)[-1]
    assert len(reference) == 6
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


async def test_help_shows_moderator_commands_only_to_moderators(fake, bot):
    g = fake.default_guild
    fan_text = "\n".join(f["value"] for f in (await (await fake.slash(g, g.member("fan1"), "help")).response())
                         .embeds[0]["fields"])
    assert "/episode thread" in fan_text
    assert "/episode lock" not in fan_text and "/show" not in fan_text

    await (await fake.slash(g, g.member("admin"), "config role", kind="moderator", role=g.role("Moderator"))).response()
    mod_text = "\n".join(f["value"] for f in (await (await fake.slash(g, g.member("mod"), "help")).response())
                         .embeds[0]["fields"])
    assert "/episode lock" in mod_text and "/show open" in mod_text
    assert "/config" not in mod_text


async def test_server_that_added_the_bot_while_offline_gets_the_guide_at_start(fake, runner):
    bot = await runner.start()
    assert await bot.settings_service.last_online() is not None
    await runner.stop()
    mark = fake.mark()
    guild = fake.add_guild("Joined While Offline", default_layout=False)  # no bot connected: no live join event
    bot = await runner.start()
    general = guild.channel("general")
    sent = await fake.wait_for_request("POST", "/channels/{channel_id}/messages",
                                       lambda r: r.params["channel_id"] == str(general.id), since=mark)
    assert sent.json["content"].startswith("👋 Thanks for adding **Code Blue** to Joined While Offline!")
    # The default guild, where the bot already was, gets nothing; and the guide is not posted again.
    assert fake.messages_in(fake.default_guild.channel("general")) == []
    await runner.restart()
    assert len(fake.messages_in(general)) == 1


async def test_config_show_flags_deleted_channels_and_roles(fake, bot):
    g = fake.default_guild
    admin = g.member("admin")
    news, ping = g.channel("news"), g.role("News Ping")
    await (await fake.slash(g, admin, "config channel", kind="news", channel=news)).response()
    await (await fake.slash(g, admin, "config role", kind="news_ping", role=ping)).response()
    fake.delete_channel(news)
    fake.delete_role(g, ping)
    await asyncio.sleep(0.05)
    embed = (await (await fake.slash(g, admin, "config show")).response()).embeds[0]
    channels = next(f for f in embed["fields"] if f["name"] == "Channels")["value"]
    assert f"News: <#{news.id}> ⚠️ deleted: choose another" in channels
    roles = next(f for f in embed["fields"] if f["name"] == "Roles")["value"]
    assert f"News ping: <@&{ping.id}> ⚠️ deleted: choose another" in roles
    assert "Watch-party ping: not set" in roles
