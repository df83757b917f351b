"""Steps the news end-to-end tests share: the injected clock and running the real `news:poll` job.

Polls are never driven by calling the service: `run_poll_job` moves the injected clock (the feeds' next poll times
are on it), then makes the product's APScheduler job (`cogs/news/__init__.py`, POLL_JOB_ID) run now, and waits for
that run's executed event. `start_poll_job` does the same without waiting, for tests of what happens while the job
runs (a `/news check` at the same time); `pause_poll_job` keeps its automatic runs away until the next of those.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from prometheus_client.parser import text_string_to_metric_families

from bot.services.news import PollSummary
from cogs.news import POLL_JOB_ID

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PAST_THE_INTERVAL = timedelta(minutes=11)  # the default feed interval is 10 minutes (+ jitter)
JOB_TIMEOUT = 15.0


class Clock:
    """The clock injected into the bot (BotRunner(clock=...)): only tests move it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


async def start_poll_job(bot, clock: Clock, advance: timedelta = PAST_THE_INTERVAL) -> Awaitable[PollSummary]:
    """Wait until no job runs, move `clock` by `advance` and make the real `news:poll` job run now. Returns an
    awaitable of that run: it raises if the run failed, was skipped or did not end within JOB_TIMEOUT, and gives
    the summary the news cog recorded for it.

    The clock moves only when no job runs and nothing is awaited between that and rescheduling the job, so an
    automatic run of the job (every 30 s of real time) cannot take this run's work: it either ran before, on the old
    time, or is replaced by this run.
    """
    cog = bot.get_cog("NewsCog")
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[tuple[JobEvent, PollSummary | None, float]] = loop.create_future()
    asked: list[datetime] = []

    def on_event(event: JobEvent) -> None:
        if event.job_id != POLL_JOB_ID or finished.done() or not asked:
            return
        times = getattr(event, "scheduled_run_times", None) or [getattr(event, "scheduled_run_time", None)]
        if any(t is not None and t >= asked[0] for t in times):
            # Read at once: what this run left (a later automatic run cannot have started yet).
            finished.set_result((event, cog.last_poll, completed_polls(bot)))

    while bot.running_jobs.count:  # not while an automatic run (or any other job) is going on
        await bot.running_jobs.wait_idle()
    bot.scheduler.add_listener(on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES
                               | EVENT_JOB_MISSED)
    clock.now += advance
    completed_before = completed_polls(bot)
    asked.append(datetime.now(UTC))
    bot.scheduler.modify_job(POLL_JOB_ID, next_run_time=asked[0])

    async def outcome() -> PollSummary:
        try:
            event, summary, completed = await asyncio.wait_for(finished, JOB_TIMEOUT)
        finally:
            bot.scheduler.remove_listener(on_event)
        assert event.code == EVENT_JOB_EXECUTED, f"the news:poll job did not run normally (event {event.code})"
        assert event.exception is None
        # The poll itself completed: the job catches and logs its own errors, so look at what it recorded.
        assert completed == completed_before + 1, "the news poll did not complete"
        assert bot.metrics.last_poll_completed_at == clock.now
        assert summary is not None
        return summary

    return asyncio.ensure_future(outcome())


async def run_poll_job(bot, clock: Clock, advance: timedelta = PAST_THE_INTERVAL) -> PollSummary:
    """Move `clock` by `advance` (default: past the feed interval), run the real `news:poll` job now, wait until it
    is done; returns the summary of that poll (what the cog recorded: feeds, new entries, posted, failed)."""
    return await (await start_poll_job(bot, clock, advance))


async def pause_poll_job(bot) -> None:
    """Keep the job's automatic runs (every 30 s of real time) from polling while a test looks at the state between
    two polls (the clock moved, no poll yet). The next `run_poll_job` runs the job again and so resumes it."""
    bot.scheduler.pause_job(POLL_JOB_ID)
    while bot.running_jobs.count:
        await bot.running_jobs.wait_idle()


def fetch_outcomes(bot) -> dict[str, float]:
    """The bot's `codeblue_feed_fetches_total` by outcome (ok, not_modified, unchanged, failed), as /metrics shows."""
    families = text_string_to_metric_families(bot.metrics.render().decode())
    return {sample.labels["outcome"]: sample.value for family in families if family.name == "codeblue_feed_fetches"
            for sample in family.samples if sample.name.endswith("_total")}


def completed_polls(bot) -> float:
    """How many polls of the `news:poll` job completed (`codeblue_feed_poll_duration_seconds_count`)."""
    families = text_string_to_metric_families(bot.metrics.render().decode())
    return next((sample.value for family in families if family.name == "codeblue_feed_poll_duration_seconds"
                 for sample in family.samples if sample.name.endswith("_count")), 0.0)
