"""`FakeDiscord`: the aiohttp server (REST v10 under /api/v10 and the gateway under /gateway) and the test-facing API.

Imitates Discord's HTTP edge: routes are matched against Discord's route templates (the same strings discord.py
uses, e.g. "POST /channels/{channel_id}/messages"); every request is recorded with its template, body, files,
status and answer; unknown routes answer 404 {"message": "404: Not Found", "code": 0} and are recorded; tests can
make the next N matching requests answer 429 (with Discord's rate-limit headers and body) or a 5xx.

Typical use (see README.md and fixtures.py):

    fake = FakeDiscord()
    await fake.start()
    guild = fake.add_guild()                       # the realistic default guild
    use_endpoints(fake.api_base, fake.gateway_url)  # bot.discord_endpoints: what the bot does with its settings
    ...
    ix = await fake.slash(guild, guild.member("admin"), "config channel", kind="news", channel=guild.channel("news"))
    resp = await ix.response(timeout=5)
    fake.assert_clean()
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from . import interactions, rest, rest_channels, rest_commands, rest_guilds, rest_messages  # noqa: F401 - routes
from .gateway import Gateway
from .state import (
    Channel,
    ChannelType,
    Guild,
    Member,
    Overwrite,
    Role,
    ScheduledEvent,
    Snowflakes,
    User,
    build_default_guild,
    build_empty_guild,
)
from .waiting import wait_until

API_PREFIX = "/api/v10"
# Shaped like a real bot token (three dot-separated parts) for bots that check the shape.
DEFAULT_TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GfAkEd.fake-discord-token-for-tests-only-xyz"


class ApiError(Exception):
    """Raised by route handlers: becomes a Discord JSON error answer."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code}
        if errors:
            self.body["errors"] = errors


def missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


@dataclass
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    """One HTTP request the fake received and what it answered."""

    method: str
    template: str  # "/channels/{channel_id}/messages"; the concrete path for unknown routes
    path: str
    params: dict[str, str]
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    headers: dict[str, str]
    time: datetime
    status: int = 0
    response: Any = None
    # A chaos 5xx answered after the request was handled (Discord did it; the answer says it failed).
    failed_after_handling: bool = False

    @property
    def route(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def reason(self) -> str | None:
        """The audit-log reason (X-Audit-Log-Reason), decoded."""
        raw = self.headers.get("X-Audit-Log-Reason")
        return None if raw is None else unquote(raw)


@dataclass
class Violation:
    """Something the bot did that Discord would reject or that breaks Discord's rules."""

    kind: str  # invalid_form_body, answered_twice, answered_late, unanswered, unknown_route, ...
    detail: str
    request: RecordedRequest | None = None


@dataclass
class _Fault:
    method: str
    pattern: str
    times: int
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, method: str, template: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        return self.pattern == template or fnmatch.fnmatchcase(path, self.pattern)


@dataclass
class Hold:
    """`fake.hold(...)`: the next `times` matching requests are handled (Discord stores what they create, the
    member sees an interaction's answer) and their answer is then held back `seconds`. `reached` is set as soon as
    one is being held (`await hold.wait()`), `requests` lists them. With `status` (e.g. 500), the request is still
    handled (what it creates is stored) but answered with that error status after the hold, like a Discord that
    stored a message and then failed to say so."""

    method: str
    pattern: str
    seconds: float
    times: int
    predicate: Callable[[RecordedRequest], bool] | None = None
    status: int | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, record: RecordedRequest) -> bool:
        if self.times <= 0 or self.method not in ("*", record.method):
            return False
        if not (self.pattern == record.template or fnmatch.fnmatchcase(record.path, self.pattern)):
            return False
        return self.predicate is None or self.predicate(record)

    async def wait(self, timeout: float = 10) -> RecordedRequest:
        await asyncio.wait_for(self.reached.wait(), timeout)
        return self.requests[0]


