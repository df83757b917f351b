"""`/news why`: for one story (a link or words of its title), what happened to it in this server and why.

The server's stories (`news_deliveries`) answer for everything that was queued: posted (with the keyword that
matches it), waiting, held back (channel gone, Discord failing) or given up. A story that was never queued is
looked for in the server's feeds (fetched once each, nothing written): its feed is paused, it has not been seen
yet (the feed's next poll time, or "due": the `news:poll` job polls it on its next run), an exclusion or no keyword
kept it out, or it is the same story as an earlier alert.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from datetime import timedelta

from bot.domain.feed_entries import FeedEntry, dedupe_title, normalize_link, signatures_match, title_signature
from bot.domain.news_match import KeywordSet, normalize_text
from bot.services.news.ingest import KeywordMatchers
from bot.services.news.models import Fetcher
from bot.services.news.parsing import FeedParser, FeedProblem
from bot.services.news.schedule import PollSchedule
from db.news import DeliveryRecord, NewsRepository, SubscriptionWithFeed

LOOKBACK = timedelta(days=7)  # earlier alerts a duplicate is compared with
FETCH_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class WhyReport:
    """outcome: posted (keyword: the one it matched), posted_all (no keywords in force), queued, held_channel,
    held_discord, failed, paused, not_seen (next_poll_at: the feed's next poll), not_seen_due (the feed is due:
    polled at the job's next run), excluded, no_match, duplicate, baseline or unknown."""

    outcome: str
    title: str = ""
    link: str | None = None
    feed: str | None = None
    keyword: str | None = None
    keywords: list[str] = field(default_factory=list)
    reason: str | None = None
    next_poll_at: int | None = None
    guild_id: int | None = None
    channel_id: int | None = None
    message_id: int | None = None


def _forced_keywords(keywords: KeywordSet) -> list[str]:
    return [m.keyword.raw for m in (*keywords.includes, *keywords.exclusions)]


class Explainer:
    def __init__(self, repo: NewsRepository, fetcher: Fetcher, parser: FeedParser, matchers: KeywordMatchers,
                 schedule: PollSchedule) -> None:
        self.repo = repo
        self.fetcher = fetcher
        self.parser = parser
        self.matchers = matchers
        self.schedule = schedule

    async def explain(self, guild_id: int, query: str) -> WhyReport:
        query = query.strip()
        is_link = query.startswith(("http://", "https://"))
        key = f"link:{normalize_link(query)}" if is_link else None
        stories = await self.repo.find_stories(guild_id, key, "" if is_link else query)
        if stories:
            return await self._from_story(stories[0])
        return await self._from_feeds(guild_id, query, is_link)

    async def _keyword_of(self, story: DeliveryRecord) -> str | None:
        if story.subscription_id is None:
            return None
        data = json.loads(story.payload)
        keywords = await self.matchers.for_subscription(story.guild_id, story.subscription_id)
        fields = (normalize_text(data.get("title") or story.title), normalize_text(data.get("summary") or ""))
        return keywords.match_normalized(fields).keyword

    async def _from_story(self, story: DeliveryRecord) -> WhyReport:
        base = WhyReport("", title=story.title, link=story.link, guild_id=story.guild_id)
        if story.state == "sent":
            keyword = await self._keyword_of(story)  # None: no keywords in force, every new item is posted
            return replace(base, outcome="posted" if keyword else "posted_all", keyword=keyword,
                           channel_id=story.posted_channel_id or story.channel_id, message_id=story.message_id)
        if story.state == "pending":
            error = story.error or ""
            if error.startswith("channel_missing"):
                return replace(base, outcome="held_channel", channel_id=story.channel_id, reason=error)
            if error:
                return replace(base, outcome="held_discord", channel_id=story.channel_id, reason=error[:200],
                               next_poll_at=story.next_attempt_at)
            return replace(base, outcome="queued", channel_id=story.channel_id)
        return replace(base, outcome="failed", channel_id=story.channel_id, reason=(story.error or "-")[:200])

    async def _from_feeds(self, guild_id: int, query: str, is_link: bool) -> WhyReport:
        items = await self.repo.subscriptions_of_guild(guild_id)
        slots = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def look(item: SubscriptionWithFeed) -> FeedEntry | None:
            async with slots:
                try:
                    parsed = await self.parser.parse(await self.fetcher.fetch(item.feed.url))
                except FeedProblem:
                    return None
            wanted = normalize_link(query) if is_link else query.casefold()
            for entry in reversed(parsed.entries):  # newest first
                if (is_link and entry.link and normalize_link(entry.link) == wanted) or \
                        (not is_link and wanted in entry.title.casefold()):
                    return entry
            return None

        found = await asyncio.gather(*(look(item) for item in items))
        for item, entry in zip(items, found, strict=True):
            if entry is not None:
                return await self._from_entry(guild_id, item, entry)
        return WhyReport("unknown", title=query)

    async def _from_entry(self, guild_id: int, item: SubscriptionWithFeed, entry: FeedEntry) -> WhyReport:
        feed, sub = item.feed, item.subscription
        base = WhyReport("", title=entry.title, link=entry.link or None, feed=feed.title or feed.url)
        if sub.paused:
            return replace(base, outcome="paused")
        if entry.key not in await self.repo.known_entry_keys(feed.id, [entry.key]):
            # A feed already due (the job runs every 30 s, or the bot was down) has no later time to tell.
            due = feed.next_poll_at <= self.schedule.now()
            return replace(base, outcome="not_seen_due" if due else "not_seen", next_poll_at=feed.next_poll_at)
        keywords = await self.matchers.for_subscription(guild_id, sub.id)
        outcome = keywords.match_normalized((normalize_text(entry.title), normalize_text(entry.summary or "")))
        if outcome.excluded_by:
            return replace(base, outcome="excluded", keyword=outcome.excluded_by)
        if not outcome.matched:
            return replace(base, outcome="no_match", keywords=_forced_keywords(keywords))
        earlier = await self._earlier_alert(guild_id, entry)
        if earlier is not None:
            return replace(base, outcome="duplicate", guild_id=guild_id,
                           channel_id=earlier.posted_channel_id or earlier.channel_id, message_id=earlier.message_id,
                           reason=earlier.title)
        return replace(base, outcome="baseline")

    async def _earlier_alert(self, guild_id: int, entry: FeedEntry) -> DeliveryRecord | None:
        normalized = entry.title_normalized or dedupe_title(entry.title, entry.source)
        signature = title_signature(normalized)
        same = await self.repo.stories_with_fingerprint(guild_id, signature.fingerprint)
        if same:
            return same[0]
        since = self.schedule.now() - int(LOOKBACK.total_seconds())
        for story in await self.repo.recent_story_titles(guild_id, since, 200):
            if signatures_match(signature, title_signature(dedupe_title(story.title))):
                return story
        return None
