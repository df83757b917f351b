"""REST routes for channels and threads: get/edit/delete a channel (forum tags, thread archive/lock/name/tags),
threads from a message (thread id == message id) and without one, forum posts (thread + starter message whose id is
the thread id, `applied_tags` checked against the forum), thread members, active and archived threads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import limits
from .rest import (
    api_error,
    body,
    check_form,
    drop_embeds_without_permission,
    forbidden,
    get_channel,
    get_guild,
    get_message,
    invalid_form,
    public,
    require,
    route,
    store_message,
)
from .state import THREAD_TYPES, Channel, ChannelType, Perm, iso

if TYPE_CHECKING:
    from .server import FakeDiscord, RecordedRequest


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
        raise api_error(400, 50024, "Cannot execute action on this channel type")
    require(fake, channel, Perm.VIEW_CHANNEL, Perm.CREATE_PUBLIC_THREADS)
    message = get_message(fake, channel, req.params["message_id"])
    if message.get("thread"):
        raise api_error(400, 160004, "A thread has already been created for this message")
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
        raise api_error(400, 50024, "Cannot execute action on this channel type")
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
    message_body = drop_embeds_without_permission(message_body, perms)
    _thread_create_event(fake, thread)
    message = store_message(fake, thread, fake.bot_user, message_body, files=req.files, message_id=thread.id)
    data = thread.to_payload()
    data["message"] = public(message)
    data["member"] = _thread_member(fake, thread, fake.bot_user.id)
    return data


async def _thread_member_change(fake: FakeDiscord, req: RecordedRequest, user_id: int, join: bool) -> None:
    thread = get_channel(fake, req.params["channel_id"])
    if not thread.is_thread:
        raise api_error(400, 50024, "Cannot execute action on this channel type")
    if thread.archived:
        raise api_error(400, 50083, "Thread is archived")
    perms = require(fake, thread, Perm.VIEW_CHANNEL)
    guild = fake.guilds[thread.guild_id]  # type: ignore[index]
    if user_id != fake.bot_user.id:
        if not perms & Perm.SEND_MESSAGES_IN_THREADS:
            raise forbidden()
        if user_id not in guild.members:
            raise api_error(404, 10013, "Unknown User")
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