@dataclass
class Chaos:
    """`fake.chaos(...)`: a seeded fraction of the matching REST calls answer an error instead of being handled
    (nothing is stored), and 429s are checked: a request to the same route before its `retry_after` ran out (to
    any route, for a global one) is a `rate_limit_ignored` violation. `injected` counts the answers by status (and
    "429 global"). With `stored_share`, that share of the injected 5xx answers comes after the request was handled
    (Discord stored the message or made the thread, and still answered 5xx, as its edge does now and then);
    counted as "<status> after storing"."""

    routes: list[tuple[str, str]]
    fraction: float
    statuses: tuple[int, ...]
    retry_after: float
    global_share: float
    rng: random.Random
    stored_share: float = 0.0
    predicate: Callable[[RecordedRequest], bool] | None = None
    in_flight_slack: float | None = None  # None: IN_FLIGHT_SLACK, at most a third of retry_after
    injected: dict[str, int] = field(default_factory=dict)
    active: bool = True
    # A 429's window as (start, end) in monotonic time. It starts a little after the 429 was answered: requests the
    # client sent before it could read that answer (in flight, or queued on a loaded machine) are not violations.
    blocked_routes: dict[str, tuple[float, float]] = field(default_factory=dict)  # route key -> window
    blocked_all: tuple[float, float] = (0.0, 0.0)

    def matches(self, method: str, template: str, path: str) -> bool:
        return self.active and any(
            m in ("*", method) and (p == template or fnmatch.fnmatchcase(path, p)) for m, p in self.routes)

    def stop(self) -> None:
        """No more injected errors (the rate-limit checks go on for the windows already given)."""
        self.active = False

    @property
    def total(self) -> int:
        return sum(self.injected.values())


