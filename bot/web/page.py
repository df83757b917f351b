"""`/s/<token>`: a server's public fan page (only for servers that opted in with `/config web public:on`).

Server-rendered HTML that works without JavaScript: upcoming watch parties in the server's time zone (a small
script then shows them in the viewer's own), Going/Maybe counts without names, each episode's average rating as
an SVG chart, the latest news alerts, and the server's calendar feed. English or Korean from the browser's
Accept-Language, with a switch (`?lang=`). Nothing private: no member names, no channel names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape
from importlib import resources
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.i18n import LANGUAGES, Catalog
from bot.services.companion import CompanionService, PublicPage
from bot.web.links import calendar_url, webcal_url
from db.web import CalendarParty, EpisodeAverage, PostedStory

STATIC_FILES = {"local-time.js": "text/javascript", "page.css": "text/css"}
GuildName = Callable[[int], str | None]
CHART_ROW = 28
CHART_LABEL = 70
CHART_BAR = 200


def page_language(request: web.Request) -> str:
    chosen = request.query.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("Accept-Language", "").split(","):
        language = part.split(";")[0].strip().lower().split("-")[0]
        if language in LANGUAGES:
            return language
    return "en"


class PageRenderer:
    def __init__(self, catalog: Catalog, language: str) -> None:
        self.catalog = catalog
        self.language = language

    def t(self, key: str, **params: object) -> str:
        return escape(self.catalog.text(self.language, f"web.{key}", **params))

    def render(self, page: PublicPage, server: str, base_url: str) -> str:
        feed = calendar_url(base_url, page.calendar_token)
        return f"""<!doctype html>
<html lang="{self.language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{self.t("page_title", server=server)}</title>
<link rel="stylesheet" href="/static/page.css">
<script src="/static/local-time.js" defer></script>
</head>
<body>
<a class="skip" href="#parties">{self.t("skip")}</a>
<header>
<div><h1>{escape(server)}</h1><p class="muted">{self.t("tagline")}</p></div>
<nav aria-label="{self.t("languages")}"><ul>{self._languages()}</ul></nav>
</header>
<main>
<section aria-labelledby="parties">
<h2 id="parties" tabindex="-1">{self.t("parties")}</h2>
<div class="actions">
<a class="button" href="{escape(webcal_url(base_url, page.calendar_token))}">{self.t("add_to_calendar")}</a>
<a href="{escape(feed)}">{self.t("calendar_file")}</a>
</div>
<p class="note" data-local-note="{self.t("times_local", zone="{zone}")}">{self.t("times_note", zone=page.timezone)}</p>
{self._parties(page.parties, page.timezone)}
</section>
<section aria-labelledby="ratings">
<h2 id="ratings">{self.t("ratings")}</h2>
{self._ratings(page.ratings)}
</section>
<section aria-labelledby="news">
<h2 id="news">{self.t("news")}</h2>
{self._news(page.stories)}
</section>
</main>
<footer class="muted">{self.t("footer")}</footer>
</body>
</html>
"""

    def _languages(self) -> str:
        names = {"en": "English", "ko": "한국어"}
        current = ' aria-current="true"'
        return "".join(
            f'<li><a href="?lang={code}" lang="{code}" hreflang="{code}"'
            f'{current if code == self.language else ""}>{names[code]}</a></li>'
            for code in LANGUAGES
        )

    def _parties(self, parties: list[CalendarParty], zone_name: str) -> str:
        if not parties:
            return f'<p class="muted">{self.t("no_parties")}</p>'
        zone = ZoneInfo(zone_name)
        items = []
        for party in parties:
            local = party.starts_at.astimezone(zone)
            shown = f"{local:%Y-%m-%d %H:%M} ({escape(zone_name)})"
            show = ""
            if party.show:
                episode = f" #{party.episode}" if party.episode is not None else ""
                show = f'<p class="muted">{escape(party.show)}{episode}</p>'
            items.append(
                f'<li><h3>{escape(party.title)}</h3>{show}'
                f'<p><time datetime="{party.starts_at.isoformat()}" data-local>{shown}</time></p>'
                f'<p>{self.t("counts", going=party.going, maybe=party.maybe)}</p></li>'
            )
        return f'<ol class="parties">{"".join(items)}</ol>'

    def _ratings(self, ratings: list[EpisodeAverage]) -> str:
        if not ratings:
            return f'<p class="muted">{self.t("no_ratings")}</p>'
        several_shows = len({r.show_title for r in ratings}) > 1
        height = CHART_ROW * len(ratings) + 8
        width = CHART_LABEL + CHART_BAR + 90
        rows, descriptions = [], []
        for index, rating in enumerate(ratings):
            label = f"S{rating.season}E{rating.number}"
            if several_shows:
                label = f"{rating.show_title} {label}"
            key = "rating_row_one" if rating.votes == 1 else "rating_row"
            description = self.t(key, episode=label, average=f"{rating.average:.1f}", votes=rating.votes)
            descriptions.append(f"<li>{description}</li>")
            y = 4 + index * CHART_ROW
            bar = round(CHART_BAR * rating.average / 5)
            rows.append(
                f'<g><title>{description}</title>'
                f'<text x="0" y="{y + 17}">{escape(label[-12:])}</text>'
                f'<rect class="track" x="{CHART_LABEL}" y="{y + 4}" width="{CHART_BAR}" height="18" rx="3"/>'
                f'<rect class="bar" x="{CHART_LABEL}" y="{y + 4}" width="{bar}" height="18" rx="3"/>'
                f'<text x="{CHART_LABEL + CHART_BAR + 8}" y="{y + 17}">{rating.average:.1f} ★ ({rating.votes})</text>'
                f"</g>"
            )
        return (
            f'<figure><svg class="chart" role="img" aria-labelledby="chart-title" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{self.t("chart_title")}</title>'
            f'{"".join(rows)}</svg><figcaption><ul class="muted">{"".join(descriptions)}</ul></figcaption></figure>'
        )

    def _news(self, stories: list[PostedStory]) -> str:
        if not stories:
            return f'<p class="muted">{self.t("no_news")}</p>'
        items = []
        for story in stories:
            title = escape(story.title)
            linked = (f'<a href="{escape(story.link)}" rel="noopener noreferrer nofollow">{title}</a>'
                      if story.link and story.link.startswith(("https://", "http://")) else title)
            source = f" — {escape(story.source)}" if story.source else ""
            items.append(f'<li>{linked}<span class="muted">{source}, '
                         f'<time datetime="{story.sent_at.isoformat()}" data-local>{story.sent_at:%Y-%m-%d %H:%M} UTC'
                         f"</time></span></li>")
        return f'<ul class="news">{"".join(items)}</ul>'


def page_handler(companion: CompanionService, catalog: Catalog, guild_name: GuildName,
                 public_url: str | None) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        page = await companion.public_page(request.match_info["token"])
        if page is None:
            raise web.HTTPNotFound()
        base = public_url or f"{request.scheme}://{request.host}"
        html = PageRenderer(catalog, page_language(request)).render(page, guild_name(page.guild_id) or "Code Blue",
                                                                    base)
        return web.Response(text=html, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-cache", "Vary": "Accept-Language"})

    return handler


async def static_handler(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    body = (resources.files("bot.web") / "static" / name).read_bytes()
    return web.Response(body=body, content_type=content_type, charset="utf-8",
                        headers={"Cache-Control": "public, max-age=3600"})
