"""Cross-feed dedupe per server: a story already delivered to the server within the window is not queued again.

Same story = same normalized link (the deliveries' UNIQUE (guild, dedupe key), enforced when intents are written),
or the same title fingerprint anywhere in the window (one indexed query), or the same story under a slightly
different title among the server's latest FUZZY_TITLE_CANDIDATES stories (bot.domain.feed_entries.signatures_match).
Titles are compared as precomputed signatures (normalized once: by the parser for new entries, stored in
`news_deliveries.title_normalized` for delivered ones), so a comparison is a few set operations; the bound keeps a
flood of stories from costing seconds of event-loop CPU. The candidates are indexed by what two signatures must
share to match at all (their numbers or their fingerprint, of the whole title or of its bare form: see
bot.domain.feed_entries._same_story), so a new title is compared only with those (RecentTitles).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from datetime import timedelta

from bot.domain.feed_entries import (
    FeedEntry,
    TitleSignature,
    dedupe_title,
    normalize_link,
    signatures_match,
    title_signature,
)
from bot.services.news.models import _entry_payload, _epoch
from db.news import FeedRecord, NewDelivery, NewsRepository, SubscriptionRecord

DEDUPE_WINDOW = timedelta(hours=48)
FUZZY_TITLE_CANDIDATES = 100


def normalized_title(entry: FeedEntry) -> str:
    """The entry's dedupe title: precomputed by the parser (FeedEntry.title_normalized) or computed now."""
    return entry.title_normalized or dedupe_title(entry.title, entry.source)


class RecentTitles:
    """The latest `limit` story signatures of a server, newest first, indexed for `matches`.

    Two signatures can only be the same story when a pair of them (whole or bare title, not both bare) has equal
    numbers or equal fingerprints (bot.domain.feed_entries._same_story), so each signature is filed under those keys
    and a new one is compared (with signatures_match, unchanged) only with the signatures sharing a key with it.
    """

    def __init__(self, newest_first: Iterable[TitleSignature], limit: int = FUZZY_TITLE_CANDIDATES) -> None:
        self.limit = limit
        self._signatures: dict[int, TitleSignature] = {}  # serial (higher = newer) -> signature, oldest first
        self._index: dict[Hashable, set[int]] = {}
        kept = list(newest_first)[:limit]
        for serial, signature in enumerate(reversed(kept), 1):
            self._file(serial, signature)
        self._serial = len(kept)

    @staticmethod
    def _keys(signature: TitleSignature) -> tuple[Hashable, ...]:
        bare = signature.bare
        if bare is None:
            return (signature.numbers, signature.fingerprint)
        return (signature.numbers, signature.fingerprint, bare.numbers, bare.fingerprint)

    def _file(self, serial: int, signature: TitleSignature) -> None:
        self._signatures[serial] = signature
        for key in self._keys(signature):
            self._index.setdefault(key, set()).add(serial)

    def matches(self, signature: TitleSignature) -> bool:
        """Whether one of the recent titles is the same story (signatures_match)."""
        candidates: set[int] = set()
        for key in self._keys(signature):
            candidates.update(self._index.get(key, ()))
        return any(signatures_match(signature, self._signatures[serial]) for serial in candidates)

    def add_newest(self, signature: TitleSignature) -> None:
        self._serial += 1
        self._file(self._serial, signature)
        while len(self._signatures) > self.limit:
            oldest = next(iter(self._signatures))
            for key in self._keys(self._signatures.pop(oldest)):
                serials = self._index.get(key)
                if serials is not None:
                    serials.discard(oldest)
                    if not serials:
                        del self._index[key]


async def unseen_stories(repo: NewsRepository, guild_id: int, entries: Sequence[FeedEntry],
                         now: int) -> list[FeedEntry]:
    """The entries (oldest first) that are not a story the server had within the window, nor repeat each other."""
    if not entries:
        return []
    since = now - int(DEDUPE_WINDOW.total_seconds())
    signatures = [title_signature(normalized_title(e)) for e in entries]
    taken, stories = await repo.dedupe_state(guild_id, since, [sig.fingerprint for sig in signatures],
                                             FUZZY_TITLE_CANDIDATES)
    recent = RecentTitles(title_signature(story.title_normalized or dedupe_title(story.title)) for story in stories)
    fresh = []
    for entry, signature in zip(entries, signatures, strict=True):
        if signature.fingerprint in taken or recent.matches(signature):
            continue
        taken.add(signature.fingerprint)
        recent.add_newest(signature)
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