def _rate_limited(retry_after: float, is_global: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Discord's 429 body and headers."""
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global, "code": 0}
    headers = {
        "Retry-After": str(max(1, int(retry_after + 0.999))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": "fakebucket",
        "X-RateLimit-Scope": "shared" if not is_global else "global",
        "Via": "1.1 google",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    return body, headers


def _route_key(record: RecordedRequest) -> str:
    """A rate-limit bucket: the route template with its major parameter (channel, guild, webhook)."""
    major = next((record.params[k] for k in ("channel_id", "guild_id", "webhook_id", "interaction_id")
                  if k in record.params), "")
    return f"{record.method} {record.template} {major}"


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Callable[..., Any]
    literal_chars: int


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


IN_FLIGHT_SLACK = 0.3  # seconds after a chaos 429 in which requests already sent are not counted as ignoring it


class FakeDiscord:
    """A fake Discord (REST API v10 + Gateway v10) on 127.0.0.1 for the unmodified discord.py client.

    Attributes tests read: `api_base`, `gateway_url`, `token`, `application_id`, `bot_user`, `guilds`,
    `requests`, `violations`, `unknown_routes`, `gateway` (sessions, `identify_count`, `resume_count`),
    `global_commands` / `guild_commands` (id -> command), `command_syncs` (list of (guild_id | None, names)).
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_name: str = "Code Blue",
        heartbeat_interval: int = 41250,
        interaction_deadline: float = 3.0,
        followup_window: float = 15 * 60,
    ) -> None:
        self.ids = Snowflakes()
        self.token = token
        self.application_id = self.ids.next()
        self.bot_user = User(self.application_id, bot_name.lower().replace(" ", ""), bot_name, bot=True)
        self.app_owner = User(self.ids.next(), "app_owner", "App Owner")
        self.interaction_deadline = interaction_deadline
        self.followup_window = followup_window
        self.resumable = True
        self.closing = False

        self.guilds: dict[int, Guild] = {}
        self.users: dict[int, User] = {self.bot_user.id: self.bot_user, self.app_owner.id: self.app_owner}
        self.channels: dict[int, Channel] = {}
        self.dm_channels: dict[int, Channel] = {}
        self.messages: dict[int, dict[int, dict[str, Any]]] = {}
        self.message_index: dict[int, dict[str, Any]] = {}
        self.pins: dict[int, dict[int, str]] = {}
        self.reactions: dict[int, dict[str, list[int]]] = {}
        self.event_users: dict[int, list[int]] = {}
        self.global_commands: dict[int, dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[int, dict[str, Any]]] = {}
        self.command_syncs: list[tuple[int | None, list[str]]] = []
        self.interactions: dict[int, interactions.InteractionHandle] = {}

        self.attachment_files: dict[str, bytes] = {}  # URL path -> bytes, served like Discord's CDN
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.unknown_routes: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self.holds: list[Hold] = []
        self.chaos_runs: list[Chaos] = []
        self.nonce_window = 180.0  # seconds in which a second message with the same nonce returns the first
        self.nonces: dict[tuple[int, str], tuple[int, float]] = {}  # (channel, nonce) -> (message id, when)
        self.nonce_hits = 0  # sends answered with an earlier message of the same nonce
        self._request_event = asyncio.Event()

        self.gateway = Gateway(self, heartbeat_interval)
        # Sharding, as Discord does it: GET /gateway/bot recommends a shard per `guilds_per_shard` servers; a
        # session holding more than `max_guilds_per_session` servers is closed with 4011 (sharding required);
        # IDENTIFYs of one bucket (shard_id % max_concurrency) must be `identify_interval` seconds apart (Discord:
        # 5 s; 0 here by default, since tests re-identify at once with a `before_identify_hook` that does not wait).
        self.guilds_per_shard = 1000
        self.max_guilds_per_session = 2500
        self.max_concurrency = 1
        self.identify_interval = 0.0
        self._routes = [
            _Route(method, template, _compile(template), handler, len(re.sub(r"\{\w+\}", "", template)))
            for method, template, handler in rest.ROUTES  # interactions registers its routes there too
        ]
        self._routes.sort(key=lambda r: -r.literal_chars)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------------------------------
    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{tail:.*}", self._serve_attachment)
        app.router.add_route("*", "/{tail:.*}", self._handle_http)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.closing = True
        interactions.cancel_timers(self)
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What `discord.http.Route.BASE` (DISCORD_API_BASE) must be set to."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- guild building and changes "behind the bot's back" ----------------------------------------------------------
    def add_guild(self, name: str = "Trauma Code Fans", *, default_layout: bool = True,
                  preferred_locale: str = "en-US", shard: tuple[int, int] | None = None) -> Guild:
        """Create a guild the bot is in. If a bot is connected this is a join: GUILD_CREATE is dispatched.
        `shard=(id, count)`: give it an id that falls on that shard when the bot runs `count` shards."""
        build = build_default_guild if default_layout else build_empty_guild
        guild_id = self.ids.next_on_shard(*shard) if shard else None
        guild = build(self.ids, self.bot_user, name=name, preferred_locale=preferred_locale, guild_id=guild_id)
        self.guilds[guild.id] = guild
        for channel in guild.channels.values():
            self.channels[channel.id] = channel
        for member in guild.members.values():
            self.users.setdefault(member.id, member.user)
        self.gateway.dispatch_guild_create(guild)
        return guild

    @property
    def default_guild(self) -> Guild:
        return next(iter(self.guilds.values()))

    def remove_guild(self, guild: Guild) -> None:
        """The bot is kicked from / leaves `guild` (GUILD_DELETE)."""
        del self.guilds[guild.id]
        self.gateway.dispatch("GUILD_DELETE", {"id": str(guild.id)})

    def add_role(self, guild: Guild, name: str, permissions: int = 0, *, mentionable: bool = False) -> Role:
        role = Role(self.ids.next(), guild.id, name, int(permissions), position=len(guild.roles),
                    mentionable=mentionable)
        guild.roles[role.id] = role
        self.gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.to_payload()})
        return role

    def delete_role(self, guild: Guild, role: Role) -> None:
        """Delete a role behind the bot's back (GUILD_ROLE_DELETE); members lose it."""
        del guild.roles[role.id]
        for member in guild.members.values():
            if role.id in member.role_ids:
                member.role_ids.remove(role.id)
        self.gateway.dispatch("GUILD_ROLE_DELETE", {"guild_id": str(guild.id), "role_id": str(role.id)})

    def set_role_permissions(self, role: Role, permissions: int) -> None:
        """Change a role's guild permissions (GUILD_ROLE_UPDATE)."""
        role.permissions = int(permissions)
        self.gateway.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(role.guild_id), "role": role.to_payload()})

    def set_overwrite(self, channel: Channel, target: Role | Member | User, *, allow: int = 0, deny: int = 0) -> None:
        """Set (or with allow=deny=0 remove) a channel permission overwrite (CHANNEL_UPDATE)."""
        kind = 0 if isinstance(target, Role) else 1
        if allow or deny:
            channel.overwrites[target.id] = Overwrite(target.id, kind, int(allow), int(deny))
        else:
            channel.overwrites.pop(target.id, None)
        self.gateway.dispatch("CHANNEL_UPDATE", channel.to_payload())

    def bot_member(self, guild: Guild) -> Member:
        return guild.members[self.bot_user.id]

    def add_member(self, guild: Guild, username: str, *, roles: list[Role] | None = None,
                   global_name: str | None = None) -> Member:
        user = User(self.ids.next(), username, global_name)
        self.users[user.id] = user
        member = Member(user, guild.id, [r.id for r in roles or []])
        guild.members[user.id] = member
        self.gateway.dispatch("GUILD_MEMBER_ADD", {**member.to_payload(), "guild_id": str(guild.id)})
        return member

    def remove_member(self, guild: Guild, member: Member) -> None:
        del guild.members[member.id]
        self.gateway.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": member.user.to_payload()})

    def set_member_roles(self, member: Member, roles: list[Role]) -> None:
        member.role_ids = [r.id for r in roles]
        self.gateway.dispatch("GUILD_MEMBER_UPDATE", {**member.to_payload(), "guild_id": str(member.guild_id)})

    def add_channel(self, guild: Guild, name: str, kind: int = ChannelType.GUILD_TEXT, *,
                    parent: Channel | None = None, **fields: Any) -> Channel:
        channel = Channel(self.ids.next(), int(kind), name, guild.id, position=len(guild.channels),
                          parent_id=parent.id if parent else None, **fields)
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        self.gateway.dispatch("CHANNEL_CREATE", channel.to_payload())
        return channel

    def delete_channel(self, channel: Channel) -> None:
        """Delete a channel or thread behind the bot's back (CHANNEL_DELETE / THREAD_DELETE)."""
        channel.deleted = True
        if channel.is_thread:
            self.gateway.dispatch("THREAD_DELETE", {"id": str(channel.id), "guild_id": str(channel.guild_id),
                                                    "parent_id": str(channel.parent_id), "type": channel.type})
        else:
            self.gateway.dispatch("CHANNEL_DELETE", channel.to_payload())

    def delete_message(self, channel: Channel | int, message_id: int | str) -> None:
        """A member or moderator deletes a message behind the bot's back (MESSAGE_DELETE)."""
        channel = channel if isinstance(channel, Channel) else self.channels[channel]
        del self.messages[channel.id][int(message_id)]
        self.message_index.pop(int(message_id), None)
        self.pins.get(channel.id, {}).pop(int(message_id), None)
        event = {"id": str(message_id), "channel_id": str(channel.id)}
        if channel.guild_id:
            event["guild_id"] = str(channel.guild_id)
        self.gateway.dispatch("MESSAGE_DELETE", event)

    def archive_thread(self, thread: Channel, *, archived: bool = True, locked: bool = False) -> None:
        """Archive (and optionally lock) a thread behind the bot's back (THREAD_UPDATE)."""
        thread.archived, thread.locked = archived, locked
        thread.archive_timestamp = datetime.now(UTC)
        self.gateway.dispatch("THREAD_UPDATE", thread.to_payload())

    def update_channel(self, channel: Channel, **fields: Any) -> None:
        for key, value in fields.items():
            setattr(channel, key, value)
        event = "THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE"
        self.gateway.dispatch(event, channel.to_payload())

    def close_dms(self, user: User | Member, closed: bool = True) -> None:
        """Make DMs to this user fail with 403 50007."""
        (user.user if isinstance(user, Member) else user).dms_closed = closed

    def post_message(self, channel: Channel, author: Member | User, content: str = "", **fields: Any) -> dict[str, Any]:
        """A member (not the bot) posts a message (MESSAGE_CREATE); returns the stored message."""
        user = author.user if isinstance(author, Member) else author
        return rest.store_message(self, channel, user, {"content": content, **fields}, dispatch=True)

    def react(self, message: dict[str, Any] | int | str, emoji: str, member: Member | User) -> None:
        """A member adds a reaction (MESSAGE_REACTION_ADD); `emoji` is unicode or "name:id"."""
        stored = self.message(message["id"] if isinstance(message, dict) else message)
        user = member.user if isinstance(member, Member) else member
        rest.add_reaction(self, self.channels[int(stored["channel_id"])], stored, emoji, user)

    def unreact(self, message: dict[str, Any] | int | str, emoji: str, member: Member | User) -> None:
        stored = self.message(message["id"] if isinstance(message, dict) else message)
        user = member.user if isinstance(member, Member) else member
        rest.remove_reaction(self, self.channels[int(stored["channel_id"])], stored, emoji, user.id)

    def event_interest(self, event: ScheduledEvent, member: Member, interested: bool = True) -> None:
        """A member marks a scheduled event "interested" (GUILD_SCHEDULED_EVENT_USER_ADD/REMOVE)."""
        users = self.event_users.setdefault(event.id, [])
        if interested and member.id not in users:
            users.append(member.id)
        elif not interested and member.id in users:
            users.remove(member.id)
        else:
            return
        event.user_count = len(users)
        kind = "ADD" if interested else "REMOVE"
        self.gateway.dispatch(f"GUILD_SCHEDULED_EVENT_USER_{kind}", {
            "guild_scheduled_event_id": str(event.id), "user_id": str(member.id), "guild_id": str(event.guild_id)})

    # -- interactions ------------------------------------------------------------------------------------------------
    async def slash(self, guild: Guild | None, user: Member | User, command: str, *, locale: str = "en-US",
                    in_channel: Channel | None = None, options: dict[str, Any] | None = None,
                    **kwargs: Any) -> interactions.InteractionHandle:
        """Inject a slash command. `command` is the path ("config channel" = command, group/subcommand);
        options by keyword (or `options=` for names that are not identifiers) with Python values: str, int,
        float, bool, Member/User, Channel, Role, `Attachment`. Types, choices and required options are checked
        against the registered command. Runs in `in_channel` (default: the guild's system channel)."""
        return await interactions.inject_command(self, guild, user, command, locale=locale, in_channel=in_channel,
                                                 options={**(options or {}), **kwargs})

    async def autocomplete(self, guild: Guild | None, user: Member | User, command: str, *, focused: str,
                           value: str = "", locale: str = "en-US", in_channel: Channel | None = None,
                           options: dict[str, Any] | None = None, **kwargs: Any) -> interactions.InteractionHandle:
        """Inject an autocomplete request for option `focused` whose partial text is `value`; the handle's
        `await ix.response()` gives `.choices`."""
        values = {**(options or {}), **kwargs, focused: value}
        return await interactions.inject_command(self, guild, user, command, kind=interactions.AUTOCOMPLETE,
                                                 locale=locale, in_channel=in_channel, options=values,
                                                 focused=focused)

    async def click(self, message: dict[str, Any] | int | str, custom_id: str, user: Member | User, *,
                    locale: str = "en-US") -> interactions.InteractionHandle:
        """Click the button `custom_id` on a message (must exist and be enabled on the stored message)."""
        return await interactions.inject_component(self, message, custom_id, user, locale=locale)

    async def select(self, message: dict[str, Any] | int | str, custom_id: str, values: list[Any],
                     user: Member | User, *, locale: str = "en-US") -> interactions.InteractionHandle:
        """Choose `values` in the select menu `custom_id` (string values, or Members/Roles/Channels for
        user/role/channel selects)."""
        return await interactions.inject_component(self, message, custom_id, user, values=values, locale=locale)

    async def submit_modal(self, opened_by: interactions.InteractionHandle, values: dict[str, Any],
                           user: Member | User | None = None, *, locale: str = "en-US",
                           ) -> interactions.InteractionHandle:
        """Submit the modal that the bot opened (callback type 9) in answer to `opened_by`; `values` maps text
        input custom_id -> text (or select custom_id -> list of values)."""
        return await interactions.inject_modal_submit(self, opened_by, values, user, locale=locale)

    # -- gateway control -------------------------------------------------------------------------------------------
    async def disconnect(self, code: int = 4000) -> None:
        """Drop every gateway connection (discord.py reconnects and RESUMEs; `fake.resumable=False` forces
        INVALID_SESSION and a fresh IDENTIFY)."""
        await self.gateway.disconnect(code)

    async def gateway_outage(self) -> None:
        """Drop every gateway connection and refuse new ones (503) until `end_gateway_outage()`."""
        self.gateway.refusing = True
        await self.gateway.disconnect(4000)

    def end_gateway_outage(self) -> None:
        self.gateway.refusing = False

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT to every connection."""
        self.gateway.send_op(7)

    def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION."""
        self.gateway.send_op(9, resumable)

    async def wait_for_identify(self, count: int = 1, timeout: float = 5) -> None:
        """Wait until `count` IDENTIFYs in total have been answered with READY."""
        await self.gateway.wait_for(lambda: self.gateway.identify_count >= count, timeout)

    async def wait_for_no_connection(self, timeout: float = 5) -> None:
        """Wait until no gateway websocket is open (e.g. after the bot was stopped)."""
        await self.gateway.wait_for(lambda: not self.gateway.connections, timeout)

    async def wait_for_resume(self, count: int = 1, timeout: float = 5) -> None:
        await self.gateway.wait_for(lambda: self.gateway.resume_count >= count, timeout)

    async def drain(self) -> None:
        """Wait until every queued gateway event has been written to the sockets."""
        await self.gateway.drain()

    # -- faults --------------------------------------------------------------------------------------------------------
    def rate_limit(self, method: str, path_pattern: str, *, times: int = 1, retry_after: float = 0.3,
                   is_global: bool = False) -> None:
        """The next `times` requests matching (method, template or fnmatch path) answer 429 like Discord."""
        body, headers = _rate_limited(retry_after, is_global)
        self._faults.append(_Fault(method.upper(), path_pattern, times, 429, body, headers))

    def fail(self, method: str, path_pattern: str, *, status: int = 500, times: int = 1, code: int = 0,
             message: str = "Internal Server Error") -> None:
        """The next `times` matching requests answer `status` with a Discord error body."""
        self._faults.append(_Fault(method.upper(), path_pattern, times, status, {"message": message, "code": code}))

    def hold(self, method: str, path_pattern: str, seconds: float, *, times: int = 1,
             predicate: Callable[[RecordedRequest], bool] | None = None, status: int | None = None) -> Hold:
        """Handle the next `times` matching requests, then hold their answers `seconds` (a kill then lands after
        Discord stored the request and before the bot heard back). `status`: answer that error status instead of
        the real answer (what the request created stays stored)."""
        hold = Hold(method.upper(), path_pattern, seconds, times, predicate, status=status)
        self.holds.append(hold)
        return hold

    def chaos(self, routes: list[tuple[str, str]], *, fraction: float = 0.3,
              statuses: tuple[int, ...] = (500, 502, 503, 429), retry_after: float = 0.2, global_share: float = 0.2,
              seed: int = 0, stored_share: float = 0.0,
              predicate: Callable[[RecordedRequest], bool] | None = None,
              in_flight_slack: float | None = None) -> Chaos:
        """From now on a seeded `fraction` of the requests to `routes` ((method, template or glob) pairs) answer one
        of `statuses` (a 429 is a global one with probability `global_share`, with `retry_after` seconds) before
        being handled; a share `stored_share` of the 5xx ones after being handled instead (what they asked for is
        done); `predicate` narrows the matching requests further; `in_flight_slack` replaces the default slack
        after a 429 (a busier client needs more). Returns the `Chaos` (counts; `stop()`)."""
        chaos = Chaos([(m.upper(), p) for m, p in routes], fraction, statuses, retry_after, global_share,
                      random.Random(seed), stored_share, predicate, in_flight_slack)
        self.chaos_runs.append(chaos)
        return chaos

    def expire_interaction_tokens(self) -> None:
        """Every interaction so far is past its 15 minutes: callbacks answer 404 10062, followups and @original
        edits 401 50027 Invalid Webhook Token."""
        for handle in self.interactions.values():
            handle.expired = True

    # -- recording -----------------------------------------------------------------------------------------------
    def violation(self, kind: str, detail: str, request: RecordedRequest | None = None) -> None:
        self.violations.append(Violation(kind, detail, request))

    def take_violations(self, kind: str | None = None) -> list[Violation]:
        """Return and forget the recorded violations (of one kind) so that a test that provokes them stays clean."""
        taken = [v for v in self.violations if kind is None or v.kind == kind]
        self.violations = [v for v in self.violations if v not in taken]
        if kind in (None, "unknown_route"):
            self.unknown_routes.clear()
        return taken

    def requests_to(self, method: str, template: str, *, since: int = 0) -> list[RecordedRequest]:
        """Recorded requests for a route template ("/channels/{channel_id}/messages"), oldest first."""
        method = method.upper()
        return [r for r in self.requests[since:] if r.method == method and r.template == template]

    def mark(self) -> int:
        """An index into `requests`, to pass as `since=` and only look at what happens afterwards."""
        return len(self.requests)

    async def wait_for_request(self, method: str, template: str, predicate: Callable[[RecordedRequest], bool] | None
                               = None, timeout: float = 5, *, since: int = 0, count: int = 1) -> RecordedRequest:
        """Wait until `count` answered requests (from index `since`) match; returns the `count`-th."""

        def found() -> RecordedRequest | None:
            hits = [r for r in self.requests_to(method, template, since=since)
                    if r.status and (predicate is None or predicate(r))]
            return hits[count - 1] if len(hits) >= count else None

        try:
            return await wait_until(self._request_event, found, timeout)
        except TimeoutError:
            seen = [r.route for r in self.requests[since:]]
            raise AssertionError(f"no {method} {template} within {timeout}s; requests seen: {seen}") from None

    def messages_in(self, channel: Channel | int) -> list[dict[str, Any]]:
        """The channel's (non-ephemeral) messages, oldest first, as Discord message objects."""
        channel_id = channel if isinstance(channel, int) else channel.id
        return list(self.messages.get(channel_id, {}).values())

    def message(self, message_id: int | str) -> dict[str, Any]:
        return self.message_index[int(message_id)]

    def commands(self, guild: Guild | None = None) -> dict[str, dict[str, Any]]:
        """Registered commands by name: global ones, or one guild's."""
        table = self.global_commands if guild is None else self.guild_commands.get(guild.id, {})
        return {c["name"]: c for c in table.values()}

    @property
    def sync_count(self) -> int:
        return len(self.command_syncs)

    def assert_clean(self) -> None:
        """Fail if an unknown route was hit, an interaction was unanswered/answered twice/late, or a limit broken."""
        interactions.collect_unanswered(self)
        problems = [f"{v.kind}: {v.detail}" for v in self.violations]
        if problems:
            raise AssertionError("fake Discord saw problems:\n  " + "\n  ".join(problems))

    def store_attachment(self, path: str, data: bytes) -> str:
        """Keep `data` to be served at `path` (under /attachments/); returns the full URL."""
        self.attachment_files[path] = data
        return f"{self.base_url}{path}"

    async def _serve_attachment(self, request: web.Request) -> web.Response:
        data = self.attachment_files.get(request.path)
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    # -- HTTP plumbing ----------------------------------------------------------------------------------------------
    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method != method:
                continue
            match = route.regex.match(path)
            if match:
                return route, match.groupdict()
        return None, {}

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX):]
        body, files = await _read_body(request)
        route, params = self._match(request.method, path)
        record = RecordedRequest(
            method=request.method,
            template=route.template if route else path,
            path=path,
            params=params,
            query=dict(request.query),
            json=body,
            files=files,
            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
            time=datetime.now(UTC),
        )
        self.requests.append(record)
        status, answer, headers = await self._answer(request, route, record)
        record.status, record.response = status, answer
        self._request_event.set()
        if status == 204 or answer is None:
            return web.Response(status=status if status != 200 else 204, headers=headers)
        # discord.py only parses JSON when Content-Type is exactly "application/json" (no charset), like Discord
        return web.Response(body=json.dumps(answer, ensure_ascii=False).encode(), status=status,
                            headers={**headers, "Content-Type": "application/json"})

    async def _answer(self, request: web.Request, route: _Route | None,
                      record: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        answer = await self._answer_now(request, route, record)
        for hold in self.holds:
            if answer[0] < 400 and hold.matches(record):
                hold.times -= 1
                hold.requests.append(record)
                hold.reached.set()
                await asyncio.sleep(hold.seconds)
                if hold.status is not None:
                    return hold.status, {"message": f"{hold.status}: held and failed", "code": 0}, {}
                break
        return answer

    def _check_rate_limits(self, record: RecordedRequest) -> tuple[int, Any, dict[str, str]] | None:
        """Rate-limit windows given by chaos 429s are enforced (a request inside one is a violation and gets
        another 429), then a chaos run may inject an error."""
        if record.template.startswith(("/interactions/", "/gateway")):
            return None
        now = time.monotonic()
        key = _route_key(record)
        # Interaction webhooks (followups, @original) are not bound by the global rate limit, as on Discord.
        global_applies = not record.template.startswith("/webhooks/")
        for chaos in self.chaos_runs:
            windows = [("route", chaos.blocked_routes.get(key, (0.0, 0.0)))]
            if global_applies:
                windows.append(("global", chaos.blocked_all))
            for kind, (start, end) in windows:
                if start <= now < end:
                    self.violation("rate_limit_ignored", f"{record.route} {now - start:.3f} s into a {kind} 429 "
                                   f"window of {end - start:.3f} s", record)
                    break
        for chaos in self.chaos_runs:
            if not chaos.matches(record.method, record.template, record.path):
                continue
            if (chaos.predicate is not None and not chaos.predicate(record)) or chaos.rng.random() >= chaos.fraction:
                continue
            status = chaos.rng.choice(chaos.statuses)
            if status != 429:
                label = str(status)
                if chaos.stored_share and chaos.rng.random() < chaos.stored_share:
                    record.failed_after_handling = True
                    label = f"{status} after storing"
                chaos.injected[label] = chaos.injected.get(label, 0) + 1
                return status, {"message": f"{status}: injected", "code": 0}, {}
            is_global = chaos.rng.random() < chaos.global_share
            label = "429 global" if is_global else "429"
            chaos.injected[label] = chaos.injected.get(label, 0) + 1
            # Slack at both ends for clocks and scheduling: the client reads the answer, then waits retry_after.
            slack = min(IN_FLIGHT_SLACK, chaos.retry_after / 3) if chaos.in_flight_slack is None else \
                chaos.in_flight_slack
            window = (now + slack, now + chaos.retry_after * 0.9)
            if is_global:
                chaos.blocked_all = window
            else:
                chaos.blocked_routes[key] = window
            body, headers = _rate_limited(chaos.retry_after, is_global)
            return 429, body, headers
        return None

    async def _answer_now(self, request: web.Request, route: _Route | None,
                          record: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        injected = self._check_rate_limits(record)
        if injected is not None and not record.failed_after_handling:
            return injected
        answer = await self._handle(request, route, record)
        if injected is not None and answer[0] < 400:
            return injected  # done, and answered with an error all the same
        return answer

    async def _handle(self, request: web.Request, route: _Route | None,
                      record: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        for fault in self._faults:
            if fault.times > 0 and fault.matches(record.method, record.template, record.path):
                fault.times -= 1
                return fault.status, fault.body, fault.headers
        if route is None:
            self.unknown_routes.append(record)
            self.violation("unknown_route", f"{record.method} {record.path}", record)
            return 404, {"message": "404: Not Found", "code": 0}, {}
        if not route.template.startswith(("/webhooks/", "/interactions/", "/gateway")):
            auth = request.headers.get("Authorization")
            if auth != f"Bot {self.token}":
                return 401, {"message": "401: Unauthorized", "code": 0}, {}
        try:
            result = await route.handler(self, record)
        except ApiError as error:
            if error.body.get("code") == 50035:
                self.violation("invalid_form_body", f"{record.route}: {json.dumps(error.body['errors'])}", record)
            return error.status, error.body, {}
        if result is None:
            return 204, None, {}
        return 200, result, {}


async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    files: list[UploadedFile] = []
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("multipart/"):
        body: Any = None
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":  # type: ignore[union-attr]
                body = json.loads(await part.text())  # type: ignore[union-attr]
            else:
                data = await part.read()  # type: ignore[union-attr]
                files.append(UploadedFile(part.name or "", part.filename or "",  # type: ignore[union-attr]
                                          part.headers.get("Content-Type", "application/octet-stream"), bytes(data)))
        return body, files
    raw = await request.read()
    if not raw:
        return None, files
    try:
        return json.loads(raw), files
    except ValueError:
        return raw.decode(errors="replace"), files
