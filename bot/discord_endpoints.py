"""The one place that points discord.py at a Discord other than discord.com (a REST or gateway proxy, the test fake).

discord.py has no per-client setting for either address. Every REST call, interaction responses included (they go
through its webhook adapter), builds its URL from the class attribute `discord.http.Route.BASE`, and a connection
that cannot resume starts again from `DiscordWebSocket.DEFAULT_GATEWAY`. Both are process-wide, so Code Blue sets
them here and nowhere else, and always sets *both* from the settings of the bot that is starting (the defaults when
a setting is unset): nothing depends on what an earlier bot in the same process chose, and nothing needs restoring
(one bot per process in production; the tests start one bot at a time).
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl

from bot.config import DEFAULT_API_BASE

# discord.py's own gateway address, read before anything here changes it.
DISCORD_GATEWAY = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def use_endpoints(api_base: str | None = None, gateway: str | None = None) -> None:
    """Send REST calls to `api_base` and (re)connect to `gateway`; None means Discord's own address."""
    discord.http.Route.BASE = api_base or DEFAULT_API_BASE
    use_gateway(gateway)


def use_gateway(gateway: str | None) -> None:
    """(Re)connect to `gateway` (None: Discord's own), e.g. once it is known from the REST base's GET /gateway/bot."""
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway) if gateway else DISCORD_GATEWAY
