"""News alerts: polling feeds, fanning new entries out to servers, dedupe, and crash-safe posting.

The service knows no Discord: the cog gives it a `NewsPoster` that renders and sends posts and notices.
Modules: `subscriptions` (feeds, presets, keywords for the commands), `poller` (the poll job and `/news check`),
`parsing` (off the event loop), `ingest` (new entries -> keyword match -> delivery intents), `dedupe` (cross-feed
dedupe per server), `delivery` (crash-safe posting), `alert_threads` (each alert's discussion thread, retried until
it exists), `notices` (admin notices), `schedule` (poll times, per-feed locks), `models`, and `service`
(NewsService, which wires the parts, and `build_news_service`).
"""

from bot.services.news.models import (
    AddFeedResult,
    AlertThread,
    FeedTestReport,
    NewsError,
    NewsPost,
    NewsPoster,
    PollSummary,
    PostError,
    PresetResult,
    TestedEntry,
)
from bot.services.news.service import NewsService, build_news_service
from bot.services.news.why import WhyReport
from db.news import KeywordRecord, SubscriptionWithFeed
from db.news_features import UNCHANGED, SubscriptionOptions

__all__ = [
    "UNCHANGED",
    "AddFeedResult",
    "AlertThread",
    "FeedTestReport",
    "KeywordRecord",
    "NewsError",
    "NewsPost",
    "NewsPoster",
    "NewsService",
    "PollSummary",
    "PostError",
    "PresetResult",
    "SubscriptionOptions",
    "SubscriptionWithFeed",
    "TestedEntry",
    "WhyReport",
    "build_news_service",
]
