"""News alerts: polling feeds, fanning new entries out to servers, dedupe, and crash-safe posting.

The service knows no Discord: the cog gives it a `NewsPoster` that renders and sends posts and notices.
Modules: `poller` (schedule, fetch, ingest), `dedupe` (cross-feed dedupe per server), `delivery` (crash-safe
posting), `subscriptions` (feeds, presets, keywords for the commands), `models`, and `service` (NewsService, which
combines them on one state, and `build_news_service`).
"""

from bot.services.news.models import (
    AddFeedResult,
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

__all__ = [
    "AddFeedResult",
    "FeedTestReport",
    "NewsError",
    "NewsPost",
    "NewsPoster",
    "NewsService",
    "PollSummary",
    "PostError",
    "PresetResult",
    "TestedEntry",
    "build_news_service",
]
