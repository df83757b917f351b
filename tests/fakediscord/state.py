"""The fake Discord's world: users, guilds, roles, members, channels, threads, messages, scheduled events.

Imitates what Discord keeps server-side, with real field names (see discord/types/*.py) so the payloads the
gateway and REST routes send back parse in the unmodified discord.py client:

- `Snowflakes` makes ids with a real timestamp (Discord epoch 2015-01-01, 22-bit shift).
- `Perm` holds Discord's permission bits; `permissions_for()` implements Discord's algorithm (owner,
  @everyone base, roles OR, ADMINISTRATOR, channel overwrites everyone -> roles -> member, threads use their parent,
  implicit denies when VIEW_CHANNEL or SEND_MESSAGES is missing).
- `mentions_for()` decides which users, roles and @everyone a message actually pings given its content and
  `allowed_mentions` (Discord's rules).
- `build_default_guild()` makes a realistic fan server (see its docstring for what is in it).

Model objects are plain dataclasses that tests may read (and pass to helpers such as `FakeDiscord.slash`); change
them through `FakeDiscord` helpers so that the right gateway events are sent.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, IntFlag
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000


class Snowflakes:
    """Generates unique, increasing snowflake ids whose timestamp part is the current time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._increment = itertools.count()

    def next(self) -> int:
        with self._lock:
            ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
            candidate = (ms << 22) | (1 << 17) | (next(self._increment) & 0xFFF)
            if candidate <= self._last:
                candidate = self._last + 1
            self._last = candidate
            return candidate

    def next_on_shard(self, shard_id: int, shard_count: int) -> int:
        """An id whose server falls on `shard_id` of `shard_count` (Discord: `(guild_id >> 22) % shard_count`)."""
        with self._lock:
            ms = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, (self._last >> 22) + 1)
            ms += (shard_id - ms) % shard_count
            self._last = (ms << 22) | (1 << 17) | (next(self._increment) & 0xFFF)
            return self._last


def shard_of(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % shard_count


def snowflake_time(snowflake: int) -> datetime:
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


def iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).isoformat()


