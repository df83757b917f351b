"""Episode threads' pure logic in one import: presets, schedule import, naming, release pacing, ratings."""

from bot.domain.episode_models import (
    MAX_EPISODE,
    MAX_SEASON,
    MAX_TITLE_LENGTH,
    EpisodeKey,
    EpisodeSpec,
    ReleasePace,
    SeasonPreset,
    ShowPreset,
    SpoilerMode,
    is_beyond_progress,
    spoiler_warning_due,
)
from bot.domain.episode_naming import (
    TAG_NAME_LIMIT,
    THREAD_NAME_LIMIT,
    episode_label,
    episode_tag_name,
    episode_thread_name,
    show_tag_name,
)
from bot.domain.episode_presets import PresetError, list_presets, load_preset, parse_preset
from bot.domain.episode_ratings import RatingSummary, best_episode, rating_bar
from bot.domain.episode_release import thread_open_times
from bot.domain.episode_schedule import (
    MAX_ROWS,
    RowProblem,
    ScheduleImportError,
    ScheduleValueError,
    parse_air_time,
    parse_schedule_csv,
    parse_schedule_toml,
)

__all__ = [
    "MAX_EPISODE",
    "MAX_ROWS",
    "MAX_SEASON",
    "MAX_TITLE_LENGTH",
    "TAG_NAME_LIMIT",
    "THREAD_NAME_LIMIT",
    "EpisodeKey",
    "EpisodeSpec",
    "PresetError",
    "RatingSummary",
    "ReleasePace",
    "RowProblem",
    "ScheduleImportError",
    "ScheduleValueError",
    "SeasonPreset",
    "ShowPreset",
    "SpoilerMode",
    "best_episode",
    "episode_label",
    "episode_tag_name",
    "episode_thread_name",
    "is_beyond_progress",
    "list_presets",
    "load_preset",
    "parse_air_time",
    "parse_preset",
    "parse_schedule_csv",
    "parse_schedule_toml",
    "rating_bar",
    "show_tag_name",
    "spoiler_warning_due",
    "thread_open_times",
]
