"""Interactions: what a test injects (INTERACTION_CREATE) and how the bot must answer (callback and webhook routes).

Injection builds realistic payloads from the fake's state: type 2 slash commands (command path and option types
resolved from the commands the bot registered, `resolved` users/members/channels/roles/attachments, `locale`,
`guild_locale`, `member.permissions`, `app_permissions`), type 4 autocomplete (focused option), type 3 component
clicks and selects on a message the bot sent (the message is included), type 5 modal submits.

Rules Discord enforces and the fake checks: one callback per interaction (else 400 40060 "Interaction has already
been acknowledged", recorded as `answered_twice`); callback within `FakeDiscord.interaction_deadline` seconds (else
404 10062 "Unknown interaction", `answered_late`); no callback at all within the deadline -> `unanswered`; the
response type must fit the interaction type (`invalid_response_type`); followups and @original edits only after the
callback and within `followup_window` (15 min). Callback types: 4 message, 5 deferred message (a LOADING message;
the first followup or @original edit fills it in), 6 deferred update, 7 update the component's message, 8
autocomplete choices, 9 modal.

Each injected interaction returns an `InteractionHandle` to await the answer:
    ix = await fake.slash(guild, member, "config channel", kind="news", channel=guild.channel("news"))
    resp = await ix.response()          # Callback: .type, .data, .content, .embeds, .ephemeral, .choices, .message
    msgs = await ix.followups(2)        # followup messages (Discord message objects)
    ix.original()                       # current original response message (after edits)
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import limits, rest
from .rest import EPHEMERAL, LOADING, route
from .state import Channel, Guild, Member, Role, User, permissions_for
from .waiting import wait_until

if TYPE_CHECKING:
    from .server import FakeDiscord, RecordedRequest, Violation

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
ALLOWED_RESPONSES = {
    APPLICATION_COMMAND: {4, 5, 9},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}
OPTION_SUB_COMMAND, OPTION_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11


@dataclass
class Attachment:
    """An uploaded file for an ATTACHMENT option."""

    filename: str
    content_type: str = "application/octet-stream"
    size: int = 1024
    content: bytes | None = None  # served at the attachment's URL when given (size then follows it)


@dataclass
class Callback:
    """The bot's interaction callback (`POST /interactions/{id}/{token}/callback`)."""

    type: int
    data: dict[str, Any]
    message: dict[str, Any] | None = None  # the stored message it created (4, 5) or updated (7); live: shows edits
    received: float = field(default_factory=time.perf_counter)  # when the callback arrived (benchmarks)

    @property
    def content(self) -> str | None:
        return self.data.get("content")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.data.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.data.get("components") or []

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def deferred(self) -> bool:
        return self.type in (5, 6)

    @property
    def choices(self) -> list[dict[str, Any]]:
        return self.data.get("choices") or []

    @property
    def custom_id(self) -> str | None:
        return self.data.get("custom_id")

    @property
    def title(self) -> str | None:
        return self.data.get("title")


