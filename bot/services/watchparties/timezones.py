"""Members' time zones: the zone a party time is read in (the member's, else the server's, else UTC)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, tzinfo

from bot.domain.timezones import UnknownTimezone, ZoneResolution, resolve_timezone, stored_zone
from bot.errors import UserFacingError
from bot.services.settings import SettingsService
from bot.services.watchparties.models import MemberZone
from db.watchparties import Party, WatchPartyRepository

log = logging.getLogger(__name__)


class MemberTimezones:
    def __init__(self, repo: WatchPartyRepository, settings: SettingsService, clock: Callable[[], datetime]) -> None:
        self.repo = repo
        self.settings = settings
        self.clock = clock

    async def set_member_timezone(self, user_id: int, text: str) -> ZoneResolution:
        resolution = resolve_or_refuse(text)
        await self.repo.set_member_timezone(user_id, resolution.name, self.clock())
        return resolution

    async def member_zone(self, user_id: int, guild_id: int | None) -> MemberZone:
        """The member's own zone, else the server's, else UTC."""
        own = await self.repo.member_timezone(user_id)
        if own:
            return MemberZone(resolve_timezone(own), "member")
        if guild_id is not None:
            server = (await self.settings.get(guild_id)).timezone
            if server and server != "UTC":
                return MemberZone(resolve_timezone(server), "server")
        return MemberZone(resolve_timezone("UTC"), "default")

    async def reading_zone(self, user_id: int, guild_id: int, explicit: str | None) -> ZoneResolution:
        """The zone a member's time text is read in: `explicit` if given, else the member's zone."""
        if explicit:
            return resolve_or_refuse(explicit)
        return (await self.member_zone(user_id, guild_id)).resolution

    async def party_zone(self, party: Party, editor_id: int) -> tzinfo:
        """The zone a party's time was read in at creation; the editor's if it cannot be read (never expected)."""
        try:
            return stored_zone(party.zone)
        except UnknownTimezone:
            log.warning("party %s has an unknown zone %r; reading its new time in the editor's", party.id, party.zone)
            return (await self.reading_zone(editor_id, party.guild_id, None)).zone


def resolve_or_refuse(text: str) -> ZoneResolution:
    try:
        return resolve_timezone(text)
    except UnknownTimezone as exc:
        suggestions = ", ".join(f"`{name}`" for name in exc.suggestions[:3]) or "`Asia/Seoul`"
        raise UserFacingError("timezone.unknown", value=text[:60], suggestions=suggestions) from None
