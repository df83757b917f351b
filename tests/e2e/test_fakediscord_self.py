"""The fake Discord against discord.py's own expectations, driven by a small plain `commands.Bot` (not our bot)."""

from __future__ import annotations

import asyncio
import io
import json
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.app_commands import Choice, locale_str
from discord.ext import commands

from tests.fakediscord import Attachment, FakeDiscord, Perm, fixtures
from tests.fakediscord.server import IN_FLIGHT_SLACK

fake_discord = fixtures.fake_discord  # the fixture under test

# -- the small bot --------------------------------------------------------------------------------------------------

KO = {"config": "설정", "Configure the bot": "봇 설정", "channel": "채널", "set": "지정", "ping": "핑"}


class KoreanTranslator(app_commands.Translator):
    async def translate(self, string: locale_str, locale: discord.Locale, context: app_commands.TranslationContext
                        ) -> str | None:
        return KO.get(string.message) if locale is discord.Locale.korean else None


class RsvpView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="RSVP", custom_id="party:rsvp:42", style=discord.ButtonStyle.primary)
    async def rsvp(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"RSVP: {interaction.user.name}")

    @discord.ui.button(label="Close", custom_id="party:close:42", style=discord.ButtonStyle.danger)
    async def close(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="Closed", view=None)

    @discord.ui.select(custom_id="party:episode", options=[discord.SelectOption(label="Episode 1", value="1"),
                                                           discord.SelectOption(label="Episode 2", value="2")])
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"picked {select.values}", ephemeral=True)


class Feedback(discord.ui.Modal, title="Feedback"):
    text = discord.ui.TextInput(label="Your thoughts", custom_id="fb_text", max_length=200)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Thanks: {self.text.value}", ephemeral=True)


config = app_commands.Group(name=locale_str("config"), description=locale_str("Configure the bot"),
                            default_permissions=discord.Permissions(manage_guild=True), guild_only=True)
config_channel = app_commands.Group(name=locale_str("channel"), description="Channels", parent=config)


@config_channel.command(name=locale_str("set"), description="Set a channel")
@app_commands.choices(kind=[Choice(name="News", value="news"), Choice(name="Log", value="log")])
async def config_channel_set(interaction: discord.Interaction, kind: Choice[str], channel: discord.TextChannel,
                             count: app_commands.Range[int, 1, 10], ratio: float, enabled: bool,
                             who: discord.Member, role: discord.Role, poster: discord.Attachment | None = None,
                             ) -> None:
    fields = [kind.value, channel.name, count, ratio, enabled, who.name, role.name,
              poster.filename if poster else None, interaction.locale.value, interaction.permissions.manage_guild]
    await interaction.response.send_message("|".join(map(str, fields)))