@dataclass(eq=False)
class InteractionHandle:
    """One injected interaction and everything the bot answered to it."""

    fake: FakeDiscord
    id: int
    token: str
    type: int
    payload: dict[str, Any]
    guild: Guild | None
    channel: Channel
    user: User
    created: float = field(default_factory=time.monotonic)
    dispatched: float = 0.0  # time.perf_counter() when INTERACTION_CREATE was queued to the bot (benchmarks)
    callbacks: list[Callback] = field(default_factory=list)
    followup_messages: list[dict[str, Any]] = field(default_factory=list)
    original_id: int | None = None
    source_message: dict[str, Any] | None = None  # the message a component was on
    modal: dict[str, Any] | None = None
    unanswered_report: Violation | None = None
    expired: bool = False  # fake.expire_interaction_tokens(): past Discord's 15 minutes
    _timer: asyncio.TimerHandle | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def answered(self) -> bool:
        return bool(self.callbacks)

    @property
    def callback(self) -> Callback | None:
        return self.callbacks[0] if self.callbacks else None

    async def _until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        try:
            return await wait_until(self._changed, predicate, timeout)
        except TimeoutError:
            raise AssertionError(f"interaction {self.describe()}: no {what} within {timeout}s") from None

    async def response(self, timeout: float = 5) -> Callback:
        """The bot's callback (first one), waiting for it."""
        return await self._until(lambda: self.callback, timeout, "callback")

    async def followups(self, n: int = 1, timeout: float = 5) -> list[dict[str, Any]]:
        """Wait for at least `n` followup messages and return them all (Discord message objects)."""
        await self._until(lambda: len(self.followup_messages) >= n, timeout, f"{n} followup(s)")
        return list(self.followup_messages)

    def original(self) -> dict[str, Any] | None:
        """The original response message as it is now (after edits), or None."""
        if self.original_id is None:
            return None
        return self.fake.message_index.get(self.original_id)

    async def wait_original(self, predicate: Callable[[dict[str, Any]], bool] | None = None,
                            timeout: float = 5) -> dict[str, Any]:
        """Wait until the original response exists, is not loading, and matches `predicate`."""

        def ready() -> dict[str, Any] | None:
            message = self.original()
            if message is None or int(message["flags"]) & LOADING:
                return None
            return message if predicate is None or predicate(message) else None

        return await self._until(ready, timeout, "finished original response")

    @property
    def choices(self) -> list[dict[str, Any]]:
        """Autocomplete choices the bot returned (empty until it answers)."""
        return self.callback.choices if self.callback else []

    def describe(self) -> str:
        data = self.payload.get("data") or {}
        return f"#{self.id} type={self.type} {data.get('name') or data.get('custom_id') or ''}"

    def _notify(self) -> None:
        self._changed.set()


def cancel_timers(fake: FakeDiscord) -> None:
    for handle in fake.interactions.values():
        if handle._timer is not None:
            handle._timer.cancel()


def collect_unanswered(fake: FakeDiscord) -> None:
    """Record every interaction still without a callback (idempotent): the test is over, none may be pending."""
    for handle in fake.interactions.values():
        _mark_unanswered(fake, handle)


def _mark_unanswered(fake: FakeDiscord, handle: InteractionHandle) -> None:
    if handle.callbacks or handle.unanswered_report is not None:
        return
    fake.violation("unanswered", f"interaction {handle.describe()} got no callback within "
                                 f"{fake.interaction_deadline}s")
    handle.unanswered_report = fake.violations[-1]


# -- building payloads ------------------------------------------------------------------------------------------------


def _as_user(who: Member | User) -> User:
    return who.user if isinstance(who, Member) else who


def _member_payload(guild: Guild, member: Member, channel: Channel) -> dict[str, Any]:
    return {**member.to_payload(), "permissions": str(permissions_for(guild, member, channel))}


def _resolved_channel(guild: Guild, member: Member | None, channel: Channel) -> dict[str, Any]:
    data: dict[str, Any] = {"id": str(channel.id), "name": channel.name, "type": int(channel.type),
                            "permissions": str(permissions_for(guild, member, channel) if member else 0),
                            "guild_id": str(guild.id)}
    if channel.parent_id:
        data["parent_id"] = str(channel.parent_id)
    if channel.is_thread:
        data["thread_metadata"] = channel.to_payload()["thread_metadata"]
    return data


