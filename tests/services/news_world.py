"""What the news service tests share: NewsService on a real SQLite database and the real feed parser, with
stand-ins for the network and Discord.

The fetcher stand-in serves RSS documents from memory with ETag/304 behaviour and counts fetches per URL; the
posters record what would be posted (some fail on purpose). Time is an injected clock. Use the `world` fixture
from a test module with ``world = news_world.world``.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

import pytest

from bot.services.news import NewsPost, NewsService, PostError
from bot.services.settings import SettingsService
from db.news import NewsRepository

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
G1, G2 = 1001, 1002
FEED = "http://feeds.test/outlet.xml"
GNEWS = "http://feeds.test/google.xml"


def rss(title: str, items: list[tuple[str, str, datetime]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link><guid>{escape(link)}</guid>"
        f"<description>{escape(t)} summary</description><pubDate>{format_datetime(when)}</pubDate></item>"
        for t, link, when in items
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>http://feeds.test/</link><description>d</description>{body}</channel></rss>").encode()


@dataclass
class Result:
    status: str
    body: bytes | None = None
    content_type: str | None = "application/rss+xml"
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    http_status: int | None = None
    link_header: str | None = None


class MemoryFetcher:
    """Feeds by URL with ETags; `broken` URLs answer an error; counts fetches."""

    def __init__(self) -> None:
        self.feeds: dict[str, tuple[str, list]] = {}
        self.broken: set[str] = set()
        self.calls: dict[str, int] = {}
        self.not_modified: int = 0

    def set(self, url: str, title: str, items: list) -> None:
        self.feeds[url] = (title, list(items))

    def add(self, url: str, item: tuple[str, str, datetime]) -> None:
        self.feeds[url][1].append(item)

    def etag(self, url: str) -> str:
        return f'"{hash(repr(self.feeds[url])) & 0xFFFFFFFF:x}"'

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Result:
        self.calls[url] = self.calls.get(url, 0) + 1
        await asyncio.sleep(0)
        if url in self.broken or url not in self.feeds:
            return Result("error", error_code="http_5xx", error_detail="503", http_status=503)
        current = self.etag(url)
        if etag == current:
            self.not_modified += 1
            return Result("not_modified", http_status=304)
        title, items = self.feeds[url]
        return Result("ok", rss(title, items), etag=current, final_url=url, http_status=200)


@dataclass
class RecordingPoster:
    posts: list[NewsPost] = field(default_factory=list)
    notices: list[tuple[int, str, dict]] = field(default_factory=list)
    failures: list[PostError] = field(default_factory=list)
    next_id: int = 5000

    async def post(self, post: NewsPost) -> int:
        if self.failures:
            raise self.failures.pop(0)
        self.posts.append(post)
        self.next_id += 1
        return self.next_id

    async def find_posted(self, channel_id, link, title, since):
        return None

    async def notify(self, guild_id: int, key: str, **params) -> bool:
        self.notices.append((guild_id, key, params))
        return True


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class World:
    service: NewsService
    repo: NewsRepository
    fetcher: MemoryFetcher
    poster: RecordingPoster
    clock: Clock
    settings: SettingsService

    def titles(self, guild_id: int | None = None) -> list[str]:
        return [p.title for p in self.poster.posts if guild_id is None or p.guild_id == guild_id]

    async def next_cycle(self):
        self.clock.advance(minutes=12)
        return await self.service.tick()

    def posting_with(self, poster):
        """The service built with another Discord stand-in (same database, fetcher and clock); returns it."""
        self.poster = poster
        self.service = NewsService(self.repo, self.fetcher, poster, self.settings, clock=self.clock,
                                   rng=random.Random(7))
        return poster


@pytest.fixture
async def world(migrated_db):
    db = migrated_db
    settings = SettingsService(db)
    for guild in (G1, G2):
        await settings.update(guild, news_channel_id=guild * 10, news_ping_role_id=guild * 100,
                              log_channel_id=guild * 10 + 1)
    fetcher, poster, clock = MemoryFetcher(), RecordingPoster(), Clock()
    repo = NewsRepository(db)
    service = NewsService(repo, fetcher, poster, settings, clock=clock, rng=random.Random(7))
    fetcher.set(FEED, "Outlet", [("Old story one", "http://outlet.test/1", START - timedelta(days=2)),
                                 ("Old story two", "http://outlet.test/2", START - timedelta(days=1))])
    yield World(service, repo, fetcher, poster, clock, settings)


def item(title: str, n: int, minutes: int = 0):
    return (title, f"http://outlet.test/{n}", START + timedelta(minutes=minutes))


OUTAGE = PostError("unavailable: 503", permanent=False, maybe_posted=True)


class CheckingPoster(RecordingPoster):
    """Discord stand-in whose failed sends may still have been stored (`accepted`), with a channel history check
    that finds them, and a count of those checks."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[PostError] = []  # errors answered although the message was posted
        self.checks = 0

    async def post(self, post: NewsPost) -> int:
        if self.accepted:
            self.posts.append(post)
            raise self.accepted.pop(0)
        return await super().post(post)

    async def find_posted(self, channel_id, link, title, since):
        self.checks += 1
        return next((5000 + i for i, p in enumerate(self.posts) if p.link == link and p.channel_id == channel_id),
                    None)


async def tick_when_retry_due(world) -> None:
    pending = await world.repo.pending_deliveries()
    due = min((d.next_attempt_at for d in pending if d.next_attempt_at), default=None)
    if due is not None:
        world.clock.now = max(world.clock.now, datetime.fromtimestamp(due, UTC))
    await world.service.tick()


class DeletedChannelPoster(RecordingPoster):
    """Channels in `deleted` answer 404 (the cog's PostError "channel_missing"); counts those attempts."""

    def __init__(self, deleted: set[int]) -> None:
        super().__init__()
        self.deleted = deleted
        self.refused = 0

    async def post(self, post: NewsPost) -> int:
        if post.channel_id in self.deleted:
            self.refused += 1
            raise PostError("channel_missing", permanent=True)
        return await super().post(post)
