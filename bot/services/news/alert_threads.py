"""Alert threads that are never lost (issue 12).

A feed or server with `thread:on` gives each news alert in a text channel its own discussion thread. `AlertThreads`
is the poster the `Deliverer` posts through: it sends through the Discord poster, then opens the alert's thread.
A thread that cannot be opened never makes the story be sent again (the message is out); instead it is recorded in
`news_alert_threads` by what the answer means:
- a failure that may pass (5xx, 429 beyond discord.py's own retries, timeout, lost connection): state `pending`,
  tried again by `retry_due` (the `news:poll` job's upkeep) from `next_attempt_at` (RETRY_BASE doubling, at most
  RETRY_CAP), given up after THREAD_ATTEMPTS tries in all (`given_up`: the admins are told, one notice per channel
  and retry run naming the alerts, so they can open the threads by hand). A retry looks for the thread first (the
  failed answer may hide a thread Discord opened; a message's thread has the message's id), so no message gets a
  second thread;
- a refusal (403: no Create Public Threads permission in the channel): `refused`, never retried; the admins are told
  once per channel (`news_thread_refusals`), again only after a thread has opened there since;
- a deleted message or channel, or another rejection: `failed`.
A row is deleted once its thread exists. A crash between the post and its thread leaves the delivery unrecorded: the
Deliverer finds the message in the channel and asks for its thread with `open_thread` (reconcile branch), which
looks for an existing thread first.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime

from bot.services.news.models import RETRY_BASE, RETRY_CAP, AlertThread, NewsPost, NewsPoster, PostError
from bot.services.news.notices import Notifier
from bot.services.news.schedule import PollSchedule
from db.news import NewsRepository
from db.news_features import AlertThreadRecord

log = logging.getLogger(__name__)

THREAD_ATTEMPTS = 6  # the first try and five retries (30 s, 1, 2, 4 and 8 minutes after the failures)
THREAD_RETRY_BATCH = 50  # threads retried per upkeep run
GIVEN_UP_LINKS = 10  # alert messages named in one given-up notice (the count says how many there were)
REFUSED = "forbidden"  # the PostError reason of a 403


class AlertThreads:
    """The `NewsPoster` the Deliverer uses: posts through the Discord poster and gives each alert that asks for one
    its thread, recording what could not be opened and retrying it (`retry_due`)."""

    def __init__(self, repo: NewsRepository, poster: NewsPoster, notifier: Notifier, schedule: PollSchedule) -> None:
        self.repo = repo
        self.poster = poster
        self.notifier = notifier
        self.schedule = schedule
        self._retrying = asyncio.Lock()
        # Channels whose refusal row is known to be absent (cleared once per channel and run of the bot).
        self._refusals_cleared: set[tuple[int, int]] = set()

    # -- the poster the Deliverer posts through ---------------------------------------------------------------
    async def post(self, post: NewsPost) -> int:
        message_id = await self.poster.post(post)
        if post.thread:
            await self._open_and_tell(AlertThread.of(post, message_id), check_existing=False)
        return message_id

    async def open_thread(self, alert: AlertThread, *, check_existing: bool) -> int | None:
        """The thread of an alert found posted after a crash (the Deliverer's reconcile branch). Never raises: a
        failure is recorded like one at posting time. An alert whose thread already failed before the crash is
        left to `retry_due` (pending) or as it was (refused, failed)."""
        try:
            if await self.repo.alert_thread(alert.delivery_id) is not None:
                return None
        except Exception:
            log.warning("could not read the thread record of news delivery %s", alert.delivery_id, exc_info=True)
            return None
        return await self._open_and_tell(alert, check_existing=check_existing)

    async def find_posted(self, channel_id: int, link: str | None, title: str, since: datetime) -> int | None:
        return await self.poster.find_posted(channel_id, link, title, since)

    async def edit(self, channel_id: int, message_id: int, post: NewsPost) -> None:
        await self.poster.edit(channel_id, message_id, post)

    async def notify(self, guild_id: int, key: str, **params: object) -> bool:
        return await self.poster.notify(guild_id, key, **params)

    # -- retries --------------------------------------------------------------------------------------------------
    async def retry_due(self) -> int:
        """Try again the threads whose backoff has passed; returns how many exist now. One run at a time."""
        async with self._retrying:
            opened = 0
            given_up: list[AlertThread] = []
            for row in await self.repo.due_alert_threads(self.schedule.now(), THREAD_RETRY_BATCH):
                alert = AlertThread(row.delivery_id, row.guild_id, row.channel_id, row.message_id, row.title,
                                    row.archive_minutes)
                if await self._open(alert, check_existing=True, attempts=row.attempts, recorded=True,
                                    given_up=given_up) is not None:
                    opened += 1
            await self._tell_given_up(given_up)
            return opened

    async def _open_and_tell(self, alert: AlertThread, *, check_existing: bool) -> int | None:
        """A first try outside the retries (given up at once only if THREAD_ATTEMPTS were 1)."""
        given_up: list[AlertThread] = []
        thread_id = await self._open(alert, check_existing=check_existing, attempts=0, recorded=False,
                                     given_up=given_up)
        await self._tell_given_up(given_up)
        return thread_id

    async def _tell_given_up(self, alerts: list[AlertThread]) -> None:
        """One notice per channel for the alerts whose threads were given up together, naming their messages."""
        by_channel: defaultdict[tuple[int, int], list[int]] = defaultdict(list)
        for alert in alerts:
            by_channel[(alert.guild_id, alert.channel_id)].append(alert.message_id)
        for (guild_id, channel_id), message_ids in by_channel.items():
            await self.notifier.notify(guild_id, "news.notice.thread_given_up", channel_id=channel_id,
                                       count=len(message_ids), message_ids=tuple(message_ids[:GIVEN_UP_LINKS]))

    async def _open(self, alert: AlertThread, *, check_existing: bool, attempts: int, recorded: bool,
                    given_up: list[AlertThread]) -> int | None:
        """One try; the outcome is recorded (a failure) or the record removed (done). Never raises: the alert is
        posted whatever happens to its thread. An alert given up now is added to `given_up` (the caller tells the
        admins, `_tell_given_up`)."""
        failure: PostError | None = None
        try:
            thread_id = await self.poster.open_thread(alert, check_existing=check_existing)
        except PostError as exc:
            failure = exc
        except Exception as exc:  # a bug or an unexpected answer: kept for a retry, like a failure that may pass
            log.warning("opening the thread of news message %s failed", alert.message_id, exc_info=True)
            failure = PostError(f"error: {type(exc).__name__}", permanent=False)
        if failure is not None:
            if await self._failed(alert, failure, attempts + 1) == "given_up":
                given_up.append(alert)
            return None
        try:
            if recorded:
                await self.repo.alert_thread_opened(alert.delivery_id)
            if thread_id is not None:
                await self._threads_work_in(alert)
        except Exception:
            log.warning("could not record the thread of news message %s", alert.message_id, exc_info=True)
        return thread_id

    async def _failed(self, alert: AlertThread, exc: PostError, attempts: int) -> str | None:
        """Records the failure; returns the alert's state now (None when it could not be recorded)."""
        now = self.schedule.now()
        next_attempt_at: int | None = None
        if exc.permanent:
            state = "refused" if exc.reason == REFUSED else "failed"
        elif attempts >= THREAD_ATTEMPTS:
            state = "given_up"
        else:
            state = "pending"
            next_attempt_at = now + int(min(RETRY_BASE * 2 ** (attempts - 1), RETRY_CAP).total_seconds())
        log.warning("could not open the thread of news message %s in channel %s (%s): %s", alert.message_id,
                    alert.channel_id, exc.reason, state)
        try:
            await self.repo.record_alert_thread(AlertThreadRecord(
                alert.delivery_id, alert.guild_id, alert.channel_id, alert.message_id, alert.title,
                alert.archive_minutes, state, attempts, next_attempt_at, exc.reason), now)
            if state == "refused" and await self.repo.claim_thread_refusal_notice(alert.guild_id, alert.channel_id,
                                                                                  now):
                self._refusals_cleared.discard((alert.guild_id, alert.channel_id))
                await self.notifier.notify(alert.guild_id, "news.notice.thread_refused", channel_id=alert.channel_id)
        except Exception:
            log.warning("could not record the failed thread of news message %s", alert.message_id, exc_info=True)
            return None
        return state

    async def _threads_work_in(self, alert: AlertThread) -> None:
        """A thread opened in the channel: a later refusal there is news to the admins again."""
        key = (alert.guild_id, alert.channel_id)
        if key not in self._refusals_cleared:
            await self.repo.clear_thread_refusal(*key)
            self._refusals_cleared.add(key)