def _base_payload(fake: FakeDiscord, kind: int, guild: Guild | None, channel: Channel, who: Member | User,
                  locale: str, data: dict[str, Any] | None) -> tuple[dict[str, Any], User]:
    user = _as_user(who)
    interaction_id = fake.ids.next()
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(fake.application_id),
        "type": kind,
        "token": f"ix-{interaction_id}-{secrets.token_urlsafe(24)}",
        "version": 1,
        "channel_id": str(channel.id),
        "channel": channel.to_payload(),
        "locale": locale,
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
        "authorizing_integration_owners": {"0": str(guild.id)} if guild else {"1": str(user.id)},
        "context": 0 if guild else 1,
    }
    if data is not None:
        payload["data"] = data
    if guild is not None:
        member = guild.members.get(user.id)
        if member is None:
            raise ValueError(f"{user.username} is not a member of {guild.name}")
        payload["guild_id"] = str(guild.id)
        payload["guild"] = {"id": str(guild.id), "locale": guild.preferred_locale, "features": []}
        payload["guild_locale"] = guild.preferred_locale
        payload["member"] = _member_payload(guild, member, channel)
        payload["app_permissions"] = str(permissions_for(guild, guild.members[fake.bot_user.id], channel))
    else:
        payload["user"] = user.to_payload()
        payload["app_permissions"] = str(rest.bot_permissions(fake, channel))
    return payload, user


async def _inject(fake: FakeDiscord, payload: dict[str, Any], guild: Guild | None, channel: Channel,
                  user: User, *, source: dict[str, Any] | None = None) -> InteractionHandle:
    handle = InteractionHandle(fake, int(payload["id"]), payload["token"], payload["type"], payload, guild,
                               channel, user, source_message=source)
    fake.interactions[handle.id] = handle
    loop = asyncio.get_running_loop()
    handle._timer = loop.call_later(fake.interaction_deadline + 0.05, _mark_unanswered, fake, handle)
    handle.dispatched = time.perf_counter()
    fake.gateway.dispatch("INTERACTION_CREATE", payload)
    await fake.drain()
    return handle


def _find_command(fake: FakeDiscord, guild: Guild | None, name: str, kind: int = 1) -> dict[str, Any]:
    tables = []
    if guild is not None:
        tables.append(fake.guild_commands.get(guild.id, {}))
    tables.append(fake.global_commands)
    for table in tables:
        for command in table.values():
            if command["name"] == name and int(command["type"]) == kind:
                return command
    raise ValueError(f"no registered command {name!r}; registered: "
                     f"{sorted(c['name'] for t in tables for c in t.values())}")


def _option_value(fake: FakeDiscord, guild: Guild | None, spec: dict[str, Any], value: Any,
                  resolved: dict[str, dict[str, Any]], invoker: Member | None) -> Any:
    kind = int(spec["type"])
    name = spec["name"]
    if kind == STRING:
        value = str(value)
    elif kind == INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"option {name!r} wants an int, got {value!r}")
    elif kind == NUMBER:
        value = float(value)
    elif kind == BOOLEAN:
        value = bool(value)
    if kind in (STRING, INTEGER, NUMBER):
        choices = spec.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {name!r}: {value!r} is not one of {[c['value'] for c in choices]}")
        return value
    if kind == BOOLEAN:
        return value
    if kind in (USER, MENTIONABLE) and isinstance(value, Member | User):
        user = _as_user(value)
        resolved.setdefault("users", {})[str(user.id)] = user.to_payload()
        if guild is not None and user.id in guild.members:
            member = guild.members[user.id]
            data = member.to_payload(with_user=False)
            data["permissions"] = str(permissions_for(guild, member))
            resolved.setdefault("members", {})[str(user.id)] = data
        return str(user.id)
    if kind in (ROLE, MENTIONABLE) and isinstance(value, Role):
        resolved.setdefault("roles", {})[str(value.id)] = value.to_payload()
        return str(value.id)
    if kind == CHANNEL and isinstance(value, Channel):
        allowed = spec.get("channel_types")
        if allowed and int(value.type) not in allowed:
            raise ValueError(f"option {name!r} accepts channel types {allowed}, got {int(value.type)}")
        assert guild is not None
        resolved.setdefault("channels", {})[str(value.id)] = _resolved_channel(guild, invoker, value)
        return str(value.id)
    if kind == ATTACHMENT and isinstance(value, Attachment):
        attachment_id = fake.ids.next()
        url = fake.store_attachment(f"/attachments/upload/{attachment_id}/{value.filename}", value.content or b"")
        size = len(value.content) if value.content is not None else value.size
        resolved.setdefault("attachments", {})[str(attachment_id)] = {
            "id": str(attachment_id), "filename": value.filename, "size": size, "url": url,
            "proxy_url": url, "content_type": value.content_type, "ephemeral": True}
        return str(attachment_id)
    raise ValueError(f"option {name!r} (type {kind}) cannot take {value!r}")


