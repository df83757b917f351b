"""Posting delivery intents, oldest story first, crash-safely.


Crash safety: an intent row is written (with the whole story) before anything is sent, `attempted_at` is set just
before the send call, and the message id is recorded after it. A crash can therefore leave three situations:
- intent without `attempted_at`: never sent; it is simply posted on the next delivery run (nothing lost);
- intent with `attempted_at`: the send may or may not have reached Discord. Before resending we look for the story
  in the channel's recent messages (embed URL match since the attempt): found -> recorded as sent, absent -> sent.
  This costs one history read per such row, only after a crash, and avoids both a lost alert and a double post;
  the only remaining window is a message Discord accepted but that is not readable back (deleted meanwhile),
  which is then posted again: the unavoidable case;
- an HTTP error answer (5xx, 403...) means nothing was posted: `attempted_at` is cleared at once and the intent is
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from bot.services.news.models import MAX_ATTEMPTS, NewsPost, PostError, _from_epoch
from db.news import DeliveryRecord

log = logging.getLogger(__name__)


class DeliveryMixin:
    """The posting half of NewsService (state is set up in NewsService.__init__)."""

    # -- delivery -------------------------------------------------------------------------------------------------
    async def deliver_pending(self) -> int:
        """Post every pending intent, oldest story first, one channel at a time each; returns posts made.

        A channel whose send fails for a reason that may pass (5xx, network) is left for the next run, its
        remaining stories kept in order.
        """
        async with self._delivery_lock:
            posted = 0
            resting: set[int | None] = set()
            settings_cache: dict[int, Any] = {}
            while True:
                by_channel: dict[int | None, list[tuple[DeliveryRecord, Any]]] = defaultdict(list)
                for delivery in await self.repo.pending_deliveries():
                    if delivery.guild_id not in settings_cache:
                        settings_cache[delivery.guild_id] = await self.settings.get(delivery.guild_id)
                    settings = settings_cache[delivery.guild_id]
                    channel_id = delivery.channel_id or settings.news_channel_id
                    if channel_id not in resting:
                        by_channel[channel_id].append((delivery, settings))
                if not by_channel:
                    return posted
                problems: dict[tuple[int, str], str] = {}
                results = await asyncio.gather(*(self._deliver_channel(channel_id, items, problems)
                                                 for channel_id, items in by_channel.items()))
                for channel_id, (count, rest) in zip(by_channel, results, strict=True):
                    posted += count
                    if rest:
                        resting.add(channel_id)
                for (guild_id, reason), channel in problems.items():
                    await self._notify(guild_id, "news.notice.post_failed", channel=channel, reason=reason)

    async def _deliver_channel(self, channel_id: int | None, items: list[tuple[DeliveryRecord, Any]],
                               problems: dict[tuple[int, str], str]) -> tuple[int, bool]:
        """Sequential sends to one channel (discord.py waits out 429s); returns (posted, channel must rest)."""
        posted = 0
        for delivery, settings in items:
            if channel_id is None:
                await self.repo.mark_failed(delivery.id, "no_channel")
                problems[(delivery.guild_id, "no_channel")] = "-"
                continue
            outcome = await self._deliver_one(delivery, channel_id, settings.news_ping_role_id)
            if outcome == "sent":
                posted += 1
            elif outcome.startswith("failed:"):
                problems[(delivery.guild_id, outcome.removeprefix("failed:"))] = f"<#{channel_id}>"
            elif outcome == "retry":
                return posted, True
        return posted, False

    async def _deliver_one(self, delivery: DeliveryRecord, channel_id: int, role_id: int | None) -> str:
        now = self._now()
        if delivery.attempted_at is not None:
            # A previous process began this send and died before recording the result (see the module docstring).
            try:
                found = await self.poster.find_posted(channel_id, delivery.link, delivery.title,
                                                      _from_epoch(delivery.attempted_at - 60))  # type: ignore[arg-type]
            except Exception:
                log.warning("could not check channel %s for delivery %s", channel_id, delivery.id, exc_info=True)
                found = None
            if found is not None:
                await self.repo.mark_sent(delivery.id, found, now)
                return "reconciled"
        if delivery.attempts >= MAX_ATTEMPTS:
            await self.repo.mark_failed(delivery.id, "too_many_attempts")
            return "failed"
        post = self._post(delivery, channel_id, role_id)
        await self.repo.mark_attempt(delivery.id, now)
        try:
            message_id = await self.poster.post(post)
        except PostError as exc:
            if exc.permanent:
                await self.repo.mark_failed(delivery.id, exc.reason)
                return f"failed:{exc.reason}"
            await self.repo.mark_not_sent(delivery.id, exc.reason)
            return "retry"
        await self.repo.mark_sent(delivery.id, message_id, self._now())
        return "sent"

    @staticmethod
    def _post(delivery: DeliveryRecord, channel_id: int, role_id: int | None) -> NewsPost:
        data = json.loads(delivery.payload)
        published = datetime.fromisoformat(data["published"]) if data.get("published") else None
        return NewsPost(
            delivery_id=delivery.id,
            guild_id=delivery.guild_id,
            channel_id=channel_id,
            role_id=role_id,
            title=data.get("title") or delivery.title,
            link=data.get("link"),
            summary=data.get("summary") or "",
            source=data.get("source"),
            published=published,
            thumbnail=data.get("thumbnail"),
        )