class Perm(IntFlag):
    """Discord permission bits (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    CREATE_EVENTS = 1 << 44

    @classmethod
    def all(cls) -> Perm:
        value = cls(0)
        for flag in cls:
            value |= flag
        return value


EVERYONE_DEFAULT = (
    Perm.CREATE_INSTANT_INVITE | Perm.ADD_REACTIONS | Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES | Perm.READ_MESSAGE_HISTORY | Perm.USE_EXTERNAL_EMOJIS | Perm.CONNECT | Perm.SPEAK
    | Perm.USE_VAD | Perm.CHANGE_NICKNAME | Perm.USE_APPLICATION_COMMANDS | Perm.CREATE_PUBLIC_THREADS
    | Perm.CREATE_PRIVATE_THREADS | Perm.SEND_MESSAGES_IN_THREADS | Perm.USE_EXTERNAL_STICKERS | Perm.REQUEST_TO_SPEAK
    | Perm.STREAM
)  # without CREATE_EVENTS, so that taking MANAGE_EVENTS from the bot role really denies scheduled events
BOT_DEFAULT = (
    Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS | Perm.ATTACH_FILES | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS | Perm.USE_EXTERNAL_EMOJIS | Perm.MANAGE_THREADS | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS | Perm.MANAGE_EVENTS | Perm.CREATE_EVENTS | Perm.MANAGE_MESSAGES
    | Perm.USE_APPLICATION_COMMANDS | Perm.CONNECT
)


class ChannelType(IntEnum):
    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5
    ANNOUNCEMENT_THREAD = 10
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    GUILD_STAGE_VOICE = 13
    GUILD_FORUM = 15
    GUILD_MEDIA = 16


THREAD_TYPES = {ChannelType.ANNOUNCEMENT_THREAD, ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD}


@dataclass(eq=False)
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    dms_closed: bool = False

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass(eq=False)
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(int(self.permissions)),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass(eq=False)
class Member:
    user: User
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def mention(self) -> str:
        return self.user.mention

    def to_payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in self.role_ids],
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.to_payload()
        return data


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def to_payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "type": self.type, "allow": str(int(self.allow)), "deny": str(int(self.deny))}


@dataclass(eq=False)
class Channel:
    """A guild channel, a thread (type 10/11/12) or a DM channel (type 1)."""

    id: int
    type: int
    name: str | None = None
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    rate_limit_per_user: int = 0
    last_message_id: int | None = None
    # forum / media
    available_tags: list[dict[str, Any]] = field(default_factory=list)
    # threads
    owner_id: int | None = None
    applied_tags: list[int] = field(default_factory=list)
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 1440
    archive_timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    member_ids: set[int] = field(default_factory=set)
    message_count: int = 0
    total_message_sent: int = 0
    # voice
    bitrate: int = 64000
    user_limit: int = 0
    # dm
    recipient: User | None = None
    deleted: bool = False

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def to_payload(self) -> dict[str, Any]:
        if self.type == ChannelType.DM:
            return {
                "id": str(self.id),
                "type": self.type,
                "last_message_id": _opt_str(self.last_message_id),
                "flags": 0,
                "recipients": [self.recipient.to_payload()] if self.recipient else [],
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": int(self.type),
            "guild_id": str(self.guild_id),
            "name": self.name,
            "parent_id": _opt_str(self.parent_id),
            "flags": 0,
            "rate_limit_per_user": self.rate_limit_per_user,
            "nsfw": self.nsfw,
        }
        if self.is_thread:
            data.update(
                owner_id=_opt_str(self.owner_id),
                last_message_id=_opt_str(self.last_message_id),
                member_count=min(len(self.member_ids), 50),
                message_count=self.message_count,
                total_message_sent=self.total_message_sent,
                applied_tags=[str(t) for t in self.applied_tags],
                thread_metadata={
                    "archived": self.archived,
                    "auto_archive_duration": self.auto_archive_duration,
                    "archive_timestamp": iso(self.archive_timestamp),
                    "locked": self.locked,
                    "invitable": self.invitable,
                    "create_timestamp": iso(snowflake_time(self.id)),
                },
            )
            return data
        data.update(
            position=self.position,
            permission_overwrites=[o.to_payload() for o in self.overwrites.values()],
        )
        if self.type in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT, ChannelType.GUILD_FORUM):
            data.update(topic=self.topic, last_message_id=_opt_str(self.last_message_id),
                        default_auto_archive_duration=1440, default_thread_rate_limit_per_user=0)
        if self.type in (ChannelType.GUILD_FORUM, ChannelType.GUILD_MEDIA):
            data.update(
                available_tags=[dict(t) for t in self.available_tags],
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
            )
        if self.type in (ChannelType.GUILD_VOICE, ChannelType.GUILD_STAGE_VOICE):
            data.update(bitrate=self.bitrate, user_limit=self.user_limit, rtc_region=None,
                        last_message_id=_opt_str(self.last_message_id), video_quality_mode=1)
        return data


@dataclass(eq=False)
class ScheduledEvent:
    id: int
    guild_id: int
    creator: User
    name: str
    entity_type: int
    scheduled_start_time: str
    scheduled_end_time: str | None = None
    channel_id: int | None = None
    description: str | None = None
    location: str | None = None
    status: int = 1
    privacy_level: int = 2
    user_count: int = 0

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "guild_id": str(self.guild_id),
            "channel_id": _opt_str(self.channel_id),
            "creator_id": str(self.creator.id),
            "creator": self.creator.to_payload(),
            "name": self.name,
            "description": self.description,
            "scheduled_start_time": self.scheduled_start_time,
            "scheduled_end_time": self.scheduled_end_time,
            "privacy_level": self.privacy_level,
            "status": self.status,
            "entity_type": self.entity_type,
            "entity_id": None,
            "entity_metadata": {"location": self.location} if self.location is not None else None,
            "user_count": self.user_count,
            "image": None,
            "recurrence_rule": None,
        }


@dataclass(eq=False)
class Guild:
    id: int
    name: str
    owner_id: int
    preferred_locale: str = "en-US"
    system_channel_id: int | None = None
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    scheduled_events: dict[int, ScheduledEvent] = field(default_factory=dict)

    # -- lookups for tests -------------------------------------------------------------------------------------
    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    @property
    def owner(self) -> Member:
        return self.members[self.owner_id]

    def channel(self, name: str) -> Channel:
        """The live (non-deleted) channel or thread with this name."""
        for channel in self.channels.values():
            if channel.name == name and not channel.deleted:
                return channel
        raise KeyError(f"no channel named {name!r} in guild {self.name!r}")

    def role(self, name: str) -> Role:
        for role in self.roles.values():
            if role.name == name:
                return role
        raise KeyError(f"no role named {name!r} in guild {self.name!r}")

    def member(self, name: str) -> Member:
        """Member by username, global name or nick."""
        for member in self.members.values():
            if name in (member.user.username, member.user.global_name, member.nick):
                return member
        raise KeyError(f"no member named {name!r} in guild {self.name!r}")

    def live_channels(self) -> list[Channel]:
        return [c for c in self.channels.values() if not c.deleted and not c.is_thread]

    def live_threads(self) -> list[Channel]:
        return [c for c in self.channels.values() if not c.deleted and c.is_thread and not c.archived]

    def to_payload(self, *, members: list[Member] | None = None, full: bool = True, join: bool = False,
                   ) -> dict[str, Any]:
        """`full`: the GUILD_CREATE shape; `join`: a guild the bot just joined (no `unavailable` key, which is
        how discord.py tells guild_join from guild_available)."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": "us-west",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": [r.to_payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": ["COMMUNITY", "NEWS"],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": _opt_str(self.system_channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.preferred_locale,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "incidents_data": None,
        }
        if full:
            shown = list(self.members.values()) if members is None else members
            if not join:
                data["unavailable"] = False
            data.update(
                large=False,
                joined_at=iso(snowflake_time(self.id)),
                member_count=len(self.members),
                members=[m.to_payload() for m in shown],
                channels=[c.to_payload() for c in self.live_channels()],
                threads=[c.to_payload() for c in self.live_threads()],
                voice_states=[],
                presences=[],
                stage_instances=[],
                guild_scheduled_events=[e.to_payload() for e in self.scheduled_events.values()],
                soundboard_sounds=[],
            )
        return data


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)


