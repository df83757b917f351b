"""RSVPs: members' Going / Maybe / Can't go answers and their "DM me" choice, on scheduled parties only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.errors import UserFacingError
from db.watchparties import Party, Rsvp, WatchPartyRepository

DISPLAY_NAME_MAX = 80


class PartyRsvps:
    def __init__(self, repo: WatchPartyRepository, clock: Callable[[], datetime]) -> None:
        self.repo = repo
        self.clock = clock

    async def of_party(self, party_id: int) -> list[Rsvp]:
        return await self.repo.rsvps(party_id)

    async def answer(self, party_id: int, user_id: int, display_name: str, status: str) -> None:
        """Record the member's answer (refused once the party is not scheduled)."""
        await self._open_party(party_id)
        await self.repo.set_rsvp(party_id, user_id, display_name[:DISPLAY_NAME_MAX], status, self.clock())

    async def toggle_dm(self, party_id: int, user_id: int) -> bool:
        """Flip the member's "DM me" choice; only Going or Maybe members have reminders to receive."""
        await self._open_party(party_id)
        answer = next((r for r in await self.repo.rsvps(party_id) if r.user_id == user_id), None)
        if answer is None or answer.status == "declined":
            raise UserFacingError("watchparty.rsvp.dm_needs_rsvp")
        value = await self.repo.toggle_dm(party_id, user_id)
        if value is None:
            raise UserFacingError("watchparty.rsvp.dm_needs_rsvp")
        return value

    async def _open_party(self, party_id: int) -> Party:
        party = await self.repo.get(party_id)
        if party is None:
            raise UserFacingError("watchparty.not_found", id=party_id)
        if party.status != "scheduled":
            raise UserFacingError(f"watchparty.rsvp.{party.status}")
        return party
