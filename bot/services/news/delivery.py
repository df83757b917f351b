"""Posting delivery intents, oldest story first, crash-safely.

Crash safety: an intent row is written (with the whole story) before anything is sent, `attempted_at` is committed
before the send call, and the message id is recorded after it. For speed both are batched per channel
(`ChannelSends`): the attempt marks of the channel's next CLAIM_BATCH stories are committed in one transaction before
the first of them is sent, and the message ids of the stories sent meanwhile are recorded in that same transaction
(or when the channel's round ends, which also releases the claims of stories that were not sent: their attempt is
undone). A story claimed but not yet sent is in doubt only for a crash; pausing or removing its feed or leaving its
server meanwhile revokes the claim in memory (`NewsRepository.begin_send` refuses it), so it is not sent. A crash can
therefore leave two situations:
- intent without `attempted_at`: never sent; it is simply posted on the next delivery run (nothing lost);
- intent with `attempted_at`: the send may or may not have reached Discord. Before resending we look for the story
  in the channel's recent messages (embed URL match since the attempt): found -> recorded as sent, absent -> sent.
  This costs one history read per such row, only after a crash, and avoids both a lost alert and a double post;
  the only remaining window is a message Discord accepted but that is not readable back (deleted meanwhile, or
  beyond the history we read), which is then posted again: the unavoidable case. A crash after a batch's sends and
  before its commit leaves up to CLAIM_BATCH such rows per channel: each is found (sent) or not (posted).
Every text-channel post carries a nonce derived from its delivery id (`cogs/news/poster.py`), sent with
`enforce_nonce`: a resend of the same story within Discord's nonce window (discord.py's own retries after a 500,
502 or 504 that came after Discord stored the message) returns the stored message instead of posting it again.
A failed send is recorded by what its answer proves:
- a definite refusal (4xx such as 403/404, or 429/408 that outlived discord.py's own retries) means nothing was
  posted: permanent ones mark the story failed (admins are told), 429/408 clear `attempted_at` and retry later;
- a timeout, a lost connection or a 5xx proves nothing: Discord may have accepted the message. `attempted_at` is
  kept, so the retry goes through the same channel check as after a crash instead of posting blindly.
Temporary failures back off per delivery (`next_attempt_at`: RETRY_BASE doubling up to RETRY_CAP; the channel's
later stories wait behind it, so order holds) and do not count toward MAX_ATTEMPTS, which only counts sends whose
outcome was never recorded (a story that kills the process mid-send is not retried for ever). A story still
failing GIVE_UP_AFTER after it was queued is given up, and the server's admins are told in the log channel.
A deleted channel (404) is not a lost story. A feed's own channel: its stories (and the feed) move to the server's
news channel, and the admins are told. The news channel: its stories wait, unsent, until the admins set a new news
channel or GIVE_UP_AFTER passes; they are told once. Stories of servers the bot is no longer in are never sent: the
server's subscriptions are paused and its queue dropped (as on GUILD_DELETE); a story dropped (or its feed paused or
removed) after a delivery run read it is not sent either (`mark_attempt` only succeeds on a pending row).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from bot.services.news.models import (
    GIVE_UP_AFTER,
    MAX_ATTEMPTS,
    RETRY_BASE,
    RETRY_CAP,
    AlertThread,
    NewsPost,
    NewsPoster,
    PostError,
    SettingsLookup,
    _from_epoch,
)
from bot.services.news.notices import Notifier
from bot.services.news.schedule import PollSchedule
from db.models import GuildSettings
from db.news import DeliveryRecord, NewsRepository, SentRecord
from db.news_features import SubscriptionOptions

log = logging.getLogger(__name__)

CHANNEL_MISSING = "channel_missing"  # PostError reason for a deleted channel (see _channel_gone)
DELIVERY_BATCH = 500  # intents read per page and posted per round (channels run concurrently within a round)
CLAIM_BATCH = 50  # a channel's stories whose attempt marks are committed together (their sends recorded together)

# What _deliver_one reports, and the notice an outcome prefix gets (once per server, channel and reason a run).
_NOTICES = {"failed": "news.notice.post_failed", "gave_up": "news.notice.gave_up"}
# Problems of one run, counted per (server, notice key, channel id, reason); told once each at the end of the run.
Problems = dict[tuple[int, str, int | None, str], int]
Queued = list[tuple[DeliveryRecord, GuildSettings]]


class ChannelSends:
    """One channel's sends in a delivery round, with the database writes batched: `start` commits the attempt
    marks of the next CLAIM_BATCH never-attempted stories (from this one on, in the round's order) in one
    transaction, together with the sent records kept since the last one; `finish` records what is left and
    releases the claims of stories not sent."""

    def __init__(self, repo: NewsRepository, fresh: list[DeliveryRecord]) -> None:
        self.repo = repo
        self._fresh = fresh  # the round's stories of this channel without an attempt, oldest first
        self._position = {d.id: i for i, d in enumerate(fresh)}
        self._next = 0  # index in _fresh of the first story not yet claimed
        self._claimed: set[int] = set()  # claimed, send not started
        self._sent: list[SentRecord] = []

    async def start(self, delivery: DeliveryRecord, now: int) -> bool:
        """The attempt of this never-attempted story is committed and its send may start now; False when it
        may not be sent (no longer pending, or its claim was revoked since)."""
        index = self._position.get(delivery.id)
        if index is None:
            return await self.repo.mark_attempt(delivery.id, now)
        if index >= self._next:
            chunk = self._fresh[index:index + CLAIM_BATCH]
            sent, self._sent = self._sent, []
            try:
                self._claimed |= await self.repo.claim_attempts(chunk, now, sent)
            except BaseException:
                self._sent = sent + self._sent  # not recorded: kept for the next commit
                raise
            self._next = index + len(chunk)
        if delivery.id not in self._claimed:
            return False
        self._claimed.discard(delivery.id)
        return self.repo.begin_send(delivery.id)

    def sent(self, delivery_id: int, message_id: int, now: int, channel_id: int) -> None:
        """A story was sent: recorded with the next commit (until then it looks attempted: a crash reconciles)."""
        self._sent.append(SentRecord(delivery_id, message_id, now, channel_id))

    async def finish(self) -> None:
        sent, unsent = self._sent, sorted(self._claimed)
        self._sent, self._claimed = [], set()
        await self.repo.finish_sends(sent, unsent)


class Deliverer:
    """Posts the queued stories through the poster; owns the delivery lock and the channels found deleted."""

    def __init__(self, repo: NewsRepository, poster: NewsPoster, settings: SettingsLookup, notifier: Notifier,
                 schedule: PollSchedule, *, in_guild: Callable[[int], bool] | None = None) -> None:
        self.repo = repo
        self.poster = poster
        self.settings = settings
        self.notifier = notifier
        self.schedule = schedule
        # Whether the bot is still in a server (None: assume it is); stories for servers it left are not sent.
        self._in_guild = in_guild or (lambda _guild_id: True)
        self.lock = asyncio.Lock()
        # Deleted channels found while posting: their stories wait (no request) for a new news channel.
        self._gone_channels: set[int] = set()
        self._options: dict[int, SubscriptionOptions | None] = {}

    async def leave_guild(self, guild_id: int) -> None:
        """The bot is no longer in the server: pause its subscriptions (kept for when the bot is added back; an
        admin's resume re-baselines them, so no backlog) and drop its queued stories. A feed nobody else follows
        actively is then no longer fetched."""
        paused, dropped = await self.repo.pause_guild(guild_id, "not_in_server")
        if paused or dropped:
            log.info("left guild %s: paused %d news subscription(s), dropped %d queued stories",
                     guild_id, paused, dropped)

    async def deliver_pending(self) -> int:
        """Post every pending intent, oldest story first, one channel at a time each; returns posts made.

        A channel whose send fails for a reason that may pass (5xx, 429, network), or whose next story is still
        backing off, rests until a later run, its remaining stories kept in order. The delivery lock is held
        until every channel's task has finished, so a concurrent run cannot pick up a row that is being sent.
        """
        async with self.lock:
            self._options = {}  # per-feed ping and thread, read once per run
            posted = 0
            resting: set[int | None] = set()
            settings_cache: dict[int, GuildSettings] = {}
            while True:
                by_channel = await self._deliverable(resting, settings_cache)
                if not by_channel:
                    return posted
                await self._read_options(d.subscription_id for items in by_channel.values() for d, _ in items)
                problems: Problems = defaultdict(int)
                results = await asyncio.gather(*(self._deliver_channel(channel_id, items, problems)
                                                 for channel_id, items in by_channel.items()),
                                               return_exceptions=True)
                cancelled = None
                for channel_id, result in zip(by_channel, results, strict=True):
                    if isinstance(result, BaseException):
                        if isinstance(result, asyncio.CancelledError):
                            cancelled = result
                        else:
                            log.error("delivering news to channel %s failed", channel_id, exc_info=result)
                        resting.add(channel_id)
                        continue
                    count, rest = result
                    posted += count
                    if rest:
                        resting.add(channel_id)
                for (guild_id, key, channel, reason), count in problems.items():
                    await self.notifier.notify(guild_id, key, channel_id=channel, reason=reason, count=count)
                if cancelled is not None:
                    raise cancelled

    async def _deliverable(self, resting: set[int | None],
                           settings_cache: dict[int, GuildSettings]) -> dict[int | None, Queued]:
        """Up to DELIVERY_BATCH pending intents of channels that may be posted to now, by channel, oldest first.

        Pages past the intents of resting channels, so a backlog in one channel never hides the others. A channel
        whose next story is backing off starts resting here (its later stories wait behind it).
        """
        now = self.schedule.now()
        by_channel: dict[int | None, Queued] = defaultdict(list)
        taken = 0
        after: tuple[int, int] | None = None
        left: set[int] = set()
        while taken < DELIVERY_BATCH:
            page = await self.repo.pending_deliveries(DELIVERY_BATCH, after=after)
            for delivery in page:
                if delivery.guild_id in left or not self._in_guild(delivery.guild_id):
                    left.add(delivery.guild_id)  # removed while the bot was offline, or an event was missed
                    continue
                if delivery.guild_id not in settings_cache:
                    settings_cache[delivery.guild_id] = await self.settings.get(delivery.guild_id)
                settings = settings_cache[delivery.guild_id]
                channel_id = delivery.channel_id or settings.news_channel_id
                if channel_id in resting:
                    continue
                if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
                    resting.add(channel_id)
                    continue
                if taken < DELIVERY_BATCH:
                    by_channel[channel_id].append((delivery, settings))
                    taken += 1
            if len(page) < DELIVERY_BATCH:
                break
            after = (page[-1].order_key, page[-1].id)
        for guild_id in left:
            await self.leave_guild(guild_id)
        return dict(by_channel)

    async def _deliver_channel(self, channel_id: int | None, items: Queued, problems: Problems) -> tuple[int, bool]:
        """Sequential sends to one channel (discord.py waits out 429s); returns (posted, channel must rest)."""
        sends = ChannelSends(self.repo, [d for d, _ in items if d.attempted_at is None])
        try:
            return await self._send_in_order(channel_id, items, problems, sends)
        finally:
            await sends.finish()

    async def _send_in_order(self, channel_id: int | None, items: Queued, problems: Problems,
                             sends: ChannelSends) -> tuple[int, bool]:
        posted = 0
        for delivery, settings in items:
            if channel_id is None:
                await self.repo.mark_failed(delivery.id, "no_channel")
                problems[(delivery.guild_id, _NOTICES["failed"], None, "no_channel")] += 1
                continue
            if channel_id in self._gone_channels:
                if await self._fall_back_to_news_channel(delivery, channel_id, settings):
                    return posted, True  # the moved stories are read again, for the news channel
                # Stories wait for a new news channel (/config channel) until GIVE_UP_AFTER, with no request.
                if self.schedule.now() - delivery.created_at < GIVE_UP_AFTER.total_seconds():
                    return posted, True
                await self.repo.mark_failed(delivery.id, "gave_up: channel_missing")
                problems[(delivery.guild_id, _NOTICES["gave_up"], channel_id, "channel_missing")] += 1
                continue
            outcome = await self._deliver_one(delivery, channel_id, settings, sends)
            if outcome == "sent":
                posted += 1
            elif outcome == "retry":
                return posted, True
            elif ":" in outcome:
                kind, reason = outcome.split(":", 1)
                problems[(delivery.guild_id, _NOTICES[kind], channel_id, reason)] += 1
        return posted, False

    async def _deliver_one(self, delivery: DeliveryRecord, channel_id: int, settings: GuildSettings,
                           sends: ChannelSends) -> str:
        """Reconcile or send one intent: "sent", "reconciled", "dropped" (no longer pending), "retry",
        "failed:<reason>" or "gave_up:<reason>"."""
        now = self.schedule.now()
        if delivery.attempted_at is not None:
            # An earlier send may have reached Discord (crash, timeout, 5xx; see the module docstring).
            try:
                found = await self.poster.find_posted(channel_id, delivery.link, delivery.title,
                                                      _from_epoch(delivery.attempted_at - 60))
            except PostError as exc:
                if not exc.permanent:
                    return await self._retry_later(delivery, exc.reason, now, maybe_posted=True, sent=False)
                # The channel cannot be read back (no history access): posting again is the only way not to lose
                # the story.
                log.warning("cannot check channel %s for delivery %s (%s)", channel_id, delivery.id, exc.reason)
                found = None
            except Exception:
                log.warning("could not check channel %s for delivery %s", channel_id, delivery.id, exc_info=True)
                return await self._retry_later(delivery, "check_failed", now, maybe_posted=True, sent=False)
            if found is not None:
                await self.repo.mark_sent(delivery.id, found, now, channel_id=channel_id)
                await self._thread_of_reconciled(delivery, channel_id, settings, found)
                return "reconciled"
        if delivery.unresolved_attempts >= MAX_ATTEMPTS:
            await self.repo.mark_failed(delivery.id, "too_many_attempts")
            return "gave_up:too_many_attempts"
        post = self._post_for(delivery, channel_id, settings)
        # A fresh story's attempt is committed with its batch's (ChannelSends); one in doubt is marked on its own.
        started = (await sends.start(delivery, now) if delivery.attempted_at is None
                   else await self.repo.mark_attempt(delivery.id, now))
        if not started:
            return "dropped"  # paused, removed or left since the batch was read
        try:
            message_id = await self.poster.post(post)
        except PostError as exc:
            if exc.reason == CHANNEL_MISSING:
                return await self._channel_gone(delivery, channel_id, now, settings)
            if exc.permanent:
                await self.repo.mark_failed(delivery.id, exc.reason)
                return f"failed:{exc.reason}"
            return await self._retry_later(delivery, exc.reason, now, maybe_posted=exc.maybe_posted, sent=True)
        sends.sent(delivery.id, message_id, self.schedule.now(), channel_id)
        return "sent"

    async def _thread_of_reconciled(self, delivery: DeliveryRecord, channel_id: int, settings: GuildSettings,
                                    message_id: int) -> None:
        """A story found posted after a crash gets the discussion thread it should have, unless its message has one
        already (looked for first, never a second). Failures are recorded and retried (`alert_threads.py`)."""
        post = self._post_for(delivery, channel_id, settings)
        if not post.thread:
            return
        try:
            await self.poster.open_thread(AlertThread.of(post, message_id), check_existing=True)
        except PostError as exc:
            log.warning("could not open the thread of reconciled delivery %s: %s", delivery.id, exc.reason)

    async def _channel_gone(self, delivery: DeliveryRecord, channel_id: int, now: int, settings: GuildSettings) -> str:
        """The channel was deleted: nothing was posted. A feed's own channel falls back to the news channel;
        otherwise its stories stay pending (until GIVE_UP_AFTER) so they go out once the admins set a new news
        channel. Admins are told once (per channel and run of the bot)."""
        self._gone_channels.add(channel_id)
        await self.repo.mark_retry(delivery.id, CHANNEL_MISSING, next_attempt_at=now, maybe_posted=False)
        if await self._fall_back_to_news_channel(delivery, channel_id, settings):
            return "retry"
        log.warning("news channel %s of guild %s is gone; its stories wait for a new channel", channel_id,
                    delivery.guild_id)
        await self.notifier.notify(delivery.guild_id, "news.notice.channel_gone", channel_id=channel_id,
                                   hours=int(GIVE_UP_AFTER.total_seconds() // 3600))
        return "retry"

    async def _fall_back_to_news_channel(self, delivery: DeliveryRecord, channel_id: int,
                                         settings: GuildSettings) -> bool:
        """When the deleted channel was the feed's own and the server has a news channel (not known to be gone
        too), move the feed and its waiting stories there and tell the admins; False otherwise. Removing and
        re-adding the feed instead would delete the waiting stories."""
        news_channel_id = settings.news_channel_id
        if delivery.channel_id != channel_id or news_channel_id is None or news_channel_id in self._gone_channels:
            return False
        moved = await self.repo.move_to_news_channel(delivery.guild_id, channel_id)
        log.warning("news feed channel %s of guild %s is gone; %d waiting stories moved to the news channel %s",
                    channel_id, delivery.guild_id, moved, news_channel_id)
        await self.notifier.notify(delivery.guild_id, "news.notice.feed_channel_gone", channel_id=channel_id,
                                   news_channel_id=news_channel_id)
        return True

    async def _retry_later(self, delivery: DeliveryRecord, reason: str, now: int, *, maybe_posted: bool,
                           sent: bool) -> str:
        """Back off after a temporary failure (`sent`: a send was made and failed), or give the story up when it
        has been failing for GIVE_UP_AFTER."""
        if now - delivery.created_at >= GIVE_UP_AFTER.total_seconds():
            await self.repo.mark_failed(delivery.id, f"gave_up: {reason}")
            log.warning("gave up delivery %s after %s of failures: %s", delivery.id, GIVE_UP_AFTER, reason)
            return f"gave_up:{reason}"
        delay = min(RETRY_BASE * 2 ** min(delivery.retries, 16), RETRY_CAP)
        next_attempt_at = now + int(delay.total_seconds())
        if sent:
            await self.repo.mark_retry(delivery.id, reason, next_attempt_at=next_attempt_at, maybe_posted=maybe_posted)
        else:
            await self.repo.postpone(delivery.id, reason, next_attempt_at=next_attempt_at)
        return "retry"

    async def _read_options(self, subscription_ids: Iterable[int | None]) -> None:
        """Per-feed ping and thread of a batch's subscriptions, read together (kept for the run)."""
        wanted = {s for s in subscription_ids if s is not None and s not in self._options}
        if wanted:
            found = await self.repo.subscription_options(sorted(wanted))
            self._options.update({s: found.get(s) for s in wanted})

    def _post_for(self, delivery: DeliveryRecord, channel_id: int, settings: GuildSettings) -> NewsPost:
        """The post with the feed's own ping (None: the news role, 0: quiet) and thread setting (read for the batch
        by `_read_options`)."""
        options = self._options.get(delivery.subscription_id) if delivery.subscription_id is not None else None
        role_id = settings.news_ping_role_id
        thread = settings.news_threads
        if options is not None:
            role_id = role_id if options.ping_role_id is None else (options.ping_role_id or None)
            thread = thread if options.thread is None else options.thread
        return replace(self._post(delivery, channel_id, role_id), thread=thread,
                       archive_minutes=settings.thread_archive_minutes)

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
