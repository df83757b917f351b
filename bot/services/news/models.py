"""News service models: limits, errors, the collaborators' protocols and the results commands get back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.domain.feed_entries import FeedEntry, ParsedFeed
from bot.domain.news_match import Keyword, KeywordError
from bot.errors import UserFacingError
from bot.services.feed_fetch import FetchResult
from db.models import GuildSettings
from db.news import FeedRecord, SubscriptionRecord

DEFAULT_INTERVAL = timedelta(minutes=10)
MIN_INTERVAL = timedelta(minutes=2)
MAX_BACKOFF = timedelta(hours=6)
JITTER_FRACTION = 0.1
FAILURE_NOTICE_AFTER = 3
SEEN_RETENTION = timedelta(days=30)
MAX_ATTEMPTS = 5  # sends whose outcome was never recorded (crashes); temporary failures do not count
RETRY_BASE = timedelta(seconds=30)  # per-delivery backoff after a temporary failure: 30 s, 1 min, 2 min ...
RETRY_CAP = timedelta(minutes=30)
GIVE_UP_AFTER = timedelta(hours=24)  # a story still failing temporarily this long after it was queued is dropped
MAX_FEEDS_PER_GUILD = 50
MAX_KEYWORDS_PER_SCOPE = 50
FEED_USER_AGENT = "CodeBlue/0.1 news alerts (Discord fan bot; +https://github.com/codeblue-bot/codeblue)"


KEYWORD_ERROR_CODES = frozenset({"empty", "too_long", "bad_regex", "regex_too_complex"})


class NewsError(UserFacingError):
    """Bad input or a refused news action; the key is a catalog message under `news.`."""


def _keyword_error(exc: KeywordError, raw: str) -> NewsError:
    key = f"news.keyword.error.{exc.code}" if exc.code in KEYWORD_ERROR_CODES else "news.keyword.error.other"
    return NewsError(key, keyword=raw[:100], detail=str(exc.detail or exc)[:200])


class PostError(Exception):
    """The poster could not post. `permanent`: retrying cannot help (no access, channel gone). `maybe_posted`:
    Discord may have accepted the message anyway (timeout, connection lost, 5xx), so look for it before resending;
    False for a definite answer that nothing was posted (4xx, 429) or a failure before sending."""

    def __init__(self, reason: str, *, permanent: bool, maybe_posted: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.maybe_posted = maybe_posted and not permanent


@dataclass(frozen=True, slots=True)
class NewsPost:
    """One story for one server, as the poster renders it."""

    delivery_id: int
    guild_id: int
    channel_id: int
    role_id: int | None
    title: str
    link: str | None
    summary: str
    source: str | None
    published: datetime | None
    thumbnail: str | None
    thread: bool = False  # a text channel's alert gets its own discussion thread
    archive_minutes: int = 10080
    updated: bool = False  # a correction: the posted message is edited and marked "updated"


@dataclass(frozen=True, slots=True)
class AlertThread:
    """A posted alert's discussion thread to open (in a text channel; Discord gives it the message's id)."""

    delivery_id: int
    guild_id: int
    channel_id: int
    message_id: int
    title: str  # the thread is named after it, or the server's word for "News" when it is empty
    archive_minutes: int

    @classmethod
    def of(cls, post: NewsPost, message_id: int) -> AlertThread:
        return cls(post.delivery_id, post.guild_id, post.channel_id, message_id, post.title, post.archive_minutes)


class NewsPoster(Protocol):
    """What the service needs from Discord (the cog implements it)."""

    async def post(self, post: NewsPost) -> int:
        """Send the post; return the message id; raise PostError."""

    async def find_posted(self, channel_id: int, link: str | None, title: str, since: datetime) -> int | None:
        """The id of a message posted since `since` that carries this story, if any (crash reconciliation)."""

    async def edit(self, channel_id: int, message_id: int, post: NewsPost) -> None:
        """Edit a posted story (a correction); raise PostError."""

    async def open_thread(self, alert: AlertThread, *, check_existing: bool) -> int | None:
        """Open the alert's discussion thread; return its id, or None when the channel takes none (not a text
        channel). `check_existing`: the message may have its thread already (after a crash or an answer that
        proved nothing): that one's id is returned and no second is opened. Raise PostError (`permanent` for a
        refusal: "forbidden" for missing permissions, "message_missing" for a deleted message)."""

    async def notify(self, guild_id: int, key: str, **params: object) -> bool:
        """Tell the server's admins (log channel) the catalog message `key`; False when it could not be posted.

        Channels are given as ids (`channel_id`, `news_channel_id`; None when there is none): the poster renders
        them."""


class PollObserver(Protocol):
    """Told after each full poll of a feed (`fetched`, under the feed's lock; `seen_before`: the keys of the fetch's
    entries the feed had shown before it, None when not known, as for a baseline), and of a poll's unchanged feeds
    (304s, same bodies) together once they are recorded (`unchanged`)."""

    async def fetched(self, feed: FeedRecord, parsed: ParsedFeed, result: FetchResult, now: int,
                      seen_before: frozenset[str] | None = None) -> None: ...

    async def unchanged(self, feeds: Sequence[FeedRecord], now: int) -> None: ...


class Fetcher(Protocol):
    """Conditional HTTP fetch of a feed URL (bot.services.feed_fetch.FeedFetcher); never raises for network or
    HTTP failures."""

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult: ...


class SettingsLookup(Protocol):
    async def get(self, guild_id: int) -> GuildSettings: ...


@dataclass(slots=True)
class PollSummary:
    feeds: int = 0
    not_modified: int = 0
    failed: int = 0
    new_entries: int = 0
    queued: int = 0
    posted: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AddFeedResult:
    subscription: SubscriptionRecord
    title: str | None
    entries: int
    queued_newest: bool


@dataclass(frozen=True, slots=True)
class TestedEntry:
    title: str
    link: str | None
    keyword: str | None


@dataclass(frozen=True, slots=True)
class FeedTestReport:
    title: str | None
    entries: int
    matching: list[TestedEntry]  # the newest ten
    excluded: int
    would_post: int = 0  # all the entries that would be posted


@dataclass(frozen=True, slots=True)
class PresetResult:
    added: list[str]
    already: list[str]


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _entry_payload(entry: FeedEntry, feed_title: str | None) -> str:
    return json.dumps(
        {
            "title": entry.title,
            "link": entry.link,
            "summary": entry.summary or "",
            "source": entry.source or feed_title,
            "published": entry.published.isoformat() if entry.published else None,
            "thumbnail": entry.thumbnail,
        },
        ensure_ascii=False,
    )


def _keyword_kind(keyword: Keyword) -> str:
    return keyword.kind.value


def _keyword_text(keyword: Keyword, raw: str) -> str:
    """The canonical stored form of a keyword (so `remove` finds what `add` stored)."""
    return (keyword.raw or raw).strip()
