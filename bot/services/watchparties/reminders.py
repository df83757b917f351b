"""Reminder and party-end jobs: scheduled on a horizon, and reminders that are posted at most once.

Discord is reached only through the `PartyPoster` given to the constructor (reminder posts, end-of-party edits).

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
A reminder row goes pending -> sending -> sent (or failed). `sending` is written and committed BEFORE the post (with
the real time of the claim), `sent` AFTER it. A reminder is only posted by the job that moved it from pending to
sending (a conditional UPDATE), so two jobs, a rebuild racing a job, or an edit cannot post it twice.

If the process dies between the two writes the row stays `sending`, and we cannot know whether Discord stored the
post. Start-up reconciles each such row (`resume_reminder`), like news delivery does: the poster looks for the
reminder in its channel by the marker every reminder post carries (an embed footer naming the party and offset),
searching every message since shortly before the claim; the post also carries a nonce derived from the same key,
which Discord uses to refuse a duplicate within a few minutes. Found: `sent`. Not found and still within the grace
window: posted now (the same way). Not found beyond it: `skipped`. The channel could not be read (Discord down):
tried again `retry_delay` later while within the grace window, then `unknown` (final, logged).
DMs cannot be searched: each DM is recorded (committed) BEFORE it is sent (`claim_reminder_dm`) and a recorded DM
is never sent again, so a DM is sent at most once (a crash between the record and the send loses that one DM).
A post still running in this process (a cog reload rebuilds while it runs) is left to finish (`_IN_FLIGHT`).

Discord unreachable: the poster raises `ReminderNotDelivered` when the post failed in a way that cannot have
delivered anything (the cog decides which failures count). The row then goes back from sending to pending with a
retry job `retry_delay` later (same deterministic job id), while the retry still falls within the grace window;
otherwise it ends as failed. Any other failure ends as failed at once: it may have posted.

The claim is made only once the bot is ready (`PartyPoster.wait_until_ready`), right before the post: a job that
runs during start-up (a late reminder) waits first, so a bot stopped before it was ready leaves the reminder
`pending` for the next start instead of `sending` with nothing sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import STATE_RUNNING, BaseScheduler

from bot.domain.reminders import DEFAULT_GRACE, classify_reminder, is_late_notice, reminder_job_id
from bot.metrics import Metrics
from bot.services.watchparties.models import (
    RETRY_DELAY,
    PartyPoster,
    RebuildReport,
    ReminderNotDelivered,
    reminder_recipients,
    utc_now,
)
from db.watchparties import DueWork, Party, Reminder, WatchPartyRepository

log = logging.getLogger(__name__)

# Only work due within HORIZON has an APScheduler job; the horizon job (every HORIZON_REFRESH, much shorter than
# HORIZON) adds the rest as it comes within reach. Start-up then costs jobs for hours, not for every future party.
HORIZON = timedelta(hours=12)
HORIZON_REFRESH = timedelta(minutes=15)
HORIZON_JOB_ID = "watchparty:horizon"
PRUNE_JOB_ID = "watchparty:prune"
RETENTION = timedelta(days=90)
PRUNE_FIRST_DELAY = timedelta(minutes=1)
CLAIM_MARGIN = timedelta(minutes=1)  # after a crash, the channel is searched from this long before the claim

JobBody = Callable[..., Awaitable[None]]

# (party id, offset seconds) of the reminders this process is posting right now: a rebuild while one runs (a cog
# reload) must not reconcile it as if a crash had interrupted it.
_IN_FLIGHT: set[tuple[int, int]] = set()


def end_job_id(party_id: int) -> str:
    return f"party:{party_id}:end"


class ReminderDms:
    """`DmLedger` of one reminder: its DMs recorded in `party_reminder_dms` before they are sent."""

    def __init__(self, repo: WatchPartyRepository, party_id: int, offset_seconds: int,
                 clock: Callable[[], datetime]) -> None:
        self.repo, self.party_id, self.offset_seconds, self.clock = repo, party_id, offset_seconds, clock

    async def claim(self, user_id: int) -> bool:
        return await self.repo.claim_reminder_dm(self.party_id, self.offset_seconds, user_id, self.clock())

    async def release(self, user_id: int) -> None:
        await self.repo.release_reminder_dm(self.party_id, self.offset_seconds, user_id)


class ReminderJobs:
    def __init__(
        self,
        repo: WatchPartyRepository,
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
        if horizon_refresh >= horizon:
            raise ValueError("the horizon must be longer than its refresh interval")
        self.repo = repo
        self.scheduler = scheduler
        self.poster = poster
        self.clock = clock
        self.real_clock = real_clock
        self.grace = grace
        self.horizon = horizon
        self.horizon_refresh = horizon_refresh
        self.retry_delay = retry_delay
        self.metrics = metrics or Metrics()

    # -- jobs -----------------------------------------------------------------------------------------
    def _run_date(self, due: datetime) -> datetime:
        """The real time at which something due at `due` (clock time) should run."""
        return self.real_clock() + (due - self.clock())

    def _add_job(self, job_id: str, due: datetime, func: JobBody, *args: object) -> None:
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

    def unschedule(self, party_id: int, offsets_seconds: Sequence[int], *, end: bool = False) -> None:
        """Remove the jobs of these reminders of a party (and of its end, with `end`)."""
        for seconds in offsets_seconds:
            self._remove_job(reminder_job_id(party_id, timedelta(seconds=seconds)))
        if end:
            self._remove_job(end_job_id(party_id))

    def _in_horizon(self, due: datetime) -> bool:
        return due < self.clock() + self.horizon

    async def schedule_party(self, party: Party) -> None:
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
                func: JobBody
                args: tuple[object, ...]
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
        now. Reminders left in 'sending' by a crash are reconciled at once (`resume_reminder`).
        """
        interrupted = [r for r in await self.repo.interrupted_reminders()
                       if (r.party_id, r.offset_seconds) not in _IN_FLIGHT]
        for reminder in interrupted:
            self._add_job(reminder_job_id(reminder.party_id, reminder.offset), self.clock(), self.resume_reminder,
                          reminder.party_id, reminder.offset_seconds)
        unknown = len(interrupted)
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
            log.warning("%d watch-party reminder(s) were being sent when the bot stopped; looking for them in their "
                        "channels before sending", unknown)
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
            self.metrics.reminder_finished("skipped")
            log.info("reminder for party %s (offset %ss) skipped: too late", party_id, offset_seconds)
            return
        if not self.poster.serves_guild(party.guild_id):
            await self.repo.skip_reminders([(party_id, offset_seconds)])
            log.info("reminder for party %s skipped: the bot is no longer in server %s", party_id, party.guild_id)
            return
        late = is_late_notice(reminder.fire_at, now)
        # Written and committed BEFORE the post: whatever happens next, no other run will post this reminder.
        key = (party_id, offset_seconds)
        _IN_FLIGHT.add(key)
        try:
            if not await self.repo.claim_reminder(party_id, offset_seconds, late=late, claimed_at=self.real_clock()):
                return
            await self._post(party, reminder, late=late, channel=True)
        finally:
            _IN_FLIGHT.discard(key)

    def _dm_ledger(self, reminder: Reminder) -> ReminderDms:
        return ReminderDms(self.repo, reminder.party_id, reminder.offset_seconds, self.clock)

    async def _post(self, party: Party, reminder: Reminder, *, late: bool, channel: bool) -> None:
        """Post a claimed ('sending') reminder and record the outcome."""
        party_id, offset_seconds = party.id, reminder.offset_seconds
        recipients = reminder_recipients(await self.repo.rsvps(party_id))
        try:
            await self.poster.send_reminder(party, reminder.offset, recipients, late=late,
                                            dms=self._dm_ledger(reminder), channel=channel)
        except ReminderNotDelivered as exc:
            await self._retry_later(party, reminder, exc)
            return
        except Exception:
            await self.repo.complete_reminder(party_id, offset_seconds, "failed", self.clock())
            self.metrics.reminder_finished("failed")
            raise
        # Written AFTER the post: 'sent' means Discord accepted it.
        sent_at = self.clock()
        await self.repo.complete_reminder(party_id, offset_seconds, "sent", sent_at)
        self.metrics.reminder_finished("sent", (sent_at - reminder.fire_at).total_seconds())

    async def resume_reminder(self, party_id: int, offset_seconds: int) -> None:
        """Job body at start-up for a reminder a crash left in 'sending' (see "Exactly once")."""
        key = (party_id, offset_seconds)
        if key in _IN_FLIGHT:
            return
        _IN_FLIGHT.add(key)
        try:
            await self._resume_reminder(party_id, offset_seconds)
        except Exception:
            log.exception("reconciling reminder %s failed",
                          reminder_job_id(party_id, timedelta(seconds=offset_seconds)))
        finally:
            _IN_FLIGHT.discard(key)

    async def _resume_reminder(self, party_id: int, offset_seconds: int) -> None:
        await self.poster.wait_until_ready()
        reminder = await self.repo.reminder(party_id, offset_seconds)
        party = await self.repo.get(party_id)
        if reminder is None or reminder.state != "sending":
            return
        job_id = reminder_job_id(party_id, reminder.offset)
        if party is None:
            await self.repo.give_up_reminder(party_id, offset_seconds)
            return
        since = reminder.claimed_at - CLAIM_MARGIN if reminder.claimed_at else None
        try:
            found = await self.poster.find_reminder(party, reminder.offset, since)
        except Exception as error:
            retry_at = self.clock() + self.retry_delay
            if classify_reminder(reminder.fire_at, retry_at, self.grace, starts_at=party.starts_at,
                                 ends_at=party.ends_at) == "skip":
                await self.repo.give_up_reminder(party_id, offset_seconds)
                self.metrics.reminder_finished("unknown")
                log.warning("reminder %s: could not look for it in its channel (%r); past its grace window, "
                            "marked 'unknown'", job_id, error)
                return
            self._add_job(job_id, retry_at, self.resume_reminder, party_id, offset_seconds)
            log.warning("reminder %s: could not look for it in its channel (%r); trying again at %s", job_id, error,
                        retry_at.isoformat())
            return
        status = classify_reminder(reminder.fire_at, self.clock(), self.grace, starts_at=party.starts_at,
                                   ends_at=party.ends_at)
        too_late = status == "skip" or party.status != "scheduled" or not self.poster.serves_guild(party.guild_id)
        if found:
            log.info("reminder %s was posted before the restart; recorded as sent", job_id)
        if too_late:
            await self.repo.finish_interrupted(party_id, offset_seconds, "sent" if found else "skipped", self.clock())
            self.metrics.reminder_finished("sent" if found else "skipped")
            return
        # Within the grace window: post what is missing (the channel post unless found; DMs not yet recorded).
        await self._post(party, reminder, late=reminder.late, channel=not found)

    async def _retry_later(self, party: Party, reminder: Reminder, error: ReminderNotDelivered) -> None:
        """Nothing was delivered: back to pending with a retry job `retry_delay` later, unless the retry would fall
        outside the grace window (then failed). The job is added before the row is released, so a horizon refresh
        in between finds the job and does not add one due at once."""
        retry_at = self.clock() + self.retry_delay
        if classify_reminder(reminder.fire_at, retry_at, self.grace, starts_at=party.starts_at,
                             ends_at=party.ends_at) == "skip":
            await self.repo.complete_reminder(party.id, reminder.offset_seconds, "failed", self.clock())
            self.metrics.reminder_finished("failed")
            log.warning("reminder %s not delivered (%s); past its grace window, given up",
                        reminder_job_id(party.id, reminder.offset), error)
            try:
                await self.poster.reminder_undelivered(party, str(error))
            except Exception:
                log.exception("could not tell the admins of server %s about an undelivered reminder",
                              party.guild_id)
            return
        self._add_job(reminder_job_id(party.id, reminder.offset), retry_at, self.fire_reminder, party.id,
                      reminder.offset_seconds)
        await self.repo.release_reminder(party.id, reminder.offset_seconds)
        self.metrics.reminder_finished("retried")
        log.warning("reminder %s not delivered (%s); trying again at %s",
                    reminder_job_id(party.id, reminder.offset), error, retry_at.isoformat())

    async def end_party(self, party_id: int) -> None:
        """Job body at the end time: mark the party ended and let the poster disable its buttons."""
        try:
            party = await self.repo.get(party_id)
            if party is None or party.status != "scheduled":
                return
            if party.ends_at > self.clock():  # the end moved or the clock disagrees: wait for it (or the horizon job)
                if self._in_horizon(party.ends_at):
                    self._add_job(end_job_id(party_id), party.ends_at, self.end_party, party_id)
                return
            if await self.repo.finish(party_id, "ended", self.clock()):
                await self.poster.party_ended((await self.repo.get(party_id)) or party)
        except Exception:
            log.exception("ending party %s failed", party_id)
