"""REST routes for messages: create (JSON or multipart with payload_json + files[n]), get, list, edit, delete;
pins (new /messages/pins and legacy /pins routes); reactions; typing.

Sending needs VIEW_CHANNEL + SEND_MESSAGES (SEND_MESSAGES_IN_THREADS in threads), files need ATTACH_FILES, embeds
without EMBED_LINKS are silently dropped, DMs to a user with closed DMs give 403 50007, an archived unlocked thread
is unarchived by a new message (as on Discord), while editing a message in an archived thread is refused with 400 50083
(locked or not: the thread must be unarchived first, as on Discord). A message with `enforce_nonce` whose nonce
the channel saw within `fake.nonce_window` seconds returns that message instead of a new one (GETs omit nonces,
like Discord).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from . import limits
from .rest import (
    EPHEMERAL,
    add_reaction,
    api_error,
    apply_edit,
    body,
    bot_permissions,
    check_form,
    drop_embeds_without_permission,
    event_payload,
    forbidden,
    get_channel,
    get_message,
    public,
    refresh_reactions,
    remove_reaction,
    require,
    route,
    store_message,
)
from .state import Channel, ChannelType, Perm, iso

if TYPE_CHECKING:
    from .server import FakeDiscord, RecordedRequest


def _send_permissions(fake: FakeDiscord, channel: Channel) -> int:
    if channel.type == ChannelType.DM:
        recipient = channel.recipient
        if recipient is not None and (recipient.dms_closed or recipient.bot):
            raise api_error(403, 50007, "Cannot send messages to this user")
        return bot_permissions(fake, channel)
    if channel.type in (ChannelType.GUILD_CATEGORY, ChannelType.GUILD_FORUM, ChannelType.GUILD_MEDIA):
        raise api_error(400, 50008, "Cannot send messages in a non-text channel")
    send = Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES
    perms = require(fake, channel, Perm.VIEW_CHANNEL, send)
    if channel.is_thread and channel.archived:
        if channel.locked and not perms & Perm.MANAGE_THREADS:
            raise api_error(400, 50083, "Thread is archived")
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
        raise api_error(400, 50006, "Cannot send an empty message")
    payload = drop_embeds_without_permission(payload, perms)
    payload = {**payload, "flags": int(payload.get("flags") or 0) & ~EPHEMERAL}
    nonce = payload.get("nonce") if payload.get("enforce_nonce") else None
    nonce_key = (channel.id, str(nonce)) if nonce else None
    if nonce_key is not None:  # Discord: the same author's message with this nonce in the last minutes is returned
        earlier = fake.nonces.get(nonce_key)
        if earlier is not None and time.monotonic() - earlier[1] <= fake.nonce_window:
            existing = fake.messages.get(channel.id, {}).get(earlier[0])
            if existing is not None:
                fake.nonce_hits += 1
                return public(existing)
    message = store_message(fake, channel, fake.bot_user, payload, files=req.files)
    if nonce_key is not None:
        fake.nonces[nonce_key] = (int(message["id"]), time.monotonic())
    return public(message)


def fetched(message: dict[str, Any]) -> dict[str, Any]:
    """A message as GET returns it: like Discord, without the nonce (only the create answer and MESSAGE_CREATE
    carry it)."""
    data = public(message)
    data.pop("nonce", None)
    return data


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
        return [fetched(m) for m in reversed(messages)]
    return [fetched(m) for m in messages[:limit]]


@route("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_one_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.READ_MESSAGE_HISTORY)
    return fetched(get_message(fake, channel, req.params["message_id"]))


@route("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL)
    message = get_message(fake, channel, req.params["message_id"])
    if channel.is_thread and channel.archived:
        raise api_error(400, 50083, "Thread is archived")
    payload = body(req)
    if message["author"]["id"] != str(fake.bot_user.id):
        if set(payload) - {"flags"}:
            raise api_error(403, 50005, "Cannot edit a message authored by another user")
        require(fake, channel, Perm.MANAGE_MESSAGES)
    payload = drop_embeds_without_permission(payload, bot_permissions(fake, channel))
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


async def _pin(fake: FakeDiscord, req: RecordedRequest, pinned: bool) -> None:
    channel = get_channel(fake, req.params["channel_id"])
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.MANAGE_MESSAGES)
    message = get_message(fake, channel, req.params["message_id"])
    pins = fake.pins.setdefault(channel.id, {})
    if pinned and len(pins) >= 50 and int(message["id"]) not in pins:
        raise api_error(400, 30003, "Maximum number of pins reached (50)")
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


def _emoji_key(raw: str) -> str:
    return unquote(raw)


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
    refresh_reactions(fake, message)


@route("POST", "/channels/{channel_id}/typing")
async def typing(fake: FakeDiscord, req: RecordedRequest) -> Any:
    get_channel(fake, req.params["channel_id"])
