"""Composition root and command line: `codeblue run | sync [--guild ID] | backup PATH`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import aiohttp
import discord

from bot.config import Settings, configure_logging, load_environment, parse_settings
from bot.errors import ConfigError, DatabaseError

log = logging.getLogger("codeblue")
SHARDING_REQUIRED = 4011  # gateway close code


def _fail(message: str) -> int:
    sys.stderr.write(f"codeblue: {message}\n")
    return 2


async def _run(settings: Settings) -> None:
    from bot.runner import run_bot

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_bot(settings, stop=stop)


async def _sync(settings: Settings, guild_id: int | None) -> None:
    from bot.client import CodeBlueBot
    from bot.runner import new_http_session

    async with new_http_session() as session:
        bot = CodeBlueBot(settings, session=session, serving=False)
        async with bot:
            await bot.login(settings.token or "")
            await bot.sync_commands(guild_id=guild_id)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codeblue", description="Code Blue, a Discord bot for drama fan communities.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="connect to Discord and serve (the default)")
    sync = sub.add_parser("sync", help="sync the slash commands now")
    sync.add_argument("--guild", type=int, help="sync to this server only (instant; for testing)")
    backup = sub.add_parser("backup", help="write a consistent copy of the database, also while the bot runs")
    backup.add_argument("path", help="the file to write (must not exist)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = parse_settings(load_environment(), require_token=command in ("run", "sync"))
    except ConfigError as exc:
        return _fail(str(exc))
    configure_logging(settings.log_level)

    if command == "backup":
        from db.database import backup_database

        try:
            backup_database(settings.db_path, args.path)
        except DatabaseError as exc:
            return _fail(str(exc))
        log.info("backup written to %s", args.path)
        return 0

    from db.migrate import check_database

    try:
        check_database(settings.db_path)
        if command == "sync":
            asyncio.run(_sync(settings, args.guild))
        else:
            asyncio.run(_run(settings))
    except (DatabaseError, ConfigError) as exc:
        return _fail(str(exc))
    except (aiohttp.ClientError, discord.GatewayNotFound, discord.HTTPException, OSError) as exc:
        sys.stderr.write(f"codeblue: cannot reach Discord at {settings.api_base}: {exc}\n")
        return 1
    except discord.LoginFailure:
        return _fail("Discord refused DISCORD_TOKEN: reset it on the Developer Portal's Bot page and set it again")
    except discord.ConnectionClosed as exc:
        if exc.code == SHARDING_REQUIRED:
            return _fail("Discord requires more shards for this many servers: set CODEBLUE_SHARDS=auto (the "
                         "default) or a larger number")
        sys.stderr.write(f"codeblue: Discord closed the connection ({exc.code}): {exc.reason or 'no reason given'}\n")
        return 1
    except discord.PrivilegedIntentsRequired:
        return _fail("Discord refused a privileged intent: this bot needs none; check for a modified build")
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
