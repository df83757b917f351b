"""Typed settings from the environment and an optional `.env` file.

`parse_settings` is a pure function of a mapping, so every rule is unit-tested without touching the process.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ConfigError

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_DB_PATH = "./codeblue.db"
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
# Bot tokens are three base64url parts separated by dots.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{20,}$")
MAX_PARSE_PROCESSES = 32
DEFAULT_FEED_INTERVAL_MINUTES = 10
MIN_FEED_INTERVAL_MINUTES = 2
MAX_SHARDS = 1024
DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8080
_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class Settings:
    token: str | None
    db_path: Path
    api_base: str
    gateway_url: str | None
    log_level: str
    dev_guild: int | None
    allow_private_feeds: bool
    feed_parse_processes: int | None = None
    feed_interval_minutes: int = DEFAULT_FEED_INTERVAL_MINUTES
    web_host: str = DEFAULT_WEB_HOST
    web_port: int | None = DEFAULT_WEB_PORT  # None: no web server
    public_url: str | None = None  # where people reach the web server; None: no web links in Discord
    shards: int | None = None  # None: as many as Discord recommends (GET /gateway/bot)

    @property
    def api_base_is_custom(self) -> bool:
        return self.api_base != DEFAULT_API_BASE


def _url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    value = value.strip().rstrip("/")
    if not re.match(rf"^({'|'.join(schemes)})://[^\s/]+", value):
        raise ConfigError(f"{name} must be a {' or '.join(schemes)} URL, got {value!r}")
    return value


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be 1 or 0, got {value!r}")


def parse_settings(env: Mapping[str, str], *, require_token: bool = True) -> Settings:
    """Read settings from `env`; raise ConfigError with one line saying what to set."""
    token = (env.get("DISCORD_TOKEN") or "").strip() or None
    if require_token:
        if token is None:
            raise ConfigError("DISCORD_TOKEN is not set: put your bot token in the environment or in .env")
        if not _TOKEN_RE.match(token):
            raise ConfigError(
                "DISCORD_TOKEN does not look like a bot token (three dot-separated parts): "
                "copy it again from the Developer Portal's Bot page"
            )

    db_path = Path((env.get("CODEBLUE_DB") or DEFAULT_DB_PATH).strip())

    api_base = DEFAULT_API_BASE
    if env.get("DISCORD_API_BASE", "").strip():
        api_base = _url("DISCORD_API_BASE", env["DISCORD_API_BASE"], ("http", "https"))

    gateway_url = None
    if env.get("DISCORD_GATEWAY_URL", "").strip():
        gateway_url = _url("DISCORD_GATEWAY_URL", env["DISCORD_GATEWAY_URL"], ("ws", "wss"))

    log_level = (env.get("CODEBLUE_LOG_LEVEL") or "INFO").strip().upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(f"CODEBLUE_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {log_level!r}")

    dev_guild = None
    raw_guild = (env.get("CODEBLUE_DEV_GUILD") or "").strip()
    if raw_guild:
        if not raw_guild.isdigit() or not 15 <= len(raw_guild) <= 21:
            raise ConfigError(f"CODEBLUE_DEV_GUILD must be a server id (a long number), got {raw_guild!r}")
        dev_guild = int(raw_guild)

    allow_private = _bool("CODEBLUE_ALLOW_PRIVATE_FEEDS", env.get("CODEBLUE_ALLOW_PRIVATE_FEEDS", "0"))

    parse_processes = None
    raw_processes = (env.get("CODEBLUE_FEED_PARSE_PROCESSES") or "").strip()
    if raw_processes:
        if not raw_processes.isdigit() or int(raw_processes) > MAX_PARSE_PROCESSES:
            raise ConfigError(
                f"CODEBLUE_FEED_PARSE_PROCESSES must be a whole number from 0 (threads) to {MAX_PARSE_PROCESSES}, "
                f"got {raw_processes!r}"
            )
        parse_processes = int(raw_processes)

    interval = DEFAULT_FEED_INTERVAL_MINUTES
    raw_interval = (env.get("CODEBLUE_FEED_INTERVAL_MINUTES") or "").strip()
    if raw_interval:
        if not raw_interval.isdigit() or not MIN_FEED_INTERVAL_MINUTES <= int(raw_interval) <= 1440:
            raise ConfigError(
                f"CODEBLUE_FEED_INTERVAL_MINUTES must be a whole number of minutes from {MIN_FEED_INTERVAL_MINUTES} "
                f"to 1440, got {raw_interval!r}"
            )
        interval = int(raw_interval)

    web_host = (env.get("CODEBLUE_WEB_HOST") or DEFAULT_WEB_HOST).strip()
    if not _HOST_RE.match(web_host):
        raise ConfigError(f"CODEBLUE_WEB_HOST must be a host name or an IP address, got {web_host!r}")

    web_port: int | None = DEFAULT_WEB_PORT
    raw_port = (env.get("CODEBLUE_WEB_PORT") or "").strip().lower()
    if raw_port in ("0", "off"):
        web_port = None
    elif raw_port:
        if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
            raise ConfigError(
                f"CODEBLUE_WEB_PORT must be a port from 1 to 65535, or 0/off to disable, got {raw_port!r}"
            )
        web_port = int(raw_port)

    public_url = None
    if env.get("CODEBLUE_PUBLIC_URL", "").strip():
        public_url = _url("CODEBLUE_PUBLIC_URL", env["CODEBLUE_PUBLIC_URL"], ("http", "https"))

    shards = None
    raw_shards = (env.get("CODEBLUE_SHARDS") or "auto").strip().lower()
    if raw_shards != "auto":
        if not raw_shards.isdigit() or not 1 <= int(raw_shards) <= MAX_SHARDS:
            raise ConfigError(f"CODEBLUE_SHARDS must be auto or a number of shards from 1 to {MAX_SHARDS}, "
                              f"got {raw_shards!r}")
        shards = int(raw_shards)

    return Settings(
        token=token,
        db_path=db_path,
        api_base=api_base,
        gateway_url=gateway_url,
        log_level=log_level,
        dev_guild=dev_guild,
        allow_private_feeds=allow_private,
        feed_parse_processes=parse_processes,
        feed_interval_minutes=interval,
        web_host=web_host,
        web_port=web_port,
        public_url=public_url,
        shards=shards,
    )


def load_environment(dotenv_path: str | os.PathLike[str] = ".env") -> dict[str, str]:
    """The process environment over the values of `.env` (the environment wins)."""
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
    values.update(os.environ)
    return values


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)-8s %(name)s: %(message)s",
    )
    logging.getLogger("discord.http").setLevel(max(logging.getLogger().level, logging.INFO))
    from bot.log_filters import DatabaseFaultFilter  # (bot.config is imported by everything; keep it light)

    for handler in logging.getLogger().handlers:
        handler.addFilter(DatabaseFaultFilter())
