"""The Bot subclass: what happens at start-up and shutdown, in which order."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import importlib.util
import json
import logging
import pkgutil
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import aiohttp
import discord
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.discord_endpoints import use_endpoints, use_gateway
from bot.domain.timeparse import parse_when
from bot.errors import ConfigError, DatabaseClosed
from bot.i18n import Catalog, CatalogTranslator
from bot.metrics import LoopStallMonitor, Metrics
from bot.services.companion import CompanionService
from bot.services.settings import SettingsService
from bot.tree import CodeBlueTree
from bot.web import HealthSources, WebServer
from bot.web.calendar import calendar_handler
from bot.web.page import page_handler, static_handler
from bot.web.server import Route
from db.database import Database
from db.guilds import BotStateRepository
from db.migrate import migrate
from db.web import WebRepository

log = logging.getLogger(__name__)
DATABASE_NOTICE_INTERVAL = 3600.0  # seconds between two notices to admins about the same kind of database fault

FREEZE_EVERY_GUILDS = 500
# The kernel's receive buffer of discord.py's sockets (gateway and REST). discord.py parses every gateway frame that
# aiohttp has already read in one event-loop step (no await yields while frames are buffered); with Linux's
# auto-tuned buffers one read brings up to 256 KiB, over 400 compressed GUILD_CREATEs at start-up (about 85 ms of
# parsing). 8 KiB (Linux doubles it for its bookkeeping) caps one read at about 27 of them, about 5 ms, even with
# every shard's read in the same step; docs/SCALING.md has the figures and the TCP-window trade-off.
GATEWAY_RECEIVE_BUFFER = 8 * 1024
ChannelLookup = (discord.VoiceChannel | discord.StageChannel | discord.ForumChannel | discord.TextChannel
                 | discord.CategoryChannel | discord.Thread | discord.abc.PrivateChannel)


def warm_up_time_parsing() -> None:
    """dateparser loads its language data on first use (~100 ms): done in a thread before the gateway connects,
    rather than as an event-loop stall under the first member's /watchparty create."""
    parse_when("tomorrow 9pm", zone=UTC, now=datetime.now(UTC))


def discover_extensions() -> tuple[str, ...]:
    """Every module or package in `cogs/` is an extension (loaded by name; nothing imports cogs)."""
    spec = importlib.util.find_spec("cogs")
    paths = list(spec.submodule_search_locations or []) if spec else []
    return tuple(sorted(f"cogs.{m.name}" for m in pkgutil.iter_modules(paths) if not m.name.startswith("_")))


DEFAULT_EXTENSIONS = discover_extensions()
Clock = Callable[[], datetime]
JOB_DRAIN_SECONDS = 10.0
IDENTIFY_INTERVAL = 5.0
MAX_COMMANDS_IN_FLIGHT = 10_000


async def _commands_only() -> None:
    """What a cog's start-up and shutdown do while the bot only syncs its commands."""


def codeblue_version() -> str:
    try:
        return metadata.version("codeblue")
    except metadata.PackageNotFoundError:
        return "unknown"


def utc_now() -> datetime:
    return datetime.now(UTC)


def bot_intents() -> discord.Intents:
    """Only what the bot needs: guild, channel, thread and role events. No privileged intent."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


def discord_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp's socket factory for discord.py's connector: a plain TCP socket with a small receive buffer
    (GATEWAY_RECEIVE_BUFFER), set before connecting so the TCP window is sized from it."""
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, GATEWAY_RECEIVE_BUFFER)
    return sock


