"""What the /news commands and buttons check before they run: the server, the news cog, the check cooldown."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol, runtime_checkable

from bot.services.news import NewsService
from bot.ui import Interaction, guild_id_of

CHECK_COOLDOWN_SECONDS = 60.0  # /news check: once a minute per server


@runtime_checkable
class _HasNewsService(Protocol):
    service: NewsService


def news_service(interaction: Interaction) -> NewsService:
    """The service of the loaded news cog (for buttons and checks, which discord.py calls without the cog)."""
    cog = interaction.client.get_cog("NewsCog")
    if not isinstance(cog, _HasNewsService):
        raise RuntimeError("the news cog is not loaded")
    return cog.service


async def check_cooldown_key(interaction: Interaction) -> Hashable:
    """/news check's cooldown bucket: the server's, once it has an active feed. Asking while it has none gets a
    bucket of its own (the command then says there is nothing to check), so it does not start the cooldown."""
    server = guild_id_of(interaction)
    if any(not item.subscription.paused for item in await news_service(interaction).list_feeds(server)):
        return server
    return object()
