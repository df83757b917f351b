"""Corrections: a story already posted that comes back (same feed, same entry key: its id or link) with a changed
title or summary has its posted message edited and marked "updated"; it is neither posted again nor ignored.

The new text is stored first (payload, `revision` + 1, `edit_pending`), then the message is edited and
`edit_pending` cleared; an edit that fails for a reason that may pass is retried by the next run. A story is edited
at most MAX_REVISIONS times (a feed whose summaries churn cannot keep editing an alert).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection
from datetime import datetime

from bot.domain.feed_entries import ParsedFeed
from bot.services.news.models import NewsPost, NewsPoster, PostError, _entry_payload
from db.news import DeliveryRecord, FeedRecord, NewsRepository

log = logging.getLogger(__name__)

MAX_REVISIONS = 3


def story_post(story: DeliveryRecord, channel_id: int, *, updated: bool = False) -> NewsPost:
    """A stored story as the poster renders it (no ping: an edit never pings)."""
    data = json.loads(story.payload)
    published = datetime.fromisoformat(data["published"]) if data.get("published") else None
    return NewsPost(delivery_id=story.id, guild_id=story.guild_id, channel_id=channel_id, role_id=None,
                    title=data.get("title") or story.title, link=data.get("link"), summary=data.get("summary") or "",
                    source=data.get("source"), published=published, thumbnail=data.get("thumbnail"),
                    updated=updated)


class Corrections:
    def __init__(self, repo: NewsRepository, poster: NewsPoster) -> None:
        self.repo = repo
        self.poster = poster
        # One run at a time: the poll job, /news check and a WebSub push each run it after their poll; two runs
        # reading the same pending corrections would edit each message twice.
        self._editing = asyncio.Lock()

    async def check(self, feed: FeedRecord, parsed: ParsedFeed, seen_before: Collection[str] | None = None) -> int:
        """Store the corrections a fetch (or a push) brings; returns how many stories changed.

        `seen_before`: the keys of the fetch's entries that the feed had shown before it (None: look at all). Only
        those can be stories already posted: a story is posted after its entry was first seen, and a feed's seen
        entries are kept (SEEN_RETENTION) far longer than its posted stories (the dedupe window), so an entry new
        to the feed has no posted story to correct, and a fetch of only new entries reads nothing."""
        entries = {entry.key: entry for entry in parsed.entries
                   if seen_before is None or entry.key in seen_before}
        if not entries:
            return 0
        changed = 0
        for story in await self.repo.sent_stories_of_entries(feed.id, list(entries)):
            entry = entries[story.entry_key]
            data = json.loads(story.payload)
            if (entry.title, entry.summary or "") == (data.get("title") or "", data.get("summary") or ""):
                continue
            if story.revision >= MAX_REVISIONS:
                continue
            payload = _entry_payload(entry, data.get("source") or parsed.title or feed.title)
            if await self.repo.store_correction(story.id, entry.title, payload, revision=story.revision):
                log.info("story %s of guild %s changed in feed %s: its message will be edited", story.id,
                         story.guild_id, feed.id)
                changed += 1
        return changed

    async def edit_pending(self) -> int:
        """Edit the messages of stored corrections; returns how many were edited."""
        async with self._editing:
            return await self._edit_pending()

    async def _edit_pending(self) -> int:
        edited = 0
        for story in await self.repo.pending_edits():
            channel_id = story.posted_channel_id or story.channel_id
            if channel_id is None or story.message_id is None:
                await self.repo.finish_edit(story.id, story.revision)
                continue
            try:
                await self.poster.edit(channel_id, story.message_id, story_post(story, channel_id, updated=True))
            except PostError as exc:
                if not exc.permanent:
                    log.info("editing story %s failed for now (%s); retried later", story.id, exc.reason)
                    continue
                log.warning("could not edit story %s: %s", story.id, exc.reason)
            else:
                edited += 1
            # revision was incremented when the correction was stored: clear only that correction's flag
            await self.repo.finish_edit(story.id, story.revision)
        return edited