def _build_options(fake: FakeDiscord, guild: Guild | None, command: dict[str, Any], path: list[str],
                   values: dict[str, Any], invoker: Member | None, focused: str | None,
                   ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    specs = command.get("options") or []
    resolved: dict[str, dict[str, Any]] = {}
    wrappers: list[dict[str, Any]] = []
    for part in path:
        spec = next((o for o in specs if o["name"] == part and o["type"] in (OPTION_SUB_COMMAND, OPTION_GROUP)),
                    None)
        if spec is None:
            raise ValueError(f"{command['name']}: no subcommand (group) {part!r}")
        wrappers.append({"type": spec["type"], "name": part, "options": []})
        specs = spec.get("options") or []
    if any(o["type"] in (OPTION_SUB_COMMAND, OPTION_GROUP) for o in specs):
        raise ValueError(f"{command['name']} {' '.join(path)}: choose a subcommand")
    by_name = {o["name"]: o for o in specs}
    unknown = set(values) - set(by_name)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; the command has {sorted(by_name)}")
    options = []
    for spec in specs:
        if spec["name"] not in values:
            if spec.get("required") and spec["name"] != focused:
                raise ValueError(f"required option {spec['name']!r} missing")
            continue
        value = values[spec["name"]]
        if spec["name"] == focused:
            options.append({"name": spec["name"], "type": spec["type"], "value": str(value), "focused": True})
            continue
        options.append({"name": spec["name"], "type": spec["type"],
                        "value": _option_value(fake, guild, spec, value, resolved, invoker)})
    if wrappers:
        wrappers[-1]["options"] = options
        for outer, inner in itertools.pairwise(wrappers):
            outer["options"] = [inner]
        options = [wrappers[0]]
    return options, resolved


async def inject_command(fake: FakeDiscord, guild: Guild | None, who: Member | User, command_path: str, *,
                         kind: int = APPLICATION_COMMAND, locale: str = "en-US", in_channel: Channel | None = None,
                         options: dict[str, Any] | None = None, focused: str | None = None) -> InteractionHandle:
    name, *path = command_path.split()
    command = _find_command(fake, guild, name)
    channel = in_channel or _default_channel(fake, guild, who)
    user = _as_user(who)
    invoker = guild.members.get(user.id) if guild else None
    option_list, resolved = _build_options(fake, guild, command, path, dict(options or {}), invoker, focused)
    data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": 1, "options": option_list}
    if resolved:
        data["resolved"] = resolved
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    payload, user = _base_payload(fake, kind, guild, channel, who, locale, data)
    return await _inject(fake, payload, guild, channel, user)


def _default_channel(fake: FakeDiscord, guild: Guild | None, who: Member | User) -> Channel:
    if guild is not None:
        if guild.system_channel_id:
            return guild.channels[guild.system_channel_id]
        return guild.live_channels()[0]
    user = _as_user(who)
    channel = fake.dm_channels.get(user.id)
    if channel is None:
        from .state import ChannelType

        channel = Channel(fake.ids.next(), ChannelType.DM, recipient=user)
        fake.dm_channels[user.id] = channel
        fake.channels[channel.id] = channel
    return channel


def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        for key in ("components", "accessory", "component"):
            child = component.get(key)
            children = child if isinstance(child, list) else [child] if isinstance(child, dict) else []
            found = _find_component(children, custom_id)
            if found is not None:
                return found
    return None


def _message_and_channel(fake: FakeDiscord, message: dict[str, Any] | int | str) -> tuple[dict[str, Any], Channel]:
    stored = fake.message_index[int(message if not isinstance(message, dict) else message["id"])]
    return stored, fake.channels[int(stored["channel_id"])]


async def inject_component(fake: FakeDiscord, message: dict[str, Any] | int | str, custom_id: str,
                           who: Member | User, *, values: list[Any] | None = None, locale: str = "en-US",
                           ) -> InteractionHandle:
    stored, channel = _message_and_channel(fake, message)
    component = _find_component(stored.get("components") or [], custom_id)
    if component is None:
        raise ValueError(f"message {stored['id']} has no component {custom_id!r}")
    if component.get("disabled"):
        raise ValueError(f"component {custom_id!r} is disabled")
    guild = fake.guilds.get(channel.guild_id) if channel.guild_id else None
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": int(component["type"])}
    if component["type"] != 2:
        resolved: dict[str, dict[str, Any]] = {}
        raw: list[str] = []
        for value in values or []:
            if isinstance(value, Member | User | Role | Channel):
                spec = {"name": custom_id, "type": {Role: ROLE, Channel: CHANNEL}.get(type(value), USER)}
                raw.append(_option_value(fake, guild, spec, value, resolved,
                                         guild.members.get(_as_user(who).id) if guild else None))
            else:
                raw.append(str(value))
        allowed = [o["value"] for o in component.get("options") or []]
        if component["type"] == 3 and any(v not in allowed for v in raw):
            raise ValueError(f"select {custom_id!r} has options {allowed}, got {raw}")
        data["values"] = raw
        if resolved:
            data["resolved"] = resolved
    elif values:
        raise ValueError("a button click takes no values")
    payload, user = _base_payload(fake, MESSAGE_COMPONENT, guild, channel, who, locale, data)
    payload["message"] = rest.public(stored)
    return await _inject(fake, payload, guild, channel, user, source=stored)


def _submitted(component: dict[str, Any], values: dict[str, Any], used: set[str]) -> dict[str, Any] | None:
    kind = component.get("type")
    if kind == 1:
        children = [_submitted(c, values, used) for c in component.get("components") or []]
        return {"type": 1, "components": [c for c in children if c]}
    if kind == 18:
        inner = _submitted(component["component"], values, used)
        return {"type": 18, "id": component.get("id"), "component": inner} if inner else None
    if kind == 10:
        return None
    custom_id = component.get("custom_id")
    if custom_id is None:
        return None
    used.add(custom_id)
    if kind == 4:
        value = str(values.get(custom_id, ""))
        if component.get("required", True) and not value:
            raise ValueError(f"text input {custom_id!r} is required")
        if component.get("max_length") and len(value) > component["max_length"]:
            raise ValueError(f"text input {custom_id!r} allows {component['max_length']} characters")
        return {"type": 4, "custom_id": custom_id, "value": value}
    return {"type": kind, "custom_id": custom_id, "values": [str(v) for v in values.get(custom_id, [])]}


async def inject_modal_submit(fake: FakeDiscord, opened_by: InteractionHandle, values: dict[str, Any],
                              who: Member | User | None = None, *, locale: str = "en-US") -> InteractionHandle:
    modal = opened_by.modal
    if modal is None:
        raise ValueError(f"interaction {opened_by.describe()} did not open a modal")
    used: set[str] = set()
    components = [c for c in (_submitted(c, values, used) for c in modal.get("components") or []) if c]
    unknown = set(values) - used
    if unknown:
        raise ValueError(f"modal {modal.get('custom_id')!r} has no inputs {sorted(unknown)}")
    data = {"custom_id": modal["custom_id"], "components": components}
    channel = opened_by.channel
    payload, user = _base_payload(fake, MODAL_SUBMIT, opened_by.guild, channel, who or opened_by.user, locale, data)
    source = opened_by.source_message
    if source is not None:
        payload["message"] = rest.public(source)
    return await _inject(fake, payload, opened_by.guild, channel, user, source=source)


# -- callback and webhook routes --------------------------------------------------------------------------------------


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> Exception:
    from .server import ApiError

    return ApiError(status, code, message, errors)


def _handle_for(fake: FakeDiscord, interaction_id: str, token: str) -> InteractionHandle:
    handle = fake.interactions.get(int(interaction_id)) if interaction_id.isdigit() else None
    if handle is None or handle.token != token or handle.expired:
        raise _error(404, 10062, "Unknown interaction")
    return handle


def _response_message(fake: FakeDiscord, handle: InteractionHandle, data: dict[str, Any],
                      files: list[Any], *, loading: bool = False) -> dict[str, Any]:
    body = dict(data)
    flags = int(body.get("flags") or 0) & (EPHEMERAL | 4 | 4096 | 32768)
    if loading:
        flags |= LOADING
    body["flags"] = flags
    data_name = (handle.payload.get("data") or {}).get("name")
    extra = {
        "webhook_id": str(fake.application_id),
        "application_id": str(fake.application_id),
        "interaction_metadata": {
            "id": str(handle.id), "type": handle.type, "user": handle.user.to_payload(),
            "authorizing_integration_owners": handle.payload["authorizing_integration_owners"],
            **({"name": data_name} if data_name and handle.type == APPLICATION_COMMAND else {}),
        },
    }
    message_type = 20 if handle.type == APPLICATION_COMMAND else 19 if handle.type == MESSAGE_COMPONENT else 0
    message = rest.store_message(fake, handle.channel, fake.bot_user, body, files=files,
                                 message_type=message_type, extra=extra)
    return message


def _check_message_body(fake: FakeDiscord, req: RecordedRequest, data: dict[str, Any]) -> None:
    rest.check_form(limits.check_message(data))


@route("POST", "/interactions/{interaction_id}/{interaction_token}/callback")
async def interaction_callback(fake: FakeDiscord, req: RecordedRequest) -> Any:
    handle = _handle_for(fake, req.params["interaction_id"], req.params["interaction_token"])
    body = rest.body(req)
    kind = int(body.get("type") or 0)
    data = body.get("data") or {}
    if handle.callbacks:
        fake.violation("answered_twice", f"interaction {handle.describe()} answered again with type {kind}", req)
        raise _error(400, 40060, "Interaction has already been acknowledged.")
    elapsed = time.monotonic() - handle.created
    if elapsed > fake.interaction_deadline:
        if handle.unanswered_report is not None:  # a late answer replaces the "unanswered" report
            fake.violations = [v for v in fake.violations if v is not handle.unanswered_report]
        fake.violation("answered_late", f"interaction {handle.describe()} answered after {elapsed:.2f}s", req)
        raise _error(404, 10062, "Unknown interaction")
    if kind not in ALLOWED_RESPONSES[handle.type]:
        fake.violation("invalid_response_type",
                       f"interaction {handle.describe()} cannot be answered with type {kind}", req)
        raise _error(400, 50035, "Invalid Form Body",
                     {"type": {"_errors": [{"code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                            "message": "Invalid interaction response type"}]}})
    message: dict[str, Any] | None = None
    if kind == 4:
        _check_message_body(fake, req, data)
        message = _response_message(fake, handle, data, req.files)
        handle.original_id = int(message["id"])
    elif kind == 5:
        message = _response_message(fake, handle, {"content": "", "flags": data.get("flags", 0)}, [], loading=True)
        handle.original_id = int(message["id"])
    elif kind == 7:
        _check_message_body(fake, req, data)
        source = handle.source_message
        if source is None:
            raise _error(400, 40000, "This interaction has no message to update")
        message = rest.apply_edit(fake, handle.channel, source, data, req.files)
        handle.original_id = int(source["id"])
    elif kind == 6:
        if handle.source_message is not None:  # @original now means the component's message
            handle.original_id = int(handle.source_message["id"])
    elif kind == 8:
        rest.check_form(limits.check_choices(data.get("choices") or []))
    elif kind == 9:
        errors = {}
        if len(data.get("title") or "") > 45 or not data.get("title"):
            errors["title"] = {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be 1-45."}]}
        if not data.get("custom_id") or len(data["custom_id"]) > 100:
            errors["custom_id"] = {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be 1-100."}]}
        if not 1 <= len(data.get("components") or []) <= 5:
            errors["components"] = {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be 1-5."}]}
        rest.check_form(errors)
        handle.modal = data
    handle.callbacks.append(Callback(kind, data, message))
    if handle._timer is not None:
        handle._timer.cancel()
    handle._notify()
    if req.query.get("with_response") not in ("1", "true", "True"):
        return None
    answer: dict[str, Any] = {"interaction": {
        "id": str(handle.id), "type": handle.type,
        "response_message_loading": kind == 5,
        "response_message_ephemeral": bool(message and int(message["flags"]) & EPHEMERAL),
    }}
    if message is not None:
        answer["interaction"]["response_message_id"] = message["id"]
    resource: dict[str, Any] = {"type": kind}
    if message is not None:
        resource["message"] = rest.public(message)
    answer["resource"] = resource
    return answer


def _webhook_handle(fake: FakeDiscord, req: RecordedRequest) -> InteractionHandle:
    if req.params["webhook_id"] != str(fake.application_id):
        raise _error(404, 10015, "Unknown Webhook")
    token = req.params["webhook_token"]
    handle = next((h for h in fake.interactions.values() if h.token == token), None)
    if handle is not None and handle.expired:
        raise _error(401, 50027, "Invalid Webhook Token")
    if handle is None or time.monotonic() - handle.created > fake.followup_window:
        raise _error(404, 10015, "Unknown Webhook")
    if not handle.callbacks:
        fake.violation("webhook_before_callback", f"interaction {handle.describe()}: {req.route} before callback",
                       req)
        raise _error(404, 10015, "Unknown Webhook")
    return handle


@route("POST", "/webhooks/{webhook_id}/{webhook_token}")
async def followup(fake: FakeDiscord, req: RecordedRequest) -> Any:
    handle = _webhook_handle(fake, req)
    data = rest.body(req)
    _check_message_body(fake, req, data)
    original = handle.original()
    if original is not None and int(original["flags"]) & LOADING:
        # after a deferred (type 5) response, the first followup edits the "thinking" message
        message = rest.apply_edit(fake, handle.channel, original, {k: v for k, v in data.items() if k != "flags"},
                                  req.files)
    else:
        message = _response_message(fake, handle, data, req.files)
    handle.followup_messages.append(message)
    handle._notify()
    return rest.public(message) if req.query.get("wait") in ("true", "1", "True") else None


def _webhook_message(fake: FakeDiscord, handle: InteractionHandle, message_id: str) -> dict[str, Any]:
    if message_id == "@original":
        message = handle.original()
    else:
        ids = {int(m["id"]) for m in handle.followup_messages} | {handle.original_id}
        message = fake.message_index.get(int(message_id)) if message_id.isdigit() and int(message_id) in ids \
            else None
    if message is None:
        raise _error(404, 10008, "Unknown Message")
    return message


@route("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
async def get_webhook_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    handle = _webhook_handle(fake, req)
    return rest.public(_webhook_message(fake, handle, req.params["message_id"]))


@route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
async def edit_webhook_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    handle = _webhook_handle(fake, req)
    message = _webhook_message(fake, handle, req.params["message_id"])
    channel = fake.channels[int(message["channel_id"])]
    edited = rest.apply_edit(fake, channel, message, rest.body(req), req.files)
    handle._notify()
    return rest.public(edited)


@route("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
async def delete_webhook_message(fake: FakeDiscord, req: RecordedRequest) -> Any:
    handle = _webhook_handle(fake, req)
    message = _webhook_message(fake, handle, req.params["message_id"])
    channel_id = int(message["channel_id"])
    fake.message_index.pop(int(message["id"]), None)
    if fake.messages.get(channel_id, {}).pop(int(message["id"]), None) is not None:
        event = {"id": message["id"], "channel_id": str(channel_id)}
        if message.get("guild_id"):
            event["guild_id"] = message["guild_id"]
        fake.gateway.dispatch("MESSAGE_DELETE", event)
    handle._notify()
