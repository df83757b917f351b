"""Discord Gateway v10 imitation (https://discord.com/developers/docs/events/gateway).

One websocket connection = one `Connection`; an identified bot = one `Session` (survives a disconnect so that it can
be RESUMEd). Flow: HELLO(op 10) -> IDENTIFY(op 2, token checked, intents recorded) -> READY (user, unavailable
guilds, session_id, resume_gateway_url, application) -> one GUILD_CREATE per guild. HEARTBEAT(op 1) ->
HEARTBEAT_ACK(op 11). RESUME(op 6) replays the events missed since the client's sequence number then sends RESUMED,
or INVALID_SESSION(false) for an unknown session. REQUEST_GUILD_MEMBERS(op 8) -> GUILD_MEMBERS_CHUNK.

Transport: `encoding=json` only; `compress=zlib-stream` uses one zlib compressobj per connection and ends every
message with a Z_SYNC_FLUSH (bytes 00 00 ff ff), as discord.py's `_ZlibDecompressionContext` expects; without it,
plain text frames. Events are queued per connection and written by one writer task, so `Gateway.dispatch` is
synchronous and keeps order. Intents filter what a session receives (GUILD_MEMBERS for member events and full
member lists, GUILD_MESSAGES/DIRECT_MESSAGES for messages, MESSAGE_CONTENT for other users' message content).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .waiting import wait_until

if TYPE_CHECKING:
    from .server import FakeDiscord

_log = logging.getLogger(__name__)

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
MESSAGE_CONTENT = 1 << 15
GUILD_SCHEDULED_EVENTS = 1 << 16


def _required_intent(event: str, data: dict[str, Any]) -> int:
    in_guild = bool(data.get("guild_id"))
    if event.startswith("GUILD_MEMBER_") and event != "GUILD_MEMBERS_CHUNK":
        return GUILD_MEMBERS
    if event.startswith("MESSAGE_REACTION_"):
        return GUILD_MESSAGE_REACTIONS if in_guild else DIRECT_MESSAGE_REACTIONS
    if event.startswith("MESSAGE_"):
        return GUILD_MESSAGES if in_guild else DIRECT_MESSAGES
    if event.startswith("GUILD_SCHEDULED_EVENT_"):
        return GUILD_SCHEDULED_EVENTS
    if event in ("INTERACTION_CREATE", "RESUMED", "READY"):
        return 0
    return GUILDS


class Connection:
    """One websocket: a queue of outgoing payloads written by one task, compressed if asked."""

    def __init__(self, ws: web.WebSocketResponse, compress: bool) -> None:
        self.ws = ws
        self.compressor = zlib.compressobj() if compress else None
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.session: Session | None = None
        self.closed_by_server = False
        self.writer = asyncio.get_running_loop().create_task(self._write())

    def send(self, payload: dict[str, Any]) -> None:
        self.queue.put_nowait(payload)

    async def _write(self) -> None:
        while True:
            payload = await self.queue.get()
            try:
                if payload is None or self.ws.closed:
                    return
                text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
                if self.compressor is not None:
                    data = self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)
            except (ConnectionResetError, RuntimeError) as exc:
                _log.debug("gateway write failed: %s", exc)
                return
            finally:
                self.queue.task_done()

    async def close(self, code: int) -> None:
        self.closed_by_server = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code)
        self.queue.put_nowait(None)


@dataclass(eq=False)
class Session:
    session_id: str
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    connection: Connection | None = None
    ended: bool = False
    shard: tuple[int, int] | None = None  # (shard_id, shard_count) from IDENTIFY; None: every server

    def owns(self, guild_id: int | None) -> bool:
        """Whether events of this server come to this session (DMs and other server-less events: shard 0)."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        return shard_id == 0 if guild_id is None else (guild_id >> 22) % count == shard_id

    def push(self, event: str, data: dict[str, Any]) -> None:
        needed = _required_intent(event, data)
        if needed and not self.intents & needed:
            return
        data = _strip_content(event, data, self)
        self.seq += 1
        payload = {"op": 0, "t": event, "s": self.seq, "d": data}
        self.log.append(payload)
        if self.connection is not None:
            self.connection.send(payload)


