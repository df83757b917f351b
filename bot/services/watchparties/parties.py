"""Watch parties themselves: creating (one or a weekly series), reading, editing, cancelling, calendar selection.

`WatchPartyService` is what the cog talks to. It owns its parts, built from the collaborators given to its
constructor: `timezones` (members' zones), `rsvps` (answers and the "DM me" choice) and `reminders` (the jobs
and the at-most-once reminder ledger, which reaches Discord through the `PartyPoster`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler

from bot.domain.recurrence import weekly_occurrences
from bot.domain.reminders import DEFAULT_GRACE, DEFAULT_OFFSETS, OffsetsError, parse_offsets, reminder_plan
from bot.domain.timeparse import parse_when
from bot.errors import UserFacingError
from bot.metrics import Metrics
from bot.services.settings import SettingsService
from bot.services.watchparties.models import (
    DESCRIPTION_MAX,
    MAX_DURATION_MINUTES,
    MAX_REPEAT_WEEKLY,
    PAGE_SIZE,
    RETRY_DELAY,
    SHOW_MAX,
    TITLE_MAX,
    Created,
    PartyPoster,
    PartyRequest,
    utc_now,
)
from bot.services.watchparties.reminders import HORIZON, HORIZON_REFRESH, ReminderJobs
from bot.services.watchparties.rsvps import PartyRsvps
from bot.services.watchparties.timezones import MemberTimezones
from db.database import Database
from db.models import GuildSettings
from db.watchparties import NewParty, Party, PartyLimitReached, Rsvp, WatchPartyRepository

log = logging.getLogger(__name__)

# Reminder plan rows as the repository stores them: (offset in seconds, fire time).
Plan = list[tuple[int, datetime]]
CALENDAR_MAX = 500
PICKER_SCAN = 500  # upcoming parties an autocomplete looks through (a server's limit is at most 500)


class WatchPartyService:
    def __init__(
        self,
        repo: WatchPartyRepository,
        settings: SettingsService,
        scheduler: BaseScheduler,
        poster: PartyPoster,
        *,
        clock: Callable[[], datetime] = utc_now,
        real_clock: Callable[[], datetime] = utc_now,
        grace: timedelta = DEFAULT_GRACE,
        horizon: timedelta = HORIZON,
        horizon_refresh: timedelta = HORIZON_REFRESH,
        retry_delay: timedelta = RETRY_DELAY,
        metrics: Metrics | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.clock = clock
        self.reminders = ReminderJobs(repo, scheduler, poster, clock=clock, real_clock=real_clock, grace=grace,
                                      horizon=horizon, horizon_refresh=horizon_refresh, retry_delay=retry_delay,
                                      metrics=metrics)
        self.timezones = MemberTimezones(repo, settings, clock)
        self.rsvps = PartyRsvps(repo, clock)

    async def _offsets(self, guild_id: int) -> tuple[timedelta, ...]:
        text = (await self.settings.get(guild_id)).reminder_offsets
        try:
            return parse_offsets(text)
        except OffsetsError:
            log.warning("guild %s has unreadable reminder offsets %r; using the default", guild_id, text)
            return parse_offsets(DEFAULT_OFFSETS)

    # -- create ---------------------------------------------------------------------------------------
    async def create(self, request: PartyRequest) -> Created:
        """Validate, read `when`, store the party (or weekly series) with its reminder plan, schedule the jobs.

        Raises WhenError (the cog words it with examples) or UserFacingError; nothing is written then.
        """
        settings = await self.settings.get(request.guild_id)
        title = _checked_text(request.title, _title_limit(settings), "title")
        description = _checked_description(request.description, settings)
        show = _checked_text(request.show, SHOW_MAX, "show") if request.show else None
        if not 1 <= request.repeat_weekly <= MAX_REPEAT_WEEKLY:
            raise UserFacingError("watchparty.create.repeat_range", max=MAX_REPEAT_WEEKLY)
        if not 1 <= request.duration_minutes <= MAX_DURATION_MINUTES:
            raise UserFacingError("watchparty.create.duration_range", max=MAX_DURATION_MINUTES)
        zone = await self.timezones.reading_zone(request.host_id, request.guild_id, request.timezone)
        now = self.clock()
        parsed = parse_when(request.when, zone=zone.zone, now=now)
        offsets = await self._offsets(request.guild_id)
        starts = weekly_occurrences(parsed.local, request.repeat_weekly)
        parties = [
            NewParty(
                guild_id=request.guild_id, channel_id=request.channel_id, host_id=request.host_id, title=title,
                starts_at=start, duration_minutes=request.duration_minutes, zone=parsed.zone_name,
                description=description, show=show,
                episode=request.episode + week if request.episode is not None else None,
                voice_channel_id=request.voice_channel_id,
            )
            for week, start in enumerate(starts)
        ]
        plans = [_plan(start, offsets, now) for start in starts]
        try:
            created = await self.repo.create_parties(
                parties, plans, now,
                max_per_guild=settings.max_parties_per_guild, max_per_member=settings.max_parties_per_member,
            )
        except PartyLimitReached as exc:
            raise UserFacingError(f"watchparty.limit.{exc.scope}", limit=exc.limit) from None
        for party in created:
            await self.reminders.schedule_party(party)
        return Created(created, parsed)

    async def discard(self, party_id: int) -> None:
        """Undo a creation whose announcement could not be posted."""
        reminders = await self.repo.reminders(party_id)
        self.reminders.unschedule(party_id, [r.offset_seconds for r in reminders])
        await self.repo.delete(party_id)

    async def set_message(self, party_id: int, message_id: int | None) -> None:
        await self.repo.set_message(party_id, message_id)

    async def set_scheduled_event(self, party_id: int, event_id: int | None) -> None:
        await self.repo.set_scheduled_event(party_id, event_id)

    # -- reading --------------------------------------------------------------------------------------
    async def get(self, party_id: int) -> Party | None:
        return await self.repo.get(party_id)

    async def party_in_guild(self, party_id: int, guild_id: int) -> Party:
        party = await self.repo.get(party_id)
        if party is None or party.guild_id != guild_id:
            raise UserFacingError("watchparty.not_found", id=party_id)
        return party

    async def upcoming_page(self, guild_id: int, page: int, per_page: int = PAGE_SIZE) -> tuple[list[Party], int]:
        """One page (0-based) of upcoming parties and the number of pages (at least 1)."""
        total = await self.repo.count_upcoming(guild_id)
        pages = max(1, -(-total // per_page))
        page = min(max(page, 0), pages - 1)
        return await self.repo.upcoming(guild_id, limit=per_page, offset=page * per_page), pages

    async def pickable(self, guild_id: int, actor_id: int, *, is_moderator: bool, query: str,
                       own_only: bool = True, limit: int = 25) -> list[Party]:
        """Upcoming parties an autocomplete offers: the actor's own (every party for moderators, or when
        `own_only` is False), whose title contains `query` or whose number starts with it, soonest first."""
        needle = query.strip().casefold()
        found = []
        for party in await self.repo.upcoming(guild_id, limit=PICKER_SCAN):
            if own_only and not is_moderator and party.host_id != actor_id:
                continue
            if needle and needle not in party.title.casefold() and not str(party.id).startswith(needle):
                continue
            found.append(party)
            if len(found) >= limit:
                break
        return found

    async def calendar_parties(self, guild_id: int, party_id: int | None) -> list[Party]:
        """What a calendar file holds: one party of this server (any status), or every upcoming one."""
        if party_id is not None:
            return [await self.party_in_guild(party_id, guild_id)]
        parties = await self.repo.upcoming(guild_id, limit=CALENDAR_MAX)
        if not parties:
            raise UserFacingError("watchparty.calendar.empty")
        return parties

    # -- edit and cancel ------------------------------------------------------------------------------
    async def edit(
        self,
        party_id: int,
        guild_id: int,
        actor_id: int,
        *,
        is_moderator: bool,
        title: str | None = None,
        when: str | None = None,
        duration_minutes: int | None = None,
        voice_channel_id: int | None = None,
        remove_voice_channel: bool = False,
    ) -> Party:
        """The party as edited. A new `when` is read in the party's zone (the one its time was read in at
        creation), not the editor's, unless the text names a zone; it moves every reminder and the end job;
        `remove_voice_channel` makes it a party without a voice channel (its event becomes external)."""
        before = await self._managed_party(party_id, guild_id, actor_id, is_moderator)
        if title is None and when is None and duration_minutes is None and voice_channel_id is None \
                and not remove_voice_channel:
            raise UserFacingError("watchparty.edit.nothing")
        if remove_voice_channel and voice_channel_id is not None:
            raise UserFacingError("watchparty.edit.voice_conflict")
        if title is not None:
            title = _checked_text(title, _title_limit(await self.settings.get(guild_id)), "title")
        if duration_minutes is not None and not 1 <= duration_minutes <= MAX_DURATION_MINUTES:
            raise UserFacingError("watchparty.create.duration_range", max=MAX_DURATION_MINUTES)
        now = self.clock()
        starts_at: datetime | None = None
        plan: Plan | None = None
        if when is not None:
            starts_at = parse_when(when, zone=await self.timezones.party_zone(before, actor_id), now=now).at
            plan = _plan(starts_at, await self._offsets(guild_id), now)
        old_reminders = await self.repo.reminders(party_id)
        after = await self.repo.update(party_id, now, title=title, starts_at=starts_at,
                                       duration_minutes=duration_minutes, voice_channel_id=voice_channel_id,
                                       clear_voice_channel=remove_voice_channel, plan=plan)
        if after is None:
            raise await self._not_scheduled(party_id)
        if plan is not None:
            self.reminders.unschedule(party_id, [r.offset_seconds for r in old_reminders])
        await self.reminders.schedule_party(after)
        return after

    async def cancel(
        self, party_id: int, guild_id: int, actor_id: int, *, is_moderator: bool
    ) -> tuple[Party, list[Rsvp]]:
        """Cancel; returns the party as it is now and the members who were Going."""
        party = await self._managed_party(party_id, guild_id, actor_id, is_moderator)
        if not await self.repo.finish(party_id, "cancelled", self.clock()):
            raise await self._not_scheduled(party_id)
        self.reminders.unschedule(party_id, [r.offset_seconds for r in await self.repo.reminders(party_id)],
                                  end=True)
        going = [r for r in await self.repo.rsvps(party_id) if r.status == "going"]
        return (await self.repo.get(party_id)) or party, going

    async def _not_scheduled(self, party_id: int) -> UserFacingError:
        """The refusal for a party that stopped being scheduled (or vanished) while it was being changed."""
        party = await self.repo.get(party_id)
        if party is None:
            return UserFacingError("watchparty.not_found", id=party_id)
        return UserFacingError(f"watchparty.rsvp.{party.status}")

    async def _managed_party(self, party_id: int, guild_id: int, actor_id: int, is_moderator: bool) -> Party:
        party = await self.party_in_guild(party_id, guild_id)
        if party.host_id != actor_id and not is_moderator:
            raise UserFacingError("watchparty.not_host")
        if party.status != "scheduled":
            raise UserFacingError(f"watchparty.rsvp.{party.status}")
        return party


def watch_party_service(
    db: Database,
    settings: SettingsService,
    scheduler: BaseScheduler,
    poster: PartyPoster,
    *,
    clock: Callable[[], datetime] = utc_now,
    retry_delay: timedelta = RETRY_DELAY,
    metrics: Metrics | None = None,
) -> WatchPartyService:
    """The service over its repository (cogs never build repositories themselves)."""
    return WatchPartyService(WatchPartyRepository(db), settings, scheduler, poster, clock=clock,
                             retry_delay=retry_delay, metrics=metrics)


def _plan(starts_at: datetime, offsets: tuple[timedelta, ...], now: datetime) -> Plan:
    return [(int(p.offset.total_seconds()), p.fire_at) for p in reminder_plan(starts_at, offsets, now)]


def _title_limit(settings: GuildSettings) -> int:
    return min(settings.max_party_title_length, TITLE_MAX)


def _checked_description(value: str | None, settings: GuildSettings) -> str | None:
    if not value:
        return None
    limit = min(settings.max_party_description_length, DESCRIPTION_MAX)
    if limit <= 0:
        raise UserFacingError("watchparty.create.description_off")
    return _checked_text(value, limit, "description")


def _checked_text(value: str | None, limit: int, field: str) -> str:
    cleaned = " ".join((value or "").split()) if field != "description" else (value or "").strip()
    if not cleaned:
        raise UserFacingError(f"watchparty.create.{field}_empty")
    if len(cleaned) > limit:
        raise UserFacingError(f"watchparty.create.{field}_too_long", max=limit, length=len(cleaned))
    return cleaned
