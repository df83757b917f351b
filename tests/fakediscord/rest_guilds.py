"""REST routes for guilds, members, roles, users, the application (login), gateway discovery, DM channels and
guild scheduled events (entity types 1 stage, 2 voice with channel_id, 3 external with entity_metadata.location and
scheduled_end_time; MANAGE_EVENTS or CREATE_EVENTS; start in the future; legal status moves only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .rest import (
    api_error,
    body,
    check_form,
    forbidden,
    get_guild,
    invalid_form,
    require_guild_perm,
    route,
)
from .state import Channel, ChannelType, Guild, Member, Perm, ScheduledEvent, User, permissions_for

if TYPE_CHECKING:
    from .server import FakeDiscord, RecordedRequest


@route("GET", "/guilds/{guild_id}")
async def get_guild_route(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    data = guild.to_payload(full=False)
    if req.query.get("with_counts") in ("true", "1"):
        data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
    return data


@route("GET", "/guilds/{guild_id}/channels")
async def guild_channels(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    return [c.to_payload() for c in guild.live_channels()]


@route("GET", "/guilds/{guild_id}/roles")
async def guild_roles(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    return [r.to_payload() for r in guild.roles.values()]


def _member(fake: FakeDiscord, guild: Guild, user_id: str) -> Member:
    member = guild.members.get(int(user_id)) if user_id.isdigit() else None
    if member is None:
        raise api_error(404, 10007, "Unknown Member")
    return member


@route("GET", "/guilds/{guild_id}/members/{member_id}")
async def get_member(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    return _member(fake, guild, req.params["member_id"]).to_payload()


@route("GET", "/guilds/{guild_id}/members")
async def list_members(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    after = int(req.query.get("after", 0))
    limit = int(req.query.get("limit", 1))
    members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)
    return [m.to_payload() for m in members[:limit]]


@route("GET", "/users/{user_id}")
async def get_user(fake: FakeDiscord, req: RecordedRequest) -> Any:
    user_id = req.params["user_id"]
    user = fake.users.get(int(user_id)) if user_id.isdigit() else None
    if user is None:
        raise api_error(404, 10013, "Unknown User")
    return user.to_payload()


@route("GET", "/users/@me")
async def get_me(fake: FakeDiscord, req: RecordedRequest) -> Any:
    return {**fake.bot_user.to_payload(), "verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US",
            "email": None, "premium_type": 0}


@route("GET", "/users/@me/guilds")
async def my_guilds(fake: FakeDiscord, req: RecordedRequest) -> Any:
    return [{"id": str(g.id), "name": g.name, "icon": None, "owner": False, "permissions": "0",
             "features": []} for g in fake.guilds.values()]


@route("GET", "/gateway/bot")
async def gateway_bot(fake: FakeDiscord, req: RecordedRequest) -> Any:
    shards = max(1, -(-len(fake.guilds) // fake.guilds_per_shard))
    return {"url": fake.gateway_url, "shards": shards,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000,
                                    "max_concurrency": fake.max_concurrency}}


@route("GET", "/gateway")
async def gateway(fake: FakeDiscord, req: RecordedRequest) -> Any:
    return {"url": fake.gateway_url}


def _application(fake: FakeDiscord) -> dict[str, Any]:
    return {
        "id": str(fake.application_id),
        "name": fake.bot_user.global_name or fake.bot_user.username,
        "icon": None,
        "description": "Code Blue test application",
        "rpc_origins": [],
        "bot_public": True,
        "bot_require_code_grant": False,
        "bot": fake.bot_user.to_payload(),
        "owner": fake.app_owner.to_payload(),
        "team": None,
        "verify_key": "0" * 64,
        "flags": 0,
        "guild_id": None,
        "interactions_endpoint_url": None,
        "redirect_uris": [],
        "approximate_guild_count": len(fake.guilds),
        "integration_types_config": {"0": {}},
        "tags": [],
    }


@route("GET", "/oauth2/applications/@me")
async def oauth_application(fake: FakeDiscord, req: RecordedRequest) -> Any:
    return _application(fake)


@route("GET", "/applications/@me")
async def application(fake: FakeDiscord, req: RecordedRequest) -> Any:
    return _application(fake)


@route("POST", "/users/@me/channels")
async def create_dm(fake: FakeDiscord, req: RecordedRequest) -> Any:
    recipient_id = int(body(req).get("recipient_id", 0))
    user = fake.users.get(recipient_id)
    if user is None:
        raise api_error(404, 10013, "Unknown User")
    channel = fake.dm_channels.get(user.id)
    if channel is None:
        channel = Channel(fake.ids.next(), ChannelType.DM, recipient=user)
        fake.dm_channels[user.id] = channel
        fake.channels[channel.id] = channel
    return channel.to_payload()


def dm_channel(fake: FakeDiscord, user: User) -> Channel | None:
    """The DM channel the bot opened with `user`, if any (tests read `fake.messages_in(...)` on it)."""
    return fake.dm_channels.get(user.id)


def _event(fake: FakeDiscord, guild: Guild, event_id: str) -> ScheduledEvent:
    event = guild.scheduled_events.get(int(event_id)) if event_id.isdigit() else None
    if event is None:
        raise api_error(404, 10070, "Unknown Guild Scheduled Event")
    return event


def _parse_time(value: Any, key: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise invalid_form({key: {"_errors": [{"code": "DATE_TIME_TYPE_PARSE",
                                               "message": "Could not parse date."}]}}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _validate_event(fake: FakeDiscord, guild: Guild, merged: dict[str, Any], *, creating: bool) -> None:
    errors: dict[str, Any] = {}
    name = merged.get("name") or ""
    if not 1 <= len(name) <= 100:
        errors["name"] = {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be between 1 and 100."}]}
    if merged.get("description") and len(merged["description"]) > 1000:
        errors["description"] = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                              "message": "Must be 1000 or fewer in length."}]}
    start = _parse_time(merged.get("scheduled_start_time"), "scheduled_start_time")
    if creating and start <= datetime.now(UTC):
        errors["scheduled_start_time"] = {"_errors": [{"code": "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
                                                       "message": "Cannot schedule event in the past."}]}
    end = merged.get("scheduled_end_time")
    if end is not None and _parse_time(end, "scheduled_end_time") <= start:
        errors["scheduled_end_time"] = {"_errors": [{"code": "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
                                                     "message": "End time must be after start time."}]}
    kind = int(merged.get("entity_type") or 0)
    if kind == 3:
        location = (merged.get("entity_metadata") or {}).get("location")
        if not location or len(location) > 100:
            errors["entity_metadata"] = {"location": {"_errors": [
                {"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}}
        if end is None:
            errors["scheduled_end_time"] = {"_errors": [{"code": "BASE_TYPE_REQUIRED",
                                                         "message": "This field is required"}]}
        if merged.get("channel_id"):
            errors["channel_id"] = {"_errors": [{"code": "BASE_TYPE_BAD_VALUE", "message": "Must be null"}]}
    elif kind in (1, 2):
        channel = fake.channels.get(int(merged.get("channel_id") or 0))
        wanted = ChannelType.GUILD_STAGE_VOICE if kind == 1 else ChannelType.GUILD_VOICE
        if channel is None or channel.guild_id != guild.id or channel.type != wanted or channel.deleted:
            errors["channel_id"] = {"_errors": [{"code": "CHANNEL_TYPE_INVALID",
                                                 "message": "Channel must be a voice channel of this guild."}]}
    else:
        errors["entity_type"] = {"_errors": [{"code": "BASE_TYPE_CHOICES", "message": "Value must be 1, 2 or 3."}]}
    if int(merged.get("privacy_level") or 2) != 2:  # discord.py omits it unless given; only GUILD_ONLY exists
        errors["privacy_level"] = {"_errors": [{"code": "BASE_TYPE_CHOICES", "message": "Value must be 2."}]}
    check_form(errors)


def _event_channel(fake: FakeDiscord, merged: dict[str, Any]) -> Channel | None:
    return fake.channels.get(int(merged.get("channel_id") or 0))


@route("POST", "/guilds/{guild_id}/scheduled-events")
async def create_event(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    payload = body(req)
    _validate_event(fake, guild, payload, creating=True)
    channel = _event_channel(fake, payload)
    bot_perms = permissions_for(guild, guild.members[fake.bot_user.id], channel)
    if not bot_perms & (Perm.MANAGE_EVENTS | Perm.CREATE_EVENTS):
        raise forbidden()
    event = ScheduledEvent(
        id=fake.ids.next(), guild_id=guild.id, creator=fake.bot_user, name=payload["name"],
        entity_type=int(payload["entity_type"]), scheduled_start_time=payload["scheduled_start_time"],
        scheduled_end_time=payload.get("scheduled_end_time"), channel_id=channel.id if channel else None,
        description=payload.get("description"), location=(payload.get("entity_metadata") or {}).get("location"),
    )
    guild.scheduled_events[event.id] = event
    fake.gateway.dispatch("GUILD_SCHEDULED_EVENT_CREATE", event.to_payload())
    return event.to_payload()


@route("GET", "/guilds/{guild_id}/scheduled-events")
async def list_events(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    return [e.to_payload() for e in guild.scheduled_events.values()]


@route("GET", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def get_event(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    return _event(fake, guild, req.params["guild_scheduled_event_id"]).to_payload()


@route("GET", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}/users")
async def event_users(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    event = _event(fake, guild, req.params["guild_scheduled_event_id"])
    result = []
    for user_id in fake.event_users.get(event.id, []):
        entry: dict[str, Any] = {"guild_scheduled_event_id": str(event.id), "user": fake.users[user_id].to_payload()}
        if req.query.get("with_member") in ("true", "1", "True") and user_id in guild.members:
            entry["member"] = guild.members[user_id].to_payload(with_user=False)
        result.append(entry)
    return result


_STATUS_MOVES = {1: {1, 2, 4}, 2: {2, 3}, 3: {3}, 4: {4}}


@route("PATCH", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def edit_event(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    event = _event(fake, guild, req.params["guild_scheduled_event_id"])
    payload = body(req)
    is_creator = event.creator.id == fake.bot_user.id
    perms = permissions_for(guild, guild.members[fake.bot_user.id], fake.channels.get(event.channel_id or 0))
    if not perms & Perm.MANAGE_EVENTS and not (is_creator and perms & Perm.CREATE_EVENTS):
        raise forbidden()
    merged = {**event.to_payload(), **payload}
    if "entity_metadata" not in payload and event.location is not None:
        merged["entity_metadata"] = {"location": event.location}
    _validate_event(fake, guild, merged, creating="scheduled_start_time" in payload)
    status = int(payload.get("status") or event.status)
    if status not in _STATUS_MOVES[event.status]:
        raise invalid_form({"status": {"_errors": [{"code": "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION",
                                                    "message": "Invalid status transition."}]}})
    event.name = merged["name"]
    event.description = merged.get("description")
    event.scheduled_start_time = merged["scheduled_start_time"]
    event.scheduled_end_time = merged.get("scheduled_end_time")
    event.entity_type = int(merged["entity_type"])
    channel = _event_channel(fake, merged) if event.entity_type != 3 else None
    event.channel_id = channel.id if channel else None
    event.location = (merged.get("entity_metadata") or {}).get("location") if event.entity_type == 3 else None
    event.status = status
    fake.gateway.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", event.to_payload())
    return event.to_payload()


@route("DELETE", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def delete_event(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    event = _event(fake, guild, req.params["guild_scheduled_event_id"])
    require_guild_perm(fake, guild, Perm.MANAGE_EVENTS, fake.channels.get(event.channel_id or 0))
    del guild.scheduled_events[event.id]
    fake.gateway.dispatch("GUILD_SCHEDULED_EVENT_DELETE", event.to_payload())