# -- permissions ----------------------------------------------------------------------------------------------------


def base_permissions(guild: Guild, member: Member) -> int:
    if member.id == guild.owner_id:
        return int(Perm.all())
    perms = guild.everyone.permissions
    for role_id in member.role_ids:
        role = guild.roles.get(role_id)
        if role is not None:
            perms |= role.permissions
    if perms & Perm.ADMINISTRATOR:
        return int(Perm.all())
    return int(perms)


def permissions_for(guild: Guild, member: Member, channel: Channel | None = None) -> int:
    """Discord's permission algorithm; `channel=None` gives guild-level permissions."""
    perms = base_permissions(guild, member)
    if channel is None or perms & Perm.ADMINISTRATOR:
        return perms
    target = guild.channels.get(channel.parent_id) if channel.is_thread and channel.parent_id else channel
    if target is None:
        return perms
    everyone = target.overwrites.get(guild.id)
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.role_ids:
        overwrite = target.overwrites.get(role_id)
        if overwrite is not None and overwrite.type == 0:
            allow |= overwrite.allow
            deny |= overwrite.deny
    perms = (perms & ~deny) | allow
    own = target.overwrites.get(member.id)
    if own is not None and own.type == 1:
        perms = (perms & ~own.deny) | own.allow
    if not perms & Perm.VIEW_CHANNEL:
        return 0
    if target.type != ChannelType.GUILD_VOICE and not perms & Perm.SEND_MESSAGES:
        perms &= ~(Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES)
    return int(perms)


