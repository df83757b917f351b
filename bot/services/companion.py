"""The data behind the web companion: secret tokens, calendar contents and a server's public page.

No Discord and no HTML here: the web layer (`bot/web/`) renders what these methods return, and the cogs hand
members their URLs. A token is a capability: whoever holds the URL may read that calendar or page, so tokens are
long (192 random bits), compared in constant time, and replaced (the old URL then answers 404) on request.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.services.settings import SettingsService
from db.web import AiringEpisode, CalendarParty, EpisodeAverage, PostedStory, WebRepository

CALENDAR_HISTORY = timedelta(days=30)  # parties from this long ago stay in feeds (cancelled ones too, then drop)
PAGE_PARTIES = 20
PAGE_STORIES = 10
TOKEN_BYTES = 24


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True, slots=True)
class GuildCalendar:
    guild_id: int
    parties: list[CalendarParty]
    episodes: list[AiringEpisode]


@dataclass(frozen=True, slots=True)
class PublicPage:
    guild_id: int
    timezone: str
    calendar_token: str
    parties: list[CalendarParty]
    ratings: list[EpisodeAverage]
    stories: list[PostedStory]


class CompanionService:
    def __init__(self, repo: WebRepository, settings: SettingsService, *, clock: Callable[[], datetime],
                 token_factory: Callable[[], str] = new_token) -> None:
        self.repo = repo
        self.settings = settings
        self.clock = clock
        self.token_factory = token_factory

    # -- tokens -----------------------------------------------------------------------------------------------------
    async def token(self, scope: str, owner_id: int) -> str:
        """The owner's token in `scope`, made on first use."""
        existing = await self.repo.token_of(scope, owner_id)
        if existing is not None:
            return existing
        return await self.repo.add_token(scope, owner_id, self.token_factory(), self.clock())

    async def reset(self, scope: str, owner_id: int) -> str:
        """A new token for the owner; the old one stops working at once."""
        token = self.token_factory()
        await self.repo.replace_token(scope, owner_id, token, self.clock())
        return token

    async def owner(self, scope: str, token: str) -> int | None:
        """Who `token` belongs to in `scope`, or None; the token is compared in constant time."""
        if not token or len(token) > 128:
            return None
        stored = await self.repo.find_token(scope, token)
        if stored is None or not hmac.compare_digest(stored.token.encode(), token.encode()):
            return None
        return stored.owner_id

    # -- calendars --------------------------------------------------------------------------------------------------
    async def guild_calendar(self, token: str) -> GuildCalendar | None:
        guild_id = await self.owner("guild_calendar", token)
        if guild_id is None:
            return None
        since = self.clock() - CALENDAR_HISTORY
        return GuildCalendar(guild_id, await self.repo.guild_parties(guild_id, since),
                             await self.repo.airing_episodes(guild_id))

    async def member_calendar(self, token: str) -> list[CalendarParty] | None:
        user_id = await self.owner("member_calendar", token)
        if user_id is None:
            return None
        return await self.repo.member_parties(user_id, self.clock() - CALENDAR_HISTORY)

    # -- public pages -----------------------------------------------------------------------------------------------
    async def set_public(self, guild_id: int, public: bool) -> str:
        """Turn the server's public page on or off; its page token either way (made on first use)."""
        await self.settings.update(guild_id, web_public=int(public))
        return await self.token("public_page", guild_id)

    async def public_page(self, token: str) -> PublicPage | None:
        """The page's contents, or None when the token is unknown or the server has not opted in."""
        guild_id = await self.owner("public_page", token)
        if guild_id is None:
            return None
        settings = await self.settings.get(guild_id)
        if not settings.web_public:
            return None
        return PublicPage(
            guild_id=guild_id,
            timezone=settings.timezone,
            calendar_token=await self.token("guild_calendar", guild_id),
            parties=await self.repo.upcoming_parties(guild_id, self.clock(), PAGE_PARTIES),
            ratings=await self.repo.episode_averages(guild_id),
            stories=await self.repo.posted_stories(guild_id, PAGE_STORIES),
        )
