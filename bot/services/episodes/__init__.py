"""Episode discussions: shows and schedules, opening each episode's thread exactly once, ratings and progress.

`EpisodeService` wires the parts, each with its collaborators given at construction:

- `lookup` (`EpisodeLookup`): finding shows and episodes, the server's time zone, whether an episode aired;
- `schedules` (`ShowSchedules`): presets, shows, paces, episodes and imported schedules;
- `openings` (`AutomaticOpenings`): the per-episode opening jobs, their retries and admin notices;
- `threads` (`EpisodeThreads`): opening, finding, reopening, locking and joining threads, starter messages;
- `ratings` (`RatingsAndProgress`): votes, the ratings table and members' progress;
- `seasons` (`SeasonSchedules`): seasons announced before their dates (premiere or TBA, episode count, pace);
- `premieres` (`PremiereAnnouncements`): each premiere's countdown announcement and Discord event.

Everything that touches Discord goes through the `ThreadGateway` and `PremiereGateway` given to the service;
this package knows no Discord.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler

from bot.services.settings import SettingsService
from db.database import Database
from db.episodes import EpisodeRepository

from . import openings as openings_module
from . import schedules as schedules_module
from . import threads as threads_module
from .jobs import OpeningJobs, open_job_id
from .lookup import EpisodeLookup, parse_episode_ref
from .models import (
    BulkOpenResult,
    Episode,
    EpisodeThread,
    Progress,
    RatingsTable,
    Show,
    StarterInfo,
    ThreadGateway,
    ThreadResult,
)
from .openings import NOTICE_AFTER_TRANSIENT, RETRY_DELAYS, TRANSIENT_FAILURES, AutomaticOpenings
from .premieres import NoPremieres, PremiereAnnouncements, PremiereGateway, PremiereInfo
from .ratings import RatingsAndProgress
from .schedules import PresetChanges, PresetResult, ShowSchedules, show_key
from .seasons import UNCHANGED, SeasonSchedules, SeasonSummary
from .threads import BULK_OPEN_SPACING, EpisodeThreads, NotAiredError

__all__ = [
    "BULK_OPEN_SPACING",
    "NOTICE_AFTER_TRANSIENT",
    "RETRY_DELAYS",
    "TRANSIENT_FAILURES",
    "UNCHANGED",
    "AutomaticOpenings",
    "BulkOpenResult",
    "Episode",
    "EpisodeLookup",
    "EpisodeService",
    "EpisodeThread",
    "EpisodeThreads",
    "NoPremieres",
    "NotAiredError",
    "OpeningJobs",
    "PremiereAnnouncements",
    "PremiereGateway",
    "PremiereInfo",
    "PresetChanges",
    "PresetResult",
    "Progress",
    "RatingsAndProgress",
    "RatingsTable",
    "SeasonSchedules",
    "SeasonSummary",
    "Show",
    "ShowSchedules",
    "StarterInfo",
    "ThreadGateway",
    "ThreadResult",
    "open_job_id",
    "parse_episode_ref",
    "show_key",
]


class EpisodeService:
    """The episode services of one bot, sharing one repository, one scheduler and one gateway.

    `retry_delays` and `bulk_open_spacing` default to the modules' RETRY_DELAYS and BULK_OPEN_SPACING as they
    are when the service is built (tests that run the whole bot shorten them there before it starts), and
    presets are read from `schedules.PRESET_DIRECTORY` (None: the shipped ones). Without a `premiere_gateway`,
    no premiere is announced in Discord.
    """

    def __init__(self, db: Database, scheduler: BaseScheduler, settings: SettingsService,
                 clock: Callable[[], datetime], gateway: ThreadGateway, *,
                 retry_delays: tuple[timedelta, ...] | None = None,
                 bulk_open_spacing: timedelta | None = None,
                 premiere_gateway: PremiereGateway | None = None) -> None:
        if retry_delays is None:
            retry_delays = openings_module.RETRY_DELAYS
        if bulk_open_spacing is None:
            bulk_open_spacing = threads_module.BULK_OPEN_SPACING
        self.repo = EpisodeRepository(db)
        self.gateway = gateway
        self.jobs = OpeningJobs(scheduler)
        self.lookup = EpisodeLookup(self.repo, settings, clock)
        self.premieres = PremiereAnnouncements(self.repo, premiere_gateway or NoPremieres(), clock)
        self.threads = EpisodeThreads(self.repo, self.lookup, gateway, self.jobs, self.premieres,
                                      bulk_open_spacing=bulk_open_spacing)
        self.openings = AutomaticOpenings(self.repo, self.lookup, self.threads, gateway, self.jobs,
                                          retry_delays=retry_delays)
        self.schedules = ShowSchedules(self.repo, self.lookup, self.openings, self.jobs, self.premieres,
                                       preset_dir=schedules_module.PRESET_DIRECTORY)
        self.seasons = SeasonSchedules(self.repo, self.lookup, self.schedules, self.premieres, self.jobs)
        self.ratings = RatingsAndProgress(self.repo, self.lookup, self.threads)
