"""What the bot counts for its operators, in Prometheus form (served at `/metrics` by the web companion).

One `Metrics` per bot, with its own registry: nothing is process-global, so several bots in one process (the tests)
never mix their figures. Services receive it in their constructors and call its small methods; they know nothing
of Prometheus. The event-loop stall monitor lives here too: it is the one figure nothing else can measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
STALL_PROBE_SECONDS = 0.1


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.feed_fetches = Counter("codeblue_feed_fetches",
                                    "Feed fetches of polls and checks by outcome: ok, not_modified, unchanged, failed",
                                    ["outcome"], registry=registry)
        self.poll_duration = Histogram("codeblue_feed_poll_duration_seconds", "Duration of one feed poll",
                                       buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=registry)
        self.stories_posted = Counter("codeblue_news_stories_posted", "News stories posted to servers",
                                      registry=registry)
        self.reminders = Counter("codeblue_reminders", "Watch-party reminders by outcome", ["outcome"],
                                 registry=registry)
        self.reminder_lateness = Histogram("codeblue_reminder_lateness_seconds",
                                           "How late a reminder went out after its time",
                                           buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900), registry=registry)
        self.interactions = Counter("codeblue_interactions", "Slash commands handled, by command and outcome",
                                    ["command", "outcome"], registry=registry)
        self.interaction_latency = Histogram("codeblue_interaction_latency_seconds",
                                             "From receiving a slash command to finishing it, by command",
                                             ["command"],
                                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                                             registry=registry)
        self.loop_stall = Histogram("codeblue_event_loop_stall_seconds",
                                    f"How much later than asked a {STALL_PROBE_SECONDS}s sleep woke up",
                                    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
                                    registry=registry)
        self.guilds = Gauge("codeblue_guilds", "Servers the bot is in", registry=registry)
        self.last_poll_completed_at: datetime | None = None

    # -- what services report ---------------------------------------------------------------------------------------
    def feed_fetched(self, outcome: str) -> None:
        self.feed_fetches.labels(outcome).inc()

    def poll_completed(self, seconds: float, at: datetime) -> None:
        self.poll_duration.observe(seconds)
        self.last_poll_completed_at = at

    def story_posted(self) -> None:
        self.stories_posted.inc()

    def reminder_finished(self, outcome: str, lateness_seconds: float | None = None) -> None:
        self.reminders.labels(outcome).inc()
        if lateness_seconds is not None:
            self.reminder_lateness.observe(max(0.0, lateness_seconds))

    def command_finished(self, command: str, outcome: str, seconds: float) -> None:
        self.interactions.labels(command, outcome).inc()
        self.interaction_latency.labels(command).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class LoopStallMonitor:
    """Sleeps `STALL_PROBE_SECONDS` over and over and records how late each wake-up was."""

    def __init__(self, metrics: Metrics, interval: float = STALL_PROBE_SECONDS) -> None:
        self.metrics = metrics
        self.interval = interval
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="codeblue-loop-stall-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.interval)
            stall = max(0.0, time.perf_counter() - started - self.interval)
            self.longest = max(self.longest, stall)
            self.metrics.loop_stall.observe(stall)
