"""Watch parties: creating, editing, cancelling, RSVPs, calendars, and reminders that fire exactly once.

Discord is reached only through the `PartyPoster` the cog hands over (reminder posts, end-of-party edits).

Scheduling and the clock
------------------------
Party times are computed with the injected `clock` (the bot's, which tests may shift). APScheduler runs on the
real clock, so a job due at `fire_at` (clock time) is given the real run date `real_now + (fire_at - clock())`.
Every job body looks at the clock again and applies the overdue rule of `bot.domain.reminders.classify_reminder`.

Only reminders and party ends due within `HORIZON` (12 h) have jobs. Start-up (`rebuild`) reads them with one
indexed query and adds the periodic `watchparty:horizon` job, which every `HORIZON_REFRESH` (15 min) adds the
jobs that came within reach; creating or editing a party schedules its in-horizon jobs at once. Since the
refresh interval is far shorter than the horizon, every job exists hours before it is due. Jobs are only
triggers: whether a reminder is sent is decided by its row in the ledger (below), never by the job's existence.

Exactly once
------------
A reminder row goes pending -> sending -> sent (or failed). `sending` is written and committed BEFORE the post,
`sent` AFTER it. A reminder is only posted by the job that moved it from pending to sending (a conditional
UPDATE), so two jobs, a rebuild racing a job, or an edit cannot post it twice. If the process dies between the two
writes the row stays `sending`: we cannot know whether Discord received the post, and the rule is "at most once"
(a member reminded twice is worse for the fandom than one missed reminder, and a second reminder before the start
usually follows), so a `sending` row is never retried: the next start-up moves it to the final state `unknown`
(logged once, then never read again). Writing `sent` before the post would lose the reminder silently on a crash;
writing only after would send it twice after a crash.

Discord unreachable: the poster raises `ReminderNotDelivered` when the post failed in a way that cannot have
delivered anything (see the cog's `_notify` for which failures count). The row then goes back from sending to
pending with a retry job `RETRY_DELAY` later (same deterministic job id), while the retry still falls within the
grace window; otherwise it ends as failed. Any other failure ends as failed at once: it may have posted.

The claim is made only once the bot is ready (`PartyPoster.wait_until_ready`), right before the post: a job that
runs during start-up (a late reminder) waits first, so a bot stopped before it was ready leaves the reminder
`pending` for the next start instead of `sending` with nothing sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import STATE_RUNNING, BaseScheduler

from bot.domain.calendar import CalendarEvent, build_ics, party_uid
from bot.domain.recurrence import weekly_occurrences
from bot.domain.reminders import (
    DEFAULT_GRACE,
    DEFAULT_OFFSETS,
    OffsetsError,
    classify_reminder,
    is_late_notice,
    parse_offsets,
    reminder_job_id,
    reminder_plan,
)
from bot.domain.timeparse import ParsedWhen, parse_when
from bot.domain.timezones import UnknownTimezone, ZoneResolution, resolve_timezone, stored_zone
from bot.errors import UserFacingError
from bot.services.settings import SettingsService
from db.database import Database
from db.models import GuildSettings
from db.watchparties import DueWork, NewParty, Party, PartyLimitReached, Reminder, Rsvp, WatchPartyRepository

log = logging.getLogger(__name__)

# Discord's limits for a scheduled event's name and description: the most a server's own limits
# (GuildSettings.max_party_title_length / max_party_description_length, set with /config limits) can allow.
TITLE_MAX = 100
DESCRIPTION_MAX = 1000
SHOW_MAX = 100
DEFAULT_DURATION_MINUTES = 60
MAX_DURATION_MINUTES = 24 * 60
MAX_REPEAT_WEEKLY = 12
PAGE_SIZE = 5
# Only work due within HORIZON has an APScheduler job; the horizon job (every HORIZON_REFRESH, much shorter than
# HORIZON) adds the rest as it comes within reach. Start-up then costs jobs for hours, not for every future party.
HORIZON = timedelta(hours=12)
HORIZON_REFRESH = timedelta(minutes=15)
HORIZON_JOB_ID = "watchparty:horizon"
PRUNE_JOB_ID = "watchparty:prune"
RETENTION = timedelta(days=90)
PRUNE_FIRST_DELAY = timedelta(minutes=1)
RETRY_DELAY = timedelta(minutes=1)  # a reminder Discord could not be reached for is tried again this much later


def utc_now() -> datetime:
    return datetime.now(UTC)


def end_job_id(party_id: int) -> str:
    return f"party:{party_id}:end"


class ReminderNotDelivered(Exception):
    """The poster reached nobody and nothing it attempted can have been delivered (Discord unreachable or
    answering 5xx): the reminder may safely be tried again."""


class PartyPoster(Protocol):
    """What the service needs from Discord; the cog implements it."""

    async def wait_until_ready(self) -> None:
        """Return once Discord can be reached (the bot is ready)."""

    def serves_guild(self, guild_id: int) -> bool:
        """Whether the bot is (still) in this server: reminders for a server that removed it are skipped."""

    async def send_reminder(self, party: Party, offset: timedelta, recipients: Sequence[Rsvp], *, late: bool) -> None:
        """Post the reminder: mention the recipients who want channel pings, DM those with `dm_reminders` (see
        `reminder_recipients`); raise ReminderNotDelivered when nothing was delivered and a retry is safe, another
        exception if the channel post itself failed otherwise."""

    async def party_ended(self, party: Party) -> None:
        """The party is over: disable its buttons."""


@dataclass(frozen=True, slots=True)
class PartyRequest:
    guild_id: int
    channel_id: int
    host_id: int
    title: str
    when: str
    timezone: str | None = None  # an explicit zone for this party; else the member's, the server's, UTC
    description: str | None = None
    show: str | None = None
    episode: int | None = None
    duration_minutes: int = DEFAULT_DURATION_MINUTES
    voice_channel_id: int | None = None
    repeat_weekly: int = 1


@dataclass(frozen=True, slots=True)
class Created:
    parties: list[Party]
    when: ParsedWhen  # its zone_name/zone_note say which zone the text was read in
    zone: ZoneResolution  # the member's (or the option's) zone, used unless the text named one


@dataclass(frozen=True, slots=True)
class RebuildReport:
    scheduled: int  # reminder jobs for the future
    late: int  # overdue within grace: run now, saying they are late
    skipped: int  # overdue beyond grace: recorded as skipped
    unknown: int  # left in 'sending' by a crash: moved to 'unknown' (final), never retried
    parties: int  # end-of-party jobs


@dataclass(frozen=True, slots=True)
class MemberZone:
    resolution: ZoneResolution
    source: str  # "member", "server" or "default"


class WatchPartyService:
    def __init__(
        self,
        repo: WatchPartyRepository,
        settings: SettingsService,
        scheduler: BaseScheduler,
        *,
        clock: Callable[[], datetime] = utc_now,
        real_clock: Callable[[], datetime] = utc_now,
        grace: timedelta = DEFAULT_GRACE,
        horizon: timedelta = HORIZON,
        horizon_refresh: timedelta = HORIZON_REFRESH,
        retry_delay: timedelta = RETRY_DELAY,
        poster: PartyPoster | None = None,
    ) -> None:
        if horizon_refresh >= horizon:
            raise ValueError("the horizon must be longer than its refresh interval")
        self.repo = repo
        self.settings = settings
        self.scheduler = scheduler
        self.clock = clock
        self.real_clock = real_clock
        self.grace = grace
        self.horizon = horizon
        self.horizon_refresh = horizon_refresh
        self.retry_delay = retry_delay
        self.poster = poster

    # -- time zones ----------------------------------------------------------------------------------
    async def set_member_timezone(self, user_id: int, text: str) -> ZoneResolution:
        resolution = _resolve_or_refuse(text)
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

    async def _reading_zone(self, user_id: int, guild_id: int, explicit: str | None) -> ZoneResolution:
        if explicit:
            return _resolve_or_refuse(explicit)
        return (await self.member_zone(user_id, guild_id)).resolution

    async def _party_zone(self, party: Party, editor_id: int) -> tzinfo:
        """The zone a party's time was read in at creation; the editor's if it cannot be read (never expected)."""
        try:
            return stored_zone(party.zone)
        except UnknownTimezone:
            log.warning("party %s has an unknown zone %r; reading its new time in the editor's", party.id, party.zone)
            return (await self._reading_zone(editor_id, party.guild_id, None)).zone

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
        zone = await self._reading_zone(request.host_id, request.guild_id, request.timezone)
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
        plans = [[(int(p.offset.total_seconds()), p.fire_at) for p in reminder_plan(s, offsets, now)] for s in starts]
        try:
            created = await self.repo.create_parties(
                parties, plans, now,
                max_per_guild=settings.max_parties_per_guild, max_per_member=settings.max_parties_per_member,
            )
        except PartyLimitReached as exc:
            raise UserFacingError(f"watchparty.limit.{exc.scope}", limit=exc.limit) from None
        for party in created:
            await self._schedule_party(party)
        return Created(created, parsed, zone)

    async def discard(self, party_id: int) -> None:
        """Undo a creation whose announcement could not be posted."""
        reminders = await self.repo.reminders(party_id)
        self._unschedule(party_id, [r.offset_seconds for r in reminders])
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

    async def rsvps(self, party_id: int) -> list[Rsvp]:
        return await self.repo.rsvps(party_id)

    async def upcoming_page(self, guild_id: int, page: int, per_page: int = PAGE_SIZE) -> tuple[list[Party], int]:
        """One page (0-based) of upcoming parties and the number of pages (at least 1)."""
        total = await self.repo.count_upcoming(guild_id)
        pages = max(1, -(-total // per_page))
        page = min(max(page, 0), pages - 1)
        return await self.repo.upcoming(guild_id, limit=per_page, offset=page * per_page), pages

    # -- RSVPs ----------------------------------------------------------------------------------------
    async def rsvp(self, party_id: int, user_id: int, display_name: str, status: str) -> tuple[Party, list[Rsvp]]:
        party = await self._open_party(party_id)
        await self.repo.set_rsvp(party_id, user_id, display_name[:80], status, self.clock())
        return party, await self.repo.rsvps(party_id)

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
    ) -> tuple[Party, Party]:
        """(before, after). A new `when` is read in the party's zone (the one its time was read in at creation),
        not the editor's, unless the text names a zone; it moves every reminder and the end job;
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
        starts_at = plan = None
        if when is not None:
            starts_at = parse_when(when, zone=await self._party_zone(before, actor_id), now=now).at
            offsets = await self._offsets(guild_id)
            plan = [(int(p.offset.total_seconds()), p.fire_at) for p in reminder_plan(starts_at, offsets, now)]
        old_reminders = await self.repo.reminders(party_id)
        after = await self.repo.update(party_id, now, title=title, starts_at=starts_at,
                                       duration_minutes=duration_minutes, voice_channel_id=voice_channel_id,
                                       clear_voice_channel=remove_voice_channel, plan=plan)
        if after is None:
            raise UserFacingError(f"watchparty.rsvp.{(await self.repo.get(party_id)).status}")  # type: ignore[union-attr]
        if plan is not None:
            self._unschedule(party_id, [r.offset_seconds for r in old_reminders])
        await self._schedule_party(after)
        return before, after

    async def cancel(
        self, party_id: int, guild_id: int, actor_id: int, *, is_moderator: bool
    ) -> tuple[Party, list[Rsvp]]:
        """Cancel; returns the party as it is now and the members who were Going."""
        party = await self._managed_party(party_id, guild_id, actor_id, is_moderator)
        if not await self.repo.finish(party_id, "cancelled", self.clock()):
            raise UserFacingError(f"watchparty.rsvp.{(await self.repo.get(party_id)).status}")  # type: ignore[union-attr]
        self._unschedule(party_id, [r.offset_seconds for r in await self.repo.reminders(party_id)], end=True)
        going = [r for r in await self.repo.rsvps(party_id) if r.status == "going"]
        return (await self.repo.get(party_id)) or party, going

    async def _managed_party(self, party_id: int, guild_id: int, actor_id: int, is_moderator: bool) -> Party:
        party = await self.party_in_guild(party_id, guild_id)
        if party.host_id != actor_id and not is_moderator:
            raise UserFacingError("watchparty.not_host")
        if party.status != "scheduled":
            raise UserFacingError(f"watchparty.rsvp.{party.status}")
        return party

    # -- calendar -------------------------------------------------------------------------------------
    async def calendar(self, guild_id: int, party_id: int | None, *, calendar_name: str) -> tuple[bytes, int]:
        """An .ics file for one party (any status) or every upcoming one, and how many events it holds."""
        if party_id is not None:
            parties = [await self.party_in_guild(party_id, guild_id)]
        else:
            parties = await self.repo.upcoming(guild_id, limit=500)
            if not parties:
                raise UserFacingError("watchparty.calendar.empty")
        events = [_calendar_event(p) for p in parties]
        return build_ics(events, calendar_name=calendar_name, stamp=self.clock()), len(events)

    # -- scheduling -----------------------------------------------------------------------------------
    def _run_date(self, due: datetime) -> datetime:
        """The real time at which something due at `due` (clock time) should run."""
        return self.real_clock() + (due - self.clock())

    def _add_job(self, job_id: str, due: datetime, func: Callable, *args: object) -> None:
        self.scheduler.add_job(
            func, "date", run_date=self._run_date(due), args=list(args), id=job_id, replace_existing=True,
            misfire_grace_time=None,  # however late it runs, the job body applies the overdue rule itself
            coalesce=True,
        )

    def _remove_job(self, job_id: str) -> None:
        try:
            self.scheduler.remove_job(job_id)
        except JobLookupError:
            pass

    def _unschedule(self, party_id: int, offsets_seconds: Sequence[int], *, end: bool = False) -> None:
        for seconds in offsets_seconds:
            self._remove_job(reminder_job_id(party_id, timedelta(seconds=seconds)))
        if end:
            self._remove_job(end_job_id(party_id))

    def _in_horizon(self, due: datetime) -> bool:
        return due < self.clock() + self.horizon

    async def _schedule_party(self, party: Party) -> None:
        """A created or edited party: its in-horizon jobs now; later ones are left to the horizon job."""
        for reminder in await self.repo.reminders(party.id):
            if reminder.state == "pending" and self._in_horizon(reminder.fire_at):
                self._schedule_reminder(reminder)
        if self._in_horizon(party.ends_at):
            self._add_job(end_job_id(party.id), party.ends_at, self.end_party, party.id)
        else:
            self._remove_job(end_job_id(party.id))

    def _schedule_reminder(self, reminder: Reminder) -> None:
        self._add_job(reminder_job_id(reminder.party_id, reminder.offset), reminder.fire_at, self.fire_reminder,
                      reminder.party_id, reminder.offset_seconds)

    def _schedule_work(self, work: Sequence[DueWork], *, only_missing: bool) -> int:
        """Add a job per item (reminder or party end); returns how many were added.

        The scheduler is paused meanwhile so add_job does not wake it once per job; nothing awaits in between,
        so no job can be held up by the pause."""
        added = 0
        was_running = self.scheduler.state == STATE_RUNNING
        if was_running:
            self.scheduler.pause()
        try:
            for item in work:
                if item.is_end:
                    job_id, func, args = end_job_id(item.party_id), self.end_party, (item.party_id,)
                else:
                    offset = timedelta(seconds=item.offset_seconds or 0)
                    job_id = reminder_job_id(item.party_id, offset)
                    func, args = self.fire_reminder, (item.party_id, item.offset_seconds)
                if only_missing and self.scheduler.get_job(job_id) is not None:
                    continue
                self._add_job(job_id, item.due, func, *args)
                added += 1
        finally:
            if was_running:
                self.scheduler.resume()
        return added

    async def rebuild(self) -> RebuildReport:
        """Start-up: jobs for the reminders and party ends due within the horizon, from one indexed query, and
        the periodic horizon job that schedules the rest as they come within reach.

        Overdue reminders follow `classify_reminder`: within the grace window they run now (and say they are late),
        beyond it they are recorded as skipped (one batch). A party whose end passed while the bot was down ends
        now. Reminders left in 'sending' by a crash become 'unknown' (final; logged once) and are never retried.
        """
        unknown = await self.repo.give_up_interrupted()
        now = self.clock()
        work = await self.repo.due_work(now + self.horizon)
        to_schedule: list[DueWork] = []
        to_skip: list[tuple[int, int]] = []
        scheduled = late = parties = 0
        for item in work:
            if item.is_end:
                to_schedule.append(item)
                parties += 1
                continue
            status = classify_reminder(item.due, now, self.grace, starts_at=item.starts_at, ends_at=item.ends_at)
            if status == "skip":
                to_skip.append((item.party_id, item.offset_seconds or 0))
                continue
            to_schedule.append(item)
            if status == "late":
                late += 1
            else:
                scheduled += 1
        self._schedule_work(to_schedule, only_missing=False)
        skipped = await self.repo.skip_reminders(to_skip)
        self._schedule_horizon_job()
        self._schedule_prune_job()
        if unknown:
            log.warning("%d watch-party reminder(s) were being sent when the bot stopped; marked 'unknown', never "
                        "sent again", unknown)
        report = RebuildReport(scheduled, late, skipped, unknown, parties)
        log.info("watch parties rebuilt: %s", report)
        return report

    def _schedule_horizon_job(self) -> None:
        self.scheduler.add_job(
            self.refresh_horizon, "interval", seconds=self.horizon_refresh.total_seconds(), id=HORIZON_JOB_ID,
            replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=None,
        )

    async def refresh_horizon(self) -> int:
        """Job body, every `horizon_refresh`: add the jobs that came within the horizon since the last run (and any
        pending one in it that lacks a job); returns how many were added. Jobs that exist are left alone: an edit
        or a cancel already moved or removed them, and the job bodies re-check the ledger anyway."""
        try:
            work = await self.repo.due_work(self.clock() + self.horizon)
            added = self._schedule_work(work, only_missing=True)
        except Exception:
            log.exception("watch-party horizon refresh failed")
            return 0
        if added:
            log.debug("watch-party horizon: %d job(s) added", added)
        return added

    def _schedule_prune_job(self) -> None:
        # First run a minute after start-up: an interval job otherwise first runs a whole interval later, and a
        # bot restarted more often than daily would never prune.
        self.scheduler.add_job(
            self.prune, "interval", hours=24, id=PRUNE_JOB_ID, replace_existing=True, coalesce=True,
            max_instances=1, misfire_grace_time=None, next_run_time=self.real_clock() + PRUNE_FIRST_DELAY,
        )

    async def prune(self) -> int:
        """Job body, daily: forget parties that ended or were cancelled over RETENTION ago (RSVPs and reminders go
        with them), so the tables do not grow forever; returns how many were removed."""
        try:
            removed = await self.repo.prune_finished(self.clock() - RETENTION)
        except Exception:
            log.exception("pruning old watch parties failed")
            return 0
        if removed:
            log.info("pruned %d watch part(y/ies) finished over %s days ago", removed, RETENTION.days)
        return removed

    def unschedule_all(self) -> None:
        """Remove every watch-party job, the horizon and prune jobs included (cog unload)."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith("party:") or job.id in (HORIZON_JOB_ID, PRUNE_JOB_ID):
                self._remove_job(job.id)

    # -- job bodies -----------------------------------------------------------------------------------
    async def fire_reminder(self, party_id: int, offset_seconds: int) -> None:
        """Job body: send one reminder at most once (see "Exactly once" in the module docstring)."""
        try:
            await self._fire_reminder(party_id, offset_seconds)
        except Exception:
            log.exception("reminder %s failed", reminder_job_id(party_id, timedelta(seconds=offset_seconds)))

    async def _fire_reminder(self, party_id: int, offset_seconds: int) -> None:
        if self.poster is None:
            raise RuntimeError("no poster")
        # Ready first, then read, classify and claim: nothing is claimed that this process cannot post at once.
        await self.poster.wait_until_ready()
        reminder = await self.repo.reminder(party_id, offset_seconds)
        party = await self.repo.get(party_id)
        if reminder is None or party is None or reminder.state != "pending" or party.status != "scheduled":
            return
        now = self.clock()
        status = classify_reminder(reminder.fire_at, now, self.grace, starts_at=party.starts_at,
                                   ends_at=party.ends_at)
        if status == "future":  # woke early by the clock's reckoning (clock moved): try again when due
            if self._in_horizon(reminder.fire_at):
                self._schedule_reminder(reminder)
            return
        if status == "skip":
            await self.repo.skip_reminders([(party_id, offset_seconds)])
            log.info("reminder for party %s (offset %ss) skipped: too late", party_id, offset_seconds)
            return
        if not self.poster.serves_guild(party.guild_id):
            await self.repo.skip_reminders([(party_id, offset_seconds)])
            log.info("reminder for party %s skipped: the bot is no longer in server %s", party_id, party.guild_id)
            return
        late = is_late_notice(reminder.fire_at, now)
        # Written and committed BEFORE the post: whatever happens next, no other run will post this reminder.
        if not await self.repo.claim_reminder(party_id, offset_seconds, late=late):
            return
        recipients = reminder_recipients(await self.repo.rsvps(party_id))
        try:
            await self.poster.send_reminder(party, reminder.offset, recipients, late=late)
        except ReminderNotDelivered as exc:
            await self._retry_later(party, reminder, exc)
            return
        except Exception:
            await self.repo.complete_reminder(party_id, offset_seconds, "failed", self.clock())
            raise
        # Written AFTER the post: 'sent' means Discord accepted it.
        await self.repo.complete_reminder(party_id, offset_seconds, "sent", self.clock())

    async def _retry_later(self, party: Party, reminder: Reminder, error: ReminderNotDelivered) -> None:
        """Nothing was delivered: back to pending with a retry job `retry_delay` later, unless the retry would fall
        outside the grace window (then failed). The job is added before the row is released, so a horizon refresh
        in between finds the job and does not add one due at once."""
        retry_at = self.clock() + self.retry_delay
        if classify_reminder(reminder.fire_at, retry_at, self.grace, starts_at=party.starts_at,
                             ends_at=party.ends_at) == "skip":
            await self.repo.complete_reminder(party.id, reminder.offset_seconds, "failed", self.clock())
            log.warning("reminder %s not delivered (%s); past its grace window, given up",
                        reminder_job_id(party.id, reminder.offset), error)
            return
        self._add_job(reminder_job_id(party.id, reminder.offset), retry_at, self.fire_reminder, party.id,
                      reminder.offset_seconds)
        await self.repo.release_reminder(party.id, reminder.offset_seconds)
        log.warning("reminder %s not delivered (%s); trying again at %s",
                    reminder_job_id(party.id, reminder.offset), error, retry_at.isoformat())

    async def end_party(self, party_id: int) -> None:
        """Job body at the end time: mark the party ended and let the cog disable its buttons."""
        try:
            party = await self.repo.get(party_id)
            if party is None or party.status != "scheduled":
                return
            if party.ends_at > self.clock():  # the end moved or the clock disagrees: wait for it (or the horizon job)
                if self._in_horizon(party.ends_at):
                    self._add_job(end_job_id(party_id), party.ends_at, self.end_party, party_id)
                return
            if await self.repo.finish(party_id, "ended", self.clock()) and self.poster is not None:
                await self.poster.party_ended((await self.repo.get(party_id)) or party)
        except Exception:
            log.exception("ending party %s failed", party_id)


def reminder_recipients(rsvps: Sequence[Rsvp]) -> list[Rsvp]:
    """Who is reminded: every Going member (pinged in the channel, or by DM if they toggled "DM me"), and Maybe
    members who toggled "DM me" (they asked for it; Maybe alone never pings anyone). Declined: nobody."""
    return [r for r in rsvps if r.status == "going" or (r.status == "maybe" and r.dm_reminders)]


def watch_party_service(
    db: Database, settings: SettingsService, scheduler: BaseScheduler, *, clock: Callable[[], datetime] = utc_now
) -> WatchPartyService:
    """The service over its repository (cogs never build repositories themselves)."""
    return WatchPartyService(WatchPartyRepository(db), settings, scheduler, clock=clock)


def _resolve_or_refuse(text: str) -> ZoneResolution:
    try:
        return resolve_timezone(text)
    except UnknownTimezone as exc:
        suggestions = ", ".join(f"`{name}`" for name in exc.suggestions[:3]) or "`Asia/Seoul`"
        raise UserFacingError("timezone.unknown", value=text[:60], suggestions=suggestions) from None


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


def party_link(party: Party) -> str:
    base = f"https://discord.com/channels/{party.guild_id}/{party.channel_id}"
    return f"{base}/{party.message_id}" if party.message_id else base


def _calendar_event(party: Party) -> CalendarEvent:
    lines = []
    if party.show:
        lines.append(f"{party.show} #{party.episode}" if party.episode is not None else party.show)
    if party.description:
        lines.append(party.description)
    lines.append(party_link(party))
    location_channel = party.voice_channel_id or party.channel_id
    return CalendarEvent(
        uid=party_uid(party.id),
        title=party.title,
        description="\n".join(lines),
        starts_at=party.starts_at,
        ends_at=party.ends_at,
        location=f"https://discord.com/channels/{party.guild_id}/{location_channel}",
        url=party_link(party),
        cancelled=party.status == "cancelled",
        sequence=party.sequence,
    )
