"""Cross-feed dedupe per server: a story already delivered to the server within the window is not queued again.

Same story = same normalized link (the deliveries' UNIQUE (guild, dedupe key), enforced when intents are written),
or the same title fingerprint anywhere in the window (one indexed query), or the same story under a slightly
different title among the server's latest FUZZY_TITLE_CANDIDATES stories (bot.domain.feed_entries.signatures_match).
Titles are compared as precomputed signatures (normalized once: by the parser for new entries, stored in
`news_deliveries.title_normalized` for delivered ones), so a comparison is a few set operations; the bound keeps a
flood of stories from costing seconds of event-loop CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.domain.feed_entries import FeedEntry, dedupe_title, normalize_link, signatures_match, title_signature
from bot.services.news.models import _entry_payload, _epoch
from db.news import FeedRecord, NewDelivery, NewsRepository, SubscriptionRecord

DEDUPE_WINDOW = timedelta(hours=48)
FUZZY_TITLE_CANDIDATES = 100


def normalized_title(entry: FeedEntry) -> str:
    """The entry's dedupe title: precomputed by the parser (FeedEntry.title_normalized) or computed now."""
    return entry.title_normalized or dedupe_title(entry.title, entry.source)


async def unseen_stories(repo: NewsRepository, guild_id: int, entries: Sequence[FeedEntry],
                         now: int) -> list[FeedEntry]:
    """The entries (oldest first) that are not a story the server had within the window, nor repeat each other."""
    if not entries:
        return []
    since = now - int(DEDUPE_WINDOW.total_seconds())
    signatures = [title_signature(normalized_title(e)) for e in entries]
    taken, stories = await repo.dedupe_state(guild_id, since, [sig.fingerprint for sig in signatures],
                                             FUZZY_TITLE_CANDIDATES)
    recent = [title_signature(story.title_normalized or dedupe_title(story.title)) for story in stories]
    fresh = []
    for entry, signature in zip(entries, signatures, strict=True):
        if signature.fingerprint in taken or any(signatures_match(signature, other) for other in recent):
            continue
        taken.add(signature.fingerprint)
        recent.insert(0, signature)
        del recent[FUZZY_TITLE_CANDIDATES:]
        fresh.append(entry)
    return fresh


def delivery_for(subscription: SubscriptionRecord, feed: FeedRecord, feed_title: str | None,
                 entry: FeedEntry) -> NewDelivery:
    """The delivery intent of one story for one subscription."""
    link = entry.link or None
    published = entry.published
    return NewDelivery(
        guild_id=subscription.guild_id,
        subscription_id=subscription.id,
        feed_id=feed.id,
        channel_id=subscription.channel_id,
        entry_key=entry.key,
        dedupe_key=f"link:{normalize_link(link)}" if link else f"entry:{feed.id}:{entry.key}",
        link=link,
        title=entry.title,
        title_fingerprint=title_signature(normalized_title(entry)).fingerprint,
        title_normalized=normalized_title(entry),
        payload=_entry_payload(entry, feed_title or feed.title),
        published_at=_epoch(published) if published else None,
    )
