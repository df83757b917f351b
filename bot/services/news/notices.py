"""Telling a server's admins about its news (failing feeds, stories that could not be posted)."""

from __future__ import annotations

import logging

from bot.services.news.models import NewsPoster

log = logging.getLogger(__name__)

NOTICE_URL_LIMIT = 200


def notice_url(url: str) -> str:
    """A feed URL as shown in an admin notice: cut, so a 2,048-character URL cannot push it past 2,000."""
    return url if len(url) <= NOTICE_URL_LIMIT else url[: NOTICE_URL_LIMIT - 1] + "…"


class Notifier:
    """Admin notices through the poster; a notice that fails is logged, never raised."""

    def __init__(self, poster: NewsPoster) -> None:
        self.poster = poster

    async def notify(self, guild_id: int, key: str, **params: object) -> bool:
        """Tell the server's admins; True only when the notice was posted."""
        try:
            return bool(await self.poster.notify(guild_id, key, **params))
        except Exception:
            log.warning("could not notify guild %s (%s)", guild_id, key, exc_info=True)
            return False