# -- mentions -------------------------------------------------------------------------------------------------------

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass
class MentionResult:
    users: list[int]
    roles: list[int]
    everyone: bool


def mentions_for(
    content: str,
    allowed_mentions: dict[str, Any] | None,
    *,
    guild: Guild | None,
    can_mention_everyone: bool,
    replied_user_id: int | None = None,
) -> MentionResult:
    """Who the message pings: Discord parses everything when `allowed_mentions` is absent; otherwise `parse`
    enables whole kinds and `users` / `roles` allow listed ids; `replied_user` (default True when absent)."""
    content = content or ""
    if allowed_mentions is None:
        parse = {"users", "roles", "everyone"}
        allowed_users: set[int] = set()
        allowed_roles: set[int] = set()
        replied_user = True
    else:
        parse = set(allowed_mentions.get("parse", []))
        allowed_users = {int(u) for u in allowed_mentions.get("users", [])}
        allowed_roles = {int(r) for r in allowed_mentions.get("roles", [])}
        replied_user = bool(allowed_mentions.get("replied_user", False))

    users: list[int] = []
    for match in _USER_MENTION.finditer(content):
        uid = int(match.group(1))
        if ("users" in parse or uid in allowed_users) and uid not in users:
            users.append(uid)
    if replied_user and replied_user_id is not None and replied_user_id not in users:
        users.append(replied_user_id)

    roles: list[int] = []
    for match in _ROLE_MENTION.finditer(content):
        rid = int(match.group(1))
        role = guild.roles.get(rid) if guild else None
        if role is None or rid in roles:
            continue
        if ("roles" in parse or rid in allowed_roles) and (role.mentionable or can_mention_everyone):
            roles.append(rid)

    everyone = (
        ("@everyone" in content or "@here" in content) and "everyone" in parse and can_mention_everyone
    )
    return MentionResult(users=users, roles=roles, everyone=everyone)


# -- default guild --------------------------------------------------------------------------------------------------


