"""Addresses the web companion links to: its own pages (from CODEBLUE_PUBLIC_URL) and places in Discord."""

from __future__ import annotations

DISCORD = "https://discord.com"


def message_url(guild_id: int, channel_id: int, message_id: int | None = None) -> str:
    base = f"{DISCORD}/channels/{guild_id}/{channel_id}"
    return f"{base}/{message_id}" if message_id else base


def event_url(guild_id: int, event_id: int) -> str:
    return f"{DISCORD}/events/{guild_id}/{event_id}"


def calendar_url(public_url: str, token: str) -> str:
    return f"{public_url}/calendar/{token}.ics"


def webcal_url(public_url: str, token: str) -> str:
    """The same feed for calendar apps that subscribe on a click (webcal://, served over https)."""
    https = calendar_url(public_url, token)
    return "webcal://" + https.split("://", 1)[1]


def page_url(public_url: str, token: str) -> str:
    return f"{public_url}/s/{token}"
