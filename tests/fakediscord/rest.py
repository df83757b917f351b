"""REST API v10 routes with state: users, application, commands, guilds, channels, messages, pins, reactions,
threads and forum posts, thread members, scheduled events, DMs.

Each handler takes the `FakeDiscord` and the `RecordedRequest` and returns the JSON answer (None -> 204) or raises
`ApiError` with Discord's status and code: 403 50013 Missing Permissions (permissions computed with Discord's
algorithm for the bot's member), 404 10003 Unknown Channel / 10008 Unknown Message / 10004 Unknown Guild /
10013 Unknown User / 10063 Unknown Command / 10070 Unknown Guild Scheduled Event, 403 50007 Cannot send messages to
this user, 400 50035 Invalid Form Body (limits in limits.py). State changes the bot causes are dispatched on the
gateway like Discord does (MESSAGE_CREATE/UPDATE/DELETE, THREAD_CREATE/UPDATE, CHANNEL_UPDATE, reactions, pins,
GUILD_SCHEDULED_EVENT_*).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from . import limits
from .state import (
    THREAD_TYPES,
    Channel,
    ChannelType,
    Guild,
    Member,
    Perm,
    ScheduledEvent,
    User,
    iso,
    mentions_for,
    permissions_for,
)

if TYPE_CHECKING:
    from .server import FakeDiscord, RecordedRequest, UploadedFile

ROUTES: list[tuple[str, str, Callable[..., Any]]] = []

EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2


def route(method: str, template: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        ROUTES.append((method, template, func))
        return func

    return register


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> Exception:
    from .server import ApiError

    return ApiError(status, code, message, errors)


def invalid_form(errors: dict[str, Any]) -> Exception:
    return _error(400, 50035, "Invalid Form Body", errors)


def check_form(errors: dict[str, Any]) -> None:
    if errors:
        raise invalid_form(errors)


def forbidden() -> Exception:
    return _error(403, 50013, "Missing Permissions")


# -- lookups ----------------------------------------------------------------------------------------------------------


def get_channel(fake: FakeDiscord, channel_id: Any) -> Channel:
    channel = fake.channels.get(int(channel_id)) if str(channel_id).isdigit() else None
    if channel is None or channel.deleted or (channel.guild_id and channel.guild_id not in fake.guilds):
        raise _error(404, 10003, "Unknown Channel")
    return channel


def get_guild(fake: FakeDiscord, guild_id: Any) -> Guild:
    guild = fake.guilds.get(int(guild_id)) if str(guild_id).isdigit() else None
    if guild is None:
        raise _error(404, 10004, "Unknown Guild")
    return guild


def get_message(fake: FakeDiscord, channel: Channel, message_id: Any) -> dict[str, Any]:
    message = fake.messages.get(channel.id, {}).get(int(message_id)) if str(message_id).isdigit() else None
    if message is None:
        raise _error(404, 10008, "Unknown Message")
    return message


def guild_of(fake: FakeDiscord, channel: Channel) -> Guild | None:
    return fake.guilds.get(channel.guild_id) if channel.guild_id else None


def bot_permissions(fake: FakeDiscord, channel: Channel) -> int:
    guild = guild_of(fake, channel)
    if guild is None:  # DM
        return int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS | Perm.ATTACH_FILES
                   | Perm.READ_MESSAGE_HISTORY | Perm.ADD_REACTIONS)
    return permissions_for(guild, guild.members[fake.bot_user.id], channel)


def require(fake: FakeDiscord, channel: Channel, *needed: Perm) -> int:
    perms = bot_permissions(fake, channel)
    for perm in needed:
        if not perms & perm:
            raise forbidden()
    return perms


def require_guild_perm(fake: FakeDiscord, guild: Guild, perm: Perm, channel: Channel | None = None) -> None:
    if not permissions_for(guild, guild.members[fake.bot_user.id], channel) & perm:
        raise forbidden()


def body(req: RecordedRequest) -> dict[str, Any]:
    return req.json if isinstance(req.json, dict) else {}


# -- messages ---------------------------------------------------------------------------------------------------------


def _attachment(fake: FakeDiscord, file: UploadedFile, spec: dict[str, Any] | None, channel_id: int) -> dict[str, Any]:
    attachment_id = fake.ids.next()
    filename = (spec or {}).get("filename") or file.filename
    data: dict[str, Any] = {
        "id": str(attachment_id),
        "filename": filename,
        "size": len(file.data),
        "url": f"{fake.base_url}/attachments/{channel_id}/{attachment_id}/{filename}",
        "proxy_url": f"{fake.base_url}/attachments/{channel_id}/{attachment_id}/{filename}",
        "content_type": file.content_type,
    }
    if spec and spec.get("description"):
        data["description"] = spec["description"]
    return data


def build_attachments(fake: FakeDiscord, payload: dict[str, Any], files: list[UploadedFile], channel_id: int,
                      existing: list[dict[str, Any]] | None = None) -> list[dict[str, Any]] | None:
    """New attachment list, or None when the request does not touch attachments."""
    uploaded = {f.field: f for f in files}
    specs = payload.get("attachments")
    if specs is None:
        if not files:
            return None
        return (existing or []) + [_attachment(fake, f, None, channel_id) for f in files]
    old = {a["id"]: a for a in existing or []}
    result = []
    for spec in specs:
        file = uploaded.get(f"files[{spec.get('id')}]")
        if file is not None:
            result.append(_attachment(fake, file, spec, channel_id))
        elif str(spec.get("id")) in old:
            result.append(old[str(spec.get("id"))])
    return result


def _normalise_embeds(embeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "rich", **e} for e in embeds]


def _mentions(fake: FakeDiscord, channel: Channel, author: User, content: str,
              allowed: dict[str, Any] | None, replied_user_id: int | None) -> dict[str, Any]:
    guild = guild_of(fake, channel)
    perms = (permissions_for(guild, guild.members[author.id], channel)
             if guild and author.id in guild.members else 0)
    result = mentions_for(content, allowed, guild=guild, can_mention_everyone=bool(perms & Perm.MENTION_EVERYONE),
                          replied_user_id=replied_user_id)
    users = []
    for uid in result.users:
        user = fake.users.get(uid)
        if user is None:
            continue
        entry = user.to_payload()
        if guild and uid in guild.members:
            entry["member"] = guild.members[uid].to_payload(with_user=False)
        users.append(entry)
    return {"mentions": users, "mention_roles": [str(r) for r in result.roles], "mention_everyone": result.everyone}


def store_message(fake: FakeDiscord, channel: Channel, author: User, payload: dict[str, Any], *,
                  files: list[UploadedFile] | None = None, message_type: int | None = None, dispatch: bool = True,
                  extra: dict[str, Any] | None = None, message_id: int | None = None) -> dict[str, Any]:
    """Create a message from a Discord message body; ephemeral ones (flag 64) are kept out of the channel."""
    message_id = message_id or fake.ids.next()
    flags = int(payload.get("flags") or 0)
    reference = payload.get("message_reference")
    referenced = None
    if reference:
        ref_channel = fake.channels.get(int(reference.get("channel_id") or channel.id))
        referenced = fake.messages.get(ref_channel.id if ref_channel else 0, {}).get(int(reference["message_id"]))
        if referenced is None and reference.get("fail_if_not_exists", True):
            raise invalid_form({"message_reference": {"_errors": [
                {"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]}})
    content = payload.get("content") or ""
    message: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel.id),
        "author": author.to_payload(),
        "content": content,
        "timestamp": iso(),
        "edited_timestamp": None,
        "tts": bool(payload.get("tts", False)),
        "attachments": build_attachments(fake, payload, files or [], channel.id) or [],
        "embeds": _normalise_embeds(payload.get("embeds") or []),
        "components": payload.get("components") or [],
        "pinned": False,
        "type": message_type if message_type is not None else (19 if referenced else 0),
        "flags": flags,
        "allowed_mentions": payload.get("allowed_mentions"),
    }
    if channel.guild_id:
        message["guild_id"] = str(channel.guild_id)
    if payload.get("nonce") is not None:
        message["nonce"] = payload["nonce"]
    if payload.get("sticker_ids"):
        message["sticker_items"] = []
    if reference:
        message["message_reference"] = {"type": 0, "message_id": str(reference["message_id"]),
                                        "channel_id": str(channel.id), "guild_id": message.get("guild_id")}
        message["referenced_message"] = copy.deepcopy(referenced)
    replied_user = int(referenced["author"]["id"]) if referenced else None
    message.update(_mentions(fake, channel, author, content, payload.get("allowed_mentions"), replied_user))
    message.update(extra or {})
    fake.message_index[message_id] = message
    if flags & EPHEMERAL:
        return message
    fake.messages.setdefault(channel.id, {})[message_id] = message
    channel.last_message_id = message_id
    if channel.is_thread:
        if message_id != channel.id:
            channel.message_count += 1
        channel.total_message_sent += 1
        message["position"] = channel.total_message_sent - 1
    if dispatch:
        fake.gateway.dispatch("MESSAGE_CREATE", event_payload(fake, message))
    return message


def event_payload(fake: FakeDiscord, message: dict[str, Any]) -> dict[str, Any]:
    data = dict(message)
    data.pop("allowed_mentions", None)
    guild = fake.guilds.get(int(message["guild_id"])) if message.get("guild_id") else None
    author_id = int(message["author"]["id"])
    if guild is not None and author_id in guild.members and not message.get("webhook_id"):
        data["member"] = guild.members[author_id].to_payload(with_user=False)
    return data


def public(message: dict[str, Any]) -> dict[str, Any]:
    """A message as REST returns it (without the fake's bookkeeping)."""
    data = dict(message)
    data.pop("allowed_mentions", None)
    return data


def apply_edit(fake: FakeDiscord, channel: Channel, message: dict[str, Any], payload: dict[str, Any],
               files: list[UploadedFile], *, dispatch: bool = True) -> dict[str, Any]:
    check_form(limits.check_message(payload))
    if "content" in payload:
        message["content"] = payload["content"] or ""
    if "embeds" in payload:
        message["embeds"] = _normalise_embeds(payload["embeds"] or [])
    if "components" in payload:
        message["components"] = payload["components"] or []
    if "flags" in payload and payload["flags"] is not None:
        keep = int(message["flags"]) & (EPHEMERAL)
        message["flags"] = keep | (int(payload["flags"]) & ~EPHEMERAL)
    attachments = build_attachments(fake, payload, files, channel.id, message["attachments"])
    if attachments is not None:
        message["attachments"] = attachments
    if "allowed_mentions" in payload:
        message["allowed_mentions"] = payload["allowed_mentions"]
    if "content" in payload or "allowed_mentions" in payload:
        author = fake.users.get(int(message["author"]["id"])) or fake.bot_user
        replied = message.get("referenced_message")
        replied_id = int(replied["author"]["id"]) if replied else None
        message.update(_mentions(fake, channel, author, message["content"], message.get("allowed_mentions"),
                                 replied_id))
    message["flags"] = int(message["flags"]) & ~LOADING
    message["edited_timestamp"] = iso()
    if dispatch and not int(message["flags"]) & EPHEMERAL:
        fake.gateway.dispatch("MESSAGE_UPDATE", event_payload(fake, message))
    return message


def _drop_embeds_without_permission(payload: dict[str, Any], perms: int) -> dict[str, Any]:
    if payload.get("embeds") and not perms & Perm.EMBED_LINKS:
        return {**payload, "embeds": []}  # Discord silently drops them
    return payload


def _send_permissions(fake: FakeDiscord, channel: Channel) -> int:
    if channel.type == ChannelType.DM:
        recipient = channel.recipient
        if recipient is not None and (recipient.dms_closed or recipient.bot):
            raise _error(403, 50007, "Cannot send messages to this user")
        return bot_permissions(fake, channel)
    if channel.type in (ChannelType.GUILD_CATEGORY, ChannelType.GUILD_FORUM, ChannelType.GUILD_MEDIA):
        raise _error(400, 50008, "Cannot send messages in a non-text channel")
    send = Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES
    perms = require(fake, channel, Perm.VIEW_CHANNEL, send)
    if channel.is_thread and channel.archived:
        if channel.locked and not perms & Perm.MANAGE_THREADS:
            raise _error(400, 50083, "Thread is archived")
        channel.archived = False  # sending into an archived (unlocked) thread unarchives it
        fake.gateway.dispatch("THREAD_UPDATE", channel.to_payload())
    return perms


@route("POST", "/channels/{channel_id}/messages")
async def create_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    payload = body(req)
    check_form(limits.check_message(payload))
    perms = _send_permissions(fake, channel)
    if req.files and not perms & Perm.ATTACH_FILES:
        raise forbidden()
    if not (payload.get("content") or payload.get("embeds") or req.files or payload.get("components")
            or payload.get("sticker_ids") or payload.get("poll")):
        raise _error(400, 50006, "Cannot send an empty message")
    payload = _drop_embeds_without_permission(payload, perms)
    payload = {**payload, "flags": int(payload.get("flags") or 0) & ~EPHEMERAL}
    return public(store_message(fake, channel, fake.bot_user, payload, files=req.files))


@route("GET", "/channels/{channel_id}/messages")
async def list_messages(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.READ_MESSAGE_HISTORY)
    messages = sorted(fake.messages.get(channel.id, {}).values(), key=lambda m: int(m["id"]), reverse=True)
    limit = int(req.query.get("limit", 50))
    if "before" in req.query:
        messages = [m for m in messages if int(m["id"]) < int(req.query["before"])]
    if "after" in req.query:
        messages = [m for m in messages if int(m["id"]) > int(req.query["after"])]
        messages = sorted(messages, key=lambda m: int(m["id"]))[:limit]
        return [public(m) for m in reversed(messages)]
    return [public(m) for m in messages[:limit]]


@route("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_one_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.READ_MESSAGE_HISTORY)
    return public(get_message(fake, channel, req.params["message_id"]))


@route("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL)
    message = get_message(fake, channel, req.params["message_id"])
    payload = body(req)
    if message["author"]["id"] != str(fake.bot_user.id):
        if set(payload) - {"flags"}:
            raise _error(403, 50005, "Cannot edit a message authored by another user")
        require(fake, channel, Perm.MANAGE_MESSAGES)
    payload = _drop_embeds_without_permission(payload, bot_permissions(fake, channel))
    return public(apply_edit(fake, channel, message, payload, req.files))


@route("DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    message = get_message(fake, channel, req.params["message_id"])
    if message["author"]["id"] != str(fake.bot_user.id):
        require(fake, channel, Perm.VIEW_CHANNEL, Perm.MANAGE_MESSAGES)
    del fake.messages[channel.id][int(message["id"])]
    fake.pins.get(channel.id, {}).pop(int(message["id"]), None)
    event = {"id": message["id"], "channel_id": str(channel.id)}
    if channel.guild_id:
        event["guild_id"] = str(channel.guild_id)
    fake.gateway.dispatch("MESSAGE_DELETE", event)
    return None


# -- pins -----------------------------------------------------------------------------------------------------------


async def _pin(fake: FakeDiscord, req: RecordedRequest, pinned: bool) -> None:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.MANAGE_MESSAGES)
    message = get_message(fake, channel, req.params["message_id"])
    pins = fake.pins.setdefault(channel.id, {})
    if pinned and len(pins) >= 50 and int(message["id"]) not in pins:
        raise _error(400, 30003, "Maximum number of pins reached (50)")
    if pinned:
        pins.setdefault(int(message["id"]), iso())
    else:
        pins.pop(int(message["id"]), None)
    message["pinned"] = pinned
    event: dict[str, Any] = {"channel_id": str(channel.id), "last_pin_timestamp": iso() if pins else None}
    if channel.guild_id:
        event["guild_id"] = str(channel.guild_id)
    fake.gateway.dispatch("CHANNEL_PINS_UPDATE", event)
    fake.gateway.dispatch("MESSAGE_UPDATE", event_payload(fake, message))


@route("PUT", "/channels/{channel_id}/messages/pins/{message_id}")
@route("PUT", "/channels/{channel_id}/pins/{message_id}")
async def pin_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    await _pin(fake, req, True)


@route("DELETE", "/channels/{channel_id}/messages/pins/{message_id}")
@route("DELETE", "/channels/{channel_id}/pins/{message_id}")
async def unpin_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    await _pin(fake, req, False)


@route("GET", "/channels/{channel_id}/messages/pins")
async def list_pins(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.READ_MESSAGE_HISTORY)
    pins = sorted(fake.pins.get(channel.id, {}).items(), key=lambda item: item[1], reverse=True)
    items = [{"pinned_at": at, "message": public(fake.messages[channel.id][mid])} for mid, at in pins]
    return {"items": items, "has_more": False}


@route("GET", "/channels/{channel_id}/pins")
async def list_pins_legacy(fake: FakeDiscord, req: RecordedRequest) -> Any:
    return [item["message"] for item in (await list_pins(fake, req))["items"]]


# -- reactions ------------------------------------------------------------------------------------------------------


def _emoji_key(raw: str) -> str:
    return unquote(raw)


def _emoji_payload(key: str) -> dict[str, Any]:
    if ":" in key:
        name, _, emoji_id = key.partition(":")
        return {"id": emoji_id, "name": name}
    return {"id": None, "name": key}


def _refresh_reactions(fake: FakeDiscord, message: dict[str, Any]) -> None:
    table = fake.reactions.get(int(message["id"]), {})
    reactions = [
        {"emoji": _emoji_payload(key), "count": len(users), "me": fake.bot_user.id in users,
         "count_details": {"burst": 0, "normal": len(users)}, "me_burst": False, "burst_colors": []}
        for key, users in table.items() if users
    ]
    if reactions:
        message["reactions"] = reactions
    else:
        message.pop("reactions", None)


def add_reaction(fake: FakeDiscord, channel: Channel, message: dict[str, Any], key: str, user: User) -> None:
    users = fake.reactions.setdefault(int(message["id"]), {}).setdefault(key, [])
    if user.id in users:
        return
    users.append(user.id)
    _refresh_reactions(fake, message)
    event: dict[str, Any] = {"user_id": str(user.id), "channel_id": str(channel.id), "message_id": message["id"],
                             "emoji": _emoji_payload(key), "burst": False, "type": 0}
    if channel.guild_id:
        event["guild_id"] = str(channel.guild_id)
    fake.gateway.dispatch("MESSAGE_REACTION_ADD", event)


def remove_reaction(fake: FakeDiscord, channel: Channel, message: dict[str, Any], key: str, user_id: int) -> None:
    users = fake.reactions.get(int(message["id"]), {}).get(key, [])
    if user_id not in users:
        return
    users.remove(user_id)
    _refresh_reactions(fake, message)
    event: dict[str, Any] = {"user_id": str(user_id), "channel_id": str(channel.id), "message_id": message["id"],
                             "emoji": _emoji_payload(key), "burst": False, "type": 0}
    if channel.guild_id:
        event["guild_id"] = str(channel.guild_id)
    fake.gateway.dispatch("MESSAGE_REACTION_REMOVE", event)


@route("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
async def put_reaction(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.READ_MESSAGE_HISTORY)
    message = get_message(fake, channel, req.params["message_id"])
    key = _emoji_key(req.params["emoji"])
    existing = fake.reactions.get(int(message["id"]), {}).get(key)
    if not existing and not bot_permissions(fake, channel) & Perm.ADD_REACTIONS:
        raise forbidden()
    add_reaction(fake, channel, message, key, fake.bot_user)


@route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
async def delete_own_reaction(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    message = get_message(fake, channel, req.params["message_id"])
    remove_reaction(fake, channel, message, _emoji_key(req.params["emoji"]), fake.bot_user.id)


@route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{member_id}")
async def delete_user_reaction(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.MANAGE_MESSAGES)
    message = get_message(fake, channel, req.params["message_id"])
    remove_reaction(fake, channel, message, _emoji_key(req.params["emoji"]), int(req.params["member_id"]))


@route("GET", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}")
async def list_reaction_users(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    message = get_message(fake, channel, req.params["message_id"])
    users = fake.reactions.get(int(message["id"]), {}).get(_emoji_key(req.params["emoji"]), [])
    return [fake.users[u].to_payload() for u in users if u in fake.users]


@route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions")
async def clear_reactions(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.MANAGE_MESSAGES)
    message = get_message(fake, channel, req.params["message_id"])
    fake.reactions.pop(int(message["id"]), None)
    _refresh_reactions(fake, message)


@route("POST", "/channels/{channel_id}/typing")
async def typing(fake: FakeDiscord, req: RecordedRequest) -> Any:
    get_channel(fake, req.params["channel_id"])


# -- channels and threads -------------------------------------------------------------------------------------------


@route("GET", "/channels/{channel_id}")
async def get_channel_route(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    if channel.guild_id:
        require(fake, channel, Perm.VIEW_CHANNEL)
    return channel.to_payload()


def _apply_tags(channel: Channel, payload: dict[str, Any], fake: FakeDiscord) -> None:
    tags = payload["available_tags"] or []
    if len(tags) > 20:
        raise invalid_form({"available_tags": {"_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 20 or fewer in length."}]}})
    new_tags = []
    for index, tag in enumerate(tags):
        name = tag.get("name") or ""
        if not name or len(name) > 20:
            raise invalid_form({"available_tags": {str(index): {"name": {"_errors": [
                {"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be between 1 and 20 in length."}]}}}})
        new_tags.append({"id": str(tag.get("id") or fake.ids.next()), "name": name,
                         "moderated": bool(tag.get("moderated", False)), "emoji_id": tag.get("emoji_id"),
                         "emoji_name": tag.get("emoji_name")})
    channel.available_tags = new_tags


def _check_applied_tags(fake: FakeDiscord, forum: Channel, tags: list[Any]) -> list[int]:
    known = {int(t["id"]) for t in forum.available_tags}
    ids = [int(t) for t in tags]
    if len(ids) > 5:
        raise invalid_form({"applied_tags": {"_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 5 or fewer in length."}]}})
    unknown = [t for t in ids if t not in known]
    if unknown:
        raise invalid_form({"applied_tags": {"_errors": [
            {"code": "INVALID_FORUM_TAG", "message": f"Unknown tag(s) {unknown}"}]}})
    return ids


@route("PATCH", "/channels/{channel_id}")
async def edit_channel(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    payload = body(req)
    perms = require(fake, channel, Perm.VIEW_CHANNEL)
    if channel.is_thread:
        owner = channel.owner_id == fake.bot_user.id
        if "locked" in payload or "invitable" in payload or not owner:
            if not perms & Perm.MANAGE_THREADS:
                raise forbidden()
        if "name" in payload:
            check_form(limits.check_thread_name(payload["name"]))
            channel.name = payload["name"]
        for key in ("archived", "locked", "invitable"):
            if key in payload and payload[key] is not None:
                setattr(channel, key, bool(payload[key]))
        if "archived" in payload:
            channel.archive_timestamp = datetime.now(UTC)
        if payload.get("auto_archive_duration"):
            channel.auto_archive_duration = int(payload["auto_archive_duration"])
        if payload.get("rate_limit_per_user") is not None:
            channel.rate_limit_per_user = int(payload["rate_limit_per_user"])
        if "applied_tags" in payload:
            parent = fake.channels.get(channel.parent_id or 0)
            if parent is not None:
                channel.applied_tags = _check_applied_tags(fake, parent, payload["applied_tags"] or [])
        fake.gateway.dispatch("THREAD_UPDATE", channel.to_payload())
        return channel.to_payload()
    if not perms & Perm.MANAGE_CHANNELS:
        raise forbidden()
    if "available_tags" in payload:
        _apply_tags(channel, payload, fake)
    for key in ("name", "topic", "nsfw", "rate_limit_per_user", "position"):
        if key in payload:
            setattr(channel, key, payload[key])
    if "parent_id" in payload:
        channel.parent_id = int(payload["parent_id"]) if payload["parent_id"] else None
    fake.gateway.dispatch("CHANNEL_UPDATE", channel.to_payload())
    return channel.to_payload()


@route("DELETE", "/channels/{channel_id}")
async def delete_channel_route(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    perm = Perm.MANAGE_THREADS if channel.is_thread else Perm.MANAGE_CHANNELS
    require(fake, channel, Perm.VIEW_CHANNEL, perm)
    payload = channel.to_payload()
    fake.delete_channel(channel)
    return payload


def _new_thread(fake: FakeDiscord, parent: Channel, name: str, kind: int, payload: dict[str, Any],
                thread_id: int | None = None) -> Channel:
    thread = Channel(
        id=thread_id or fake.ids.next(), type=kind, name=name, guild_id=parent.guild_id, parent_id=parent.id,
        owner_id=fake.bot_user.id, auto_archive_duration=int(payload.get("auto_archive_duration") or 4320),
        rate_limit_per_user=int(payload.get("rate_limit_per_user") or 0),
        invitable=bool(payload.get("invitable", True)),
    )
    thread.member_ids.add(fake.bot_user.id)
    guild = fake.guilds[parent.guild_id]  # type: ignore[index]
    guild.channels[thread.id] = thread
    fake.channels[thread.id] = thread
    return thread


def _thread_create_event(fake: FakeDiscord, thread: Channel) -> None:
    data = thread.to_payload()
    data["newly_created"] = True
    data["member"] = _thread_member(fake, thread, fake.bot_user.id)
    fake.gateway.dispatch("THREAD_CREATE", data)


def _thread_member(fake: FakeDiscord, thread: Channel, user_id: int) -> dict[str, Any]:
    return {"id": str(thread.id), "user_id": str(user_id), "join_timestamp": iso(), "flags": 1}


@route("POST", "/channels/{channel_id}/messages/{message_id}/threads")
async def thread_from_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    if channel.type not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
        raise _error(400, 50024, "Cannot execute action on this channel type")
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.CREATE_PUBLIC_THREADS)
    message = get_message(fake, channel, req.params["message_id"])
    if message.get("thread"):
        raise _error(400, 160004, "A thread has already been created for this message")
    payload = body(req)
    check_form(limits.check_thread_name(payload.get("name")))
    kind = ChannelType.ANNOUNCEMENT_THREAD if channel.type == ChannelType.GUILD_ANNOUNCEMENT \
        else ChannelType.PUBLIC_THREAD
    thread = _new_thread(fake, channel, payload["name"], kind, payload, thread_id=int(message["id"]))
    message["thread"] = thread.to_payload()
    _thread_create_event(fake, thread)
    return thread.to_payload()


@route("POST", "/channels/{channel_id}/threads")
async def create_thread(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    payload = body(req)
    check_form(limits.check_thread_name(payload.get("name")))
    if channel.type in (ChannelType.GUILD_FORUM, ChannelType.GUILD_MEDIA):
        return _forum_post(fake, channel, payload, req)
    if channel.type not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
        raise _error(400, 50024, "Cannot execute action on this channel type")
    kind = int(payload.get("type") or ChannelType.PRIVATE_THREAD)
    if kind not in THREAD_TYPES:
        raise invalid_form({"type": {"_errors": [{"code": "BASE_TYPE_CHOICES", "message": "Invalid thread type"}]}})
    needed = Perm.CREATE_PRIVATE_THREADS if kind == ChannelType.PRIVATE_THREAD else Perm.CREATE_PUBLIC_THREADS
    require(fake, channel, Perm.VIEW_CHANNEL, needed)
    thread = _new_thread(fake, channel, payload["name"], kind, payload)
    _thread_create_event(fake, thread)
    return thread.to_payload()


def _forum_post(fake: FakeDiscord, forum: Channel, payload: dict[str, Any], req: RecordedRequest) -> Any:
    perms = require(fake, forum, Perm.VIEW_CHANNEL, Perm.SEND_MESSAGES)
    message_body = payload.get("message") or {}
    check_form({f"message.{k}": v for k, v in limits.check_message(message_body).items()})
    if not (message_body.get("content") or message_body.get("embeds") or req.files):
        raise invalid_form({"message": {"_errors": [{"code": "BASE_TYPE_REQUIRED",
                                                     "message": "This field is required"}]}})
    if req.files and not perms & Perm.ATTACH_FILES:
        raise forbidden()
    tags = _check_applied_tags(fake, forum, payload.get("applied_tags") or [])
    thread = _new_thread(fake, forum, payload["name"], ChannelType.PUBLIC_THREAD, payload)
    thread.applied_tags = tags
    message_body = _drop_embeds_without_permission(message_body, perms)
    _thread_create_event(fake, thread)
    message = store_message(fake, thread, fake.bot_user, message_body, files=req.files, message_id=thread.id)
    data = thread.to_payload()
    data["message"] = public(message)
    data["member"] = _thread_member(fake, thread, fake.bot_user.id)
    return data


async def _thread_member_change(fake: FakeDiscord, req: RecordedRequest, user_id: int, join: bool) -> None:
    thread = get_channel(fake, req.params["channel_id"])
    if not thread.is_thread:
        raise _error(400, 50024, "Cannot execute action on this channel type")
    if thread.archived:
        raise _error(400, 50083, "Thread is archived")
    perms = require(fake, thread, Perm.VIEW_CHANNEL)
    guild = fake.guilds[thread.guild_id]  # type: ignore[index]
    if user_id != fake.bot_user.id:
        if not perms & Perm.SEND_MESSAGES_IN_THREADS:
            raise forbidden()
        if user_id not in guild.members:
            raise _error(404, 10013, "Unknown User")
    changed = (user_id not in thread.member_ids) if join else (user_id in thread.member_ids)
    if join:
        thread.member_ids.add(user_id)
    else:
        thread.member_ids.discard(user_id)
    if changed:
        event: dict[str, Any] = {"id": str(thread.id), "guild_id": str(thread.guild_id),
                                 "member_count": len(thread.member_ids)}
        if join:
            event["added_members"] = [_thread_member(fake, thread, user_id)]
        else:
            event["removed_member_ids"] = [str(user_id)]
        fake.gateway.dispatch("THREAD_MEMBERS_UPDATE", event)


@route("PUT", "/channels/{channel_id}/thread-members/@me")
async def join_thread(fake: FakeDiscord, req: RecordedRequest) -> Any:
    await _thread_member_change(fake, req, fake.bot_user.id, True)


@route("DELETE", "/channels/{channel_id}/thread-members/@me")
async def leave_thread(fake: FakeDiscord, req: RecordedRequest) -> Any:
    await _thread_member_change(fake, req, fake.bot_user.id, False)


@route("PUT", "/channels/{channel_id}/thread-members/{user_id}")
async def add_thread_member(fake: FakeDiscord, req: RecordedRequest) -> Any:
    await _thread_member_change(fake, req, int(req.params["user_id"]), True)


@route("DELETE", "/channels/{channel_id}/thread-members/{user_id}")
async def remove_thread_member(fake: FakeDiscord, req: RecordedRequest) -> Any:
    await _thread_member_change(fake, req, int(req.params["user_id"]), False)


@route("GET", "/channels/{channel_id}/thread-members")
async def list_thread_members(fake: FakeDiscord, req: RecordedRequest) -> Any:
    thread = get_channel(fake, req.params["channel_id"])
    return [_thread_member(fake, thread, uid) for uid in sorted(thread.member_ids)]


@route("GET", "/guilds/{guild_id}/threads/active")
async def active_threads(fake: FakeDiscord, req: RecordedRequest) -> Any:
    guild = get_guild(fake, req.params["guild_id"])
    threads = guild.live_threads()
    members = [_thread_member(fake, t, fake.bot_user.id) for t in threads if fake.bot_user.id in t.member_ids]
    return {"threads": [t.to_payload() for t in threads], "members": members}


@route("GET", "/channels/{channel_id}/threads/archived/public")
async def archived_public_threads(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.READ_MESSAGE_HISTORY)
    threads = [t for t in fake.channels.values() if t.parent_id == channel.id and t.is_thread and t.archived
               and not t.deleted and t.type != ChannelType.PRIVATE_THREAD]
    return {"threads": [t.to_payload() for t in threads], "members": [], "has_more": False}


# -- guilds ---------------------------------------------------------------------------------------------------------


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
        raise _error(404, 10007, "Unknown Member")
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
        raise _error(404, 10013, "Unknown User")
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
    return {"url": fake.gateway_url, "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000,
                                    "max_concurrency": 1}}


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
        raise _error(404, 10013, "Unknown User")
    channel = fake.dm_channels.get(user.id)
    if channel is None:
        channel = Channel(fake.ids.next(), ChannelType.DM, recipient=user)
        fake.dm_channels[user.id] = channel
        fake.channels[channel.id] = channel
    return channel.to_payload()


def dm_channel(fake: FakeDiscord, user: User) -> Channel | None:
    """The DM channel the bot opened with `user`, if any (tests read `fake.messages_in(...)` on it)."""
    return fake.dm_channels.get(user.id)


# -- scheduled events -------------------------------------------------------------------------------------------------


def _event(fake: FakeDiscord, guild: Guild, event_id: str) -> ScheduledEvent:
    event = guild.scheduled_events.get(int(event_id)) if event_id.isdigit() else None
    if event is None:
        raise _error(404, 10070, "Unknown Guild Scheduled Event")
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


# -- application commands -------------------------------------------------------------------------------------------


def _command_record(fake: FakeDiscord, data: dict[str, Any], guild_id: int | None,
                    existing: dict[str, Any] | None) -> dict[str, Any]:
    record = {
        "id": existing["id"] if existing else str(fake.ids.next()),
        "application_id": str(fake.application_id),
        "version": str(fake.ids.next()),
        "type": int(data.get("type", 1)),
        "name": data["name"],
        "name_localizations": data.get("name_localizations"),
        "description": data.get("description", ""),
        "description_localizations": data.get("description_localizations"),
        "options": data.get("options") or [],
        # discord.py sends an int; Discord stores and answers a string
        "default_member_permissions": None if data.get("default_member_permissions") is None
        else str(data["default_member_permissions"]),
        "dm_permission": data.get("dm_permission", True),
        "nsfw": bool(data.get("nsfw", False)),
        "integration_types": data.get("integration_types", [0]),
        "contexts": data.get("contexts"),
    }
    if guild_id is not None:
        record["guild_id"] = str(guild_id)
    return record


_NAME_OK = r"^[-_\w]{1,32}$"


def _check_command(data: dict[str, Any], index: int) -> dict[str, Any]:
    import re

    errors: dict[str, Any] = {}
    name = data.get("name") or ""
    kind = int(data.get("type", 1))
    if kind == 1 and (not re.match(_NAME_OK, name) or name != name.lower()):
        errors["name"] = {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME", "message": "Invalid name"}]}
    if kind == 1 and not 1 <= len(data.get("description") or "") <= 100:
        errors["description"] = {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be 1-100."}]}
    if len(data.get("options") or []) > 25:
        errors["options"] = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 25 or fewer."}]}
    return {str(index): errors} if errors else {}


def _bulk(fake: FakeDiscord, table: dict[int, dict[str, Any]], commands: list[dict[str, Any]],
          guild_id: int | None) -> list[dict[str, Any]]:
    errors: dict[str, Any] = {}
    for index, data in enumerate(commands):
        errors.update(_check_command(data, index))
    names = [(int(c.get("type", 1)), c.get("name")) for c in commands]
    if len(set(names)) != len(names):
        errors["_errors"] = [{"code": "APPLICATION_COMMANDS_DUPLICATE_NAME", "message": "Duplicate names"}]
    check_form(errors)
    by_name = {(int(c["type"]), c["name"]): c for c in table.values()}
    table.clear()
    for data in commands:
        record = _command_record(fake, data, guild_id, by_name.get((int(data.get("type", 1)), data["name"])))
        table[int(record["id"])] = record
    fake.command_syncs.append((guild_id, [c["name"] for c in commands]))
    return list(table.values())


def _app_check(fake: FakeDiscord, req: RecordedRequest) -> None:
    if req.params.get("application_id") != str(fake.application_id):
        raise _error(403, 50001, "Missing Access")


@route("PUT", "/applications/{application_id}/commands")
async def bulk_global(fake: FakeDiscord, req: RecordedRequest) -> Any:
    _app_check(fake, req)
    return _bulk(fake, fake.global_commands, req.json or [], None)


@route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
async def bulk_guild(fake: FakeDiscord, req: RecordedRequest) -> Any:
    _app_check(fake, req)
    guild = get_guild(fake, req.params["guild_id"])
    return _bulk(fake, fake.guild_commands.setdefault(guild.id, {}), req.json or [], guild.id)


def _table(fake: FakeDiscord, req: RecordedRequest) -> tuple[dict[int, dict[str, Any]], int | None]:
    _app_check(fake, req)
    if "guild_id" in req.params:
        guild = get_guild(fake, req.params["guild_id"])
        return fake.guild_commands.setdefault(guild.id, {}), guild.id
    return fake.global_commands, None


@route("GET", "/applications/{application_id}/commands")
@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
async def list_commands(fake: FakeDiscord, req: RecordedRequest) -> Any:
    table, _ = _table(fake, req)
    return list(table.values())


def _one_command(table: dict[int, dict[str, Any]], command_id: str) -> dict[str, Any]:
    command = table.get(int(command_id)) if command_id.isdigit() else None
    if command is None:
        raise _error(404, 10063, "Unknown application command")
    return command


@route("GET", "/applications/{application_id}/commands/{command_id}")
@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def get_command(fake: FakeDiscord, req: RecordedRequest) -> Any:
    table, _ = _table(fake, req)
    return _one_command(table, req.params["command_id"])


@route("POST", "/applications/{application_id}/commands")
@route("POST", "/applications/{application_id}/guilds/{guild_id}/commands")
async def upsert_command(fake: FakeDiscord, req: RecordedRequest) -> Any:
    table, guild_id = _table(fake, req)
    data = body(req)
    check_form(_check_command(data, 0).get("0", {}))
    existing = next((c for c in table.values() if c["name"] == data["name"]
                     and c["type"] == int(data.get("type", 1))), None)
    record = _command_record(fake, data, guild_id, existing)
    table[int(record["id"])] = record
    return record


@route("PATCH", "/applications/{application_id}/commands/{command_id}")
@route("PATCH", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def edit_command(fake: FakeDiscord, req: RecordedRequest) -> Any:
    table, guild_id = _table(fake, req)
    command = _one_command(table, req.params["command_id"])
    record = _command_record(fake, {**command, **body(req)}, guild_id, command)
    table[int(record["id"])] = record
    return record


@route("DELETE", "/applications/{application_id}/commands/{command_id}")
@route("DELETE", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def delete_command(fake: FakeDiscord, req: RecordedRequest) -> Any:
    table, _ = _table(fake, req)
    command = _one_command(table, req.params["command_id"])
    del table[int(command["id"])]