def _strip_content(event: str, data: dict[str, Any], session: Session) -> dict[str, Any]:
    """Without the MESSAGE_CONTENT intent, other users' guild messages arrive without content (Discord's rule)."""
    if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE") or session.intents & MESSAGE_CONTENT:
        return data
    bot_id = session.identify.get("_bot_id")
    author = (data.get("author") or {}).get("id")
    mentioned = any(u.get("id") == bot_id for u in data.get("mentions") or [])
    if not data.get("guild_id") or author == bot_id or mentioned:
        return data
    stripped = copy.deepcopy(data)
    stripped.update(content="", embeds=[], attachments=[], components=[])
    return stripped


class Gateway:
    """The gateway endpoint of one `FakeDiscord` and every session that ever identified on it."""

    def __init__(self, fake: FakeDiscord, heartbeat_interval: int) -> None:
        self.fake = fake
        self.heartbeat_interval = heartbeat_interval
        self.sessions: list[Session] = []
        self.connections: list[Connection] = []
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeats = 0
        self.presence_updates: list[dict[str, Any]] = []
        self.connect_queries: list[dict[str, str]] = []  # query of every websocket connection (v, encoding, compress)
        self.refused_connections = 0
        self.refusing = False
        self._last_identify: dict[int, float] = {}  # a gateway outage: new connections answer 503 until it is cleared
        self._changed = asyncio.Event()

    # -- test-facing ------------------------------------------------------------------------------------------------
    @property
    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions if not s.ended]

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH event to the live session of its server's shard (buffered for resume while
        disconnected)."""
        guild = data.get("id") if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") else data.get("guild_id")
        guild_id = int(guild) if guild else None
        for session in self.live_sessions:
            if session.owns(guild_id):
                session.push(event, data)

    async def drain(self) -> None:
        """Wait until everything queued so far has been written to the sockets."""
        for connection in list(self.connections):
            if not connection.ws.closed and not connection.writer.done():
                await connection.queue.join()

    async def disconnect(self, code: int = 4000) -> None:
        """Close every open connection with `code`; sessions stay resumable unless the code forbids it."""
        for connection in list(self.connections):
            await connection.close(code)

    async def disconnect_shard(self, shard_id: int, code: int = 4000) -> None:
        """Close the connection of one shard's session only (the others stay connected)."""
        for session in self.live_sessions:
            if session.shard is not None and session.shard[0] == shard_id and session.connection is not None:
                await session.connection.close(code)

    def send_op(self, op: int, data: Any = None) -> None:
        for connection in list(self.connections):
            connection.send({"op": op, "d": data, "s": None, "t": None})

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5) -> None:
        await wait_until(self._changed, predicate, timeout)

    async def close_all(self) -> None:
        for connection in list(self.connections):
            await connection.close(1001)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                connection.writer.cancel()
                await connection.writer
        for session in self.sessions:
            session.ended = True

    # -- websocket handler ------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.refusing:
            self.refused_connections += 1
            self._notify()
            return web.Response(status=503, text="gateway unavailable")
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self.connect_queries.append(dict(request.query))
        if request.query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"only json encoding is supported")
            return ws
        connection = Connection(ws, request.query.get("compress") == "zlib-stream")
        self.connections.append(connection)
        self._notify()
        connection.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval}, "s": None, "t": None})
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_payload(connection, json.loads(message.data))
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
                # A client's clean close (1000/1001) ends its session; anything else keeps it resumable. Note that
                # discord.py's Client.close() usually reaches the server as 4000, so a stopped bot's session
                # stays resumable, exactly as on Discord.
                if not connection.closed_by_server and ws.close_code in (1000, 1001):
                    session.ended = True
            connection.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await connection.writer
            self.connections.remove(connection)
            self._notify()
        return ws

    def _notify(self) -> None:
        self._changed.set()

    async def _on_payload(self, connection: Connection, payload: dict[str, Any]) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == 1:
            self.heartbeats += 1
            connection.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(connection, data)
        elif op == 6:
            await self._resume(connection, data)
        elif op == 8:
            self._request_members(connection, data)
        elif op == 3:
            self.presence_updates.append(data)
        elif op == 4:
            pass  # voice state update: the fake has no voice servers
        else:
            await connection.close(4001)

    async def _identify(self, connection: Connection, data: dict[str, Any]) -> None:
        if connection.session is not None:
            await connection.close(4005)
            return
        if data.get("token") != self.fake.token:
            await connection.close(4004)
            return
        shard = data.get("shard")
        if shard is not None and not (isinstance(shard, list) and len(shard) == 2 and 0 <= shard[0] < shard[1]):
            await connection.close(4010)  # invalid shard
            return
        bot = self.fake.bot_user
        identify = dict(data)
        identify["_bot_id"] = str(bot.id)
        session = Session(secrets.token_hex(16), int(data.get("intents", 0)), identify,
                          shard=(int(shard[0]), int(shard[1])) if shard else None)
        guilds = [g for g in self.fake.guilds.values() if session.owns(g.id)]
        if len(guilds) > self.fake.max_guilds_per_session:
            await connection.close(4011)  # sharding required
            return
        self._check_identify_rate(session)
        session.connection = connection
        connection.session = session
        self.sessions.append(session)
        self.identify_count += 1
        session.push("READY", {
            "v": 10,
            "user": {**bot.to_payload(), "verified": True, "mfa_enabled": False, "flags": 0, "email": None},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.fake.gateway_url,
            "shard": list(session.shard or (0, 1)),
            "application": {"id": str(self.fake.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-west"],
            "auth_session_id_hash": "",
        })
        for guild in guilds:
            session.push("GUILD_CREATE", self.guild_create_payload(guild, session))
        self._notify()

    def _check_identify_rate(self, session: Session) -> None:
        """Discord allows `max_concurrency` IDENTIFYs per `identify_interval`, one per bucket."""
        bucket = (session.shard[0] if session.shard else 0) % self.fake.max_concurrency
        now = time.monotonic()
        last = self._last_identify.get(bucket)
        if self.fake.identify_interval and last is not None and now - last < self.fake.identify_interval:
            self.fake.violation("identify_rate_limit",
                                f"IDENTIFY of bucket {bucket} {now - last:.2f}s after the previous one")
        self._last_identify[bucket] = now

    def guild_create_payload(self, guild: Any, session: Session | None = None, *, join: bool = False
                             ) -> dict[str, Any]:
        members = None
        if session is not None and not session.intents & GUILD_MEMBERS:
            members = [m for m in guild.members.values() if m.id == self.fake.bot_user.id]
        return guild.to_payload(members=members, join=join)

    def dispatch_guild_create(self, guild: Any) -> None:
        """The bot joins `guild` while connected."""
        for session in self.live_sessions:
            if session.owns(guild.id):
                session.push("GUILD_CREATE", self.guild_create_payload(guild, session, join=True))

    async def _resume(self, connection: Connection, data: dict[str, Any]) -> None:
        session = next((s for s in self.live_sessions if s.session_id == data.get("session_id")), None)
        if data.get("token") != self.fake.token:
            await connection.close(4004)
            return
        if session is None or not self.fake.resumable:
            connection.send({"op": 9, "d": False, "s": None, "t": None})
            return
        if session.connection is not None and session.connection is not connection:
            await session.connection.close(4000)
        session.connection = connection
        connection.session = session
        self.resume_count += 1
        since = int(data.get("seq") or 0)
        for payload in session.log:
            if payload["s"] > since:
                connection.send(payload)
        session.push("RESUMED", {})
        self._notify()

    def _request_members(self, connection: Connection, data: dict[str, Any]) -> None:
        guild = self.fake.guilds.get(int(data.get("guild_id", 0)))
        if guild is None or connection.session is None:
            return
        members = list(guild.members.values())
        wanted = {int(u) for u in data.get("user_ids") or []}
        if wanted:
            members = [m for m in members if m.id in wanted]
        query = data.get("query")
        if query:
            members = [m for m in members if m.user.username.startswith(query)]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.to_payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        connection.session.push("GUILD_MEMBERS_CHUNK", chunk)