def build_default_guild(ids: Snowflakes, bot_user: User, *, name: str = "Trauma Code Fans",
                        preferred_locale: str = "en-US", owner_name: str = "owner", guild_id: int | None = None
                        ) -> Guild:
    """A realistic fan server.

    Roles: @everyone (Discord's default permissions), Admin (MANAGE_GUILD), Moderator (manage messages/threads,
    kick, timeout), Fans, News Ping (mentionable), and the bot's managed role "Code Blue" (`BOT_DEFAULT`).
    Channels: category "Community" with #general (system channel), #news, #watch-party and #bot-log (hidden from
    @everyone, visible to Moderator and the bot); forum #episode-discussion with tags Episode/Theory/Spoilers/News;
    category "Voice" with voice channel "Watch Party VC".
    Members: owner, admin (Admin), mod (Moderator, Fans), fan1/fan2/fan3 (Fans; fan3 also News Ping) and the bot.
    """
    guild_id = guild_id or ids.next()
    owner = User(ids.next(), owner_name, "백강혁")
    guild = Guild(id=guild_id, name=name, owner_id=owner.id, preferred_locale=preferred_locale)
    guild.roles[guild_id] = Role(guild_id, guild_id, "@everyone", int(EVERYONE_DEFAULT), position=0)

    def role(role_name: str, perms: int, position: int, **kw: Any) -> Role:
        r = Role(ids.next(), guild_id, role_name, int(perms), position=position, **kw)
        guild.roles[r.id] = r
        return r

    fans = role("Fans", 0, 1, color=0x3498DB)
    news_ping = role("News Ping", 0, 2, mentionable=True)
    moderator = role("Moderator", Perm.MANAGE_MESSAGES | Perm.MANAGE_THREADS | Perm.KICK_MEMBERS
                     | Perm.MODERATE_MEMBERS | Perm.MANAGE_EVENTS, 3, hoist=True, color=0x2ECC71)
    admin = role("Admin", Perm.MANAGE_GUILD | Perm.MANAGE_CHANNELS | Perm.MANAGE_ROLES | Perm.MANAGE_EVENTS
                 | Perm.MANAGE_MESSAGES | Perm.MANAGE_THREADS | Perm.VIEW_AUDIT_LOG, 4, hoist=True, color=0xE74C3C)
    bot_role = role("Code Blue", BOT_DEFAULT, 5, managed=True, bot_id=bot_user.id)

    def member(user: User, *roles: Role) -> Member:
        m = Member(user, guild_id, [r.id for r in roles])
        guild.members[user.id] = m
        return m

    member(owner)
    member(User(ids.next(), "admin", "양재원"), admin)
    member(User(ids.next(), "mod", "천장미"), moderator, fans)
    member(User(ids.next(), "fan1", "haneul"), fans)
    member(User(ids.next(), "fan2", "daniel"), fans)
    member(User(ids.next(), "fan3", "서연"), fans, news_ping)
    member(bot_user, bot_role)

    def channel(channel_name: str, kind: int, position: int, parent: Channel | None = None, **kw: Any) -> Channel:
        c = Channel(ids.next(), kind, channel_name, guild_id, position=position,
                    parent_id=parent.id if parent else None, **kw)
        guild.channels[c.id] = c
        return c

    community = channel("Community", ChannelType.GUILD_CATEGORY, 0)
    general = channel("general", ChannelType.GUILD_TEXT, 1, community, topic="Talk about Trauma Code")
    channel("news", ChannelType.GUILD_TEXT, 2, community, topic="Season 2 news")
    channel("watch-party", ChannelType.GUILD_TEXT, 3, community)
    bot_log = channel("bot-log", ChannelType.GUILD_TEXT, 4, community)
    bot_log.overwrites = {
        guild_id: Overwrite(guild_id, 0, deny=int(Perm.VIEW_CHANNEL)),
        moderator.id: Overwrite(moderator.id, 0, allow=int(Perm.VIEW_CHANNEL)),
        bot_role.id: Overwrite(bot_role.id, 0, allow=int(Perm.VIEW_CHANNEL)),
    }
    forum = channel("episode-discussion", ChannelType.GUILD_FORUM, 5, community)
    forum.available_tags = [
        {"id": str(ids.next()), "name": tag, "moderated": False, "emoji_id": None, "emoji_name": emoji}
        for tag, emoji in (("Episode", "🎬"), ("Theory", "🧠"), ("Spoilers", "⚠️"), ("News", "📰"))
    ]
    voice_category = channel("Voice", ChannelType.GUILD_CATEGORY, 6)
    channel("Watch Party VC", ChannelType.GUILD_VOICE, 7, voice_category)
    guild.system_channel_id = general.id
    return guild


def build_empty_guild(ids: Snowflakes, bot_user: User, *, name: str, owner_name: str = "owner",
                      preferred_locale: str = "en-US", guild_id: int | None = None) -> Guild:
    """A guild with only @everyone, a #general channel, its owner and the bot (with the bot role)."""
    guild_id = guild_id or ids.next()
    owner = User(ids.next(), owner_name)
    guild = Guild(id=guild_id, name=name, owner_id=owner.id, preferred_locale=preferred_locale)
    guild.roles[guild_id] = Role(guild_id, guild_id, "@everyone", int(EVERYONE_DEFAULT))
    bot_role = Role(ids.next(), guild_id, bot_user.username, int(BOT_DEFAULT), position=1, managed=True,
                    bot_id=bot_user.id)
    guild.roles[bot_role.id] = bot_role
    guild.members[owner.id] = Member(owner, guild_id)
    guild.members[bot_user.id] = Member(bot_user, guild_id, [bot_role.id])
    general = Channel(ids.next(), ChannelType.GUILD_TEXT, "general", guild_id)
    guild.channels[general.id] = general
    guild.system_channel_id = general.id
    return guild
