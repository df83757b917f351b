"""`/calendar/<token>.ics`: live calendar feeds a calendar app subscribes to (RFC 5545).

A server's token gives its watch parties from 30 days ago on (cancelled ones as STATUS:CANCELLED, so subscribed
calendars drop them), its episodes' air times and its seasons' premieres; a member's token gives the parties they
answered Going or Maybe to, in every server. The body is deterministic (DTSTAMP is each event's last change), so its
hash is a strong ETag and a conditional GET of an unchanged feed answers 304 without a body. Last-Modified is when
this process first served the current body of that feed (a body can change without any row's time changing: a party
leaves the 30-day window, a member declines), so If-Modified-Since is answered honestly too.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from bot.domain.calendar import CalendarEvent, build_ics, party_uid
from bot.services.companion import CompanionService
from bot.web.links import event_url, message_url
from db.web import AiringEpisode, CalendarParty

REFRESH = timedelta(hours=1)
EPISODE_LENGTH = timedelta(hours=1)
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
ChannelName = Callable[[int], str | None]


def party_event(party: CalendarParty, channel_name: ChannelName) -> CalendarEvent:
    lines = []
    if party.show:
        lines.append(f"{party.show} #{party.episode}" if party.episode is not None else party.show)
    if party.description:
        lines.append(party.description)
    link = (event_url(party.guild_id, party.scheduled_event_id) if party.scheduled_event_id
            else message_url(party.guild_id, party.channel_id, party.message_id))
    lines.append(link)
    place = party.voice_channel_id or party.channel_id
    name = channel_name(place)
    return CalendarEvent(
        uid=party_uid(party.id), title=party.title, description="\n\n".join(lines), starts_at=party.starts_at,
        ends_at=party.ends_at, location=f"#{name}" if name else message_url(party.guild_id, place), url=link,
        cancelled=party.status == "cancelled", sequence=party.sequence, last_modified=party.updated_at,
    )


def episode_event(episode: AiringEpisode) -> CalendarEvent:
    if episode.is_premiere:
        return CalendarEvent(
            uid=f"season-{episode.id}-{episode.season}@codeblue",
            title=f"{episode.show_title} · Season {episode.season} premiere", description=None,
            starts_at=episode.airs_at, ends_at=episode.airs_at + EPISODE_LENGTH, last_modified=EPOCH,
        )
    label = f"{episode.show_title} S{episode.season}E{episode.number}"
    return CalendarEvent(
        uid=f"episode-{episode.id}@codeblue", title=f"{label} · {episode.title}" if episode.title else label,
        description=None, starts_at=episode.airs_at, ends_at=episode.airs_at + EPISODE_LENGTH,
        last_modified=EPOCH,
    )


class FirstServed:
    """When each feed's current body was first served (bounded; the oldest feeds are forgotten first)."""

    def __init__(self, clock: Callable[[], datetime], limit: int = 10_000) -> None:
        self.clock = clock
        self.limit = limit
        self._seen: OrderedDict[str, tuple[str, datetime]] = OrderedDict()

    def since(self, token: str, etag: str) -> datetime:
        seen = self._seen.pop(token, None)
        if seen is None or seen[0] != etag:
            seen = (etag, self.clock().astimezone(UTC).replace(microsecond=0))
        self._seen[token] = seen
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return seen[1]


def ics_response(request: web.Request, body: bytes, first_served: FirstServed, token: str) -> web.Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    modified = first_served.since(token, etag)
    headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True),
               "Cache-Control": "private, max-age=300"}
    if _not_modified(request, etag, modified):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="text/calendar", charset="utf-8",
                        headers={**headers, "Content-Disposition": 'inline; filename="codeblue.ics"'})


def _not_modified(request: web.Request, etag: str, modified: datetime) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        return etag in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")] or if_none_match == "*"
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            return modified <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
    return False


def calendar_handler(companion: CompanionService, channel_name: ChannelName, calendar_name: Callable[[int], str],
                     clock: Callable[[], datetime]) -> Callable[[web.Request], Awaitable[web.Response]]:
    first_served = FirstServed(clock)

    async def handler(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        guild = await companion.guild_calendar(token)
        if guild is not None:
            events = [party_event(p, channel_name) for p in guild.parties] + [episode_event(e) for e in guild.episodes]
            name = calendar_name(guild.guild_id)
        else:
            parties = await companion.member_calendar(token)
            if parties is None:
                raise web.HTTPNotFound()
            events = [party_event(p, channel_name) for p in parties]
            name = "Code Blue"
        body = build_ics(events, calendar_name=name, stamp=EPOCH, refresh=REFRESH)
        return ics_response(request, body, first_served, token)

    return handler
