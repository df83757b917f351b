"""The scheduler jobs that open episode threads automatically: one date job per episode, `episode:<id>:open`."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler

JOB_PREFIX = "episode:"


def open_job_id(episode_id: int) -> str:
    return f"{JOB_PREFIX}{episode_id}:open"


class OpeningJobs:
    """Adds, finds and removes the per-episode opening jobs; what a job runs is given when it is added."""

    def __init__(self, scheduler: BaseScheduler) -> None:
        self.scheduler = scheduler

    def add(self, episode_id: int, run: Callable[[int], Awaitable[None]], at: datetime | None = None) -> None:
        """The episode's opening job, at `at` (None: now), replacing any earlier one. It runs however late it
        fires (no misfire grace): a skipped date job would leave the episode pending with no job until the next
        restart."""
        self.scheduler.add_job(run, "date", run_date=at, args=[episode_id], id=open_job_id(episode_id),
                               replace_existing=True, misfire_grace_time=None)

    def exists(self, episode_id: int) -> bool:
        return self.scheduler.get_job(open_job_id(episode_id)) is not None

    def remove(self, episode_id: int) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(open_job_id(episode_id))

    def remove_all(self) -> None:
        """Every episode opening job (the extension is unloaded)."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX):
                job.remove()
