"""REST API v10 plumbing shared by the route modules: the route table, Discord's errors, look-ups, permission checks,
and how messages are stored, edited and announced on the gateway.

Route modules: rest_messages (messages, pins, reactions), rest_channels (channels, threads, forum posts, thread
members), rest_guilds (guilds, members, users, application, gateway/bot, DMs, scheduled events), rest_commands
(application commands); interactions.py has the interaction callback and webhook routes.
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
from typing import TYPE_CHECKING, Any

from . import limits
from .state import (
    Channel,
    Guild,
    Perm,
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


def api_error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> Exception:
    from .server import ApiError

    return ApiError(status, code, message, errors)


def invalid_form(errors: dict[str, Any]) -> Exception:
    return api_error(400, 50035, "Invalid Form Body", errors)


def check_form(errors: dict[str, Any]) -> None:
    if errors:
        raise invalid_form(errors)


def forbidden() -> Exception:
    return api_error(403, 50013, "Missing Permissions")


# -- lookups ----------------------------------------------------------------------------------------------------------


def get_channel(fake: FakeDiscord, channel_id: Any) -> Channel:
    channel = fake.channels.get(int(channel_id)) if str(channel_id).isdigit() else None
    if channel is None or channel.deleted or (channel.guild_id and channel.guild_id not in fake.guilds):
        raise api_error(404, 10003, "Unknown Channel")
    return channel


def get_guild(fake: FakeDiscord, guild_id: Any) -> Guild:
    guild = fake.guilds.get(int(guild_id)) if str(guild_id).isdigit() else None
    if guild is None:
        raise api_error(404, 10004, "Unknown Guild")
    return guild


def get_message(fake: FakeDiscord, channel: Channel, message_id: Any) -> dict[str, Any]:
    message = fake.messages.get(channel.id, {}).get(int(message_id)) if str(message_id).isdigit() else None
    if message is None:
        raise api_error(404, 10008, "Unknown Message")
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
        "url": fake.store_attachment(f"/attachments/{channel_id}/{attachment_id}/{filename}", file.data),
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


def drop_embeds_without_permission(payload: dict[str, Any], perms: int) -> dict[str, Any]:
    if payload.get("embeds") and not perms & Perm.EMBED_LINKS:
        return {**payload, "embeds": []}  # Discord silently drops them
    return payload



# -- reactions (shared by the REST routes and FakeDiscord.react) ---------------------------------------------------


def _emoji_payload(key: str) -> dict[str, Any]:
    if ":" in key:
        name, _, emoji_id = key.partition(":")
        return {"id": emoji_id, "name": name}
    return {"id": None, "name": key}


def refresh_reactions(fake: FakeDiscord, message: dict[str, Any]) -> None:
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
    refresh_reactions(fake, message)
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
    refresh_reactions(fake, message)
    event: dict[str, Any] = {"user_id": str(user_id), "channel_id": str(channel.id), "message_id": message["id"],
                             "emoji": _emoji_payload(key), "burst": False, "type": 0}
    if channel.guild_id:
        event["guild_id"] = str(channel.guild_id)
    fake.gateway.dispatch("MESSAGE_REACTION_REMOVE", event)