class SelfTestBot(commands.Bot):
    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.members = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.1,
                         allowed_mentions=discord.AllowedMentions.none())
        self.behaviour: dict[str, float] = {}
        self.tree.add_command(config)
        tree = self.tree

        @tree.command(name=locale_str("ping"), description="Ping")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")

        @tree.command(description="Slow answer")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.edit_original_response(content="done")
            await interaction.followup.send("extra", ephemeral=True)

        @tree.command(description="Answers twice, bypassing discord.py's own guard")
        async def twice(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("one")
            interaction.response._response_type = None
            try:
                await interaction.response.send_message("two")
            except discord.HTTPException as exc:
                self.behaviour["twice_code"] = exc.code

        @tree.command(description="Answers late")
        async def late(interaction: discord.Interaction) -> None:
            await asyncio.sleep(self.behaviour.get("late_delay", 0.4))
            try:
                await interaction.response.send_message("too late")
            except discord.NotFound as exc:
                self.behaviour["late_code"] = exc.code

        @tree.command(description="Never answers")
        async def silent(interaction: discord.Interaction) -> None:
            return

        @tree.command(description="Watch party panel")
        async def panel(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Watch party", view=RsvpView())

        @tree.command(description="Send feedback")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(Feedback())

        @tree.command(description="Poster file")
        async def poster(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("poster", file=discord.File(io.BytesIO(b"PNG"), "poster.png"))

        @tree.command(description="Find an episode")
        async def episode(interaction: discord.Interaction, title: str) -> None:
            await interaction.response.send_message(title)

        @episode.autocomplete("title")
        async def episode_titles(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
            return [Choice(name=f"Episode {n}", value=f"ep{n}") for n in range(1, 9) if current in f"ep{n}"]

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return  # discord.py sleeps 5 s before a re-IDENTIFY; nothing to protect here

    async def setup_hook(self) -> None:
        await self.tree.set_translator(KoreanTranslator())
        self.add_view(RsvpView())


async def start_bot(fake: FakeDiscord) -> tuple[SelfTestBot, asyncio.Task[None]]:
    bot = SelfTestBot()
    task = asyncio.create_task(bot.start(fake.token))
    ready = asyncio.ensure_future(bot.wait_until_ready())
    done, _ = await asyncio.wait({ready, task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        if task in done:
            task.result()
        raise AssertionError("bot not ready")
    return bot, task


async def stop_bot(bot: SelfTestBot, task: asyncio.Task[None]) -> None:
    await bot.close()
    await asyncio.wait_for(task, 5)


@pytest.fixture
async def bot(fake_discord: FakeDiscord) -> AsyncIterator[SelfTestBot]:
    client, task = await start_bot(fake_discord)
    try:
        yield client
    finally:
        await stop_bot(client, task)


@pytest.fixture
async def synced(bot: SelfTestBot, fake_discord: FakeDiscord) -> SelfTestBot:
    guild = discord.Object(fake_discord.default_guild.id)
    bot.tree.copy_global_to(guild=guild)
    await bot.tree.sync(guild=guild)
    return bot


# -- login, READY, cache ----------------------------------------------------------------------------------------------


async def test_login_ready_and_guild_cache(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    guild = bot.get_guild(g.id)
    assert guild is not None and bot.user is not None and bot.user.id == fake.bot_user.id
    assert bot.application_id == fake.application_id
    assert fake.gateway.connect_queries[0] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert {c.name for c in guild.channels} >= {"general", "news", "watch-party", "bot-log", "episode-discussion",
                                                "Watch Party VC"}
    assert isinstance(guild.get_channel(g.channel("episode-discussion").id), discord.ForumChannel)
    assert [t.name for t in guild.get_channel(g.channel("episode-discussion").id).available_tags] == [
        "Episode", "Theory", "Spoilers", "News"]
    assert guild.system_channel is not None and guild.system_channel.name == "general"
    assert guild.default_role.id == guild.id
    assert guild.me is not None and guild.me.id == fake.bot_user.id
    assert guild.member_count == len(guild.members) == len(g.members)
    assert guild.owner_id == g.owner_id
    assert guild.get_member(g.member("admin").id).guild_permissions.manage_guild
    assert not guild.get_member(g.member("fan1").id).guild_permissions.manage_guild

    general = guild.get_channel(g.channel("general").id)
    perms = general.permissions_for(guild.me)
    assert perms.send_messages and perms.embed_links and perms.manage_threads and perms.create_public_threads
    assert not perms.mention_everyone and not perms.administrator
    bot_log = guild.get_channel(g.channel("bot-log").id)
    assert bot_log.permissions_for(guild.me).view_channel
    assert not bot_log.permissions_for(guild.get_member(g.member("fan1").id)).view_channel


async def test_permission_change_reaches_cache_and_is_enforced(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    news = g.channel("news")
    updated = asyncio.ensure_future(bot.wait_for("guild_channel_update"))
    fake.set_overwrite(news, g.role("Code Blue"), deny=Perm.SEND_MESSAGES)
    await asyncio.wait_for(updated, 5)
    channel = bot.get_channel(news.id)
    assert not channel.permissions_for(channel.guild.me).send_messages
    with pytest.raises(discord.Forbidden) as info:
        await channel.send("hello")
    assert info.value.code == 50013
    assert fake.messages_in(news) == []


async def test_member_add_and_remove_events(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    joined = asyncio.ensure_future(bot.wait_for("member_join"))
    member = fake.add_member(g, "newfan", roles=[g.role("Fans")])
    assert (await asyncio.wait_for(joined, 5)).id == member.id
    left = asyncio.ensure_future(bot.wait_for("raw_member_remove"))
    fake.remove_member(g, member)
    await asyncio.wait_for(left, 5)
    assert bot.get_guild(g.id).get_member(member.id) is None


# -- commands -------------------------------------------------------------------------------------------------------


async def test_command_sync_global_and_guild(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    await bot.tree.sync()
    bot.tree.copy_global_to(guild=discord.Object(g.id))
    synced = await bot.tree.sync(guild=discord.Object(g.id))
    assert fake.sync_count == 2
    assert [s[0] for s in fake.command_syncs] == [None, g.id]
    assert {c.name for c in synced} == set(fake.commands(g))
    cfg = fake.commands()["config"]
    assert cfg["name_localizations"] == {"ko": "설정"}
    assert cfg["description_localizations"] == {"ko": "봇 설정"}
    assert cfg["default_member_permissions"] == str(Perm.MANAGE_GUILD.value)
    group = cfg["options"][0]
    assert (group["name"], group["type"], group["name_localizations"]) == ("channel", 2, {"ko": "채널"})
    sub = group["options"][0]
    assert (sub["name"], sub["type"]) == ("set", 1)
    assert [(o["name"], o["type"]) for o in sub["options"]] == [
        ("kind", 3), ("channel", 7), ("count", 4), ("ratio", 10), ("enabled", 5), ("who", 6), ("role", 8),
        ("poster", 11)]
    assert fake.commands()["ping"]["default_member_permissions"] is None
    fetched = await bot.tree.fetch_commands(guild=discord.Object(g.id))
    assert {c.id for c in fetched} == {c.id for c in synced}


async def test_slash_round_trip_with_group_and_typed_options(synced: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    ix = await fake.slash(g, g.member("admin"), "config channel set", kind="news", channel=g.channel("news"),
                          count=3, ratio=0.5, enabled=True, who=g.member("fan1"), role=g.role("Fans"),
                          poster=Attachment("poster.png", "image/png"), locale="ko")
    resp = await ix.response()
    assert resp.type == 4 and not resp.ephemeral
    assert resp.content == "news|news|3|0.5|True|fan1|Fans|poster.png|ko|True"
    assert fake.messages_in(g.channel("general"))[-1]["content"] == resp.content
    assert resp.message is not None and resp.message["interaction_metadata"]["id"] == str(ix.id)
    options = ix.payload["data"]["options"][0]
    assert (options["type"], options["options"][0]["type"]) == (2, 1)
    with pytest.raises(ValueError, match="not one of"):
        await fake.slash(g, g.member("admin"), "config channel set", kind="gossip", channel=g.channel("news"),
                         count=1, ratio=1.0, enabled=False, who=g.member("fan1"), role=g.role("Fans"))


async def test_deferred_ephemeral_edit_original_and_followup(synced: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    ix = await fake.slash(g, g.member("fan1"), "slow")
    resp = await ix.response()
    assert resp.type == 5 and resp.ephemeral and resp.deferred
    followups = await ix.followups(1)
    assert [m["content"] for m in followups] == ["extra"]
    assert followups[0]["flags"] & 64
    original = ix.original()
    assert original is not None and original["content"] == "done" and original["flags"] == 64
    assert fake.messages_in(g.channel("general")) == []  # ephemeral messages are not in the channel
    assert [r.route for r in fake.requests[-2:]] == [
        "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        "POST /webhooks/{webhook_id}/{webhook_token}"]


async def test_answered_twice_late_and_unanswered_are_flagged(synced: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    ix = await fake.slash(g, g.member("fan1"), "twice")
    await fake.wait_for_request("POST", "/interactions/{interaction_id}/{interaction_token}/callback", count=2)
    assert (await ix.response()).content == "one"
    await asyncio.sleep(0.05)
    assert synced.behaviour["twice_code"] == 40060
    assert [v.kind for v in fake.take_violations()] == ["answered_twice"]

    fake.interaction_deadline = 0.2
    synced.behaviour["late_delay"] = 0.35
    await fake.slash(g, g.member("fan1"), "late")
    await fake.wait_for_request("POST", "/interactions/{interaction_id}/{interaction_token}/callback",
                                lambda r: r.status == 404)
    await asyncio.sleep(0.05)
    assert synced.behaviour["late_code"] == 10062
    silent = await fake.slash(g, g.member("fan1"), "silent")
    await asyncio.sleep(0.3)
    assert not silent.answered
    kinds = sorted(v.kind for v in fake.take_violations())
    assert kinds == ["answered_late", "unanswered"]
    with pytest.raises(AssertionError, match="no callback"):
        await silent.response(timeout=0.05)


async def test_assert_clean_reports_problems(fake_discord: FakeDiscord) -> None:
    fake_discord.violation("unanswered", "interaction #1")
    with pytest.raises(AssertionError, match="unanswered: interaction #1"):
        fake_discord.assert_clean()
    fake_discord.take_violations()
    fake_discord.assert_clean()


async def test_button_and_select_round_trip_with_persistent_view(synced: SelfTestBot, fake_discord: FakeDiscord
                                                                 ) -> None:
    fake = fake_discord
    g = fake.default_guild
    panel = await (await fake.slash(g, g.member("fan1"), "panel")).response()
    assert panel.message is not None
    buttons = panel.message["components"][0]["components"]
    assert buttons[0]["custom_id"] == "party:rsvp:42"
    click = await fake.click(panel.message, "party:rsvp:42", g.member("fan2"))
    answer = await click.response()
    assert answer.type == 7
    stored = fake.message(panel.message["id"])
    assert stored["content"] == "RSVP: fan2" and stored["edited_timestamp"] is not None
    pick = await fake.select(panel.message, "party:episode", ["2"], g.member("fan3"))
    picked = await pick.response()
    assert (picked.content, picked.ephemeral) == ("picked ['2']", True)
    with pytest.raises(ValueError, match="no component"):
        await fake.click(panel.message, "missing", g.member("fan2"))
    closing = await fake.click(panel.message, "party:close:42", g.member("mod"))
    assert (await closing.response()).type == 6
    await fake.wait_for_request("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
    assert (stored["content"], stored["components"]) == ("Closed", [])
    assert closing.original() is stored  # after a deferred update, @original is the component's message


async def test_modal_round_trip(synced: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    opened = await fake.slash(g, g.member("fan1"), "feedback")
    modal = await opened.response()
    assert modal.type == 9 and modal.title == "Feedback"
    submitted = await fake.submit_modal(opened, {"fb_text": "Best drama of 2025"})
    answer = await submitted.response()
    assert (answer.content, answer.ephemeral) == ("Thanks: Best drama of 2025", True)


async def test_autocomplete(synced: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    ix = await fake.autocomplete(g, g.member("fan1"), "episode", focused="title", value="ep")
    resp = await ix.response()
    assert resp.type == 8
    assert [c["value"] for c in ix.choices] == [f"ep{n}" for n in range(1, 9)]
    assert ix.payload["data"]["options"] == [{"name": "title", "type": 3, "value": "ep", "focused": True}]


# -- REST with state --------------------------------------------------------------------------------------------------


async def test_messages_edit_pins_reactions_and_history(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    channel = bot.get_channel(g.channel("general").id)
    sent = await channel.send("first", embed=discord.Embed(title="Ep 1", description="Aired"),
                              file=discord.File(__file__, filename="notes.txt"))
    assert sent.attachments[0].filename == "notes.txt"
    request = fake.requests_to("POST", "/channels/{channel_id}/messages")[-1]
    assert request.json["content"] == "first" and request.files[0].filename == "notes.txt"
    edited = await sent.edit(content="first (edited)")
    assert edited.content == "first (edited)" and edited.edited_at is not None
    await sent.pin()
    await sent.add_reaction("🔥")
    pins = [m async for m in channel.pins()]
    assert [m.id for m in pins] == [sent.id]
    fetched = await channel.fetch_message(sent.id)
    assert fetched.pinned and fetched.reactions[0].emoji == "🔥" and fetched.reactions[0].me
    second = await channel.send("second")
    history = [m.content async for m in channel.history(limit=10)]
    assert history == ["second", "first (edited)"]
    await second.delete()
    assert [m["content"] for m in fake.messages_in(g.channel("general"))] == ["first (edited)"]
    with pytest.raises(discord.NotFound) as info:
        await channel.fetch_message(second.id)
    assert info.value.code == 10008


async def test_forum_post_with_tags_and_thread_from_message(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    forum = bot.get_channel(g.channel("episode-discussion").id)
    tag = next(t for t in forum.available_tags if t.name == "Episode")
    created = asyncio.ensure_future(bot.wait_for("thread_create"))
    thread, starter = await forum.create_thread(name="Episode 1 discussion", content="Spoilers below",
                                                applied_tags=[tag])
    await asyncio.wait_for(created, 5)
    assert starter.id == thread.id and starter.content == "Spoilers below"
    stored = fake.channels[thread.id]
    assert stored.applied_tags == [tag.id] and stored.parent_id == forum.id
    assert bot.get_channel(thread.id) is not None
    with pytest.raises(discord.HTTPException) as info:
        await forum.create_thread(name="x" * 101, content="too long a name")
    assert info.value.code == 50035
    assert [v.kind for v in fake.take_violations()] == ["invalid_form_body"]

    general = bot.get_channel(g.channel("general").id)
    message = await general.send("Episode 2 starts now")
    from_message = await message.create_thread(name="Episode 2 live")
    assert from_message.id == message.id
    await from_message.edit(archived=True, locked=True)
    assert fake.channels[from_message.id].archived and fake.channels[from_message.id].locked
    await from_message.edit(archived=False)
    await from_message.add_user(discord.Object(g.member("fan1").id))
    assert g.member("fan1").id in fake.channels[from_message.id].member_ids
    fetched = await bot.fetch_channel(from_message.id)
    assert fetched.name == "Episode 2 live"
    fake.delete_channel(fake.channels[from_message.id])
    with pytest.raises(discord.NotFound) as gone:
        await bot.fetch_channel(from_message.id)
    assert gone.value.code == 10003


async def test_scheduled_event_create_edit_delete(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    guild = bot.get_guild(g.id)
    start = datetime.now(UTC) + timedelta(days=1)
    event = await guild.create_scheduled_event(
        name="Episode 1 watch party", start_time=start, end_time=start + timedelta(hours=2),
        entity_type=discord.EntityType.external, location="Netflix", privacy_level=discord.PrivacyLevel.guild_only)
    assert event.location == "Netflix" and fake.default_guild.scheduled_events[event.id].entity_type == 3
    voice = guild.get_channel(g.channel("Watch Party VC").id)
    in_voice = await guild.create_scheduled_event(name="VC party", start_time=start, channel=voice,
                                                  entity_type=discord.EntityType.voice)
    assert in_voice.channel_id == voice.id
    edited = await event.edit(name="Episode 1 & 2 watch party")
    assert edited.name == "Episode 1 & 2 watch party"
    assert [e.name for e in await guild.fetch_scheduled_events()] == ["Episode 1 & 2 watch party", "VC party"]
    await event.delete()
    assert list(g.scheduled_events) == [in_voice.id]
    fake.set_role_permissions(g.role("Code Blue"), int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES))
    with pytest.raises(discord.Forbidden):
        await guild.create_scheduled_event(name="No rights", start_time=start, channel=voice,
                                           entity_type=discord.EntityType.voice)
    with pytest.raises(discord.HTTPException) as info:
        await guild.create_scheduled_event(name="Past", start_time=start - timedelta(days=2),
                                           end_time=start, entity_type=discord.EntityType.external, location="x")
    assert info.value.code == 50035
    fake.take_violations("invalid_form_body")


async def test_dm_to_closed_dms_is_forbidden(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    fan1 = await bot.fetch_user(g.member("fan1").id)
    await fan1.send("Reminder: watch party in 1 hour")
    fake.close_dms(g.member("fan2"))
    fan2 = await bot.fetch_user(g.member("fan2").id)
    with pytest.raises(discord.Forbidden) as info:
        await fan2.send("Reminder")
    assert info.value.code == 50007
    assert [m["content"] for m in fake.messages_in(fake.dm_channels[fan1.id])] == ["Reminder: watch party in 1 hour"]


async def test_rate_limit_is_retried_and_nothing_lost(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    fake.rate_limit("POST", "/channels/{channel_id}/messages", retry_after=0.2)
    await bot.get_channel(g.channel("news").id).send("Season 2 confirmed")
    statuses = [r.status for r in fake.requests_to("POST", "/channels/{channel_id}/messages")]
    assert statuses == [429, 200]
    assert [m["content"] for m in fake.messages_in(g.channel("news"))] == ["Season 2 confirmed"]
    fake.fail("GET", "/channels/*/messages/*", status=503)
    with pytest.raises(discord.DiscordServerError):
        await bot.http.request(discord.http.Route("GET", "/channels/{channel_id}/messages/{message_id}",
                                                  channel_id=g.channel("news").id, message_id=1))


async def test_unknown_route_is_recorded(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    with pytest.raises(discord.NotFound):
        await bot.http.request(discord.http.Route("GET", "/guilds/{guild_id}/nonsense", guild_id=1))
    assert [r.path for r in fake_discord.unknown_routes] == ["/guilds/1/nonsense"]
    assert [v.kind for v in fake_discord.take_violations()] == ["unknown_route"]


@pytest.mark.parametrize(
    ("allowed", "users", "roles", "everyone"),
    [
        (None, ["fan1"], ["News Ping"], False),  # no allowed_mentions at all: everything parses
        (discord.AllowedMentions(everyone=True, users=True, roles=True), ["fan1"], ["News Ping"], False),
        (discord.AllowedMentions.none(), [], [], False),
        (discord.AllowedMentions(everyone=False, users=False, roles=[]), [], [], False),
    ],
)
async def test_allowed_mentions_result(bot: SelfTestBot, fake_discord: FakeDiscord,
                                       allowed: discord.AllowedMentions | None, users: list[str], roles: list[str],
                                       everyone: bool) -> None:
    fake = fake_discord
    g = fake.default_guild
    news_ping, fans = g.role("News Ping"), g.role("Fans")
    content = f"{g.member('fan1').mention} {news_ping.mention} {fans.mention} @everyone"
    if allowed is None:  # a message without allowed_mentions at all: Discord parses everything
        bot.allowed_mentions = None
        sent = await bot.get_channel(g.channel("news").id).send(content)
    else:
        sent = await bot.get_channel(g.channel("news").id).send(content, allowed_mentions=allowed)
    stored = fake.message(sent.id)
    assert [u["username"] for u in stored["mentions"]] == users
    assert [g.roles[int(r)].name for r in stored["mention_roles"]] == roles  # Fans is not mentionable
    assert stored["mention_everyone"] is everyone
    fake.set_role_permissions(g.role("Code Blue"), int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.MENTION_EVERYONE))
    pinged = await bot.get_channel(g.channel("news").id).send(
        "@everyone", allowed_mentions=discord.AllowedMentions(everyone=True))
    assert fake.message(pinged.id)["mention_everyone"] is True


def _embed_with_fields(count: int) -> discord.Embed:
    embed = discord.Embed(title="fields")
    for n in range(count):
        embed.add_field(name=str(n), value="v")
    return embed


async def test_limits_give_invalid_form_body(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    channel = bot.get_channel(fake_discord.default_guild.channel("general").id)
    cases = [
        {"content": "x" * 2001},
        {"embed": discord.Embed(title="t" * 257)},
        {"embed": discord.Embed(description="d" * 4097)},
        {"embed": _embed_with_fields(26)},
        {"embeds": [discord.Embed(description="d" * 4000), discord.Embed(description="d" * 2001)]},

    ]
    for kwargs in cases:
        with pytest.raises(discord.HTTPException) as info:
            await channel.send(**kwargs)
        assert info.value.code == 50035
    # components that discord.py itself would refuse to build, sent raw
    button = {"type": 2, "style": 1, "label": "ok", "custom_id": "ok"}
    raw_cases = [
        [{"type": 1, "components": [{**button, "custom_id": f"b{n}"} for n in range(6)]}],
        [{"type": 1, "components": [{**button, "custom_id": "c" * 101}]}],
        [{"type": 1, "components": [{**button, "label": "l" * 81}]}],
        [{"type": 1, "components": [button]}] * 6,
    ]
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)
    for components in raw_cases:
        with pytest.raises(discord.HTTPException) as info:
            await bot.http.request(route, json={"content": "x", "components": components})
        assert info.value.code == 50035
    assert len(fake_discord.take_violations("invalid_form_body")) == len(cases) + len(raw_cases)


# -- gateway lifecycle ----------------------------------------------------------------------------------------------


async def test_force_disconnect_resumes_and_replays(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    resumed = asyncio.ensure_future(bot.wait_for("resumed"))
    await fake.disconnect()
    member = fake.add_member(g, "joined_while_away")
    await asyncio.wait_for(resumed, 5)
    assert fake.gateway.resume_count == 1 and fake.gateway.identify_count == 1
    for _ in range(500):  # a loaded machine is slow; a passing run never waits that long
        if bot.get_guild(g.id).get_member(member.id):
            break
        await asyncio.sleep(0.02)
    assert bot.get_guild(g.id).get_member(member.id) is not None

    fake.resumable = False
    await fake.disconnect()
    await fake.wait_for_identify(2)
    await asyncio.wait_for(bot.wait_until_ready(), 5)
    assert bot.get_guild(g.id) is not None


async def test_stop_and_start_a_second_client_and_join_a_guild(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    first, task = await start_bot(fake)
    await stop_bot(first, task)
    await fake.wait_for_no_connection()
    second, task = await start_bot(fake)
    try:
        assert fake.gateway.identify_count == 2
        assert second.get_guild(fake.default_guild.id) is not None
        joined = asyncio.ensure_future(second.wait_for("guild_join"))
        other = fake.add_guild("Other Fandom", default_layout=False)
        assert (await asyncio.wait_for(joined, 5)).id == other.id
        assert second.get_guild(other.id).me is not None
    finally:
        await stop_bot(second, task)


async def test_raw_gateway_protocol_zlib_and_plain() -> None:
    fake = await FakeDiscord(heartbeat_interval=1234).start()
    fake.add_guild()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{fake.gateway_url}?v=10&encoding=json&compress=zlib-stream") as ws:
                inflate = zlib.decompressobj()

                async def receive() -> dict:
                    frame = await ws.receive_bytes(timeout=2)
                    assert frame.endswith(b"\x00\x00\xff\xff")
                    return json.loads(inflate.decompress(frame))

                assert await receive() == {"op": 10, "d": {"heartbeat_interval": 1234}, "s": None, "t": None}
                await ws.send_json({"op": 1, "d": None})
                assert (await receive())["op"] == 11
                await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 1, "properties": {}}})
                ready = await receive()
                assert (ready["t"], ready["s"]) == ("READY", 1)
                assert ready["d"]["guilds"] == [{"id": str(fake.default_guild.id), "unavailable": True}]
                guild_create = await receive()
                assert (guild_create["t"], guild_create["s"]) == ("GUILD_CREATE", 2)
                assert [m["user"]["id"] for m in guild_create["d"]["members"]] == [str(fake.bot_user.id)]
                session_id = ready["d"]["session_id"]
                await ws.close(code=4000)  # not a clean 1000 close: the session stays resumable
            async with session.ws_connect(f"{fake.gateway_url}?v=10&encoding=json") as ws:
                assert (await ws.receive_json(timeout=2))["op"] == 10
                await ws.send_json({"op": 6, "d": {"token": fake.token, "session_id": session_id, "seq": 1}})
                replayed = await ws.receive_json(timeout=2)
                assert (replayed["t"], replayed["s"]) == ("GUILD_CREATE", 2)
                assert (await ws.receive_json(timeout=2))["t"] == "RESUMED"
            async with session.ws_connect(f"{fake.gateway_url}?v=10&encoding=json") as ws:
                await ws.receive_json(timeout=2)
                await ws.send_json({"op": 6, "d": {"token": fake.token, "session_id": "nope", "seq": 1}})
                assert await ws.receive_json(timeout=2) == {"op": 9, "d": False, "s": None, "t": None}
            async with session.ws_connect(f"{fake.gateway_url}?v=10&encoding=json") as ws:
                await ws.receive_json(timeout=2)
                await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 1, "properties": {}}})
                await ws.receive(timeout=2)
                assert ws.close_code == 4004
    finally:
        await fake.stop()
    fake.assert_clean()


async def test_interaction_response_with_file_and_dm_slash(synced: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    resp = await (await fake.slash(g, g.member("fan1"), "poster")).response()
    assert resp.message is not None and resp.message["attachments"][0]["filename"] == "poster.png"
    callback = fake.requests_to("POST", "/interactions/{interaction_id}/{interaction_token}/callback")[-1]
    assert callback.json["type"] == 4 and callback.files[0].data == b"PNG"
    await synced.tree.sync()  # global commands are usable in DMs
    dm = await fake.slash(None, g.member("fan2"), "ping")
    assert (await dm.response()).content == "pong"
    assert dm.payload["user"]["username"] == "fan2" and "member" not in dm.payload


async def test_threads_permissions_archive_and_embed_dropping(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    general = bot.get_channel(g.channel("general").id)
    thread = await general.create_thread(name="Episode 3", type=discord.ChannelType.public_thread)
    fake.archive_thread(fake.channels[thread.id])
    mark = fake.mark()
    await thread.send("still talking")  # sending unarchives an unlocked thread, like Discord
    assert not fake.channels[thread.id].archived
    assert [r.route for r in fake.requests[mark:]] == ["POST /channels/{channel_id}/messages"]
    active = await bot.get_guild(g.id).active_threads()
    assert [t.id for t in active] == [thread.id]

    fake.set_overwrite(g.channel("watch-party"), g.role("Code Blue"), deny=Perm.CREATE_PUBLIC_THREADS)
    watch_party = bot.get_channel(g.channel("watch-party").id)
    with pytest.raises(discord.Forbidden):
        await watch_party.create_thread(name="nope", type=discord.ChannelType.public_thread)

    fake.set_overwrite(g.channel("news"), g.role("Code Blue"), deny=Perm.EMBED_LINKS)
    sent = await bot.get_channel(g.channel("news").id).send("headline", embed=discord.Embed(title="Season 2"))
    assert fake.message(sent.id)["embeds"] == [] and sent.content == "headline"

    forum = bot.get_channel(g.channel("episode-discussion").id)
    tags = [*forum.available_tags, discord.ForumTag(name="Fan art")]
    with pytest.raises(discord.Forbidden):  # editing a forum needs MANAGE_CHANNELS
        await forum.edit(available_tags=tags)
    bot_role = g.role("Code Blue")
    updated = asyncio.ensure_future(bot.wait_for("guild_role_update"))
    fake.set_role_permissions(bot_role, bot_role.permissions | Perm.MANAGE_CHANNELS)
    await asyncio.wait_for(updated, 5)
    await forum.edit(available_tags=tags)
    assert [t["name"] for t in fake.channels[forum.id].available_tags][-1] == "Fan art"


async def test_wait_for_request_sees_background_work(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    news = fake.default_guild.channel("news")
    mark = fake.mark()

    async def later() -> None:
        await asyncio.sleep(0.05)
        await bot.get_channel(news.id).send("news flash")

    task = asyncio.create_task(later())
    request = await fake.wait_for_request("POST", "/channels/{channel_id}/messages",
                                          lambda r: r.params["channel_id"] == str(news.id), since=mark)
    assert request.json["content"] == "news flash" and request.status == 200
    await task
    with pytest.raises(AssertionError, match="no POST"):
        await fake.wait_for_request("POST", "/channels/{channel_id}/messages", since=fake.mark(), timeout=0.05)


async def test_member_messages_reactions_and_event_interest(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    received: list[discord.Message] = []

    async def on_message(message: discord.Message) -> None:
        received.append(message)

    bot.add_listener(on_message)
    plain = fake.post_message(g.channel("general"), g.member("fan1"), "hello everyone")
    mention = fake.post_message(g.channel("general"), g.member("fan2"), f"<@{fake.bot_user.id}> hi bot")
    await fake.drain()
    for _ in range(1000):  # up to 10 s on a loaded machine
        if len(received) == 2:
            break
        await asyncio.sleep(0.01)
    # no MESSAGE_CONTENT intent: other users' content is blank unless the bot is mentioned
    assert [(m.id, m.content) for m in received] == [(int(plain["id"]), ""),
                                                     (int(mention["id"]), f"<@{fake.bot_user.id}> hi bot")]
    reacted = asyncio.ensure_future(bot.wait_for("raw_reaction_add"))
    fake.react(plain, "👍", g.member("fan3"))
    payload = await asyncio.wait_for(reacted, 5)
    assert (payload.user_id, str(payload.emoji)) == (g.member("fan3").id, "👍")
    users = [u.id async for u in (await bot.get_channel(g.channel("general").id).fetch_message(int(plain["id"])))
             .reactions[0].users()]
    assert users == [g.member("fan3").id]

    guild = bot.get_guild(g.id)
    start = datetime.now(UTC) + timedelta(hours=3)
    event = await guild.create_scheduled_event(name="Finale", start_time=start, end_time=start + timedelta(hours=1),
                                               entity_type=discord.EntityType.external, location="Netflix")
    fake.event_interest(g.scheduled_events[event.id], g.member("fan1"))
    assert [u.id async for u in event.users()] == [g.member("fan1").id]


# -- crash and storm tools: held answers, nonces, chaos, expired tokens -------------------------------------------


async def test_a_held_answer_comes_after_discord_stored_the_message(bot: SelfTestBot, fake_discord: FakeDiscord
                                                                    ) -> None:
    fake = fake_discord
    channel = bot.get_channel(fake.default_guild.channel("general").id)
    hold = fake.hold("POST", "/channels/{channel_id}/messages", 0.5)
    sending = asyncio.ensure_future(channel.send("held"))
    held = await hold.wait(5)
    assert held.json["content"] == "held"
    assert [m["content"] for m in fake.messages_in(channel.id)] == ["held"]  # stored while the bot still waits
    assert not sending.done()
    message = await asyncio.wait_for(sending, 5)
    assert message.content == "held" and hold.times == 0
    await channel.send("not held")  # the hold was for one request
    assert len(hold.requests) == 1


async def test_a_nonce_within_the_window_returns_the_first_message(bot: SelfTestBot, fake_discord: FakeDiscord
                                                                   ) -> None:
    fake = fake_discord
    channel = bot.get_channel(fake.default_guild.channel("general").id)
    first = await channel.send("once", nonce="r1.2.3.0")
    again = await channel.send("once", nonce="r1.2.3.0")
    other = await channel.send("once", nonce="r1.2.3.1")
    assert again.id == first.id != other.id and fake.nonce_hits == 1
    assert len(fake.messages_in(channel.id)) == 2
    assert all("nonce" not in m for m in [await bot.http.get_message(channel.id, first.id)])  # GETs omit it
    fake.nonce_window = 0
    assert (await channel.send("once", nonce="r1.2.3.0")).id != first.id


async def test_chaos_injects_seeded_errors_and_checks_rate_limits(bot: SelfTestBot, fake_discord: FakeDiscord
                                                                  ) -> None:
    fake = fake_discord
    channel = bot.get_channel(fake.default_guild.channel("general").id)
    chaos = fake.chaos([("POST", "/channels/{channel_id}/messages")], fraction=0.5, statuses=(503, 429),
                       retry_after=0.1, global_share=0.3, seed=7)
    delivered = failed = 0
    for n in range(20):
        try:
            await channel.send(f"m{n}")
            delivered += 1
        except discord.DiscordServerError:
            failed += 1  # 503 is raised at once by discord.py
    chaos.stop()
    assert delivered + failed == 20 and failed == chaos.injected.get("503", 0) > 0
    assert chaos.injected.get("429", 0) + chaos.injected.get("429 global", 0) > 0  # waited out by discord.py
    assert len(fake.messages_in(channel.id)) == delivered
    assert fake.take_violations("rate_limit_ignored") == []  # discord.py waits out every 429


async def test_a_request_inside_a_429_window_is_a_violation(bot: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    channel_id = fake.default_guild.channel("general").id
    fake.chaos([("POST", "/channels/{channel_id}/messages")], fraction=1.0, statuses=(429,), retry_after=5,
               global_share=0, seed=1).stop()
    chaos = fake.chaos_runs[-1]
    chaos.active = True
    async with aiohttp.ClientSession() as http:  # raw requests that ignore the 429, unlike discord.py
        url = f"{fake.api_base}/channels/{channel_id}/messages"
        headers = {"Authorization": f"Bot {fake.token}"}
        async with http.post(url, json={"content": "a"}, headers=headers) as first:
            assert first.status == 429 and (await first.json())["retry_after"] == 5
        chaos.stop()
        # A request that may have been on its way before the 429 was read is not counted ...
        async with http.post(url, json={"content": "in flight"}, headers=headers) as early:
            assert early.status == 200
        assert fake.take_violations("rate_limit_ignored") == []
        await asyncio.sleep(IN_FLIGHT_SLACK)  # ... one sent once the client could know is
        async with http.post(url, json={"content": "b"}, headers=headers) as second:
            assert second.status == 200
    assert [v.kind for v in fake.take_violations("rate_limit_ignored")] == ["rate_limit_ignored"]


async def test_expired_interaction_tokens(synced: SelfTestBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    g = fake.default_guild
    ix = await fake.slash(g, g.member("fan1"), "ping")
    assert (await ix.response()).content == "pong"
    fake.expire_interaction_tokens()
    webhook = discord.Webhook.partial(fake.application_id, ix.payload["token"], client=synced)
    with pytest.raises(discord.HTTPException) as info:
        await webhook.send("late followup")
    assert (info.value.status, info.value.code) == (401, 50027)


async def test_gateway_drop_while_a_send_is_held_resumes_or_reidentifies(bot: SelfTestBot, fake_discord: FakeDiscord
                                                                         ) -> None:
    fake = fake_discord
    channel = bot.get_channel(fake.default_guild.channel("general").id)
    for resumable, expect in ((True, "resume"), (False, "identify")):
        fake.resumable = resumable
        hold = fake.hold("POST", "/channels/{channel_id}/messages", 0.3)
        sending = asyncio.ensure_future(channel.send(f"mid-send {expect}"))
        await hold.wait(5)
        await fake.disconnect()
        message = await asyncio.wait_for(sending, 5)
        if expect == "resume":
            await fake.wait_for_resume(1)
        else:
            await fake.wait_for_identify(2)
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        assert [m["id"] for m in fake.messages_in(channel.id)].count(str(message.id)) == 1
    assert len(fake.messages_in(channel.id)) == 2