class RunningJobs:
    """How many scheduler jobs are running right now, counted from APScheduler's public job events.

    A job counts from its submission to its end (done, failed or cancelled), so shutdown can give running jobs
    time to finish their writes: APScheduler 3's asyncio executor cancels them on `shutdown()`.
    """

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        scheduler.add_listener(self._on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def _on_event(self, event: JobEvent) -> None:
        self.count += 1 if event.code == EVENT_JOB_SUBMITTED else -1
        if self.count > 0:
            self._idle.clear()
        else:
            self.count = 0
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no job runs."""
        await self._idle.wait()


class IdentifyGate:
    """Discord's identify rate limit: `max_concurrency` IDENTIFYs per 5 s, one per bucket (shard_id % it).

    discord.py's default waits 5 s before every IDENTIFY but the first; this waits only when the same bucket
    identified less than 5 s ago, so large bots (max_concurrency 16 and more) start all their shards at once.
    """

    def __init__(self, interval: float = IDENTIFY_INTERVAL) -> None:
        self.interval = interval
        self.max_concurrency = 1
        self._last: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def wait(self, shard_id: int | None) -> None:
        bucket = (shard_id or 0) % max(1, self.max_concurrency)
        async with self._lock:
            last = self._last.get(bucket)
            if last is not None:
                await asyncio.sleep(max(0.0, last + self.interval - time.monotonic()))
            self._last[bucket] = time.monotonic()


class CodeBlueBot(commands.AutoShardedBot):
    def __init__(
        self,
        settings: Settings,
        *,
        session: aiohttp.ClientSession,
        extensions: Sequence[str] = DEFAULT_EXTENSIONS,
        clock: Clock = utc_now,
        sync_on_start: bool = True,
        start_scheduler: bool = True,
        serve_web: bool = True,
        serving: bool = True,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        # The bot uses no voice: discord.py's warnings about voice libraries are noise in every log.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            guild_ready_timeout=guild_ready_timeout,
            intents=bot_intents(),
            tree_cls=CodeBlueTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            shard_count=settings.shards,
            # discord.py's own default (no connection limit), plus a small receive buffer: see discord_socket
            connector=aiohttp.TCPConnector(limit=0, socket_factory=discord_socket),
        )
        self.settings = settings
        self.http_session = session
        self.clock = clock
        self.db = Database(settings.db_path, on_fault=self._database_fault_changed)
        self._database_notices: dict[str, float] = {}  # fault kind -> when admins were last told (monotonic)
        self._notice_tasks: set[asyncio.Task[None]] = set()
        self._database_down_told = False
        self.settings_service = SettingsService(self.db)
        self.catalog = Catalog.load()
        self.scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={"misfire_grace_time": 300, "coalesce": True})
        self.running_jobs = RunningJobs(self.scheduler)
        self.initial_extensions = tuple(extensions)
        # serving=False: commands only (`codeblue sync`): no migration, scheduler, web server, or cog start-up work.
        self.serving = serving
        self._sync_on_start = sync_on_start and serving
        self._start_scheduler = start_scheduler and serving
        self.metrics = Metrics()
        self.metrics.guilds.set_function(lambda: len(self.guilds))
        self.loop_monitor = LoopStallMonitor(self.metrics)
        self.shards_connected: set[int] = set()
        self.identify_gate = IdentifyGate()
        self.started_at = clock()
        self.companion = CompanionService(WebRepository(self.db), self.settings_service, clock=clock)
        self.web: WebServer | None = None
        if serve_web and serving and settings.web_port is not None:
            self.web = WebServer(settings.web_host, settings.web_port, health=self._health_sources(),
                                 metrics=self.metrics, routes=self._web_routes())
        self._command_started: dict[int, float] = {}
        # channel or thread id -> its server's id: a hint that makes get_channel O(1) (see get_channel)
        self._channel_guilds: dict[int, int] = {}
        self._guilds_arrived = 0
        self._gc_paused = False
        self.add_listener(self._shard_up, "on_shard_connect")
        self.add_listener(self._shard_up, "on_shard_resumed")
        self.add_listener(self._shard_down, "on_shard_disconnect")
        self.add_listener(self._command_completed, "on_app_command_completion")

    # -- what operators see (health, metrics) -----------------------------------------------------------------------
    def _health_sources(self) -> HealthSources:
        return HealthSources(
            database_ok=self.db.ping,
            gateway=self._gateway_health,
            scheduler_running=lambda: self.scheduler.state == STATE_RUNNING,
            last_poll_at=lambda: self.metrics.last_poll_completed_at,
            started_at=self.started_at,
            clock=self.clock,
            version=codeblue_version(),
        )

    def _web_routes(self) -> list[Route]:
        def channel_name(channel_id: int) -> str | None:
            channel = self.get_channel(channel_id)
            return getattr(channel, "name", None)

        def guild_name(guild_id: int) -> str | None:
            guild = self.get_guild(guild_id)
            return guild.name if guild else None

        return [
            ("/calendar/{token:[A-Za-z0-9_-]+}.ics",
             calendar_handler(self.companion, channel_name, lambda g: f"{guild_name(g) or 'Code Blue'} · Code Blue",
                              self.clock)),
            ("/s/{token:[A-Za-z0-9_-]+}", page_handler(self.companion, self.catalog, guild_name,
                                                       self.settings.public_url)),
            ("/static/{name}", static_handler),
        ]

    # -- database faults: admins are told in their log channels (docs/ARCHITECTURE.md, "Database faults") ---------
    def _database_fault_changed(self, kind: str | None) -> None:
        """Called by the database when a fault starts (`kind`) or ends (None)."""
        now = time.monotonic()
        if kind is not None:
            last = self._database_notices.get(kind)
            told = self.is_ready() and (last is None or now - last >= DATABASE_NOTICE_INTERVAL)
            self._database_down_told = told  # a fault that comes and goes (a lock now and then): once an hour
            if not told:
                return
            self._database_notices[kind] = now
        else:
            if not self._database_down_told or not self.is_ready():
                return  # "writable again" only after a notice that it was not
            self._database_down_told = False
        task = asyncio.get_running_loop().create_task(self._tell_admins_about_database(kind))
        self._notice_tasks.add(task)
        task.add_done_callback(self._notice_tasks.discard)

    async def _tell_admins_about_database(self, kind: str | None) -> None:
        for guild in list(self.guilds):
            try:
                settings = await self.settings_service.get(guild.id)  # reads still work during a write fault
                channel = self.get_channel(settings.log_channel_id) if settings.log_channel_id else None
                if not isinstance(channel, discord.abc.Messageable):
                    continue
                locale = guild.preferred_locale
                if kind is None:
                    content = self.catalog.text(locale, "errors.database_up_notice")
                else:
                    content = self.catalog.text(locale, "errors.database_down_notice",
                                                reason=self.catalog.text(locale, f"errors.database.{kind}"))
                await channel.send(content, allowed_mentions=discord.AllowedMentions.none())
            except Exception:
                log.warning("could not tell the admins of guild %s about the database", guild.id, exc_info=True)

    async def _shard_up(self, shard_id: int) -> None:
        self.shards_connected.add(shard_id)

    async def _shard_down(self, shard_id: int) -> None:
        self.shards_connected.discard(shard_id)

    @property
    def gateway_connected(self) -> bool:
        """Every shard connected (a shard that reconnects makes this False until it is back)."""
        expected = self.shard_count
        return not self.is_closed() and expected is not None and len(self.shards_connected) >= expected

    def _gateway_health(self) -> tuple[bool, float]:
        latencies = [latency for _, latency in self.latencies]
        return self.gateway_connected, max(latencies, default=float("inf"))

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self.identify_gate.wait(shard_id)

    def command_received(self, interaction: discord.Interaction[CodeBlueBot]) -> None:
        """A slash command starts (called by the tree before any check runs)."""
        if interaction.type is discord.InteractionType.application_command:
            if len(self._command_started) >= MAX_COMMANDS_IN_FLIGHT:
                self._command_started.clear()  # only lost timings: figures, never behaviour
            self._command_started[interaction.id] = time.perf_counter()

    async def _command_completed(self, interaction: discord.Interaction[CodeBlueBot],
                                 command: app_commands.Command[Any, ..., Any] | app_commands.ContextMenu) -> None:
        self.command_finished(interaction, command.qualified_name, "ok")

    def command_finished(self, interaction: discord.Interaction[CodeBlueBot], name: str, outcome: str) -> None:
        """Record a slash command's outcome and how long it took since it arrived (also called on errors)."""
        started = self._command_started.pop(interaction.id, None)
        if started is not None:
            self.metrics.command_finished(name, outcome, time.perf_counter() - started)

    async def login(self, token: str) -> None:
        use_endpoints(self.settings.api_base, self.settings.gateway_url)
        await super().login(token)

    async def connect(self, *, reconnect: bool = True) -> None:
        """Ask GET /gateway/bot for the identify concurrency (and, with a custom REST base and no gateway setting,
        the gateway: discord.py itself asks only when it also has to choose the number of shards)."""
        _, url, limits = await self.http.get_bot_gateway()
        self.identify_gate.max_concurrency = int(limits.get("max_concurrency", 1))
        if not self.settings.gateway_url and self.settings.api_base_is_custom:
            use_gateway(url)
        await super().connect(reconnect=reconnect)

    async def add_cog(self, cog: commands.Cog, /, *, override: bool = False,
                      guild: discord.abc.Snowflake | None = discord.utils.MISSING,
                      guilds: Sequence[discord.abc.Snowflake] = discord.utils.MISSING) -> None:
        """While not serving (`codeblue sync`), a cog contributes its commands only: its `cog_load` and
        `cog_unload` (jobs, rebuilds, state) do not run. The one place this is decided, for every cog."""
        if not self.serving:
            cog.cog_load = cog.cog_unload = _commands_only  # type: ignore[method-assign]
        await super().add_cog(cog, override=override, guild=guild, guilds=guilds)

    async def setup_hook(self) -> None:
        await self.db.connect()
        if self.serving:
            await migrate(self.db)
            self.loop_monitor.start()
            await asyncio.to_thread(warm_up_time_parsing)  # off the loop (awaited: done before anything parses)
            if gc.isenabled():  # resumed at READY or close (see dispatch)
                self._gc_paused = True
                gc.disable()
        await self.tree.set_translator(CatalogTranslator(self.catalog))
        if self._start_scheduler:
            self.scheduler.start()
        for extension in self.initial_extensions:
            await self.load_extension(extension)
        if self.web is not None:  # after the cogs, which may add routes
            try:
                await self.web.start()
            except OSError as exc:
                raise ConfigError(f"the web companion cannot listen on {self.settings.web_host}:"
                                  f"{self.settings.web_port} ({exc.strerror}): set CODEBLUE_WEB_PORT to a free "
                                  "port, or off") from exc
        if self._sync_on_start:
            try:
                await self.sync_commands(only_if_changed=True)
            except discord.HTTPException:
                # Commands already synced keep working; the hash is not stored, so the next start tries again.
                log.exception("syncing application commands failed; run `codeblue sync` once Discord answers")

    # -- channels by id at scale --------------------------------------------------------------------------------------
    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        """discord.py calls this right after updating its cache: note which server new channels belong to.

        Servers live as long as the process: every FREEZE_EVERY_GUILDS arrivals and at READY they are moved out of
        the garbage collector's reach (`gc.freeze`), or every full collection walks all of them (over 500 ms,
        stalling the event loop, with 10,000 servers). Objects freed by reference counting are still freed. Until
        the first READY the collector is paused (`setup_hook`): the heap only grows then, and each full collection
        while it grows would walk every server parsed so far.
        """
        if event_name in ("guild_available", "guild_join") and args and isinstance(args[0], discord.Guild):
            self.guild_arrived(args[0])
        elif event_name == "ready":
            gc.freeze()
            self._resume_garbage_collection()
        elif event_name in ("guild_channel_create", "thread_create", "thread_join") and args:
            channel = args[0]
            if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
                self._channel_guilds[channel.id] = channel.guild.id
        super().dispatch(event_name, *args, **kwargs)

    def guild_arrived(self, guild: discord.Guild) -> None:
        """The bot's own work when a server arrives (start-up or join), run inside discord.py's parse step."""
        guild_id = guild.id
        index = self._channel_guilds
        for channel in guild.channels:
            index[channel.id] = guild_id
        for thread in guild.threads:
            index[thread.id] = guild_id
        self._guilds_arrived += 1
        if self._guilds_arrived % FREEZE_EVERY_GUILDS == 0:
            gc.freeze()

    def _resume_garbage_collection(self) -> None:
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()

    def get_channel(self, id: int, /) -> ChannelLookup | None:
        """discord.py looks a channel up in every server in turn (about 5 ms with 10,000 servers, per call: news
        delivery, threads, notices call it all the time). The index answers in O(1); it is only a hint, checked
        against the server's own cache, and anything it does not know is looked up the usual way."""
        guild_id = self._channel_guilds.get(id)
        if guild_id is not None:
            guild = self.get_guild(guild_id)
            cached = guild.get_channel_or_thread(id) if guild is not None else None
            if cached is not None:
                return cached
            del self._channel_guilds[id]
        found = super().get_channel(id)
        if isinstance(found, discord.abc.GuildChannel | discord.Thread):
            self._channel_guilds[id] = found.guild.id
        return found

    async def on_error(self, event_method: str, /, *args: object, **kwargs: object) -> None:
        """An event handler that runs into the closed database while the bot shuts down is expected, not an error."""
        error = sys.exc_info()[1]
        if isinstance(error, DatabaseClosed) and self.is_closed():
            log.info("ignored %s during shutdown: the database is already closed", event_method)
            return
        await super().on_error(event_method, *args, **kwargs)

    async def command_payload(self, guild: discord.abc.Snowflake | None) -> list[dict[str, Any]]:
        translator = self.tree.translator
        commands_ = self.tree.get_commands(guild=guild)
        if translator is None:
            return [command.to_dict(self.tree) for command in commands_]
        return [await command.get_translated_payload(self.tree, translator) for command in commands_]

    async def sync_commands(self, *, guild_id: int | None = None, only_if_changed: bool = False) -> bool:
        """Sync the command tree (to the dev guild when one is set); return whether it was sent.

        With `only_if_changed`, the payload's hash is compared with the last one synced to the same target,
        kept in the database, so a restart with unchanged commands costs no API call.
        """
        guild_id = guild_id if guild_id is not None else self.settings.dev_guild
        guild = discord.Object(guild_id) if guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = await self.command_payload(guild)
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        state = BotStateRepository(self.db)
        key = f"command_tree_hash:{guild_id or 'global'}"
        if only_if_changed and await state.get(key) == digest:
            log.info("application commands unchanged; not syncing")
            return False
        synced = await self.tree.sync(guild=guild)
        try:
            await state.set(key, digest)
        except sqlite3.OperationalError:
            if self.serving:
                raise
            log.info("command hash not stored: the database has no tables yet (the bot's first start makes them)")
        log.info("synced %d application commands to %s", len(synced), f"guild {guild_id}" if guild_id else "global")
        return True

    async def close(self) -> None:
        """Scheduler first (no new jobs start, running ones may finish), then Discord, then the database."""
        self._resume_garbage_collection()
        if self.scheduler.running:
            self.scheduler.pause()
            if self.running_jobs.count:
                log.info("waiting for %d running job(s) before shutdown", self.running_jobs.count)
                try:
                    await asyncio.wait_for(self.running_jobs.wait_idle(), JOB_DRAIN_SECONDS)
                except TimeoutError:
                    log.warning("%d job(s) still running after %.0f s; stopping them", self.running_jobs.count,
                                JOB_DRAIN_SECONDS)
            self.scheduler.shutdown(wait=False)
        if self.web is not None:
            await self.web.stop()
        await self.loop_monitor.stop()
        await super().close()
        await self.db.close()
